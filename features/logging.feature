@logging
Feature: Logs
  Denials show in the Kubernetes audit log, where the 2019 documentation searched for
  "admission webhook"; the add-on's own logs show its cycles and decisions.

  Background:
    Given a subscription that has opted in to the preview
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed

  Scenario: A denial is recorded in the API server audit log
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied
    And the API server audit log records the denial of "pods" "privileged" in namespace "team-a"

  Scenario: The webhook logs each decision
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the add-on logs contain "privileged"
    And the add-on logs contain "deny"

  Scenario: The add-on logs its audit cycles
    When an audit cycle completes
    Then the add-on logs contain "audit cycle completed"
