//! From an AdmissionReview to the Gatekeeper v2 admission query.
//!
//! The manager normalised the identifiers of the object under review (trimmed, lower-cased; an empty
//! name became a random 10-character name, an empty namespace `default`), rebuilt a compact
//! AdmissionRequest, overlaid it at the object's path with `with data.kubernetes[..] as <request>`,
//! and kept only the `deny` elements whose `resource` is that object.

use rand::Rng;
use serde_json::{Map, Value};

use crate::{EvalError, ReviewError};

/// The `request` of an AdmissionReview (`admission.k8s.io/v1` or `v1beta1`), checked to be an object
/// with the fields the query needs. Accepts a bare AdmissionRequest too (no `apiVersion`/`kind`
/// wrapper), which is what `harness policy check` builds from plain manifests.
pub fn admission_review_to_request(review: &Value) -> Result<Value, ReviewError> {
    let obj = review.as_object().ok_or(ReviewError::NotAnObject)?;
    let request = match obj.get("kind") {
        Some(Value::String(kind)) if kind == "AdmissionReview" => {
            let version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
            if version != "admission.k8s.io/v1" && version != "admission.k8s.io/v1beta1" {
                return Err(ReviewError::UnsupportedVersion(version.to_string()));
            }
            obj.get("request").ok_or(ReviewError::MissingField("request"))?
        }
        Some(Value::String(kind)) if obj.contains_key("apiVersion") => {
            return Err(ReviewError::WrongKind(kind.clone()));
        }
        _ => review,
    };
    let req = request.as_object().ok_or(ReviewError::WrongType("request"))?;
    for field in ["uid", "name", "namespace", "operation"] {
        if req.get(field).is_some_and(|v| !v.is_string() && !v.is_null()) {
            return Err(ReviewError::WrongType(match field {
                "uid" => "request.uid",
                "name" => "request.name",
                "namespace" => "request.namespace",
                _ => "request.operation",
            }));
        }
    }
    let resource = req.get("resource").ok_or(ReviewError::MissingField("request.resource"))?;
    if !resource.get("resource").is_some_and(Value::is_string) {
        return Err(ReviewError::MissingField("request.resource.resource"));
    }
    Ok(request.clone())
}

/// The path the request is overlaid at, after Gatekeeper's normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionTarget {
    /// Resource plural, lower case (`pods`).
    pub resource: String,
    /// `None` for `namespaces`, which Gatekeeper v2 treated as the one cluster-scoped kind.
    pub namespace: Option<String>,
    /// The request's name, or a generated one when it was empty (`generateName` creates).
    pub name: String,
}

fn field<'a>(req: &'a Value, key: &str) -> &'a str {
    req.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A random lower-case 10-character name, like the one Gatekeeper v2 generated for nameless requests.
fn generated_name() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

impl AdmissionTarget {
    pub fn of(request: &Value) -> Result<Self, EvalError> {
        let resource = request.get("resource").map(|r| field(r, "resource")).unwrap_or_default().trim().to_lowercase();
        if resource.is_empty() {
            return Err(EvalError::InvalidRequest("empty resource".to_string()));
        }
        let mut name = field(request, "name").trim().to_lowercase();
        if name.is_empty() {
            name = generated_name();
        }
        let namespace = (resource != "namespaces").then(|| {
            let ns = field(request, "namespace").trim().to_lowercase();
            if ns.is_empty() { "default".to_string() } else { ns }
        });
        Ok(AdmissionTarget { resource, namespace, name })
    }

    /// The `deny` pattern that keeps only results about this object.
    fn pattern(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let namespace = self.namespace.as_deref().map(|ns| format!(r#""namespace": {}, "#, q(ns))).unwrap_or_default();
        format!(
            r#"data.admission.deny[{{"id": id, "resource": {{"kind": {}, {namespace}"name": {}}}, "resolution": resolution}}]"#,
            q(&self.resource),
            q(&self.name)
        )
    }

    /// The object's path below `data.kubernetes`.
    pub(crate) fn path(&self) -> Vec<&str> {
        let mut path = vec![self.resource.as_str()];
        path.extend(self.namespace.as_deref());
        path.push(&self.name);
        path
    }

    /// Gatekeeper's query: the request (passed as `input`, which spares parsing it as a JSON literal
    /// per module) overlays the object's path in the full replicated tree.
    pub(crate) fn overlay_query(&self) -> String {
        let path: String =
            self.path().iter().map(|k| format!("[{}]", serde_json::to_string(k).unwrap_or_default())).collect();
        format!("{} with data.kubernetes{path} as input", self.pattern())
    }

    /// The `resource` of [`Self::pattern`] as a value: no `namespace` key for cluster-scoped
    /// objects, as in Gatekeeper's query.
    pub(crate) fn pattern_resource(&self) -> Value {
        let mut resource = Map::new();
        resource.insert("kind".to_string(), Value::from(self.resource.as_str()));
        if let Some(ns) = &self.namespace {
            resource.insert("namespace".to_string(), Value::from(ns.as_str()));
        }
        resource.insert("name".to_string(), Value::from(self.name.as_str()));
        Value::Object(resource)
    }
}

/// The AdmissionRequest as the Gatekeeper v2 manager rebuilt it: only these fields, and
/// `subResource`, `name`, `namespace`, `object`, `oldObject` omitted when empty.
pub(crate) fn overlay_request(request: &Value) -> Value {
    let mut out = Map::new();
    for key in
        ["uid", "kind", "resource", "subResource", "name", "namespace", "operation", "userInfo", "object", "oldObject"]
    {
        let Some(value) = request.get(key) else { continue };
        let empty = match value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Object(m) => m.is_empty(),
            _ => false,
        };
        let optional = matches!(key, "subResource" | "name" | "namespace" | "object" | "oldObject");
        if !(empty && optional) {
            out.insert(key.to_string(), value.clone());
        }
    }
    Value::Object(out)
}
