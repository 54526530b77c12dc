//! The AdmissionReview envelope: reading a request body into something evaluable, and writing the
//! reply in the same `apiVersion`.
//!
//! The API server treats a reply without the request's `uid`, or in another version than it sent,
//! as a webhook failure (and `failurePolicy` applies), so both are carried from the request to the
//! response. Bodies that are not a usable AdmissionReview are rejected with a [`BadReview`] that the
//! server turns into HTTP 400 with the reason as text: never a panic, never a guess.

use policy_engine::ReviewError;
use serde_json::{Value, json};

/// The two AdmissionReview versions the API server may send (`admissionReviewVersions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVersion {
    V1,
    V1Beta1,
}

impl ReviewVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            ReviewVersion::V1 => "admission.k8s.io/v1",
            ReviewVersion::V1Beta1 => "admission.k8s.io/v1beta1",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "admission.k8s.io/v1" => Some(ReviewVersion::V1),
            "admission.k8s.io/v1beta1" => Some(ReviewVersion::V1Beta1),
            _ => None,
        }
    }
}

/// Why a body was refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReview {
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body could not be read: {0}")]
    Unreadable(String),
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("not an AdmissionReview: {0}")]
    NotAReview(String),
    #[error("invalid AdmissionReview: {0}")]
    Invalid(#[from] ReviewError),
}

/// The fields of the request the webhook itself looks at (the engine gets the whole request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    pub uid: String,
    /// `request.kind.kind`, e.g. `Pod`.
    pub kind: String,
    /// `request.resource.resource`, the plural, e.g. `pods`.
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub operation: String,
    pub dry_run: bool,
}

/// A parsed AdmissionReview.
#[derive(Debug, Clone)]
pub struct Review {
    pub version: ReviewVersion,
    pub summary: RequestSummary,
    /// `request`, as sent (what the Rego overlay is built from).
    pub request: Value,
}

fn text(v: &Value, path: &[&str]) -> String {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Parses a request body. The size limit is enforced while reading the body (see the server); this
/// function is total over arbitrary bytes.
pub fn parse_review(body: &[u8]) -> Result<Review, BadReview> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BadReview::InvalidJson(e.to_string()))?;
    let obj = value.as_object().ok_or_else(|| BadReview::NotAReview("body is not a JSON object".into()))?;
    match obj.get("kind").and_then(Value::as_str) {
        Some("AdmissionReview") => {}
        Some(other) => return Err(BadReview::NotAReview(format!("kind is `{other}`"))),
        None => return Err(BadReview::NotAReview("missing kind".into())),
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let version = ReviewVersion::parse(api_version)
        .ok_or_else(|| BadReview::Invalid(ReviewError::UnsupportedVersion(api_version.to_string())))?;
    let request = policy_engine::admission_review_to_request(&value)?;
    let uid = match request.get("uid") {
        Some(Value::String(uid)) if !uid.is_empty() => uid.clone(),
        _ => return Err(BadReview::Invalid(ReviewError::MissingField("request.uid"))),
    };
    let summary = RequestSummary {
        uid,
        kind: text(&request, &["kind", "kind"]),
        resource: text(&request, &["resource", "resource"]),
        namespace: text(&request, &["namespace"]),
        name: text(&request, &["name"]),
        operation: text(&request, &["operation"]),
        dry_run: request.get("dryRun").and_then(Value::as_bool).unwrap_or(false),
    };
    Ok(Review { version, summary, request })
}

/// The reply: `{"apiVersion", "kind": "AdmissionReview", "response": {"uid", "allowed", "status"}}`.
/// `status` is a `metav1.Status` fragment; Gatekeeper v2 set only `reason`, the contract adds
/// `message` (which the API server shows in preference to `reason`).
pub fn review_response(version: ReviewVersion, uid: &str, allowed: bool, status: Value) -> Value {
    json!({
        "apiVersion": version.api_version(),
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": allowed, "status": status},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn review(version: &str) -> Value {
        json!({
            "apiVersion": version,
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "team", "name": "web-1", "operation": "CREATE", "dryRun": true,
                "userInfo": {"username": "admin"},
                "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "team"}},
            }
        })
    }

    #[test]
    fn parses_v1_and_v1beta1() {
        for (v, want) in
            [("admission.k8s.io/v1", ReviewVersion::V1), ("admission.k8s.io/v1beta1", ReviewVersion::V1Beta1)]
        {
            let r = parse_review(review(v).to_string().as_bytes()).unwrap();
            assert_eq!(r.version, want);
            assert_eq!(r.summary.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
            assert_eq!(r.summary.kind, "Pod");
            assert_eq!(r.summary.resource, "pods");
            assert_eq!((r.summary.namespace.as_str(), r.summary.name.as_str()), ("team", "web-1"));
            assert!(r.summary.dry_run);
            assert_eq!(r.request["object"]["kind"], "Pod");
        }
    }

    #[test]
    fn refuses_what_is_not_a_usable_review() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json".to_vec(), "not valid JSON"),
            (b"[]".to_vec(), "not a JSON object"),
            (json!({"kind": "Pod"}).to_string().into_bytes(), "kind is `Pod`"),
            (
                json!({"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"}).to_string().into_bytes(),
                "unsupported apiVersion",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).to_string().into_bytes(),
                "missing field `request`",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": 3})
                    .to_string()
                    .into_bytes(),
                "wrong type",
            ),
        ];
        for (body, want) in cases {
            let err = parse_review(&body).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn a_request_without_uid_is_refused() {
        let mut r = review("admission.k8s.io/v1");
        r["request"].as_object_mut().unwrap().remove("uid");
        assert!(parse_review(r.to_string().as_bytes()).unwrap_err().to_string().contains("request.uid"));
        r["request"]["uid"] = json!("");
        assert!(parse_review(r.to_string().as_bytes()).is_err());
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse_review(body.as_bytes()), Err(BadReview::InvalidJson(_))));
    }

    #[test]
    fn response_echoes_version_and_uid() {
        let r = review_response(ReviewVersion::V1Beta1, "u-1", false, json!({"reason": "x"}));
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1beta1");
        assert_eq!(r["kind"], "AdmissionReview");
        assert_eq!(r["response"]["uid"], "u-1");
        assert_eq!(r["response"]["allowed"], false);
    }
}
