//! Reading Kubernetes manifests (YAML or JSON, several documents, `kind: List`) and turning them into
//! replicated-data entries or AdmissionRequests, for tools that work without a cluster.

use serde::Deserialize;
use serde_json::{Value, json};

/// Kinds replicated at `data.kubernetes.<plural>.<name>`. Gatekeeper v2 special-cased `namespaces`
/// only; the others are the common cluster-scoped kinds, so `--existing` files with them land where
/// kube-mgmt's `--replicate-cluster` would have put them.
const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "nodes",
    "persistentvolumes",
    "clusterroles",
    "clusterrolebindings",
    "storageclasses",
    "customresourcedefinitions",
];

/// Every document of `text` (YAML is a superset of JSON), with `List` kinds expanded and empty
/// documents dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| e.to_string())?;
        match value {
            Value::Null => {}
            Value::Object(ref m)
                if m.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List"))
                    && m.get("items").is_some_and(Value::is_array) =>
            {
                docs.extend(m["items"].as_array().into_iter().flatten().cloned());
            }
            other => docs.push(other),
        }
    }
    Ok(docs)
}

/// The lower-case resource plural of a Kind, by the English rules the API uses for built-in kinds.
pub fn plural_of(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with("ss")
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
        || lower.ends_with('s')
    {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u'])) {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

pub fn is_cluster_scoped(plural: &str) -> bool {
    CLUSTER_SCOPED.contains(&plural)
}

/// Where a manifest lives in the replicated tree: (plural, namespace, name). Namespaced objects
/// without a namespace go to `default`, as `kubectl apply` would put them.
pub fn placement(object: &Value) -> Result<(String, Option<String>, String), String> {
    let kind = object.get("kind").and_then(Value::as_str).ok_or("manifest has no kind")?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{kind} manifest has no metadata.name"))?;
    let plural = plural_of(kind);
    let namespace = (!is_cluster_scoped(&plural)).then(|| {
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_string()
    });
    Ok((plural, namespace, name.to_string()))
}

/// A CREATE AdmissionRequest for a manifest, shaped as an API server would send it.
pub fn create_request(object: &Value) -> Result<Value, String> {
    let kind = object.get("kind").and_then(Value::as_str).ok_or("manifest has no kind")?;
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("v1");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let plural = plural_of(kind);
    let mut request = json!({
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": plural},
        "name": object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
        "operation": "CREATE",
        "userInfo": {"username": "harness-policy-check"},
        "object": object,
    });
    if !is_cluster_scoped(&plural) {
        request["namespace"] = json!(object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default());
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_common_kinds() {
        for (kind, plural) in [
            ("Pod", "pods"),
            ("Service", "services"),
            ("Ingress", "ingresses"),
            ("Namespace", "namespaces"),
            ("NetworkPolicy", "networkpolicies"),
            ("Gateway", "gateways"),
        ] {
            assert_eq!(plural_of(kind), plural);
        }
    }

    #[test]
    fn multi_document_yaml_and_lists() {
        let text = "kind: Pod\nmetadata: {name: a}\n---\n---\n{\"kind\": \"List\", \"items\": [{\"kind\": \"Service\", \"metadata\": {\"name\": \"b\"}}]}\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(placement(&docs[1]).unwrap(), ("services".into(), Some("default".into()), "b".into()));
    }
}
