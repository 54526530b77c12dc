//! The dataplane bodies (`docs/contracts.md` §3): azure-sim serves and stores them, policy-agent
//! reads and sends them.
//!
//! - `GET /dataplane/v1/assignments?clusterId=…` answers an [`AssignmentList`]: the 2019 Rego
//!   assignments ([`Assignment`], read by the 2019 policy-agent) and, beside them, today's
//!   `Microsoft.Kubernetes.Data` ones ([`ConstraintAssignment`], read by the current add-on). Two
//!   lists rather than one mixed list, so that each generation reads only what it can install and an
//!   older reader never meets an entry it would misread;
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
    /// Active `Microsoft.ContainerService.Data` (2019, Rego) assignments.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// Active `Microsoft.Kubernetes.Data` (Gatekeeper v3) assignments. Omitted when empty, so a
    /// cluster with only 2019 assignments gets exactly the 2019 feed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraint_assignments: Vec<ConstraintAssignment>,
}

/// One active `Microsoft.Kubernetes.Data` assignment for a cluster: everything the current add-on
/// needs to install a ConstraintTemplate and a Constraint (reference §4.3), with every
/// `[parameters('x')]` of the definition's `details` already resolved, so the add-on never sees ARM
/// expressions or parameter declarations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintAssignment {
    /// The full assignment resource id, as created (the `azure-policy-assignment-id` annotation).
    pub assignment_id: String,
    pub assignment_name: String,
    /// The definition id (the `azure-policy-definition-id` annotation).
    pub definition_id: String,
    #[serde(default)]
    pub display_name: String,
    /// The resolved effect as written in the definition or assignment (`Deny`, `audit`, ...);
    /// compare it case-insensitively. `Disabled` assignments are not listed.
    pub effect: String,
    /// The assignment's `enforcementMode`.
    #[serde(default)]
    pub enforcement_mode: EnforcementMode,
    /// Where the ConstraintTemplate comes from (`details.templateInfo`). A store URL points at the
    /// simulated store, not at `store.policy.core.windows.net`.
    pub template: TemplateSource,
    /// `details.constraintInfo`, when the definition brings its own Constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<TemplateSource>,
    /// `details.apiGroups` (`""` is the core group); empty with `constraint`.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// `details.kinds`; empty with `constraint`.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `details.namespaces`: empty means every namespace not excluded.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// `details.labelSelector` (`matchLabels`, `matchExpressions`); empty selects everything.
    #[serde(default)]
    pub label_selector: Map<String, Value>,
    /// `details.source` (`All`, `Generated` or `Original`), when the definition has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `details.warn`: with `audit`, warn at admission too (`scoped`).
    #[serde(default)]
    pub warn: bool,
    /// `details.values`: the Constraint's `spec.parameters`.
    #[serde(default)]
    pub values: Map<String, Value>,
}

/// A `templateInfo` (or `constraintInfo`), in the definition's own shape:
/// `{"sourceType": "PublicURL", "url": …}` or `{"sourceType": "Base64Encoded", "content": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sourceType")]
pub enum TemplateSource {
    /// Download the YAML from `url`.
    #[serde(rename = "PublicURL")]
    PublicUrl { url: String },
    /// The YAML, base64-encoded.
    Base64Encoded { content: String },
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
    /// Today's add-on: one entry per `Microsoft.Kubernetes.Data` assignment (one Constraint each).
    /// A list beside `assignments`, as in [`AssignmentList`], so a 2019 report stays byte for byte
    /// what it was (omitted when empty) and each generation writes only its own shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraint_assignments: Vec<ConstraintCompliance>,
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

/// A compliance state as PolicyInsights spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComplianceState {
    Compliant,
    NonCompliant,
    /// Add-on 1.3.0's state for a policy that could not be applied (a template or evaluation error),
    /// distinct from `NonCompliant`. Only for an assignment as a whole, never for a component.
    Error,
}

