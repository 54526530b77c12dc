//! The wire types of the dataplane (contracts §3): assignments in, compliance reports out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One active assignment for this cluster, as the dataplane lists it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub assignment_id: String,
    pub assignment_name: String,
    pub definition_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub effect: String,
    pub policy_uri: String,
    /// Placeholder name → resolved value.
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentList {
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default)]
    pub assignments: Vec<Assignment>,
}

/// Where a violation was seen: the periodic full scan or a real-time admission denial.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ViolationSource {
    Audit,
    Admission,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Violation {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    pub message: String,
    pub source: ViolationSource,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum ComplianceState {
    Compliant,
    NonCompliant,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentCompliance {
    pub assignment_id: String,
    pub compliance_state: ComplianceState,
    pub violations: Vec<Violation>,
}

/// A refresh failure surfaced to Azure (the assignment keeps its last good policy meanwhile).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshError {
    pub assignment_id: String,
    pub message: String,
}

/// One audit cycle's report. `report_id` doubles as the `Idempotency-Key`: a resend after a lost
/// acknowledgement carries the same id, so the server counts it once.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub report_id: String,
    pub cluster_id: String,
    pub cycle: u64,
    pub generated_at: String,
    pub assignments: Vec<AssignmentCompliance>,
    #[serde(default)]
    pub refresh_errors: Vec<RefreshError>,
}

/// The dataplane's acknowledgement of a report.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportAck {
    #[serde(default)]
    pub report_id: String,
    pub accepted: bool,
    #[serde(default)]
    pub duplicate: bool,
}
