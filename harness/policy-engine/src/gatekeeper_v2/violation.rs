//! The decoded element of `data.admission.deny`. Its wire form, and [`ResourceRef`], are the
//! webhook's `/v1/audit` contract ([`contracts::webhook`]).

use contracts::webhook::{AuditResponse, AuditViolation, Resolution};
use serde::{Deserialize, Serialize};

pub use contracts::ResourceRef;

/// One `deny` element: `{"id", "resource", "resolution": {"message"}}`.
///
/// Serialises to the Gatekeeper wire shape ([`AuditViolation`], message nested under
/// `resolution`); use [`Violation::flat`] for the offline checker's `{"id","resource","message"}` shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Violation {
    pub id: String,
    pub resource: ResourceRef,
    pub message: String,
}

impl From<Violation> for AuditViolation {
    fn from(v: Violation) -> Self {
        AuditViolation { id: v.id, resource: v.resource, resolution: Resolution { message: v.message } }
    }
}

impl From<AuditViolation> for Violation {
    fn from(w: AuditViolation) -> Self {
        Violation { id: w.id, resource: w.resource, message: w.resolution.message }
    }
}

impl Serialize for Violation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AuditViolation::from(self.clone()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Violation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AuditViolation::deserialize(d).map(Violation::from)
    }
}

impl Violation {
    /// `{"id","resource","message"}`: the flat shape printed by `harness policy check`.
    pub fn flat(&self) -> serde_json::Value {
        serde_json::json!({"id": self.id, "resource": self.resource, "message": self.message})
    }
}

/// The `/v1/audit` response body for `violations`.
pub fn audit_response(violations: &[Violation]) -> AuditResponse {
    AuditResponse::new(violations.iter().cloned().map(AuditViolation::from).collect())
}
