@denials
Feature: Denials at admission
  Once an assignment reaches the cluster, the Gatekeeper v2 webhook evaluates every create and
  update against its Rego and denies violations with the policy's message. The message names the
  assignment, so users can look it up in Azure Policy.

  Background:
    Given a subscription that has opted in to the preview
    And a resource group "MyResourceGroup"
    And an AKS cluster "MyAKSCluster" in resource group "MyResourceGroup"
    And the azure-policy add-on is enabled

  Scenario Outline: <policy>
    Given the policy "<policy>" is assigned as "<assignment>" with parameters:
      | name    | value   |
      | <param> | <value> |
    And a refresh cycle has completed
    And I created the fixture "denials/<existing>.yaml" in namespace "team-b"
    When I create the fixture "denials/<denied>.yaml" in namespace "team-a"
    Then the request is denied with "<message>"
    When I create the fixture "denials/<allowed>.yaml" in namespace "team-a"
    Then the request is admitted

    Examples:
      | policy                                                             | assignment      | param                       | value            | existing         | denied               | allowed                | message                                                                                    |
      | Do not allow privileged containers in AKS                          | no-privileged   |                             |                  | nothing          | privileged-pod       | plain-pod              | setting privileged flag to true is not allowed for container nginx                          |
      | Ensure only allowed container images in AKS                        | acr-only        | allowedContainerImagesRegex | ^.+azurecr.io/.+$ | nothing         | dockerhub-pod        | plain-pod              | container image "nginx:1.15" is not allowed.                                              |
      | Ensure CPU and memory resource limits defined on containers in AKS | limits          |                             |                  | nothing          | no-limits-pod        | limits-pod             | CPU and memory resource limits are not defined for container "nginx"                      |
      | Ensure containers listen only on allowed ports in AKS              | container-ports | allowedContainerPortsRegex  | ^(443\|446)$     | nothing          | port-80-pod          | port-443-pod           | container port 80 for container nginx is not allowed.                                      |
      | Ensure services listen only on allowed ports in AKS                | service-ports   | allowedServicePortsRegex    | ^(443\|446)$     | nothing          | service-port-80      | service-port-443       | port 80 for service web is not allowed.                                                    |
      | Enforce internal load balancers in AKS                             | internal-lb     |                             |                  | nothing          | public-load-balancer | internal-load-balancer | loadbalancers should not have public ips. azure-load-balancer-internal annotation is required for public-lb |
      | Enforce HTTPS ingress in AKS                                       | https-only      |                             |                  | nothing          | http-ingress         | https-ingress          | ingress should be https. tls configuration and allow-http=false annotation are required for http-only |
      | Enforce unique ingress hostnames across namespaces in AKS          | unique-hosts    |                             |                  | existing-ingress | conflicting-ingress  | other-host-ingress     | ingress host conflicts with an existing ingress existing in the {ns:team-b} namespace       |
      | Enforce labels on pods in AKS                                      | pod-labels      | commaSeparatedListOfLabels  | test1,test2      | nothing          | unlabelled-pod       | labelled-pod           | required label test1 is missing for pod: unlabelled                                        |

  @smoke
  Scenario: The message names the assignment that denied the request
    Given the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When I create the fixture "denials/privileged-pod.yaml" in namespace "team-a"
    Then the request is denied with "The operation was disallowed by policy ‘{cluster-id}/providers/Microsoft.Authorization/policyAssignments/no-privileged’. Error details:"
    And the request is denied with "admission webhook "mutation.gatekeeper.sh" denied the request"

  Scenario: kube-system is excluded by the 2019 policies
    Given the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When I create the fixture "denials/privileged-pod.yaml" in namespace "kube-system"
    Then the request is admitted

  Scenario: The unique-hostname policy does not exclude kube-system
    Given the policy "Enforce unique ingress hostnames across namespaces in AKS" is assigned as "unique-hosts"
    And a refresh cycle has completed
    And I created the fixture "denials/existing-ingress.yaml" in namespace "team-b"
    When I create the fixture "denials/conflicting-ingress.yaml" in namespace "kube-system"
    Then the request is denied with "ingress host conflicts with an existing ingress existing"

  Scenario: Only containers are checked, not init containers
    Given the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And a refresh cycle has completed
    When I create in namespace "team-a":
      """
      apiVersion: v1
      kind: Pod
      metadata:
        name: privileged-init
      spec:
        initContainers:
        - name: setup
          image: myregistry.azurecr.io/busybox:1.30
          securityContext:
            privileged: true
        containers:
        - name: app
          image: myregistry.azurecr.io/nginx:1.15
      """
    Then the request is admitted

  Scenario: Updates are reviewed too
    Given the policy "Enforce internal load balancers in AKS" is assigned as "internal-lb"
    And a refresh cycle has completed
    And I created the fixture "denials/internal-load-balancer.yaml" in namespace "team-a"
    When I update in namespace "team-a":
      """
      apiVersion: v1
      kind: Service
      metadata:
        name: internal-lb
      spec:
        type: LoadBalancer
        selector:
          app: web
        ports:
        - port: 443
      """
    Then the request is denied with "azure-load-balancer-internal annotation is required for internal-lb"

  Scenario: Every violation is listed in one denial
    Given the policy "Do not allow privileged containers in AKS" is assigned as "no-privileged"
    And the policy "Ensure only allowed container images in AKS" is assigned as "acr-only" with parameters:
      | name                        | value             |
      | allowedContainerImagesRegex | ^.+azurecr.io/.+$ |
    And a refresh cycle has completed
    When I create in namespace "team-a":
      """
      apiVersion: v1
      kind: Pod
      metadata:
        name: two-problems
      spec:
        containers:
        - name: web
          image: nginx:1.15
          securityContext:
            privileged: true
      """
    Then the request is denied with "setting privileged flag to true is not allowed for container web"
    And the request is denied with "container image "nginx:1.15" is not allowed."
