@opt-in
Feature: Opting in to the Azure Policy for AKS limited preview
  In 2019 the add-on was a limited preview. A subscription had to register two resource providers
  and two preview features, wait for the features to be approved, and register the providers again
  before `az aks enable-addons --addons azure-policy` would work.

  The subscription below has only what creating a cluster needs: the aks-preview extension, the
  Microsoft.ContainerService provider registered (before any preview feature), a resource group and
  the cluster. Nothing else is done behind the scenes.

  Background:
    Given I ran "az extension add --name aks-preview --version 0.4.0"
    And I ran "az provider register --namespace Microsoft.ContainerService"
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"

  Scenario: Registering a preview feature leaves it pending until it is approved
    When I run "az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    Then the command succeeds
    And the output field "properties.state" is "Pending"
    When the feature "AKS-AzurePolicyAutoApprove" in namespace "Microsoft.ContainerService" is approved
    And I run "az feature show --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    Then the output field "properties.state" is "Registered"

  Scenario: Feature names are compared case-insensitively
    When I run "az feature register --namespace microsoft.containerservice --name aks-azurepolicyautoapprove"
    Then the command succeeds
    When I run "az feature show --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    Then the output field "properties.state" is "Pending"

  Scenario: Both features are listed for the subscription once registered
    Given I ran "az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    And I ran "az feature register --namespace Microsoft.PolicyInsights --name AKS-DataplaneAutoApprove"
    When I run "az feature list --query "[?properties.state=='Pending'].name""
    Then the output contains "Microsoft.ContainerService/AKS-AzurePolicyAutoApprove"
    And the output contains "Microsoft.PolicyInsights/AKS-DataplaneAutoApprove"

  Scenario: Enabling the add-on before opting in is refused
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command fails with "AKS-AzurePolicyAutoApprove"

  Scenario: Enabling the add-on while the feature is still pending is refused
    Given I ran "az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command fails with "AKS-AzurePolicyAutoApprove"

  Scenario: The provider must be registered again after the feature is approved
    Given I ran "az feature register --namespace Microsoft.ContainerService --name AKS-AzurePolicyAutoApprove"
    And the feature "AKS-AzurePolicyAutoApprove" in namespace "Microsoft.ContainerService" is approved
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command fails with "register"
    When I run "az provider register --namespace Microsoft.ContainerService"
    And I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds
    And the output field "addonProfiles.azurepolicy.enabled" is "true"

  Scenario: Registering the resource providers
    When I run "az provider register --namespace Microsoft.PolicyInsights"
    Then the command succeeds
    When I run "az provider show --namespace Microsoft.PolicyInsights --query registrationState"
    Then the output contains "Registered"
