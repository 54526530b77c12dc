package admission

import data.k8s.matches

# ContainerAllowedPorts: every containerPort in spec.containers, as a decimal string, must match the
# assigned regex. One violation per offending port and container.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "pods", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["pods", namespace, name, matched_pod]]
    namespace != "kube-system"
    container := matched_pod.spec.containers[_]
    port := container.ports[_]
    format_int(port.containerPort, 10, port_str)
    not re_match("{{policyParameters.allowedContainerPortsRegex}}", port_str)
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: container port %v for container %v is not allowed.", [port_str, container.name])
}
