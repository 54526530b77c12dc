//! What the latest refresh of the current add-on learnt, for the compliance cycle: the active
//! assignments, and per assignment the Constraint that stands for it (if one is installed) and the
//! reasons it could not be applied as defined.

use std::collections::HashMap;
use std::sync::RwLock;

use contracts::dataplane::{ComplianceReason, ConstraintAssignment, ReasonCode};

/// A Constraint in the cluster: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConstraintRef {
    pub kind: String,
    pub name: String,
}

/// One assignment's install result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssignmentInstall {
    /// The Constraint enforcing it: the one applied this cycle, or the old one kept after a failure.
    pub constraint: Option<ConstraintRef>,
    pub reasons: Vec<ComplianceReason>,
}

impl AssignmentInstall {
    pub fn reason(&mut self, code: ReasonCode, message: impl Into<String>) {
        self.reasons.push(ComplianceReason { code, message: message.into() });
    }
}

#[derive(Default)]
pub struct InstallState {
    inner: RwLock<Option<Snapshot>>,
}

#[derive(Clone, Default)]
struct Snapshot {
    assignments: Vec<ConstraintAssignment>,
    /// By lower-cased assignment id (ARM ids compare case-insensitively).
    installs: HashMap<String, AssignmentInstall>,
}

impl InstallState {
    /// The active assignments of the latest refresh (`None` before the first).
    pub fn assignments(&self) -> Option<Vec<ConstraintAssignment>> {
        self.inner.read().unwrap().as_ref().map(|s| s.assignments.clone())
    }

    /// The install result of one assignment (default: nothing installed, no reasons yet).
    pub fn install(&self, assignment_id: &str) -> AssignmentInstall {
        let inner = self.inner.read().unwrap();
        inner.as_ref().and_then(|s| s.installs.get(&assignment_id.to_ascii_lowercase()).cloned()).unwrap_or_default()
    }

    pub fn set(&self, assignments: Vec<ConstraintAssignment>, installs: HashMap<String, AssignmentInstall>) {
        let installs = installs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        *self.inner.write().unwrap() = Some(Snapshot { assignments, installs });
    }
}
