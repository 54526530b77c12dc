@resilience
Feature: Resilience
  The 2019 webhook failed open: if it could not be reached, the API server admitted the request.
  Azure throttles and fails now and then; the add-on retries, and keeps enforcing the last good
  policy when a download fails.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"

  Scenario: With failure policy Ignore, a dead webhook lets requests through
    Given the add-on's webhook failure policy is "Ignore"
    And the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When the webhook process is killed
    And I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is admitted

  # Reads the Deployments' status, which only the harness writes (see install.feature).
  @deployment-status
  Scenario: With failure policy Fail, a dead webhook blocks requests
    Given the add-on's webhook failure policy is "Fail"
    And the azure-policy add-on is enabled
    And a namespace "team-a"
    When the webhook process is killed
    Then the Deployment "azure-policy-webhook" in the add-on namespace shows "0/1" ready
    And the Deployment "azure-policy" in the add-on namespace shows "1/1" ready
    When I create the fixture "denials/plain-pod.yaml" in namespace "team-a"
    Then the request fails with "failed calling webhook"

  Scenario: Throttled assignment downloads are retried
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    When azure-sim answers "/dataplane/v1/assignments*" with HTTP 429 for the next 2 calls
    And a refresh cycle completes
    Then a policy ConfigMap for "no-privileged" exists

  Scenario: Server errors on the dataplane are retried
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    When azure-sim answers "/dataplane/v1/assignments*" with HTTP 503 for the next 2 calls
    And a refresh cycle completes
    Then a policy ConfigMap for "no-privileged" exists

  Scenario: A failed Rego download keeps the last good policy
    The assignment made during the outage shows that the downloads really failed: its Rego never
    arrives, so it gets no ConfigMap.

    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When azure-sim answers "/policies/*" with HTTP 503 for the next 50 calls
    And I assign "Enforce HTTPS ingress in AKS" as "https-only"
    And the next refresh cycle completes
    Then no policy ConfigMap for "https-only" exists
    And the policy ConfigMap for "no-privileged" contains "setting privileged flag to true is not allowed"
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied with "setting privileged flag to true is not allowed"

  Scenario: Broken Rego in one ConfigMap does not stop the other policies
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And the policy "Enforce HTTPS ingress in AKS" is assigned as "https-only"
    And a refresh cycle has completed
    When I replace the Rego in the policy ConfigMap for "https-only" with "package admission\ndeny[x] {"
    Then the policy ConfigMap for "https-only" has a policy status error mentioning "error"
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied with "setting privileged flag to true is not allowed"

  Scenario: An unreachable dataplane leaves the cluster as it was
    Given the azure-policy add-on is enabled
    And the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When azure-sim drops the connection on "/dataplane/v1/*" for the next 100 calls
    And the refresh cycle fails to complete
    Then a policy ConfigMap for "no-privileged" exists

  Scenario: With failure policy Ignore, a policy that fails to evaluate lets the request through
    The custom policy below compiles and judges one-container pods, but fails to evaluate for a pod
    whose two containers use different images. The webhook then answers "allowed" ("policy check
    failed", as Gatekeeper v2 did) whatever the failure policy: an evaluation error is not denied
    under "Fail" either. "Fail" only blocks requests when the webhook cannot be reached (see "With
    failure policy Fail, a dead webhook blocks requests").

    Given the add-on's webhook failure policy is "Ignore"
    And the azure-policy add-on is enabled
    And the policy "Pull the image of single-container pods from myregistry.azurecr.io in AKS" is assigned as "one-registry"
    And a refresh cycle has completed
    When I create the fixture "denials/dockerhub-pod.yaml" in namespace "team-a"
    Then the request is denied with "image nginx:1.15 is not from myregistry.azurecr.io"
    When I create the fixture "denials/two-images-pod.yaml" in namespace "team-a"
    Then the request is admitted
    And the webhook logged the decision "fail_open" for the Pod "two-images" in namespace "team-a"
