//! The Gatekeeper `Config` from the templates' `metadata.gatekeeper.sh/requires-sync-data`
//! (reference §3.5): the add-on treats the annotation as prescriptive, so the union of what the
//! installed built-in templates ask for becomes `spec.sync.syncOnly` of the `Config` named `config`
//! in `gatekeeper-system`, re-applied every refresh (manual edits are undone).
//!
//! The annotation's value is a JSON list of requirements, each a list of interchangeable clauses
//! `{groups[], versions[], kinds[]}` (reference §1.7); Gatekeeper's own templates write it as a JSON
//! string holding that JSON. Every group × version × kind of every clause is synced, which satisfies
//! each requirement whichever clause the cluster serves.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::resources::{CONFIG_NAME, GATEKEEPER_NAMESPACE};

/// One `syncOnly` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncParseError {
    #[error("metadata.gatekeeper.sh/requires-sync-data is not a JSON list of requirements: {0}")]
    Json(#[source] serde_json::Error),
    #[error("metadata.gatekeeper.sh/requires-sync-data has a clause without versions or kinds")]
    EmptyClause,
}

#[derive(Deserialize)]
struct Clause {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
}

/// The kinds one annotation value asks for, sorted and without duplicates.
pub fn requirements(text: &str) -> Result<Vec<SyncKind>, SyncParseError> {
    let trimmed = text.trim();
    // `"[[...]]"`: a JSON string that holds the JSON.
    let unquoted = if trimmed.starts_with('"') {
        serde_json::from_str::<String>(trimmed).map_err(SyncParseError::Json)?
    } else {
        trimmed.to_string()
    };
    let parsed: Vec<Vec<Clause>> = serde_json::from_str(&unquoted).map_err(SyncParseError::Json)?;
    let mut kinds = BTreeSet::new();
    for clause in parsed.iter().flatten() {
        if clause.versions.is_empty() || clause.kinds.is_empty() {
            return Err(SyncParseError::EmptyClause);
        }
        let groups = if clause.groups.is_empty() { vec![String::new()] } else { clause.groups.clone() };
        for group in &groups {
            for version in &clause.versions {
                for kind in &clause.kinds {
                    kinds.insert(SyncKind { group: group.clone(), version: version.clone(), kind: kind.clone() });
                }
            }
        }
    }
    Ok(kinds.into_iter().collect())
}

/// The union of several templates' needs.
pub fn union<'a>(needs: impl IntoIterator<Item = &'a [SyncKind]>) -> BTreeSet<SyncKind> {
    needs.into_iter().flatten().cloned().collect()
}

/// The `Config` to apply for `kinds` (an empty `syncOnly` when nothing needs syncing, so kinds no
/// longer needed stop being synced).
pub fn config_object(kinds: &BTreeSet<SyncKind>) -> Value {
    let entries: Vec<Value> =
        kinds.iter().map(|k| json!({"group": k.group, "version": k.version, "kind": k.kind})).collect();
    json!({
        "apiVersion": "config.gatekeeper.sh/v1alpha1",
        "kind": "Config",
        "metadata": {"name": CONFIG_NAME, "namespace": GATEKEEPER_NAMESPACE},
        "spec": {"sync": {"syncOnly": entries}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(group: &str, version: &str, kind: &str) -> SyncKind {
        SyncKind { group: group.into(), version: version.into(), kind: kind.into() }
    }

    #[test]
    fn quoted_and_plain_annotations_expand_every_clause() {
        let quoted = r#""[[{\"groups\": [\"extensions\", \"networking.k8s.io\"], \"versions\": [\"v1beta1\", \"v1\"], \"kinds\": [\"Ingress\"]}]]""#;
        let kinds = requirements(quoted).unwrap();
        assert_eq!(kinds.len(), 4);
        assert!(kinds.contains(&k("networking.k8s.io", "v1", "Ingress")));
        assert!(kinds.contains(&k("extensions", "v1beta1", "Ingress")));
        let plain = r#"[[{"versions": ["v1"], "kinds": ["Namespace", "Pod"]}], [{"groups": [""], "versions": ["v1"], "kinds": ["Service"]}]]"#;
        assert_eq!(
            requirements(plain).unwrap(),
            vec![k("", "v1", "Namespace"), k("", "v1", "Pod"), k("", "v1", "Service")]
        );
        assert!(matches!(requirements("[[{\"kinds\": [\"Pod\"]}]]"), Err(SyncParseError::EmptyClause)));
        assert!(requirements("not json").unwrap_err().to_string().contains("not a JSON list of requirements"));
    }

    #[test]
    fn the_union_is_sorted_without_duplicates_and_becomes_sync_only() {
        let a = vec![k("", "v1", "Service"), k("", "v1", "Namespace")];
        let b = vec![k("", "v1", "Namespace"), k("networking.k8s.io", "v1", "Ingress")];
        let all = union([a.as_slice(), b.as_slice(), &[]]);
        assert_eq!(all.len(), 3);
        let config = config_object(&all);
        assert_eq!(config["metadata"], json!({"name": "config", "namespace": "gatekeeper-system"}));
        assert_eq!(
            config["spec"]["sync"]["syncOnly"],
            json!([
                {"group": "", "version": "v1", "kind": "Namespace"},
                {"group": "", "version": "v1", "kind": "Service"},
                {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}
            ])
        );
        assert_eq!(config_object(&BTreeSet::new())["spec"]["sync"]["syncOnly"], json!([]));
    }
}
