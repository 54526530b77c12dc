//! `input.review`: what a template sees of the object under review (reference §1.6).
//!
//! * Admission: the AdmissionRequest as the API server sent it; on DELETE `object` is `oldObject`.
//! * Audit, `gator test` and plain `gator verify` objects: an AdmissionRequest built from the object
//!   alone: `kind` (the object's GVK), `object`, `name` and `namespace` carry values, and the other
//!   fields are empty (`uid: ""`, `operation: ""`, `userInfo: {}`, `resource` with empty strings,
//!   `oldObject: null`, `options: null`, `namespaceObject: {}`), exactly what gator v3.23.1 hands a
//!   template (measured by dumping `input.review` with `json.marshal`). So `not input.review.operation`
//!   is false here, as in Gatekeeper; the reference's "no operation, userInfo or uid" is wrong.

use serde_json::{Value, json};

use super::{GatekeeperError, ObjectRef};

/// A review ready for evaluation: the `input.review` value and who it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// The value templates read as `input.review`.
    pub input: Value,
    /// The object's identity (for `spec.match` and for results).
    pub resource: ObjectRef,
    /// The Namespace object of a namespaced resource when known (`namespaceSelector`, newer
    /// Gatekeeper's `input.review.namespaceObject`).
    pub namespace_object: Option<Value>,
}

impl Review {
    /// An audit / gator review of a bare object. `source` names it in errors.
    pub fn from_object(object: Value, source: &str) -> Result<Review, GatekeeperError> {
        let resource = object_ref(&object, source)?;
        let mut input = json!({
            "uid": "",
            "kind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
            "resource": {"group": "", "version": "", "resource": ""},
            "name": resource.name,
            "operation": "",
            "userInfo": {},
            "object": object,
            "oldObject": null,
            "options": null,
            "namespaceObject": {},
        });
        if let Some(ns) = &resource.namespace {
            input["namespace"] = Value::String(ns.clone());
        }
        Ok(Review { input, resource, namespace_object: None })
    }

    /// An admission review of an AdmissionRequest (the `request` of an AdmissionReview).
    pub fn from_admission_request(request: Value, source: &str) -> Result<Review, GatekeeperError> {
        let Value::Object(mut request) = request else {
            return Err(GatekeeperError::invalid(source, "request", "an object (AdmissionRequest)"));
        };
        let deleting = request.get("operation").and_then(Value::as_str) == Some("DELETE");
        let object = match request.get("object") {
            Some(o) if !o.is_null() && !deleting => o.clone(),
            _ => request.get("oldObject").cloned().unwrap_or(Value::Null),
        };
        if deleting {
            request.insert("object".into(), object.clone());
        }
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        // Without `request.kind` (hand-written reviews, gatekeeper-library's update cases), Gatekeeper
        // matches by the reviewed object's own apiVersion and kind; the request itself is not changed.
        let kind = match request.get("kind") {
            Some(k) if !text(k, "kind").is_empty() => k.clone(),
            _ => match object_ref(&object, source) {
                Ok(r) => json!({"group": r.group, "version": r.version, "kind": r.kind}),
                Err(_) => {
                    return Err(GatekeeperError::invalid(
                        source,
                        "request.kind.kind",
                        "the kind of the reviewed object (or an object with apiVersion and kind)",
                    ));
                }
            },
        };
        let kind_name = text(&kind, "kind");
        let name = match text(&Value::Object(request.clone()), "name") {
            n if n.is_empty() => text(&object["metadata"], "name"),
            n => n,
        };
        let namespace = match text(&Value::Object(request.clone()), "namespace") {
            n if n.is_empty() => Some(text(&object["metadata"], "namespace")).filter(|n| !n.is_empty()),
            n => Some(n),
        };
        let resource = ObjectRef {
            group: text(&kind, "group"),
            version: text(&kind, "version"),
            kind: kind_name,
            namespace,
            name,
        };
        Ok(Review { input: Value::Object(request), resource, namespace_object: None })
    }

