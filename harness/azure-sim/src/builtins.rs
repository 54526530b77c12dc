//! The nine *Kubernetes service* built-ins of the 2019 limited preview, as our own JSON written from
//! the public facts (GUIDs, display names, `policyId`s, parameters). Their `details.policy` URIs
//! point at this server, which serves the Rego compiled in from `harness/policy-engine/policies`
//! (file names fixed in docs/contracts.md §7).

use serde_json::{Value, json};

/// One built-in definition.
pub struct Builtin {
    pub guid: &'static str,
    /// Display name without the `[Limited Preview]: ` prefix.
    pub display_name: &'static str,
    pub policy_id: &'static str,
    pub file: &'static str,
    pub rego: &'static str,
    /// The user parameter, if any: (name, display name, example).
    pub parameter: Option<(&'static str, &'static str, &'static str)>,
    pub description: &'static str,
}

macro_rules! rego {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../policy-engine/policies/", $file))
    };
}

/// The catalog, in the order of the public table.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        guid: "5f86cb6e-c4da-441b-807c-44bd0cc14e66",
        display_name: "Ensure only allowed container images in AKS",
        policy_id: "ContainerAllowedImages",
        file: "container-allowed-images.rego",
        rego: rego!("container-allowed-images.rego"),
        parameter: Some(("allowedContainerImagesRegex", "Allowed container images regex", "^.+azurecr.io/.+$")),
        description: "Containers may only use images whose name matches the given regular expression.",
    },
    Builtin {
        guid: "0f636243-1b1c-4d50-880f-310f6199f2cb",
        display_name: "Ensure containers listen only on allowed ports in AKS",
        policy_id: "ContainerAllowedPorts",
        file: "container-allowed-ports.rego",
        rego: rego!("container-allowed-ports.rego"),
        parameter: Some(("allowedContainerPortsRegex", "Allowed container ports regex", "^(443|446)$")),
        description: "Containers may only expose ports whose number matches the given regular expression.",
    },
    Builtin {
        guid: "7ce7ac02-a5c6-45d6-8d1b-844feb1c1531",
        display_name: "Do not allow privileged containers in AKS",
        policy_id: "ContainerNoPrivilege",
        file: "container-no-privilege.rego",
        rego: rego!("container-no-privilege.rego"),
        parameter: None,
        description: "Containers may not run with the privileged flag set.",
    },
    Builtin {
        guid: "a2d3ed81-8d11-4079-80a5-1faadc0024f4",
        display_name: "Ensure CPU and memory resource limits defined on containers in AKS",
        policy_id: "ContainerResourceLimits",
        file: "container-resource-limits.rego",
        rego: rego!("container-resource-limits.rego"),
        parameter: None,
        description: "Every container must declare CPU and memory limits.",
    },
    Builtin {
        guid: "d011d9f7-ba32-4005-b727-b3d09371ca60",
        display_name: "Enforce unique ingress hostnames across namespaces in AKS",
        policy_id: "UniqueIngressHostnames",
        file: "ingress-hostnames-conflict.rego",
        rego: rego!("ingress-hostnames-conflict.rego"),
        parameter: None,
        description: "An ingress may not use a host name that another ingress already uses.",
    },
    Builtin {
        guid: "2fbff515-eecc-4b7e-9b63-fcc7138b7dc3",
        display_name: "Enforce HTTPS ingress in AKS",
        policy_id: "HttpsIngressOnly",
        file: "ingress-https-only.rego",
        rego: rego!("ingress-https-only.rego"),
        parameter: None,
        description: "Ingresses must configure TLS and disable plain HTTP.",
    },
    Builtin {
        guid: "a74d8f00-2fd9-4ce4-968e-0ee1eb821698",
        display_name: "Enforce internal load balancers in AKS",
        policy_id: "LoadBalancersInternal",
        file: "load-balancer-no-public-ips.rego",
        rego: rego!("load-balancer-no-public-ips.rego"),
        parameter: None,
        description: "Services of type LoadBalancer must be internal (no public IP).",
    },
    Builtin {
        guid: "16c6ca72-89d2-4798-b87e-496f9de7fcb7",
        display_name: "Enforce labels on pods in AKS",
        policy_id: "PodEnforceLabels",
        file: "pod-enforce-labels.rego",
        rego: rego!("pod-enforce-labels.rego"),
        parameter: Some(("commaSeparatedListOfLabels", "Comma-separated list of labels", "test1,test2")),
        description: "Pods must carry every label key in the given comma-separated list.",
    },
    Builtin {
        guid: "25dee3db-6ce0-4c02-ab5d-245887b24077",
        display_name: "Ensure services listen only on allowed ports in AKS",
        policy_id: "ServiceAllowedPorts",
        file: "service-allowed-ports.rego",
        rego: rego!("service-allowed-ports.rego"),
        parameter: Some(("allowedServicePortsRegex", "Allowed service ports regex", "^(443|446)$")),
        description: "Services may only expose ports whose number matches the given regular expression.",
    },
];

const PREVIEW_NOTE: &str = " Limited preview policies only work for subscriptions registered for the preview \
    (features Microsoft.ContainerService/AKS-AzurePolicyAutoApprove and Microsoft.PolicyInsights/AKS-DataplaneAutoApprove).";

/// Finds a built-in by GUID (case-insensitive).
pub fn find(guid: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.guid.eq_ignore_ascii_case(guid))
}

/// The Rego of a built-in by file name.
pub fn rego(file: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|b| b.file == file).map(|b| b.rego)
}

/// The definition body, with `details.policy` on this server (`base` = its base URL).
pub fn definition(b: &Builtin, base: &str) -> Value {
    let mut parameters = json!({
        "effect": {
            "type": "String", "defaultValue": "EnforceRegoPolicy", "allowedValues": ["EnforceRegoPolicy", "Disabled"],
            "metadata": {"displayName": "Effect", "description": "Enable or disable the execution of the policy"},
        }
    });
    let mut details = json!({"policyId": b.policy_id, "policy": format!("{base}/policies/kubernetes/{}", b.file)});
    if let Some((name, display, example)) = b.parameter {
        parameters[name] = json!({
            "type": "String",
            "metadata": {"displayName": display, "description": format!("{display}, for example '{example}'")},
        });
        details["policyParameters"] = json!({ name: format!("[parameters('{name}')]") });
    }
    json!({
        "id": format!("/providers/Microsoft.Authorization/policyDefinitions/{}", b.guid),
        "name": b.guid,
        "type": "Microsoft.Authorization/policyDefinitions",
        "properties": {
            "displayName": format!("[Limited Preview]: {}", b.display_name),
            "description": format!("{}{PREVIEW_NOTE}", b.description),
            "policyType": "BuiltIn",
            "mode": "Microsoft.ContainerService.Data",
            "metadata": {"category": "Kubernetes service"},
            "parameters": parameters,
            "policyRule": {
                "if": {"field": "type", "equals": "Microsoft.ContainerService/managedClusters"},
                "then": {"effect": "[parameters('effect')]", "details": details},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_builtins_with_their_rego() {
        assert_eq!(BUILTINS.len(), 9);
        for b in BUILTINS {
            assert!(b.rego.contains("{{AzurePolicyID}}"), "{} lacks the id placeholder", b.file);
            if let Some((name, ..)) = b.parameter {
                assert!(b.rego.contains(&format!("{{{{policyParameters.{name}}}}}")), "{} lacks {name}", b.file);
            }
        }
    }
}
