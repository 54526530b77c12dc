@current-addon
Feature: Today's add-on: custom definitions and what the add-on reports when it cannot install them
  A custom `Microsoft.Kubernetes.Data` definition carries its own ConstraintTemplate, here as
  `templateInfo.sourceType: Base64Encoded` (the fixtures keep the decoded template beside each
  definition). When the add-on cannot install a policy it reports the assignment in the `Error`
  state with a reason code (`complianceReasonCode` in `az policy state list`):
  `ConstraintTemplateInstallFailed` when Gatekeeper cannot compile the template, and
  `InvalidConstraint` when the API server rejects the Constraint, for example a parameter of the
  wrong type for the template's schema.

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled

  Scenario: A custom definition with a Base64Encoded template is enforced like a built-in
    When I create the policy definition "required-labels" from the fixture "current-addon/required-labels-definition.json"
    Then the command succeeds
    And the output field "mode" is "Microsoft.Kubernetes.Data"
    And the output field "policyRule.then.details.templateInfo.sourceType" is "Base64Encoded"
    When I run "az policy assignment create --name team-label --policy required-labels --scope {cluster-id}"
    Then the command succeeds
    When a refresh cycle completes
    Then kubectl get constrainttemplates lists "k8scustomrequiredlabels"
    And kubectl get k8scustomrequiredlabels lists "azurepolicy-k8scustomrequiredlabels-{hex:team-label}"
    And the constraint for "team-label" has "spec.parameters.labels" set to "["team"]"
    When I create the fixture "current-addon/unlabelled-pod.yaml" in namespace "team-a"
    Then the request is denied with exactly:
      """
      admission webhook "validation.gatekeeper.sh" denied the request: [azurepolicy-k8scustomrequiredlabels-{hex:team-label}] you must provide labels: {"team"}
      """
    When I create the fixture "current-addon/team-pod.yaml" in namespace "team-a"
    Then the request is admitted

  Scenario: A template whose Rego does not compile is reported as ConstraintTemplateInstallFailed
    Gatekeeper's template controller reports the parse error in the template's status; after a
    failed first install the add-on leaves nothing behind, and tries again at the next refresh.

    Given the policy definition "require-owner" was created from the fixture "current-addon/broken-template-definition.json"
    When I run "az policy assignment create --name owner --policy require-owner --scope {cluster-id}"
    Then the command succeeds
    When a refresh cycle completes
    Then kubectl get constrainttemplates does not list "k8srequiredowner"
    And there is no constraint for "owner"
    When an audit cycle completes
    Then the compliance state of "owner" is "Error"
    When I run "az policy state list --resource {cluster-id} --filter "policyAssignmentName eq 'owner'" --query "[0].complianceReasonCode""
    Then the output field "@" is "ConstraintTemplateInstallFailed"

  Scenario: A parameter of the wrong type is rejected by the API server as InvalidConstraint
    The definition types `labels` as a String; the template's schema wants an array of strings.
    Azure accepts the assignment (the value fits the definition), and the Constraint's CRD, which
    Gatekeeper generates from the template's schema, makes the API server reject it.

    Given the policy definition "required-label-as-text" was created from the fixture "current-addon/required-labels-as-text-definition.json"
    When I run "az policy assignment create --name team-label --policy required-label-as-text --scope {cluster-id} --params '{"labels": {"value": "team"}}'"
    Then the command succeeds
    When a refresh cycle completes
    Then kubectl get constrainttemplates lists "k8scustomrequiredlabels"
    And there is no constraint for "team-label"
    When an audit cycle completes
    Then the compliance state of "team-label" is "Error"
    When I run "az policy state list --resource {cluster-id} --filter "policyAssignmentName eq 'team-label'" --query "[0].complianceReasonCode""
    Then the output field "@" is "InvalidConstraint"
