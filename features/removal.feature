@removal
Feature: Removing the add-on
  `az aks disable-addons --addons azure-policy` removes the add-on: its webhook configuration first,
  so that nothing is denied any more, then its processes, then it deletes the `azure-policy`
  namespace. The command returns once the namespace is terminating; Kubernetes removes it a few
  seconds later.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed

  Scenario: Disabling the add-on removes the webhook and the namespace
    When I run "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the output field "addonProfiles.azurepolicy.enabled" is "false"
    And the webhook configuration "gatekeeper" does not exist
    And the namespace "azure-policy" is terminating
    And the namespace "azure-policy" does not exist

  Scenario: Nothing is denied after removal
    Given I ran "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted

  Scenario: The add-on can be enabled again after removal
    Given I ran "az aks disable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    When a refresh cycle completes
    And I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied with "setting privileged flag to true is not allowed"
