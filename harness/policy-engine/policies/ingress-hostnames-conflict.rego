package admission

import data.k8s.matches

# UniqueIngressHostnames: a host may be used by one ingress name only, across all namespaces. Names
# are compared, not namespace/name pairs, and kube-system is not excluded.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "ingresses", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["ingresses", namespace, name, matched_ingress]]
    host := matched_ingress.spec.rules[_].host
    matches[["ingresses", other_namespace, other_name, other_ingress]]
    other_name != name
    other_ingress.spec.rules[_].host == host
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: ingress host conflicts with an existing ingress %v in the %v namespace", [other_name, other_namespace])
}
