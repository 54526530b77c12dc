//! The bodies of the webhook's read API (`docs/contracts.md` §5): policy-webhook serves them,
//! policy-agent's audit cycle reads them.
//!
//! - `GET /v1/audit` answers an [`AuditResponse`], Gatekeeper v2's shape;
//! - `GET /v1/denials?since=<seq>` answers a [`DenialPage`];
//! - `GET /v1/status` answers a [`WebhookStatus`]: what is loaded and replicated (the harness waits
//!   on it; `/metrics` carries the same counts for Prometheus).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The object a violation is about. `kind` is the lower-case plural (`pods`), not the Kind.
/// Empty `namespace`/`name` are omitted on the wire, as Gatekeeper's Go `omitempty` did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct ResourceRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The `/v1/audit` body: `{"message":"total violations:N","violations":[...]}`, with `violations`
/// omitted when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditResponse {
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<AuditViolation>,
}

impl AuditResponse {
    /// The body for `violations`, with Gatekeeper's `total violations:N` message.
    pub fn new(violations: Vec<AuditViolation>) -> Self {
        Self { message: format!("total violations:{}", violations.len()), violations }
    }
}

/// One element of Gatekeeper's `data.admission.deny`: `{"id", "resource", "resolution": {"message"}}`.
/// `id` is the policy id, which the add-on sets to the full assignment id (`docs/contracts.md` §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditViolation {
    #[serde(default)]
    pub id: String,
    pub resource: ResourceRef,
    pub resolution: Resolution,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resolution {
    #[serde(default)]
    pub message: String,
}

/// The `/v1/denials` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialPage {
    /// The cursor for the following call: pass it back as `since`.
    pub next: u64,
    #[serde(default)]
    pub denials: Vec<Denial>,
}

/// One denied admission request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// Global, never reused; the first denial is 1.
    pub seq: u64,
    /// RFC 3339 in UTC with milliseconds.
    #[serde(serialize_with = "rfc3339_millis")]
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub operation: String,
    pub resource: ResourceRef,
    #[serde(default)]
    pub violations: Vec<DeniedViolation>,
}

/// One violation inside a denial: which policy and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeniedViolation {
    pub id: String,
    #[serde(default)]
    pub message: String,
}

/// The `/v1/status` body: the policies the webhook has loaded and the objects it has replicated,
/// for a client that must wait until admission and audit reflect a change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStatus {
    /// The initial ConfigMap list has been loaded (what `/readyz` waits for).
    pub policies_loaded: bool,
    /// Ids of the loaded Rego modules, `<namespace>/<configmap>/<key>`, sorted.
    #[serde(default)]
    pub modules: Vec<String>,
    /// ConfigMap keys whose Rego was rejected at their latest load. A key that had compiled before
    /// keeps its previous module, as OPA did.
    #[serde(default)]
    pub module_errors: Vec<RejectedModule>,
    /// Cluster objects replicated into the data tree, every kind together.
    pub replicated_objects: u64,
    /// Every replicated kind has finished its initial list.
    pub replication_synced: bool,
}

/// A ConfigMap key whose Rego did not compile, as the webhook's status annotation reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedModule {
    /// The module id, `<namespace>/<configmap>/<key>`.
    pub id: String,
    /// 1-based line of the error in the module as given.
    pub line: u32,
    /// 1-based column; 0 when the compiler gave no location.
    pub column: u32,
    /// The compiler's message.
    pub message: String,
}

fn rfc3339_millis<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_bodies_omit_what_gatekeeper_omitted() {
        assert_eq!(serde_json::to_value(AuditResponse::new(vec![])).unwrap(), json!({"message": "total violations:0"}));
        let v = AuditViolation {
            id: "/a".into(),
            resource: ResourceRef { kind: "namespaces".into(), namespace: String::new(), name: "n".into() },
            resolution: Resolution { message: "m".into() },
        };
        let body = serde_json::to_value(AuditResponse::new(vec![v.clone()])).unwrap();
        assert_eq!(
            body,
            json!({"message": "total violations:1",
            "violations": [{"id": "/a", "resource": {"kind": "namespaces", "name": "n"}, "resolution": {"message": "m"}}]})
        );
        assert_eq!(serde_json::from_value::<AuditResponse>(body).unwrap().violations, vec![v]);
    }

    #[test]
    fn status_is_camel_case_and_reads_back() {
        let status = WebhookStatus {
            policies_loaded: true,
            modules: vec!["azure-policy/cm/policy.rego".into()],
            module_errors: vec![RejectedModule {
                id: "azure-policy/bad/policy.rego".into(),
                line: 1,
                column: 5,
                message: "unexpected eof".into(),
            }],
            replicated_objects: 3,
            replication_synced: false,
        };
        let body = serde_json::to_value(&status).unwrap();
        assert_eq!(body["policiesLoaded"], true);
        assert_eq!(body["moduleErrors"][0]["id"], "azure-policy/bad/policy.rego");
        assert_eq!(body["replicatedObjects"], 3);
        assert_eq!(serde_json::from_value::<WebhookStatus>(body).unwrap(), status);
    }

    #[test]
    fn denial_times_carry_milliseconds_and_read_back() {
        let time = DateTime::parse_from_rfc3339("2019-06-01T00:00:00.250Z").unwrap().with_timezone(&Utc);
        let page = DenialPage {
            next: 2,
            denials: vec![Denial {
                seq: 1,
                time,
                uid: "u".into(),
                operation: "CREATE".into(),
                resource: ResourceRef { kind: "pods".into(), namespace: "team".into(), name: "p".into() },
                violations: vec![DeniedViolation { id: "/a".into(), message: "no".into() }],
            }],
        };
        let body = serde_json::to_value(&page).unwrap();
        assert_eq!(body["denials"][0]["time"], "2019-06-01T00:00:00.250Z");
        assert_eq!(serde_json::from_value::<DenialPage>(body).unwrap(), page);
    }
}