impl ComplianceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceState::Compliant => "Compliant",
            ComplianceState::NonCompliant => "NonCompliant",
            ComplianceState::Error => "Error",
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

/// One `Microsoft.Kubernetes.Data` assignment's verdict on the cluster (its Constraint): the
/// Kubernetes objects it judged and why it could not be applied, if it could not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintCompliance {
    pub assignment_id: String,
    /// The cluster-level state. Azure derives it, so azure-sim records
    /// [`ConstraintCompliance::derived_state`] and the add-on should send the same.
    pub compliance_state: ComplianceState,
    /// The objects judged (`Compliant` or `NonCompliant` each). Azure keeps at most 500
    /// non-compliant ones per policy per cluster; send them all, the server applies the cap.
    #[serde(default)]
    pub components: Vec<Component>,
    /// Why the add-on could not apply the policy as defined (empty when it could).
    #[serde(default)]
    pub reasons: Vec<ComplianceReason>,
}

impl ConstraintCompliance {
    /// The cluster's state for this assignment, from its reasons and components: `Error` when a
    /// reason says the policy is not in effect ([`ReasonCode::is_error`]); else `NonCompliant` when
    /// any reason is given (the documented reasons are non-compliance reasons) or any component is
    /// non-compliant; else `Compliant`. One function, so the add-on and azure-sim cannot disagree.
    pub fn derived_state(&self) -> ComplianceState {
        if self.reasons.iter().any(|r| r.code.is_error()) {
            ComplianceState::Error
        } else if !self.reasons.is_empty()
            || self.components.iter().any(|c| c.compliance_state == ComplianceState::NonCompliant)
        {
            ComplianceState::NonCompliant
        } else {
            ComplianceState::Compliant
        }
    }
}

/// One Kubernetes object as a component of the cluster's compliance record. Named as Gatekeeper
/// names a violation in a Constraint's `status.violations` (`group`, `version`, `kind`), so the
/// add-on copies them across.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// The object's kind as Kubernetes spells it (`Pod`).
    pub kind: String,
    /// The API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// The API version (`v1`).
    #[serde(default)]
    pub version: String,
    /// Empty for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    /// `Compliant` or `NonCompliant`.
    pub compliance_state: ComplianceState,
    /// When the object was judged: the audit that found the violation, or the denial.
    pub timestamp: DateTime<Utc>,
    /// The policy's message for a violation; empty for a compliant object.
    #[serde(default)]
    pub message: String,
    /// Where a violation was seen; absent for a compliant object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ViolationSource>,
}

/// A reason the add-on gives for an assignment it could not apply as defined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceReason {
    pub code: ReasonCode,
    /// What failed, in the add-on's words (the API server's rejection, the compile error, ...).
    #[serde(default)]
    pub message: String,
}

