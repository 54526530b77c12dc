//! The refresh cycle of the current add-on (reference §3.1, design point 5): every assignment's
//! ConstraintTemplate and Constraint are (re)applied, what no assignment wants is deleted, and the
//! sync `Config` is reconciled.
//!
//! Per template: server-side apply (forced: manual edits are reverted), then wait (bounded) for the
//! template controller's verdict on that generation and for the constraint CRD to be Established;
//! compile errors → `ConstraintTemplateInstallFailed`. Then per assignment the Constraint is applied;
//! an API-server refusal (the constraint CRD is structural, so a wrongly typed parameter is one) →
//! `InvalidConstraint`. When the object already existed, a failed update keeps the old one (a
//! template is put back as it was) and the reason is `*UpdateFailed`; a failed first install leaves
//! nothing behind.
//!
//! Nothing of an assignment that failed this cycle is deleted: its old Constraint and template keep
//! working. If the assignment list itself cannot be fetched, the cluster is not touched.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use contracts::dataplane::{ComplianceReason, ConstraintAssignment, ReasonCode};
use futures::future::join_all;
use serde_json::Value;

use super::cluster_objects::{AddonObjects, ApplyError, ExistingConstraint, ExistingTemplate, TemplateVerdict};
use super::constraint_build::{constraint_object, constraint_object_name, template_object};
use super::install_plan::{is_builtin, plan};
use super::install_state::{AssignmentInstall, ConstraintRef, InstallState};
use super::sync_config::{SyncKind, config_object, union};
use super::template_source::{FetchedTemplate, TemplateSourceError, fetch_constraint, fetch_template};
use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;
use crate::metrics::{CycleKind, Metrics};
use crate::triggers::Cycle;

