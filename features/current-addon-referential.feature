@current-addon
Feature: Today's add-on: a referential policy reads the inventory
  A template that compares an object with others reads them from Gatekeeper's `data.inventory`,
  which holds the kinds Gatekeeper's `Config` (`config` in `gatekeeper-system`) syncs. The add-on
  writes that Config from its built-in templates' `metadata.gatekeeper.sh/requires-sync-data`
  annotation. Sync follows the API server's watch, so a new object reaches the inventory shortly
  after it is created, not at once.

  b0fdedee-7b9e-4a17-9f5d-5e8e912d2f01 is "Kubernetes cluster services should use unique selectors"
  (template `k8sazurev1uniqueserviceselectors`, effect Audit by default; AKS only).

  Background:
    Given a subscription with the resource providers Microsoft.ContainerService and Microsoft.PolicyInsights registered
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup" running Kubernetes "1.30.6"
    And the azure-policy add-on is enabled

  Scenario: A Service with the selector of another Service in its namespace is denied
    When I run "az policy assignment create --name unique-selectors --policy b0fdedee-7b9e-4a17-9f5d-5e8e912d2f01 --scope {cluster-id} --params '{"effect": {"value": "Deny"}}'"
    Then the command succeeds
    When a refresh cycle completes
    Then Gatekeeper's Config syncs "" "v1" "Service"
    When I create the fixture "current-addon/web-service.yaml" in namespace "team-a"
    Then the request is admitted
    And within 10 seconds the fixture "current-addon/web-copy-service.yaml" in namespace "team-a" is denied with "Service web-copy has the same selector as service web in namespace {ns:team-a}"
    When I create the fixture "current-addon/web-copy-service.yaml" in namespace "team-b"
    Then the request is admitted
