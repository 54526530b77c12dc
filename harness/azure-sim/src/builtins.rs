//! The nine *Kubernetes service* built-ins of the 2019 limited preview, as our own JSON written from
//! the public facts (display names, descriptions, parameters) over the policy-engine's catalog
//! (GUIDs, `policyId`s, Rego files; docs/contracts.md §7). Their `details.policy` URIs point at this
//! server, which serves that Rego.

use policy_engine::builtins::{self as engine, BuiltinPolicy};
use serde_json::{Value, json};

/// One built-in definition: the policy (GUID, `policyId`, Rego file, parameter name) from the
/// engine's catalog, described for ARM.
pub struct Builtin {
    pub policy: &'static BuiltinPolicy,
    /// Display name without the `[Limited Preview]: ` prefix.
    pub display_name: &'static str,
    /// The user parameter's display name and example, if the policy has a parameter.
    pub parameter: Option<(&'static str, &'static str)>,
    pub description: &'static str,
}

/// The catalog, in the order of the public table.
/// The definition mode of Rego policies (`EnforceRegoPolicy`): the built-ins' mode, and the mode
/// an assignment's definition must have to reach a cluster.
pub const REGO_MODE: &str = "Microsoft.ContainerService.Data";

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        policy: &engine::CONTAINER_ALLOWED_IMAGES,
        display_name: "Ensure only allowed container images in AKS",
        parameter: Some(("Allowed container images regex", "^.+azurecr.io/.+$")),
        description: "Containers may only use images whose name matches the given regular expression.",
    },
    Builtin {
        policy: &engine::CONTAINER_ALLOWED_PORTS,
        display_name: "Ensure containers listen only on allowed ports in AKS",
        parameter: Some(("Allowed container ports regex", "^(443|446)$")),
        description: "Containers may only expose ports whose number matches the given regular expression.",
    },
    Builtin {
        policy: &engine::CONTAINER_NO_PRIVILEGE,
        display_name: "Do not allow privileged containers in AKS",
        parameter: None,
        description: "Containers may not run with the privileged flag set.",
    },
    Builtin {
        policy: &engine::CONTAINER_RESOURCE_LIMITS,
        display_name: "Ensure CPU and memory resource limits defined on containers in AKS",
        parameter: None,
        description: "Every container must declare CPU and memory limits.",
    },
    Builtin {
        policy: &engine::INGRESS_HOSTNAMES_CONFLICT,
        display_name: "Enforce unique ingress hostnames across namespaces in AKS",
        parameter: None,
        description: "An ingress may not use a host name that another ingress already uses.",
    },
    Builtin {
        policy: &engine::INGRESS_HTTPS_ONLY,
        display_name: "Enforce HTTPS ingress in AKS",
        parameter: None,
        description: "Ingresses must configure TLS and disable plain HTTP.",
    },
    Builtin {
        policy: &engine::LOAD_BALANCER_NO_PUBLIC_IPS,
        display_name: "Enforce internal load balancers in AKS",
        parameter: None,
        description: "Services of type LoadBalancer must be internal (no public IP).",
    },
    Builtin {
        policy: &engine::POD_ENFORCE_LABELS,
        display_name: "Enforce labels on pods in AKS",
        parameter: Some(("Comma-separated list of labels", "test1,test2")),
        description: "Pods must carry every label key in the given comma-separated list.",
    },
    Builtin {
        policy: &engine::SERVICE_ALLOWED_PORTS,
        display_name: "Ensure services listen only on allowed ports in AKS",
        parameter: Some(("Allowed service ports regex", "^(443|446)$")),
        description: "Services may only expose ports whose number matches the given regular expression.",
    },
];

const PREVIEW_NOTE: &str = " Limited preview policies only work for subscriptions registered for the preview \
    (features Microsoft.ContainerService/AKS-AzurePolicyAutoApprove and Microsoft.PolicyInsights/AKS-DataplaneAutoApprove).";

/// Finds a built-in by GUID (case-insensitive).
pub fn find(guid: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.policy.guid.eq_ignore_ascii_case(guid))
}

/// The Rego of a built-in by file name.
pub fn rego(file: &str) -> Option<&'static str> {
    engine::by_file(file).map(|p| p.source)
}

/// The definition body, with `details.policy` on this server (`base` = its base URL).
pub fn definition(b: &Builtin, base: &str) -> Value {
    let mut parameters = json!({
        "effect": {
            "type": "String", "defaultValue": "EnforceRegoPolicy", "allowedValues": ["EnforceRegoPolicy", "Disabled"],
            "metadata": {"displayName": "Effect", "description": "Enable or disable the execution of the policy"},
        }
    });
    let p = b.policy;
    let mut details = json!({"policyId": p.policy_id, "policy": format!("{base}/policies/kubernetes/{}", p.file)});
    if let (Some(name), Some((display, example))) = (p.parameter, b.parameter) {
        parameters[name] = json!({
            "type": "String",
            "metadata": {"displayName": display, "description": format!("{display}, for example '{example}'")},
        });
        details["policyParameters"] = json!({ name: format!("[parameters('{name}')]") });
    }
    json!({
        "id": format!("/providers/Microsoft.Authorization/policyDefinitions/{}", p.guid),
        "name": p.guid,
        "type": "Microsoft.Authorization/policyDefinitions",
        "properties": {
            "displayName": format!("[Limited Preview]: {}", b.display_name),
            "description": format!("{}{PREVIEW_NOTE}", b.description),
            "policyType": "BuiltIn",
            "mode": REGO_MODE,
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
    fn each_engine_builtin_is_described_once_with_its_parameter() {
        let files: std::collections::BTreeSet<&str> = BUILTINS.iter().map(|b| b.policy.file).collect();
        assert_eq!(files, engine::BUILTINS.iter().map(|p| p.file).collect());
        assert_eq!(BUILTINS.len(), engine::BUILTINS.len());
        for b in BUILTINS {
            let p = b.policy;
            assert!(p.source.contains("{{AzurePolicyID}}"), "{} lacks the id placeholder", p.file);
            assert_eq!(p.parameter.is_some(), b.parameter.is_some(), "{}: parameter described iff it exists", p.file);
            if let Some(name) = p.parameter {
                assert!(p.source.contains(&format!("{{{{policyParameters.{name}}}}}")), "{} lacks {name}", p.file);
            }
        }
    }
}
