//! `harness policy check --template/--constraint/--inventory/--definition`: objects reviewed
//! against Gatekeeper v3 templates and constraints, or against a `Microsoft.Kubernetes.Data`
//! definition turned into its constraint ([`super::azure_definition`]), at gator's enforcement
//! point, as `gator test` does. The CLI prints [`CheckReport::to_json`] and exits with
//! [`CheckReport::exit_code`]; errors are exit 2.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::azure_definition;
use super::{Constraint, ConstraintTemplate, GatekeeperError, PolicyClient, Review, Violation, enforcement_point};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// ConstraintTemplate files (`--template`, repeatable).
    pub templates: Vec<PathBuf>,
    /// Constraint files (`--constraint`, repeatable; several constraints per file allowed). Each
    /// finds its template by kind, so the order of `--template`/`--constraint` pairs does not matter.
    pub constraints: Vec<PathBuf>,
    /// Objects for `data.inventory` (`--inventory`).
    pub inventory: Vec<PathBuf>,
    /// A `Microsoft.Kubernetes.Data` definition JSON.
    pub definition: Option<PathBuf>,
    /// `--param NAME=VALUE` for the definition; VALUE is JSON when it parses, else a string.
    pub params: Vec<(String, String)>,
    /// Manifests (each reviewed) or an AdmissionReview.
    pub object_file: PathBuf,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
    /// Things the user should know that are not violations (a `disabled` effect).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// No `deny` violation (`dryrun` and `warn` do not block, as in `gator test`).
    pub fn allowed(&self) -> bool {
        !self.violations.iter().any(|v| v.enforcement_action == "deny")
    }

    /// 0 when allowed, 1 when a `deny` violation exists.
    pub fn exit_code(&self) -> u8 {
        if self.allowed() { 0 } else { 1 }
    }

    /// `{"allowed": bool, "violations": [{"constraint", "kind", "enforcementAction", "msg"}]}`.
    pub fn to_json(&self) -> Value {
        let violations: Vec<Value> = self
            .violations
            .iter()
            .map(|v| json!({"constraint": v.constraint, "kind": v.kind, "enforcementAction": v.enforcement_action, "msg": v.msg}))
            .collect();
        json!({"allowed": self.allowed(), "violations": violations})
    }
}

fn read(path: &Path) -> Result<String, GatekeeperError> {
    std::fs::read_to_string(path).map_err(|error| GatekeeperError::Read { path: path.to_path_buf(), error })
}

fn documents(path: &Path) -> Result<Vec<Value>, GatekeeperError> {
    crate::manifests::parse_documents(&read(path)?)
        .map_err(|e| GatekeeperError::invalid(path.display().to_string(), "YAML", e))
}

/// A definition file's JSON.
pub fn read_definition(path: &Path) -> Result<Value, GatekeeperError> {
    serde_json::from_str(&read(path)?)
        .map_err(|e| GatekeeperError::invalid(path.display().to_string(), "JSON", e.to_string()))
}

/// Whether the definition at `path` has mode `Microsoft.Kubernetes.Data` (this module's), as
/// opposed to a 2019 definition (`policy_engine::offline`).
pub fn is_kubernetes_data_definition(path: &Path) -> Result<bool, GatekeeperError> {
    Ok(azure_definition::is_kubernetes_data(&read_definition(path)?))
}

/// Run the check. Evaluation errors are errors (a checker must say so rather than fail open).
pub fn check(req: &CheckRequest) -> Result<CheckReport, GatekeeperError> {
    let mut client = PolicyClient::new();
    let mut notes = Vec::new();
    let mut constraints = Vec::new();
    for path in &req.templates {
        client.add_template(ConstraintTemplate::from_file(path)?)?;
    }
    if let Some(path) = &req.definition {
        let file = path.display().to_string();
        let built = azure_definition::build(&read_definition(path)?, &req.params, &file)?;
        client.add_template(ConstraintTemplate::from_value(&built.template, &built.template_origin)?)?;
        match built.constraint {
            Some(c) => constraints.push(Constraint::from_value(&c, &file)?),
            None => notes.push(format!(
                "{file}: effect {}: the add-on installs no constraint for a disabled policy; nothing to check",
                built.effect
            )),
        }
    } else if !req.params.is_empty() {
        return Err(GatekeeperError::invalid("--param", "NAME=VALUE", "a --definition to apply the parameters to"));
    }
    for path in &req.constraints {
        constraints.extend(Constraint::from_file(path)?);
    }
    if constraints.is_empty() && notes.is_empty() {
        return Err(GatekeeperError::invalid(
            "harness policy check",
            "constraints",
            "at least one constraint: pass --template FILE --constraint FILE, or --definition FILE",
        ));
    }
    for constraint in constraints {
        client.add_constraint(constraint)?;
    }
    for path in &req.inventory {
        let source = path.display().to_string();
        for object in documents(path)? {
            client.inventory_mut().upsert(object, &source)?;
        }
    }
    let objects = documents(&req.object_file)?;
    if objects.is_empty() {
        return Err(GatekeeperError::invalid(
            req.object_file.display().to_string(),
            "objects",
            "at least one manifest or an AdmissionReview",
        ));
    }
    let source = req.object_file.display().to_string();
    let mut violations = Vec::new();
    for object in objects {
        let review = Review::from_any(object, &source)?;
        violations.extend(client.review(&review, enforcement_point::GATOR)?);
    }
    Ok(CheckReport { violations, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gatekeeper_v3::ObjectRef;

    fn violation(action: &str) -> Violation {
        Violation {
            constraint: "c".into(),
            kind: "K".into(),
            enforcement_action: action.into(),
            msg: "m".into(),
            details: json!({"x": 1}),
            resource: ObjectRef::default(),
        }
    }

    #[test]
    fn only_deny_violations_block() {
        let report = CheckReport { violations: vec![violation("dryrun"), violation("warn")], notes: vec![] };
        assert!(report.allowed());
        assert_eq!(report.exit_code(), 0);
        let report = CheckReport { violations: vec![violation("warn"), violation("deny")], notes: vec![] };
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.to_json()["violations"][1],
            json!({"constraint": "c", "kind": "K", "enforcementAction": "deny", "msg": "m"})
        );
        assert_eq!(report.to_json()["allowed"], json!(false));
    }
}
