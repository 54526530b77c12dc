//! The dataplane bodies (`docs/contracts.md` §3): azure-sim serves and stores them, policy-agent
//! reads and sends them.
//!
//! - `GET /dataplane/v1/assignments?clusterId=…` answers an [`AssignmentList`];
//! - `POST /dataplane/v1/reports` takes a [`ComplianceReport`] and answers a [`ReportAck`].
//!
//! Field names are camelCase on the wire; optional lists default to empty when absent.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One active assignment for a cluster, as the dataplane lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The full assignment resource id, as created (also the Rego's `{{AzurePolicyID}}`).
    pub assignment_id: String,
    pub assignment_name: String,
    pub definition_id: String,
    #[serde(default)]
    pub display_name: String,
    /// The resolved effect (`EnforceRegoPolicy`; `Disabled` assignments are not listed).
    #[serde(default)]
    pub effect: String,
    /// Where the Rego is downloaded from (placeholders intact).
    pub policy_uri: String,
    /// Placeholder name → resolved value (assignment value, else the definition's default).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The assignment's `enforcementMode`.
    #[serde(default)]
    pub enforcement_mode: EnforcementMode,
}

/// The `GET /dataplane/v1/assignments` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentList {
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default)]
    pub assignments: Vec<Assignment>,
}

/// An assignment's `enforcementMode`, spelled as ARM spells it. `DoNotEnforce` keeps the policy
/// evaluated and reported, but nothing is denied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnforcementMode {
    #[default]
    Default,
    DoNotEnforce,
}

impl EnforcementMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcementMode::Default => "Default",
            EnforcementMode::DoNotEnforce => "DoNotEnforce",
        }
    }

    /// Whether admission denies what this assignment's policy finds.
    pub fn enforces(self) -> bool {
        self == EnforcementMode::Default
    }
}

impl fmt::Display for EnforcementMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is neither `Default` nor `DoNotEnforce`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("enforcement mode must be 'Default' or 'DoNotEnforce', not '{0}'")]
pub struct UnknownEnforcementMode(pub String);

impl FromStr for EnforcementMode {
    type Err = UnknownEnforcementMode;

    /// Case-insensitive, as ARM compares it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [EnforcementMode::Default, EnforcementMode::DoNotEnforce]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEnforcementMode(s.to_string()))
    }
}

/// One audit cycle's report. `report_id` doubles as the `Idempotency-Key`: a resend after a lost
/// acknowledgement carries the same id, so the server counts it once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReport {
    pub report_id: String,
    pub cluster_id: String,
    pub cycle: u64,
    /// RFC 3339 in UTC (`2019-06-01T00:00:00Z`).
    pub generated_at: DateTime<Utc>,
    pub assignments: Vec<AssignmentCompliance>,
    #[serde(default)]
    pub refresh_errors: Vec<RefreshError>,
}

/// One active assignment's verdict in a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentCompliance {
    pub assignment_id: String,
    pub compliance_state: ComplianceState,
    #[serde(default)]
    pub violations: Vec<Violation>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComplianceState {
    Compliant,
    NonCompliant,
}

impl ComplianceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceState::Compliant => "Compliant",
            ComplianceState::NonCompliant => "NonCompliant",
        }
    }
}

/// Where a violation was seen: the periodic full scan or a real-time admission denial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViolationSource {
    Audit,
    Admission,
}

/// One offending object. `kind` is the lower-case plural (`pods`); `namespace` is empty for
/// cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Violation {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    pub message: String,
    pub source: ViolationSource,
}

/// A refresh failure surfaced to Azure (the assignment keeps its last good policy meanwhile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshError {
    pub assignment_id: String,
    pub message: String,
}

/// The answer to a posted report: `duplicate` when that `reportId` was already accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAck {
    #[serde(default)]
    pub report_id: String,
    pub accepted: bool,
    #[serde(default)]
    pub duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enforcement_mode_is_spelled_as_arm_spells_it_and_defaults_to_default() {
        assert_eq!(serde_json::to_value(EnforcementMode::DoNotEnforce).unwrap(), json!("DoNotEnforce"));
        let listed: Assignment = serde_json::from_value(json!({
            "assignmentId": "/a", "assignmentName": "a", "definitionId": "/d", "policyUri": "https://x/p.rego"
        }))
        .unwrap();
        assert_eq!(listed.enforcement_mode, EnforcementMode::Default);
        assert_eq!("donotenforce".parse(), Ok(EnforcementMode::DoNotEnforce));
        assert!("Audit".parse::<EnforcementMode>().is_err());
        assert!(!EnforcementMode::DoNotEnforce.enforces());
    }

    #[test]
    fn a_report_has_the_documented_shape() {
        let text = r#"{"reportId":"r","clusterId":"/c","cycle":12,"generatedAt":"2019-06-01T00:00:00Z",
            "assignments":[{"assignmentId":"/a","complianceState":"NonCompliant",
              "violations":[{"kind":"pods","namespace":"ns","name":"n","message":"m","source":"admission"}]}]}"#;
        let report: ComplianceReport = serde_json::from_str(text).unwrap();
        assert_eq!(report.assignments[0].violations[0].source, ViolationSource::Admission);
        assert!(report.refresh_errors.is_empty());
        let back = serde_json::to_value(&report).unwrap();
        assert_eq!(back["generatedAt"], "2019-06-01T00:00:00Z");
        assert_eq!(back["assignments"][0]["violations"][0]["source"], "admission");
        assert_eq!(back["refreshErrors"], json!([]));
        assert!(
            serde_json::from_value::<Violation>(
                json!({"kind": "pods", "name": "n", "message": "m", "source": "kubelet"})
            )
            .is_err()
        );
    }
}
