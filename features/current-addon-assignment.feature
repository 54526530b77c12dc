@current-addon
Feature: Today's add-on: assigning a built-in installs a ConstraintTemplate and a Constraint
  Today's Kubernetes built-ins (category "Kubernetes", mode `Microsoft.Kubernetes.Data`) each name a
  Gatekeeper ConstraintTemplate in Azure's template store (`templateInfo`). At every refresh (15
  minutes, or when triggered) the add-on installs the template of each assignment that reaches the
  cluster, and one Constraint per assignment built from its parameters: named
  `azurepolicy-<template name cut to 30 characters>-<20 hex digits of the assignment>`, labelled
  `managed-by=azure-policy-addon` and annotated with the assignment and definition ids. Gatekeeper
  then denies what violates a `deny` Constraint, with its message after the Constraint's name:
  kubectl prints `Error from server (Forbidden): error when creating "<file>": ` and then the
  message these scenarios check.

  febd0533-8e55-448f-b837-bd0e06f16469 is "Kubernetes cluster containers should only use allowed
  images" (template `k8sazurev2containerallowedimages`, effect Deny by default).

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled

  Scenario: The allowed-images built-in names its template in the store
    When I run "az policy definition show --name febd0533-8e55-448f-b837-bd0e06f16469"
    Then the command succeeds
    And the output field "displayName" is "Kubernetes cluster containers should only use allowed images"
    And the output field "mode" is "Microsoft.Kubernetes.Data"
    And the output field "metadata.category" is "Kubernetes"
    And the output field "policyRule.then.details.templateInfo.url" is "https://store.policy.core.windows.net/kubernetes/container-allowed-images/v2/template.yaml"

  Scenario: Assigning a built-in by its GUID installs its template and a Constraint
    When I run "az policy assignment create --name acr-only --policy febd0533-8e55-448f-b837-bd0e06f16469 --scope {cluster-id} --params '{"allowedContainerImagesRegex": {"value": "^myregistry[.]azurecr[.]io/.+$"}}'"
    Then the command succeeds
    When a refresh cycle completes
    Then kubectl get constrainttemplates lists "k8sazurev2containerallowedimages"
    And kubectl get k8sazurev2containerallowedimages lists "azurepolicy-k8sazurev2containerallowedimag-{hex:acr-only}"
    And the constraint for "acr-only" has "kind" set to "K8sAzureV2ContainerAllowedImages"
    And the constraint for "acr-only" has "spec.enforcementAction" set to "deny"
    And the constraint for "acr-only" has "spec.parameters.imageRegex" set to "^myregistry[.]azurecr[.]io/.+$"
    And the constraint for "acr-only" has "spec.match.kinds" set to "[{"apiGroups":[""],"kinds":["Pod"]}]"
    And the constraint for "acr-only" is labelled "managed-by=azure-policy-addon"
    And the constraint for "acr-only" is annotated "azure-policy-assignment-id" with "{cluster-id}/providers/Microsoft.Authorization/policyAssignments/acr-only"
    And the constraint for "acr-only" is annotated "azure-policy-definition-id" with "/providers/Microsoft.Authorization/policyDefinitions/febd0533-8e55-448f-b837-bd0e06f16469"

  @smoke
  Scenario: A disallowed image is denied with the Constraint's name and the template's message
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied with exactly:
      """
      admission webhook "validation.gatekeeper.sh" denied the request: [azurepolicy-k8sazurev2containerallowedimag-{hex:acr-only}] Container image nginx:1.15 for container nginx has not been allowed.
      """
    When I create the fixture "current-addon/acr-pod.yaml" in namespace "team-a"
    Then the request is admitted

  Scenario: Two assignments of one template get one Constraint each
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And the policy "Kubernetes cluster containers should only use allowed images" is assigned as "mcr-only" with parameters:
      | name                        | value              |
      | allowedContainerImagesRegex | ^mcr[.]microsoft[.]com/.+$ |
    When a refresh cycle completes
    Then kubectl get k8sazurev2containerallowedimages lists "azurepolicy-k8sazurev2containerallowedimag-{hex:acr-only}"
    And kubectl get k8sazurev2containerallowedimages lists "azurepolicy-k8sazurev2containerallowedimag-{hex:mcr-only}"
    When I create the fixture "current-addon/acr-pod.yaml" in namespace "team-a"
    Then the request is denied with exactly:
      """
      admission webhook "validation.gatekeeper.sh" denied the request: [azurepolicy-k8sazurev2containerallowedimag-{hex:mcr-only}] Container image myregistry.azurecr.io/nginx:1.15 for container nginx has not been allowed.
      """

  Scenario: A manual edit of a Constraint is reverted at the next refresh
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    When I set "spec.enforcementAction" of the constraint for "acr-only" to "dryrun"
    Then the constraint for "acr-only" has "spec.enforcementAction" set to "dryrun"
    When the next refresh cycle completes
    Then the constraint for "acr-only" has "spec.enforcementAction" set to "deny"

  Scenario: Unassigning removes the Constraint and the template no other assignment uses
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    When I run "az policy assignment delete --name acr-only --scope {cluster-id}"
    Then the command succeeds
    When the next refresh cycle completes
    Then there is no constraint for "acr-only"
    And kubectl get constrainttemplates does not list "k8sazurev2containerallowedimages"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is admitted