/// How long a template may take to be compiled and its constraint CRD to be served.
pub const INSTALL_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum InstallCycleError {
    #[error("fetching assignments: {0}")]
    Assignments(#[source] HttpError),
    #[error("listing the add-on's objects: {0}")]
    Kube(#[from] kube::Error),
}

/// What one refresh did.
#[derive(Debug, Clone, Default)]
pub struct InstallOutcome {
    /// Templates and Constraints applied this cycle.
    pub templates: usize,
    pub constraints: usize,
    /// Constraints and templates deleted.
    pub deleted: usize,
    /// Per assignment (by id as listed).
    pub installs: HashMap<String, AssignmentInstall>,
}

impl InstallOutcome {
    pub fn reasons(&self) -> usize {
        self.installs.values().map(|i| i.reasons.len()).sum()
    }
}

/// A fetched template with the definition's own Constraint, if it brings one.
type Fetched = (FetchedTemplate, Option<Value>);

pub struct InstallCycle {
    dataplane: Arc<DataplaneClient>,
    objects: AddonObjects,
    state: Arc<InstallState>,
    metrics: Arc<Metrics>,
    wait: Duration,
}

impl InstallCycle {
    pub fn new(
        dataplane: Arc<DataplaneClient>,
        client: kube::Client,
        state: Arc<InstallState>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { dataplane, objects: AddonObjects::new(client), state, metrics, wait: INSTALL_WAIT }
    }

    /// Waits up to `wait` for Gatekeeper's verdict and the constraint CRD (default [`INSTALL_WAIT`]).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    pub async fn refresh(&self) -> Result<InstallOutcome, InstallCycleError> {
        let list = self.dataplane.assignment_list().await.map_err(|e| {
            self.metrics.error(e.op());
            InstallCycleError::Assignments(e)
        })?;
        let assignments = list.constraint_assignments;
        let templates = self.objects.templates().await.inspect_err(|_| self.metrics.error("kube"))?;
        let constraints = self.objects.constraints().await.inspect_err(|_| self.metrics.error("kube"))?;

        let fetched: Vec<Result<Fetched, TemplateSourceError>> = join_all(assignments.iter().map(|a| async move {
            let template = fetch_template(&self.dataplane, a).await?;
            Ok((template, fetch_constraint(&self.dataplane, a).await?))
        }))
        .await;

        let mut outcome = InstallOutcome::default();
        let mut installs: Vec<AssignmentInstall> = assignments
            .iter()
            .map(|a| AssignmentInstall { constraint: old_constraint(&constraints, &a.assignment_id), reasons: vec![] })
            .collect();
        for (i, result) in fetched.iter().enumerate() {
            if let Err(e) = result {
                self.metrics.error(if e.is_download() { "template download" } else { "template" });
                tracing::warn!(assignment = %assignments[i].assignment_id, "{e}");
                installs[i].reason(e.reason_code(), e.to_string());
            }
        }
        let ok: Vec<Option<&FetchedTemplate>> = fetched.iter().map(|r| r.as_ref().ok().map(|(t, _)| t)).collect();
        let planned = plan(&assignments, &ok, |name| templates.get(name).and_then(|t| t.source.clone()));
        for (i, reason) in planned.rejected {
            installs[i].reasons.push(reason);
        }

        let mut applied: HashSet<usize> = HashSet::new();
        let mut synced: Vec<&[SyncKind]> = Vec::new();
        for group in &planned.groups {
            let first = group.members[0];
            let (template, _) = fetched[first].as_ref().expect("planned templates were fetched");
            if let Err(reason) = self.install_template(&assignments[first], template, templates.get(&group.name)).await
            {
                self.metrics.error("template install");
                for &i in &group.members {
                    installs[i].reasons.push(reason.clone());
                }
                continue;
            }
            outcome.templates += 1;
            if is_builtin(&assignments[first].definition_id) {
                synced.push(&template.requires_sync);
            }
            for &i in &group.members {
                let (template, own) = fetched[i].as_ref().expect("planned templates were fetched");
                match self.install_constraint(&assignments[i], template, own.as_ref(), &constraints).await {
                    Ok(applied_ref) => {
                        installs[i].constraint = Some(applied_ref);
                        applied.insert(i);
                        outcome.constraints += 1;
                    }
                    Err(reason) => {
                        self.metrics.error("constraint install");
                        installs[i].reasons.push(reason);
                    }
                }
            }
        }

        self.apply_sync_config(&union(synced)).await;
        outcome.deleted = self.delete_unwanted(&assignments, &installs, &applied, &ok, &templates, &constraints).await;
        for (a, install) in assignments.iter().zip(&installs) {
            for r in &install.reasons {
                tracing::info!(assignment = %a.assignment_id, code = %r.code, "{}", r.message);
            }
        }
        outcome.installs = assignments.iter().map(|a| a.assignment_id.clone()).zip(installs).collect();
        self.state.set(assignments, outcome.installs.clone());
        Ok(outcome)
    }

    /// Applies a template and waits for Gatekeeper to accept it; the error is the reason to report.
    async fn install_template(
        &self,
        a: &ConstraintAssignment,
        t: &FetchedTemplate,
        existing: Option<&ExistingTemplate>,
    ) -> Result<(), ComplianceReason> {
        let reason =
            |code, message: String| ComplianceReason { code, message: format!("template {}: {message}", t.name) };
        let generation = match self.objects.apply_template(&template_object(a, t)).await {
            Ok(generation) => generation,
            Err(e) => {
                return Err(match (existing, &e) {
                    (Some(_), _) => reason(ReasonCode::ConstraintTemplateUpdateFailed, e.to_string()),
                    (None, ApplyError::Refused(message)) => {
                        reason(ReasonCode::InvalidConstraintTemplate, message.clone())
                    }
                    (None, ApplyError::Kube(_)) => reason(ReasonCode::ConstraintTemplateCreateFailed, e.to_string()),
                });
            }
        };
        match self.objects.template_verdict(&t.name, generation, self.wait).await {
            TemplateVerdict::Created => {}
            TemplateVerdict::Failed(errors) => {
                let message = errors.join("; ");
                return Err(match existing {
                    Some(old) if old.created => {
                        if let Err(e) = self.objects.restore_template(old).await {
                            tracing::warn!(template = %t.name, error = %e, "could not restore the previous template");
                        }
                        reason(ReasonCode::ConstraintTemplateUpdateFailed, message)
                    }
                    Some(_) => reason(ReasonCode::ConstraintTemplateInstallFailed, message),
                    None => {
                        // Nothing worked before: leave nothing behind, so the next cycle is a
                        // fresh install again (and reports the same reason).
                        if let Err(e) = self.objects.delete_template(&t.name).await {
                            tracing::warn!(template = %t.name, error = %e, "could not delete the failed template");
                        }
                        reason(ReasonCode::ConstraintTemplateInstallFailed, message)
                    }
                });
            }
            TemplateVerdict::Pending => {
                let code = if existing.is_some() {
                    ReasonCode::ConstraintTemplateUpdateFailed
                } else {
                    ReasonCode::ConstraintTemplateInstallFailed
                };
                return Err(reason(code, format!("Gatekeeper gave no verdict within {:?}", self.wait)));
            }
        }
        if !self.objects.constraint_crd_established(&t.kind, self.wait).await {
            let message = format!("the constraint CRD of {} was not Established within {:?}", t.kind, self.wait);
            return Err(reason(ReasonCode::ConstraintTemplateInstallFailed, message));
        }
        Ok(())
    }

    /// Applies one assignment's Constraint; the error is the reason to report.
    async fn install_constraint(
        &self,
        a: &ConstraintAssignment,
        t: &FetchedTemplate,
        own: Option<&Value>,
        existing: &[ExistingConstraint],
    ) -> Result<ConstraintRef, ComplianceReason> {
        let target = ConstraintRef { kind: t.kind.clone(), name: constraint_object_name(a, t) };
        let existed = existing.iter().any(|c| c.constraint == target);
        match self.objects.apply_constraint(&constraint_object(a, t, own)).await {
            Ok(()) => Ok(target),
            Err(e) => {
                let code = match (existed, &e) {
                    (true, _) => ReasonCode::ConstraintUpdateFailed,
                    (false, ApplyError::Refused(_)) => ReasonCode::InvalidConstraint,
                    (false, ApplyError::Kube(_)) => ReasonCode::ConstraintCreateFailed,
                };
                let message = e.to_string();
                Err(ComplianceReason { code, message: format!("constraint {}: {message}", target.name) })
            }
        }
    }

    /// Reconciles the sync `Config`. A failure is logged, not an assignment's reason: Gatekeeper's
    /// own data, not the policy, is what is missing.
    async fn apply_sync_config(&self, kinds: &BTreeSet<SyncKind>) {
        if let Err(e) = self.objects.apply_config(&config_object(kinds)).await {
            self.metrics.error("sync config");
            tracing::warn!(error = %e, kinds = kinds.len(), "could not apply the Gatekeeper sync Config");
        }
    }

    /// Deletes the add-on's Constraints of assignments no longer active (or superseded by the one
    /// applied this cycle) and its templates no wanted Constraint uses. Answers how many went.
    async fn delete_unwanted(
        &self,
        assignments: &[ConstraintAssignment],
        installs: &[AssignmentInstall],
        applied: &HashSet<usize>,
        fetched: &[Option<&FetchedTemplate>],
        templates: &HashMap<String, ExistingTemplate>,
        constraints: &[ExistingConstraint],
    ) -> usize {
        let index: HashMap<String, usize> =
            assignments.iter().enumerate().map(|(i, a)| (a.assignment_id.to_ascii_lowercase(), i)).collect();
        let keep = |c: &ExistingConstraint| match index.get(&c.assignment_id.to_ascii_lowercase()) {
            None => false,
            Some(i) if applied.contains(i) => installs[*i].constraint.as_ref() == Some(&c.constraint),
            Some(_) => true,
        };
        let mut deleted = 0;
        let mut kept_kinds: HashSet<String> = HashSet::new();
        for c in constraints {
            if keep(c) {
                kept_kinds.insert(c.constraint.kind.to_lowercase());
            } else if self.delete("constraint", &c.constraint.name, self.objects.delete_constraint(&c.constraint).await)
            {
                deleted += 1;
            }
        }
        let wanted: HashSet<String> = fetched.iter().flatten().map(|t| t.name.clone()).chain(kept_kinds).collect();
        for t in templates.values().filter(|t| t.ours && !wanted.contains(&t.name)) {
            if self.delete("template", &t.name, self.objects.delete_template(&t.name).await) {
                deleted += 1;
            }
        }
        deleted
    }

    fn delete(&self, what: &str, name: &str, result: Result<(), kube::Error>) -> bool {
        match result {
            Ok(()) => {
                tracing::info!(name, "deleted unwanted {what}");
                true
            }
            Err(e) => {
                self.metrics.error("kube");
                tracing::warn!(name, error = %e, "could not delete unwanted {what}");
                false
            }
        }
    }
}

/// The Constraint an assignment had before this cycle (kept when this cycle fails for it).
fn old_constraint(constraints: &[ExistingConstraint], assignment_id: &str) -> Option<ConstraintRef> {
    constraints.iter().find(|c| c.assignment_id.eq_ignore_ascii_case(assignment_id)).map(|c| c.constraint.clone())
}

impl Cycle for InstallCycle {
    fn kind(&self) -> CycleKind {
        CycleKind::Refresh
    }

    async fn run(&self, _cycle: u64) -> Result<String, String> {
        let o = self.refresh().await.map_err(|e| e.to_string())?;
        Ok(format!(
            "templates={} constraints={} deleted={} reasons={}",
            o.templates,
            o.constraints,
            o.deleted,
            o.reasons()
        ))
    }
}
