package admission

import data.k8s.matches

# PodEnforceLabels: every key of the comma-separated list (split without trimming) must be a label key
# of the pod. One violation per missing label.
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "pods", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["pods", namespace, name, matched_pod]]
    namespace != "kube-system"
    split("{{policyParameters.commaSeparatedListOfLabels}}", ",", required_labels)
    label := required_labels[_]
    not matched_pod.metadata.labels[label]
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: required label %v is missing for pod: %v", [label, matched_pod.metadata.name])
}
