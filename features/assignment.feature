@assignment
Feature: Assigning the Kubernetes service built-ins
  The preview shipped nine built-in definitions in the "Kubernetes service" category. Each uses the
  `EnforceRegoPolicy` effect and points at a Rego file; an assignment reaches a cluster when its
  scope contains the cluster, the cluster is not excluded, and its effect is not `Disabled`.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"

  Scenario: The nine built-ins are listed under the Kubernetes service category
    When I run "az policy definition list --query "[?policyType=='BuiltIn' && metadata.category=='Kubernetes service']""
    Then the command succeeds
    And the output field "@" has 9 items
    And the output field "[0].mode" is "Microsoft.ContainerService.Data"

  Scenario: A built-in definition uses the EnforceRegoPolicy effect and a Rego URI
    When I run "az policy definition list --query "[?displayName=='[Limited Preview]: Do not allow privileged containers in AKS'] | [0]""
    Then the output field "parameters.effect.allowedValues" is "["EnforceRegoPolicy","Disabled"]"
    And the output contains "container-no-privilege.rego"

  Scenario: An assignment with parameters is accepted
    When I assign "Ensure only allowed container images in AKS" as "acr-only" with parameters:
      | name                        | value             |
      | allowedContainerImagesRegex | ^.+azurecr.io/.+$ |
    Then the command succeeds
    And the output field "parameters.allowedContainerImagesRegex.value" is "^.+azurecr.io/.+$"

  Scenario: A missing required parameter is refused
    When I run "az policy definition list --query "[?displayName=='[Limited Preview]: Enforce labels on pods in AKS'].name | [0]" -o tsv"
    And I run "az policy assignment create --name labels --policy {last-output} --scope {cluster-id}"
    Then the command fails with "commaSeparatedListOfLabels"

  Scenario: An effect outside the allowed values is refused
    When I run "az policy definition list --query "[?displayName=='[Limited Preview]: Do not allow privileged containers in AKS'].name | [0]" -o tsv"
    And I run "az policy assignment create --name priv --policy {last-output} --scope {cluster-id} --params '{"effect":{"value":"Audit"}}'"
    Then the command fails with "Audit"

  Scenario: An unknown definition is refused
    When I run "az policy assignment create --name nope --policy 00000000-0000-0000-0000-000000000000 --scope {cluster-id}"
    Then the command fails with "PolicyDefinitionNotFound"

  Scenario: An assignment at the resource group reaches the cluster
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "rg-wide" at scope "/subscriptions/{subscription}/resourceGroups/MyResourceGroup"
    When a refresh cycle completes
    Then a policy ConfigMap for "rg-wide" exists

  Scenario: An assignment at the subscription reaches the cluster
    Given the azure-policy add-on is enabled
    And the policy "Enforce HTTPS ingress in AKS" is assigned as "sub-wide" at scope "/subscriptions/{subscription}"
    When a refresh cycle completes
    Then a policy ConfigMap for "sub-wide" exists

  Scenario: An assignment whose notScopes exclude the cluster does not reach it
    Given the azure-policy add-on is enabled
    And I ran "az policy definition list --query "[?displayName=='[Limited Preview]: Do not allow privileged containers in AKS'].name | [0]" -o tsv"
    When I run "az policy assignment create --name excluded --policy {last-output} --scope /subscriptions/{subscription} --not-scopes {cluster-id}"
    Then the command succeeds
    When a refresh cycle completes
    Then there are 0 policy ConfigMaps in the add-on namespace

  Scenario: An assignment in another resource group does not reach the cluster
    Given the azure-policy add-on is enabled
    And I ran "az group create --name OtherGroup --location westus2"
    And the policy "Do not allow privileged containers in AKS" is assigned as "elsewhere" at scope "/subscriptions/{subscription}/resourceGroups/OtherGroup"
    When a refresh cycle completes
    Then there are 0 policy ConfigMaps in the add-on namespace

  Scenario: A Disabled assignment is not enforced
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "off" with parameters:
      | name   | value    |
      | effect | Disabled |
    When a refresh cycle completes
    Then there are 0 policy ConfigMaps in the add-on namespace
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted

  @enforcement-mode
  Scenario: A DoNotEnforce assignment is audited but not enforced
    Given the azure-policy add-on is enabled
    And I ran "az policy definition list --query "[?displayName=='[Limited Preview]: Do not allow privileged containers in AKS'].name | [0]" -o tsv"
    When I run "az policy assignment create --name audit-only --policy {last-output} --scope {cluster-id} --enforcement-mode DoNotEnforce"
    Then the command succeeds
    And the output field "enforcementMode" is "DoNotEnforce"
    When a refresh cycle completes
    Then a policy ConfigMap for "audit-only" exists
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted
    When an audit cycle completes
    Then the compliance state of "audit-only" is "NonCompliant"
    And the compliance details of "audit-only" list "pods" "privileged"

  # The simulated CLI has no `az policy assignment update`: creating the assignment again under the
  # same name replaces it (an ARM PUT), enforcement mode included.
  # 7ce7ac02-a5c6-45d6-8d1b-844feb1c1531 is "Do not allow privileged containers in AKS".
  @enforcement-mode
  Scenario: Switching DoNotEnforce back to Default enforces at the next refresh
    Given the azure-policy add-on is enabled
    And I ran "az policy assignment create --name audit-only --policy 7ce7ac02-a5c6-45d6-8d1b-844feb1c1531 --scope {cluster-id} --enforcement-mode DoNotEnforce"
    And a refresh cycle has completed
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-b"
    Then the request is admitted
    When I run "az policy assignment create --name audit-only --policy 7ce7ac02-a5c6-45d6-8d1b-844feb1c1531 --scope {cluster-id} --enforcement-mode Default"
    Then the command succeeds
    And the output field "enforcementMode" is "Default"
    When the next refresh cycle completes
    And I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied with "setting privileged flag to true is not allowed"