/// Azure's "AKS Resource Provider mode compliance reasons", spelled as Azure spells them (the
/// documentation's `Constraint/TemplateCreateFailed` is two codes, and so on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReasonCode {
    /// Creating the Constraint failed; no object of that name existed.
    ConstraintCreateFailed,
    /// Creating the ConstraintTemplate failed; no object of that name existed.
    ConstraintTemplateCreateFailed,
    /// Updating the Constraint failed; the old one is kept.
    ConstraintUpdateFailed,
    /// Updating the ConstraintTemplate failed; the old one is kept.
    ConstraintTemplateUpdateFailed,
    /// The Constraint could not be built or installed.
    ConstraintInstallFailed,
    /// The ConstraintTemplate could not be built or installed.
    ConstraintTemplateInstallFailed,
    /// Another definition uses the same template name with a different source.
    ConstraintTemplateConflicts,
    /// The Constraint has an audit status, but Gatekeeper has not audited within the last hour.
    ConstraintStatusStale,
    /// The Constraint has no status, and there was no audit within the last hour.
    ConstraintNotProcessed,
    /// The API server rejected the Constraint (bad YAML, a parameter of the wrong type).
    InvalidConstraint,
    /// The API server rejected the ConstraintTemplate.
    InvalidConstraintTemplate,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 11] = [
        ReasonCode::ConstraintCreateFailed,
        ReasonCode::ConstraintTemplateCreateFailed,
        ReasonCode::ConstraintUpdateFailed,
        ReasonCode::ConstraintTemplateUpdateFailed,
        ReasonCode::ConstraintInstallFailed,
        ReasonCode::ConstraintTemplateInstallFailed,
        ReasonCode::ConstraintTemplateConflicts,
        ReasonCode::ConstraintStatusStale,
        ReasonCode::ConstraintNotProcessed,
        ReasonCode::InvalidConstraint,
        ReasonCode::InvalidConstraintTemplate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::ConstraintCreateFailed => "ConstraintCreateFailed",
            ReasonCode::ConstraintTemplateCreateFailed => "ConstraintTemplateCreateFailed",
            ReasonCode::ConstraintUpdateFailed => "ConstraintUpdateFailed",
            ReasonCode::ConstraintTemplateUpdateFailed => "ConstraintTemplateUpdateFailed",
            ReasonCode::ConstraintInstallFailed => "ConstraintInstallFailed",
            ReasonCode::ConstraintTemplateInstallFailed => "ConstraintTemplateInstallFailed",
            ReasonCode::ConstraintTemplateConflicts => "ConstraintTemplateConflicts",
            ReasonCode::ConstraintStatusStale => "ConstraintStatusStale",
            ReasonCode::ConstraintNotProcessed => "ConstraintNotProcessed",
            ReasonCode::InvalidConstraint => "InvalidConstraint",
            ReasonCode::InvalidConstraintTemplate => "InvalidConstraintTemplate",
        }
    }

    /// Whether the policy is not in effect as defined, which is the `Error` state (our reading of
    /// the 1.3.0 "error state" for "a template or evaluation error"): a create, install or
    /// API-server rejection leaves nothing installed, and a conflicting template stays uninstalled.
    /// An update failure keeps the old objects working, and a stale or unprocessed status is about
    /// the audit, not the policy: Azure documents both as non-compliant until resolved.
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            ReasonCode::ConstraintUpdateFailed
                | ReasonCode::ConstraintTemplateUpdateFailed
                | ReasonCode::ConstraintStatusStale
                | ReasonCode::ConstraintNotProcessed
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    fn a_constraint_assignment_has_the_documented_shape_and_older_feeds_still_read() {
        let text = r#"{"clusterId":"/c","assignments":[],"constraintAssignments":[{
            "assignmentId":"/a","assignmentName":"a","definitionId":"/d","effect":"deny",
            "template":{"sourceType":"PublicURL","url":"https://sim/kubernetes/x/v1/template.yaml"},
            "apiGroups":[""],"kinds":["Pod"],"excludedNamespaces":["kube-system"],
            "values":{"imageRegex":"^a$"}}]}"#;
        let list: AssignmentList = serde_json::from_str(text).unwrap();
        let a = &list.constraint_assignments[0];
        assert_eq!(a.template, TemplateSource::PublicUrl { url: "https://sim/kubernetes/x/v1/template.yaml".into() });
        assert_eq!((a.warn, a.source.as_deref(), a.enforcement_mode), (false, None, EnforcementMode::Default));
        assert!(a.namespaces.is_empty() && a.label_selector.is_empty() && a.constraint.is_none());
        let back = serde_json::to_value(a).unwrap();
        assert_eq!(
            back["template"],
            json!({"sourceType": "PublicURL", "url": "https://sim/kubernetes/x/v1/template.yaml"})
        );
        assert_eq!(back["excludedNamespaces"], json!(["kube-system"]));
        assert!(back.get("source").is_none() && back.get("constraint").is_none());
        let inline: TemplateSource =
            serde_json::from_value(json!({"sourceType": "Base64Encoded", "content": "YQ=="})).unwrap();
        assert_eq!(inline, TemplateSource::Base64Encoded { content: "YQ==".into() });
        assert!(serde_json::from_value::<TemplateSource>(json!({"sourceType": "Inline", "content": "YQ=="})).is_err());
        // A 2019 feed, without the new list, still reads, and an empty list is not written.
        let old: AssignmentList = serde_json::from_str(r#"{"clusterId":"/c","assignments":[]}"#).unwrap();
        assert!(old.constraint_assignments.is_empty());
        assert_eq!(serde_json::to_value(&old).unwrap(), json!({"clusterId": "/c", "assignments": []}));
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

    #[test]
    fn a_current_addon_report_has_the_documented_shape_and_a_2019_one_is_unchanged() {
        let text = r#"{"reportId":"r","clusterId":"/c","cycle":3,"generatedAt":"2026-01-01T00:00:00Z","assignments":[],
            "constraintAssignments":[{"assignmentId":"/a","complianceState":"NonCompliant",
              "components":[{"kind":"Pod","group":"","version":"v1","namespace":"ns","name":"n",
                "complianceState":"NonCompliant","timestamp":"2026-01-01T00:00:00Z","message":"m","source":"audit"}],
              "reasons":[{"code":"ConstraintStatusStale","message":"no audit for 2h"}]}]}"#;
        let report: ComplianceReport = serde_json::from_str(text).unwrap();
        let entry = &report.constraint_assignments[0];
        assert_eq!(entry.components[0].source, Some(ViolationSource::Audit));
        assert_eq!(entry.reasons[0].code, ReasonCode::ConstraintStatusStale);
        assert_eq!(entry.derived_state(), ComplianceState::NonCompliant);
        // A 2019 report neither needs nor writes the new list.
        let old: ComplianceReport = serde_json::from_str(
            r#"{"reportId":"r","clusterId":"/c","cycle":1,"generatedAt":"2019-06-01T00:00:00Z","assignments":[]}"#,
        )
        .unwrap();
        assert!(serde_json::to_value(&old).unwrap().get("constraintAssignments").is_none());
        assert_eq!(serde_json::to_value(ComplianceState::Error).unwrap(), json!("Error"));
    }

    #[test]
    fn reason_codes_are_spelled_as_azure_spells_them_and_decide_the_state() {
        for code in ReasonCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
        assert!(serde_json::from_value::<ReasonCode>(json!("Constraint/TemplateCreateFailed")).is_err());
        let with = |codes: &[ReasonCode], bad: bool| ConstraintCompliance {
            assignment_id: "/a".into(),
            compliance_state: ComplianceState::Compliant,
            components: vec![Component {
                kind: "Pod".into(),
                group: String::new(),
                version: "v1".into(),
                namespace: "ns".into(),
                name: "n".into(),
                compliance_state: if bad { ComplianceState::NonCompliant } else { ComplianceState::Compliant },
                timestamp: "2026-01-01T00:00:00Z".parse().unwrap(),
                message: String::new(),
                source: None,
            }],
            reasons: codes.iter().map(|&code| ComplianceReason { code, message: String::new() }).collect(),
        };
        assert_eq!(with(&[], false).derived_state(), ComplianceState::Compliant);
        assert_eq!(with(&[], true).derived_state(), ComplianceState::NonCompliant);
        assert_eq!(with(&[ReasonCode::ConstraintNotProcessed], false).derived_state(), ComplianceState::NonCompliant);
        assert_eq!(
            with(&[ReasonCode::ConstraintTemplateUpdateFailed], true).derived_state(),
            ComplianceState::NonCompliant
        );
        for code in [
            ReasonCode::ConstraintTemplateInstallFailed,
            ReasonCode::InvalidConstraint,
            ReasonCode::ConstraintTemplateConflicts,
            ReasonCode::ConstraintCreateFailed,
        ] {
            assert_eq!(with(&[ReasonCode::ConstraintStatusStale, code], true).derived_state(), ComplianceState::Error);
        }
    }
}