    /// An `AdmissionReview` (any version) is reviewed as its request, anything else as a bare object,
    /// as gator does with suite cases.
    pub fn from_any(value: Value, source: &str) -> Result<Review, GatekeeperError> {
        if value.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
            let request = value
                .get("request")
                .cloned()
                .ok_or_else(|| GatekeeperError::invalid(source, "request", "an AdmissionReview with a request"))?;
            Review::from_admission_request(request, source)
        } else {
            Review::from_object(value, source)
        }
    }

    /// The object the review is about (`object`, which is `oldObject` on DELETE).
    pub fn object(&self) -> &Value {
        &self.input["object"]
    }

    /// The same review seen through its `oldObject`, for an update: Gatekeeper matches a constraint
    /// when either the new or the old object matches (labels can change in an update). `None` when
    /// there is no old object, or on DELETE, where `object` already is the old object.
    pub fn through_old_object(&self) -> Option<Review> {
        let old = self.input.get("oldObject").filter(|o| o.is_object())?;
        if self.input.get("operation").and_then(Value::as_str) == Some("DELETE") {
            return None;
        }
        let mut review = self.clone();
        review.input["object"] = old.clone();
        Some(review)
    }

    /// Whether the reviewed object is a Namespace (core group).
    pub fn is_namespace(&self) -> bool {
        self.resource.group.is_empty() && self.resource.kind == "Namespace"
    }
}

/// Group, version, kind, namespace and name of a manifest.
pub fn object_ref(object: &Value, source: &str) -> Result<ObjectRef, GatekeeperError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| GatekeeperError::invalid(source, "apiVersion", "a string such as v1 or apps/v1"))?;
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| GatekeeperError::invalid(source, "kind", "a non-empty string"))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let meta = &object["metadata"];
    Ok(ObjectRef {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        namespace: meta.get("namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).map(str::to_string),
        name: meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_object_is_an_empty_request_around_kind_object_name_and_namespace() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"}});
        let review = Review::from_object(pod.clone(), "pod.yaml").unwrap();
        assert_eq!(
            review.input,
            json!({"uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                   "resource": {"group": "", "version": "", "resource": ""}, "name": "p", "namespace": "ns",
                   "operation": "", "userInfo": {}, "object": pod, "oldObject": null, "options": null,
                   "namespaceObject": {}})
        );
    }

    #[test]
    fn a_delete_reviews_the_old_object() {
        let old = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}});
        let request = json!({"uid": "1", "operation": "DELETE", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                              "name": "d", "namespace": "n", "object": null, "oldObject": old});
        let review = Review::from_admission_request(request, "r").unwrap();
        assert_eq!(review.object(), &old);
        assert_eq!(review.resource.group, "apps");
    }

    #[test]
    fn a_request_without_kind_goes_by_the_object_and_an_update_can_be_seen_through_the_old_object() {
        let new = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"v": "2"}}});
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"v": "1"}}});
        let request = json!({"operation": "UPDATE", "object": new, "oldObject": old});
        let review = Review::from_admission_request(request, "r").unwrap();
        assert_eq!((review.resource.kind.as_str(), review.resource.version.as_str()), ("Pod", "v1"));
        assert!(review.input.get("kind").is_none(), "the request reaches the template as it was sent");
        assert_eq!(review.through_old_object().unwrap().object(), &old);
        let created = Review::from_admission_request(json!({"operation": "CREATE", "object": new}), "r").unwrap();
        assert!(created.through_old_object().is_none());
        let err = Review::from_admission_request(json!({"operation": "CREATE", "object": {}}), "r").unwrap_err();
        assert!(err.to_string().starts_with("r: request.kind.kind: "), "{err}");
    }

    #[test]
    fn errors_name_the_source_and_field() {
        let err = Review::from_object(json!({"kind": "Pod"}), "x.yaml").unwrap_err();
        assert_eq!(err.to_string(), "x.yaml: apiVersion: a string such as v1 or apps/v1");
    }
}
