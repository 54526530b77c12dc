@logging
Feature: Logs
  Denials show in the Kubernetes audit log, where the 2019 documentation searched for
  "admission webhook"; the add-on's own logs show its cycles and decisions.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed

  # Only the local control plane writes an audit log the harness can read.
  @local-cluster
  Scenario: A denial is recorded in the API server audit log
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied
    And the API server audit log records the denial of "pods" "privileged" in namespace "team-a"

  Scenario: The webhook logs each decision
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied
    And the webhook logged the decision "deny" for the Pod "privileged" in namespace "team-a"
    When I create the fixture "denials/plain-pod.yaml" in namespace "team-a"
    Then the request is admitted
    And the webhook logged the decision "allow" for the Pod "plain" in namespace "team-a"

  Scenario: The add-on logs its audit cycles
    When an audit cycle completes
    Then the add-on logs contain "audit cycle completed"
