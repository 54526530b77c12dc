package admission

import data.k8s.matches

# ContainerAllowedImages: every image in spec.containers must match the assigned regex (a search,
# not a full match). initContainers are not checked.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "pods", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["pods", namespace, name, matched_pod]]
    namespace != "kube-system"
    container := matched_pod.spec.containers[_]
    not re_match("{{policyParameters.allowedContainerImagesRegex}}", container.image)
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: container image %q is not allowed.", [container.image])
}
