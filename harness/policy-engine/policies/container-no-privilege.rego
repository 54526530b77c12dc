package admission

import data.k8s.matches

# ContainerNoPrivilege: securityContext.privileged present and not false denies. A missing or empty
# securityContext passes.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "pods", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["pods", namespace, name, matched_pod]]
    namespace != "kube-system"
    container := matched_pod.spec.containers[_]
    container.securityContext.privileged != false
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: setting privileged flag to true is not allowed for container %v", [container.name])
}
