@current-addon
Feature: Today's add-on: enabling it installs Gatekeeper v3
  Every AKS cluster can run today's Azure Policy add-on, with no preview to opt in to: registering
  the Microsoft.ContainerService and Microsoft.PolicyInsights resource providers is all it needs.
  `az aks enable-addons --addons azure-policy` installs Gatekeeper v3 into `gatekeeper-system`
  (`gatekeeper-controller-manager`, which serves the `validation.gatekeeper.sh` admission webhook
  and compiles ConstraintTemplates, and `gatekeeper-audit`) and the `azure-policy` pod into
  `kube-system`, which turns Azure assignments into ConstraintTemplates and Constraints.

  Which add-on a cluster gets is its subscription's: new subscriptions get today's add-on, and the
  scenarios tagged `@current-addon` run on it. The other features document the 2019 preview
  (Gatekeeper v2 in the `azure-policy` namespace), which a subscription can still be put on
  (`harness up --addon-generation preview`).

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"

  Scenario: Enabling the add-on installs Gatekeeper and registers validation.gatekeeper.sh
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the output field "provisioningState" is "Succeeded"
    And the output field "addonProfiles.azurepolicy.enabled" is "true"
    And the namespace gatekeeper-system exists
    And the CRD "constrainttemplates.templates.gatekeeper.sh" is established
    And the validating webhook configuration "gatekeeper-validating-webhook-configuration" registers "validation.gatekeeper.sh"
    And kubectl get constrainttemplates lists nothing

  # The harness writes the Deployments' status (the add-on runs as processes, not pods); a cluster
  # with its own deployment controller (kind, k3s) overwrites it.
  @deployment-status
  Scenario: Gatekeeper and the azure-policy pod show ready
    Given the azure-policy add-on is enabled
    Then the Deployment "gatekeeper-controller-manager" in gatekeeper-system shows "1/1" ready
    And the Deployment "gatekeeper-audit" in gatekeeper-system shows "1/1" ready
    And the Deployment "azure-policy" in kube-system shows "1/1" ready

  Scenario: Nothing is denied before anything is assigned
    Given the azure-policy add-on is enabled
    When I create the fixture "current-addon/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted

  Scenario: Enabling twice is harmless
    Given the azure-policy add-on is enabled
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the validating webhook configuration "gatekeeper-validating-webhook-configuration" registers "validation.gatekeeper.sh"
