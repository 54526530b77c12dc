package admission

import data.k8s.matches

# LoadBalancersInternal: a LoadBalancer service needs the azure-load-balancer-internal annotation set
# to "true". The type test is "not != LoadBalancer", so a service without spec.type is denied too.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "services", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["services", namespace, name, matched_service]]
    namespace != "kube-system"
    not matched_service.spec.type != "LoadBalancer"
    not matched_service.metadata.annotations["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: loadbalancers should not have public ips. azure-load-balancer-internal annotation is required for %v", [matched_service.metadata.name])
}
