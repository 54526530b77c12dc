@byo-policy
Feature: Bring your own policy
  The 2019 service accepted only built-ins, but users wanted to try their own Rego. The harness
  serves custom definitions from `fixtures/custom-definitions/` next to the built-ins.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled

  Scenario: A custom definition from a directory is enforced like a built-in
    Given the policy "Do not allow the latest image tag in AKS" is assigned as "no-latest"
    And a refresh cycle has completed
    When I create the fixture "denials/latest-pod.yaml" in namespace "team-a"
    Then the request is denied with "image nginx:latest of container nginx has no pinned tag"
    When I create the fixture "denials/plain-pod.yaml" in namespace "team-a"
    Then the request is admitted
