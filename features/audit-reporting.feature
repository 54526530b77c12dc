@audit-reporting
Feature: Audit and compliance reporting
  Every audit interval (5 minutes in 2019) the add-on scans the whole cluster, merges the result
  with the real-time denials, and reports compliance to Azure Policy for each active assignment.
  `az policy state list` and `az policy state summarize` show it on the managed cluster.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled

  Rule: The audit reports what already runs in the cluster
    A privileged pod runs in team-a from before the assignment, so only the audit can find it.

    Background:
      Given I created the fixture "denials/privileged-pod.yaml" in namespace "team-a"
      And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
      And a refresh cycle has completed

    Scenario: Existing violations make the cluster NonCompliant after one audit cycle
      When an audit cycle completes
      Then the compliance state of "no-privileged" is "NonCompliant"
      And the compliance details of "no-privileged" list "pods" "privileged" in namespace "team-a" from "audit"

    Scenario: Fixing the resources makes the cluster Compliant at the next audit
      Given an audit cycle has completed
      When I run "az policy state list --resource {cluster-id} --query "[0].complianceState""
      Then the output contains "NonCompliant"
      When I delete the pod "privileged" in namespace "team-a"
      And the next audit cycle completes
      Then the compliance state of "no-privileged" is "Compliant"

    Scenario: A real-time denial appears as its own entry in az policy state list
      When I create the fixture "denials/privileged-pod.yaml" in namespace "team-b"
      Then the request is denied
      When an audit cycle completes
      And I run "az policy state list --resource {cluster-id} --expand components --filter "policyAssignmentName eq 'no-privileged'" --query "[0].components[?source=='admission']""
      Then the command succeeds
      And the output field "@" has 1 item
      And the output field "[0].type" is "pods"
      And the output field "[0].name" is "privileged"
      And the output field "[0].namespace" is "{ns:team-b}"
      When I run "az policy state list --resource {cluster-id} --expand components --filter "policyAssignmentName eq 'no-privileged'" --query "[0].components[?source=='audit'].namespace""
      Then the output field "@" is "["{ns:team-a}"]"

    Scenario: Only active assignments are reported
      Given the policy "Enforce HTTPS ingress in AKS" is assigned as "https-disabled" with parameters:
        | name   | value    |
        | effect | Disabled |
      When an audit cycle completes
      Then the compliance state of "no-privileged" is "NonCompliant"
      And "https-disabled" has no compliance state

    Scenario: A deleted assignment leaves the latest compliance states
      The deleted assignment's state goes; the other assignment's state stays.

      Given the policy "Enforce HTTPS ingress in AKS" is assigned as "https-only"
      And a refresh cycle has completed
      When an audit cycle completes
      Then the compliance state of "no-privileged" is "NonCompliant"
      And the compliance state of "https-only" is "Compliant"
      When I run "az policy assignment delete --name no-privileged --scope {cluster-id}"
      Then "no-privileged" has no compliance state
      And the compliance state of "https-only" is "Compliant"

    Scenario: The summary counts non-compliant resources and policies
      Given an audit cycle has completed
      When I run "az policy state summarize --resource {cluster-id}"
      Then the command succeeds
      And the output field "results.nonCompliantResources" is "1"
      And the output field "results.nonCompliantPolicies" is "1"
      And the output matches the snapshot "policy-state-summarize-noncompliant"

    Scenario: An on-demand scan reports without waiting for the interval
      When I run "az policy state trigger-scan --resource-group MyResourceGroup"
      Then the command succeeds
      And the compliance state of "no-privileged" is "NonCompliant"

  Rule: Real-time denials are reported with the next audit
    Nothing in the cluster violates the policy: a denial is the only violation there is.

    Background:
      Given the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
      And a refresh cycle has completed

    Scenario: Real-time denials are reported with the audit
      When an audit cycle completes
      Then the compliance state of "no-privileged" is "Compliant"
      When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
      Then the request is denied
      When the next audit cycle completes
      Then the compliance state of "no-privileged" is "NonCompliant"
      And the compliance details of "no-privileged" list "pods" "privileged" in namespace "team-a" from "admission"
