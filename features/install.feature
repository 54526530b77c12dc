@install
Feature: Installing the add-on
  `az aks enable-addons --addons azure-policy` reads the managed cluster and writes it back with the
  `azurepolicy` add-on profile enabled, as a long-running operation. AKS then installs the add-on:
  the `azure-policy` namespace, and Gatekeeper v2 behind an admission webhook.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"

  # The harness writes the Deployments' status (the add-on runs as processes, not pods); a cluster
  # with its own deployment controller (kind, k3s) overwrites it.
  @deployment-status
  Scenario: Enabling the add-on installs it into the cluster
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the output field "provisioningState" is "Succeeded"
    And the namespace "azure-policy" exists
    And the webhook configuration "gatekeeper" exists
    And the Deployment "azure-policy" in the add-on namespace shows "1/1" ready
    And the Deployment "azure-policy-webhook" in the add-on namespace shows "1/1" ready

  Scenario: az aks show reports the add-on enabled
    Given the azure-policy add-on is enabled
    When I run "az aks show --name MyAKSCluster --resource-group MyResourceGroup --query addonProfiles.azurepolicy.enabled"
    Then the output contains "true"

  Scenario: The webhook reviews requests as soon as the add-on is installed
    With failure policy Fail the API server refuses every request the webhook does not answer, so
    a request admitted right after `enable-addons` returns is one the webhook answered; its
    decision log names the object.

    Given the add-on's webhook failure policy is "Fail"
    And the azure-policy add-on is enabled
    And a namespace "team-a"
    When I create in namespace "team-a":
      """
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: hello
      data:
        greeting: hi
      """
    Then the request is admitted
    And the webhook logged the decision "allow" for the ConfigMap "hello" in namespace "team-a"

  Scenario: Enabling twice is harmless
    Given the azure-policy add-on is enabled
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the webhook configuration "gatekeeper" exists
