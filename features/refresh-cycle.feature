@refresh-cycle
Feature: The refresh cycle
  Every refresh interval (5 minutes in 2019) the add-on asks Azure Policy for the cluster's
  assignments, downloads their Rego, deletes every ConfigMap in `azure-policy` and recreates one per
  assignment. Manual changes in that namespace are lost at the next refresh.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"

  Rule: Each refresh cycle brings the cluster in line with its assignments
    These scenarios trigger the cycle instead of waiting five minutes.

    Background:
      Given the azure-policy add-on is enabled
      And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"

    Scenario: An assignment becomes a ConfigMap after one refresh cycle
      When a refresh cycle completes
      Then there is 1 policy ConfigMap in the add-on namespace
      And a policy ConfigMap for "no-privileged" exists
      And the policy ConfigMap for "no-privileged" contains "{cluster-id}/providers/Microsoft.Authorization/policyAssignments/no-privileged"
      And every policy ConfigMap has the policy status "ok"

    Scenario: A hand-edited policy is restored at the next refresh
      Given a refresh cycle has completed
      When I replace the Rego in the policy ConfigMap for "no-privileged" with "package admission\n"
      And the next refresh cycle completes
      Then the policy ConfigMap for "no-privileged" contains "setting privileged flag to true is not allowed"
      When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
      Then the request is denied with "setting privileged flag to true is not allowed"

    Scenario: A ConfigMap added by hand is deleted at the next refresh
      Given a refresh cycle has completed
      And I created in namespace "azure-policy":
        """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: my-own-policy
        data:
          note: added by hand
        """
      When the next refresh cycle completes
      Then there is 1 policy ConfigMap in the add-on namespace

    Scenario: A new assignment is picked up by the next refresh
      Given a refresh cycle has completed
      And the policy "Enforce HTTPS ingress in AKS" is assigned as "https-only"
      When the next refresh cycle completes
      Then there are 2 policy ConfigMaps in the add-on namespace
      When I create the fixture "denials/http-ingress.yaml" in namespace "team-a"
      Then the request is denied with "ingress should be https"

    Scenario: A deleted assignment stops being enforced after the next refresh
      Given a refresh cycle has completed
      And I ran "az policy assignment delete --name no-privileged --scope {cluster-id}"
      When the next refresh cycle completes
      Then no policy ConfigMap for "no-privileged" exists
      When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
      Then the request is admitted

    Scenario: The refresh cycle is logged
      When a refresh cycle completes
      Then the add-on logs contain "refresh cycle completed"

  Rule: The add-on refreshes on its own every refresh interval

    Scenario: A short refresh interval alone brings an assignment to the cluster
      Nothing triggers a cycle here. The first assignment may come with the refresh the add-on runs
      when it starts; the second is made once the first is enforced, so only a later refresh, from
      the add-on's own timer, can bring it (at the 2019 interval of 5 minutes the wait runs out).

      Given the add-on's refresh interval is "2s"
      And the azure-policy add-on is enabled
      And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
      Then within 20 seconds the fixture "denials/privileged-pod.yaml" in namespace "team-a" is denied with "setting privileged flag to true is not allowed"
      When I assign "Enforce HTTPS ingress in AKS" as "https-only"
      Then within 20 seconds the fixture "denials/http-ingress.yaml" in namespace "team-a" is denied with "ingress should be https"
