//! The decoded element of `data.admission.deny`, in the Gatekeeper v2 `/v1/audit` shape.

use serde::{Deserialize, Serialize};

/// The resource a violation is about. `kind` is the lower-case plural (`pods`), not the Kind.
/// Empty `namespace`/`name` are omitted on the wire, as Gatekeeper's Go `omitempty` did.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ResourceRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// One `deny` element: `{"id", "resource", "resolution": {"message"}}`.
///
/// Serialises to the Gatekeeper wire shape (message nested under `resolution`); use
/// [`Violation::flat`] for the offline checker's `{"id","resource","message"}` shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Violation {
    pub id: String,
    pub resource: ResourceRef,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
struct Resolution {
    #[serde(default)]
    message: String,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default)]
    id: String,
    resource: ResourceRef,
    resolution: Resolution,
}

impl Serialize for Violation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            id: self.id.clone(),
            resource: self.resource.clone(),
            resolution: Resolution { message: self.message.clone() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Violation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(Violation { id: w.id, resource: w.resource, message: w.resolution.message })
    }
}

impl Violation {
    /// `{"id","resource","message"}`: the flat shape printed by `harness policy check`.
    pub fn flat(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "resource": self.resource, "message": self.message})
    }
}

/// The `/v1/audit` response body: `{"message":"total violations:N","violations":[...]}`, with
/// `violations` omitted when empty.
pub fn audit_response(violations: &[Violation]) -> serde_json::Value {
    let mut body = serde_json::json!({"message": format!("total violations:{}", violations.len())});
    if !violations.is_empty() {
        body["violations"] = serde_json::to_value(violations).unwrap_or_default();
    }
    body
}
