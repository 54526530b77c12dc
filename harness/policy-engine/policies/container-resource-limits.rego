package admission

import data.k8s.matches

# ContainerResourceLimits: each container in spec.containers needs both a CPU and a memory limit.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "pods", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["pods", namespace, name, matched_pod]]
    namespace != "kube-system"
    container := matched_pod.spec.containers[_]
    not container_limits_defined(container)
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: CPU and memory resource limits are not defined for container %q", [container.name])
}

container_limits_defined(container) {
    container.resources.limits.cpu
    container.resources.limits.memory
}
