@prerequisites
Feature: Prerequisites of the preview
  The 2019 documentation required Azure CLI 2.0.62 or later, the aks-preview extension 0.4.0, and
  an AKS cluster running Kubernetes 1.10 or later.

  Scenario: Clusters older than Kubernetes 1.10 cannot get the add-on
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "OldCluster" in resource group "MyResourceGroup" running Kubernetes "1.9.11"
    When I run "az aks enable-addons --addons azure-policy --name OldCluster --resource-group MyResourceGroup"
    Then the command fails with "1.10"

  Scenario: Kubernetes 1.10 is enough
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.10.13"
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command succeeds

  Scenario: The aks-preview extension is installed at version 0.4.0
    When I run "az extension add --name aks-preview --version 0.4.0"
    Then the command succeeds
    When I run "az extension show --name aks-preview --query version"
    Then the output contains "0.4.0"

  Scenario: Without the aks-preview extension the CLI does not know the add-on
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And I ran "az extension remove --name aks-preview"
    When I run "az aks enable-addons --addons azure-policy --name MyAKSCluster --resource-group MyResourceGroup"
    Then the command fails with "azure-policy"

  Scenario: The CLI is recent enough
    When I run "az --version"
    Then the command succeeds
    And the output shows azure-cli version "2.0.62" or later

  Scenario: Commands the simulator does not know fail clearly
    When I run "az vm create --name nope"
    Then the command fails with "not simulated"
