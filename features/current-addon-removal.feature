@current-addon
Feature: Today's add-on: disabling it removes Gatekeeper and everything the add-on installed
  `az aks disable-addons --addons azure-policy` unregisters `validation.gatekeeper.sh` first, so
  nothing is denied any more, then stops Gatekeeper and the azure-policy pod, and deletes the
  add-on's Constraints and ConstraintTemplates, the Constraint CRDs, Gatekeeper's CRDs and the
  `gatekeeper-system` namespace. The command returns once the CRDs are gone and the namespace is
  terminating; Kubernetes removes the namespace a few seconds later.

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled
    And the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed

  Scenario: Disabling the add-on removes Gatekeeper, the templates and the Constraints
    When I run "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the output field "addonProfiles.azurepolicy.enabled" is "false"
    And the validating webhook configuration "gatekeeper-validating-webhook-configuration" does not exist
    And the API server has no resource type "k8sazurev2containerallowedimages"
    And the API server has no resource type "constrainttemplates"
    And the namespace gatekeeper-system does not exist

  Scenario: Nothing is denied after removal
    Given I ran "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is admitted

  Scenario: The add-on can be enabled again after removal
    Given I ran "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    When a refresh cycle completes
    And I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied with "Container image nginx:1.15 for container nginx has not been allowed."
