@current-addon
Feature: Today's add-on: which namespaces and objects a Constraint reviews
  A definition's `excludedNamespaces`, `namespaces` and `labelSelector` parameters become the
  Constraint's `spec.match`. Gatekeeper reviews only what the match selects. The built-ins exclude
  `kube-system`, `gatekeeper-system`, `azure-arc` and `azure-extensions-usage-system` by default.

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled

  Scenario: A namespace in excludedNamespaces is not reviewed
    When I run "az policy assignment create --name acr-only --policy febd0533-8e55-448f-b837-bd0e06f16469 --scope {cluster-id} --params '{"allowedContainerImagesRegex": {"value": "^myregistry[.]azurecr[.]io/.+$"}, "excludedNamespaces": {"value": ["kube-system", "gatekeeper-system", "{ns:sandbox}"]}}'"
    Then the command succeeds
    When a refresh cycle completes
    Then the constraint for "acr-only" has "spec.match.excludedNamespaces" set to "["kube-system","gatekeeper-system","{ns:sandbox}"]"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "sandbox"
    Then the request is admitted
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied with "Container image nginx:1.15 for container nginx has not been allowed."

  Scenario: kube-system is excluded by default
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "kube-system"
    Then the request is admitted

  Scenario: Only the objects the labelSelector selects are reviewed
    When I run "az policy assignment create --name payments-images --policy febd0533-8e55-448f-b837-bd0e06f16469 --scope {cluster-id} --params '{"allowedContainerImagesRegex": {"value": "^myregistry[.]azurecr[.]io/.+$"}, "labelSelector": {"value": {"matchLabels": {"team": "payments"}}}}'"
    Then the command succeeds
    When a refresh cycle completes
    Then the constraint for "payments-images" has "spec.match.labelSelector.matchLabels.team" set to "payments"
    When I create the fixture "current-addon/payments-dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied with "Container image nginx:1.15 for container nginx has not been allowed."
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is admitted
