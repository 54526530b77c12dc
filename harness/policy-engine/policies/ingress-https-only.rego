package admission

import data.k8s.matches

# HttpsIngressOnly: an ingress needs a non-empty tls list and the allow-http annotation set to "false".
deny[{
    "id": "{{AzurePolicyID}}",
    "resource": {"kind": "ingresses", "namespace": namespace, "name": name},
    "resolution": {"message": msg},
}] {
    matches[["ingresses", namespace, name, matched_ingress]]
    namespace != "kube-system"
    not https_only_configured(matched_ingress)
    msg := sprintf("The operation was disallowed by policy ‘{{AzurePolicyID}}’. Error details: ingress should be https. tls configuration and allow-http=false annotation are required for %v", [matched_ingress.metadata.name])
}

https_only_configured(ingress) {
    count(ingress.spec.tls) > 0
    ingress.metadata.annotations["kubernetes.io/ingress.allow-http"] == "false"
}
