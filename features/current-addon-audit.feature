@current-addon
Feature: Today's add-on: audit, DoNotEnforce and compliance with components
  The effect `audit`, and any effect under enforcement mode DoNotEnforce, becomes
  `enforcementAction: dryrun`: Gatekeeper admits the object, and its audit (every 60 seconds) counts
  it in the Constraint's status (`totalViolations`, and the first 20 `violations`). Every audit
  interval (15 minutes, or when triggered) the add-on reads those statuses, adds the denials of the
  last 45 minutes, and reports each assignment; `az policy state list --expand components` shows
  every object it judged as a component, `Compliant` or `NonCompliant`.

  95edb821-ddaf-4404-9732-666045e056b4 is "Kubernetes cluster should not allow privileged
  containers" (template `k8sazurev2noprivilege`, effect Deny by default).

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled

  Scenario: With effect audit a disallowed pod is admitted, then counted and reported
    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "audit-images" with parameters:
      | name                        | value                          |
      | effect                      | audit                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    Then the constraint for "audit-images" has "spec.enforcementAction" set to "dryrun"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is admitted
    When I create the fixture "current-addon/acr-pod.yaml" in namespace "team-a"
    Then the request is admitted
    When an audit cycle completes
    Then the constraint for "audit-images" has "status.totalViolations" set to "1"
    And the constraint for "audit-images" has "status.violations[0].kind" set to "Pod"
    And the constraint for "audit-images" has "status.violations[0].namespace" set to "{ns:team-a}"
    And the constraint for "audit-images" has "status.violations[0].name" set to "dockerhub"
    And the constraint for "audit-images" has "status.violations[0].enforcementAction" set to "dryrun"
    And the constraint for "audit-images" has "status.violations[0].message" set to "Container image nginx:1.15 for container nginx has not been allowed."
    And the compliance state of "audit-images" is "NonCompliant"
    When I run "az policy state list --resource {cluster-id} --filter "policyAssignmentName eq 'audit-images'" --expand "components($filter=ComplianceState eq 'NonCompliant')" --query "[0].components""
    Then the command succeeds
    And the output field "@" has 1 item
    And the output field "[0].id" is "{ns:team-a}/dockerhub"
    And the output field "[0].type" is "pod"
    And the output field "[0].name" is "dockerhub"
    And the output field "[0].complianceState" is "NonCompliant"
    When I run "az policy state list --resource {cluster-id} --filter "policyAssignmentName eq 'audit-images'" --expand "components($filter=ComplianceState eq 'Compliant')" --query "[0].components[].id""
    Then the output field "@" is "["{ns:team-a}/acr"]"

  @enforcement-mode
  Scenario: With effect audit and warn a disallowed pod is admitted with a warning
    The definition's `warn` parameter asks Gatekeeper to tell the user at admission as well:
    the Constraint's action is `warn`, and kubectl prints the Constraint's line after `Warning:`.

    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "warn-images" with parameters:
      | name                        | value                          |
      | effect                      | audit                          |
      | warn                        | true                           |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    Then the constraint for "warn-images" has "spec.enforcementAction" set to "warn"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is admitted with the warning:
      """
      [azurepolicy-k8sazurev2containerallowedimag-{hex:warn-images}] Container image nginx:1.15 for container nginx has not been allowed.
      """
    When I create the fixture "current-addon/acr-pod.yaml" in namespace "team-a"
    Then the request is admitted with the warning:
      """
      """
    When an audit cycle completes
    Then the compliance state of "warn-images" is "NonCompliant"

  Scenario: A DoNotEnforce assignment is audited but not enforced
    When I run "az policy assignment create --name no-privileged --policy 95edb821-ddaf-4404-9732-666045e056b4 --scope {cluster-id} --enforcement-mode DoNotEnforce"
    Then the command succeeds
    And the output field "enforcementMode" is "DoNotEnforce"
    When a refresh cycle completes
    Then the constraint for "no-privileged" has "spec.enforcementAction" set to "dryrun"
    When I create the fixture "current-addon/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted
    When an audit cycle completes
    Then the constraint for "no-privileged" has "status.totalViolations" set to "1"
    And the compliance state of "no-privileged" is "NonCompliant"

  Scenario: A denial at admission is reported as a NonCompliant component
    Nothing in the cluster violates the policy: the denied pod is the only violation there is.

    Given the policy "Kubernetes cluster containers should only use allowed images" is assigned as "acr-only" with parameters:
      | name                        | value                          |
      | allowedContainerImagesRegex | ^myregistry[.]azurecr[.]io/.+$ |
    And a refresh cycle has completed
    When an audit cycle completes
    Then the compliance state of "acr-only" is "Compliant"
    When I create the fixture "current-addon/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied
    When the next audit cycle completes
    Then the compliance state of "acr-only" is "NonCompliant"
    When I run "az policy state list --resource {cluster-id} --filter "policyAssignmentName eq 'acr-only'" --expand "components($filter=ComplianceState eq 'NonCompliant')" --query "[0].components[].id""
    Then the output field "@" is "["{ns:team-a}/dockerhub"]"
