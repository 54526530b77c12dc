package admission

import data.k8s.matches

# ServiceAllowedPorts: every spec.ports[].port, as a decimal string, must match the assigned regex.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "services", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["services", namespace, name, matched_service]]
    namespace != "kube-system"
    port := matched_service.spec.ports[_]
    format_int(port.port, 10, port_str)
    not re_match("{{policyParameters.allowedServicePortsRegex}}", port_str)
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: port %v for service %v is not allowed.", [port_str, name])
}
