//! A Constraint as Gatekeeper reads it (reference §1.3–1.5).
//!
//! What is checked, and why (gator v3.23.1 measured on 2026-12-06 where noted):
//! * `apiVersion` is `constraints.gatekeeper.sh/v1beta1`, `v1alpha1` or `v1`. gator 3.23.1 itself
//!   refuses `v1` ("unsupported version \"v1\" for Constraint ... supported versions: v1alpha1,
//!   v1beta1"), but current Gatekeeper serves `v1` in a cluster, so it is accepted here.
//! * `metadata.name`: ≤ 63 characters and a lowercase RFC 1123 subdomain (gator: "Too long: may not
//!   be more than 63 bytes", "invalid name: a lowercase RFC 1123 subdomain ...").
//! * `spec` has only `match`, `parameters`, `enforcementAction` and `scopedEnforcementActions`
//!   (gator: "invalid Constraint: unknown fields: [spec.bogus]").
//! * `spec.enforcementAction` is case-sensitive: `deny`, `dryrun`, `warn`, `scoped`; absent or `""`
//!   is `deny`. The Gatekeeper webhook rejects other values (reference §1.5). gator does not: it
//!   accepts `Deny`, `DENY` or `bogus`, prints their violations and exits 0, i.e. treats them as
//!   "not deny". Refusing them here surfaces the typo a cluster would refuse.
//! * `scoped` needs `spec.scopedEnforcementActions` (gator: "missing required field:
//!   spec.scopedEnforcementActions must be defined"); an empty list is accepted and acts nowhere.
//!   Each entry's `action` must be `deny`/`dryrun`/`warn`; enforcement point names are free (an
//!   unknown point simply never matches, as gator shows nothing for `foo.example`).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::constraint_match::Match;
use super::label_selector::reject_unknown;
use super::{GatekeeperError, Review};

/// `spec.enforcementAction` (default `deny`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforcementAction {
    Deny,
    Dryrun,
    Warn,
    /// `scoped` with `spec.scopedEnforcementActions[] {action, enforcementPoints[] {name}}`.
    Scoped(Vec<ScopedAction>),
}

/// One entry of `spec.scopedEnforcementActions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedAction {
    pub action: String,
    /// Enforcement point names (`validation.gatekeeper.sh`, `audit.gatekeeper.sh`, `gator.gatekeeper.sh`, `*`).
    pub points: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub api_version: String,
    /// The template kind.
    pub kind: String,
    pub name: String,
    pub spec_match: Match,
    /// `spec.parameters`; `None` when absent (then `input.parameters` is undefined).
    pub parameters: Option<Value>,
    pub enforcement_action: EnforcementAction,
    /// The file (or `<kind>/<name>`) it came from, for errors.
    pub source: String,
    /// The whole object as read.
    pub raw: Value,
}

const GROUP: &str = "constraints.gatekeeper.sh";
const VERSIONS: &[&str] = &["v1beta1", "v1alpha1", "v1"];
/// The plain actions, also the allowed `scopedEnforcementActions[].action` values.
const ACTIONS: &[&str] = &["deny", "dryrun", "warn"];

static RFC1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("static regex")
});

impl EnforcementAction {
    /// The value as written in `spec.enforcementAction`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EnforcementAction::Deny => "deny",
            EnforcementAction::Dryrun => "dryrun",
            EnforcementAction::Warn => "warn",
            EnforcementAction::Scoped(_) => "scoped",
        }
    }
}

impl Constraint {
    /// Read one Constraint object. Errors name `source`, the field and what was expected.
    pub fn from_value(value: &Value, source: &str) -> Result<Constraint, GatekeeperError> {
        let api_version = value.get("apiVersion").and_then(Value::as_str).ok_or_else(|| {
            GatekeeperError::invalid(source, "apiVersion", "a string: constraints.gatekeeper.sh/v1beta1")
        })?;
        if !api_version.split_once('/').is_some_and(|(g, v)| g == GROUP && VERSIONS.contains(&v)) {
            return Err(GatekeeperError::invalid(
                source,
                "apiVersion",
                format!("constraints.gatekeeper.sh/v1beta1, v1alpha1 or v1, got {api_version:?}"),
            ));
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| GatekeeperError::invalid(source, "kind", "a non-empty string: the template's kind"))?;
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| GatekeeperError::invalid(source, "metadata.name", "a non-empty string"))?;
        if name.len() > 63 {
            return Err(GatekeeperError::invalid(
                source,
                "metadata.name",
                format!("at most 63 characters, got {} ({name:?})", name.len()),
            ));
        }
        if !RFC1123_SUBDOMAIN.is_match(name) {
            return Err(GatekeeperError::invalid(
                source,
                "metadata.name",
                format!("a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'; alphanumeric at both ends), got {name:?}"),
            ));
        }
        let empty = serde_json::Map::new();
        let spec = match value.get("spec") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(spec)) => spec,
            Some(_) => return Err(GatekeeperError::invalid(source, "spec", "an object")),
        };
        reject_unknown(
            spec,
            &["match", "parameters", "enforcementAction", "scopedEnforcementActions"],
            source,
            "spec",
        )?;
        let spec_match = Match::from_value(spec.get("match").unwrap_or(&Value::Null), source)?;
        let parameters = spec.get("parameters").filter(|p| !p.is_null()).cloned();
        let enforcement_action = enforcement_action(spec, source)?;
        Ok(Constraint {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            spec_match,
            parameters,
            enforcement_action,
            source: source.to_string(),
            raw: value.clone(),
        })
    }

    /// Every Constraint in a YAML/JSON file (several documents or `kind: List`). Empty documents
    /// are skipped, and so are objects of other API groups (a template kept in the same file);
    /// a file without any constraint is an error. When a file holds several objects, errors name
    /// the object as `<file> (object N)`, counting from 1 in reading order. `kind: List` is
    /// unrolled as kubectl does; gator v3.23.1's `gator test -f` silently ignores a List (measured:
    /// no constraint loaded, exit 0), so suites should not rely on it.
    pub fn from_file(path: &Path) -> Result<Vec<Constraint>, GatekeeperError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| GatekeeperError::Read { path: path.into(), error })?;
        let mut objects = Vec::new();
        for (i, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document).map_err(|e| {
                GatekeeperError::invalid(&file, format!("document {}", i + 1), format!("valid YAML or JSON: {e}"))
            })?;
            match value {
                Value::Null => {}
                Value::Object(ref object) if object.get("kind").and_then(Value::as_str) == Some("List") => {
                    let items = object.get("items").and_then(Value::as_array).ok_or_else(|| {
                        GatekeeperError::invalid(&file, "items", "a list of constraints (kind: List)")
                    })?;
                    objects.extend(items.iter().cloned());
                }
                other => objects.push(other),
            }
        }
        let several = objects.len() > 1;
        let mut constraints = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            let source = if several { format!("{file} (object {})", i + 1) } else { file.clone() };
            let group =
                object.get("apiVersion").and_then(Value::as_str).and_then(|v| v.split_once('/')).map(|(g, _)| g);
            if object.is_object() && group.is_some_and(|g| g != GROUP) {
                continue;
            }
            let mut constraint = Constraint::from_value(object, &source)?;
            constraint.source = file.clone();
            constraints.push(constraint);
        }
        if constraints.is_empty() {
            return Err(GatekeeperError::invalid(
                &file,
                "apiVersion",
                "at least one object with apiVersion constraints.gatekeeper.sh/v1beta1 (no constraint in the file)",
            ));
        }
        Ok(constraints)
    }

    /// The actions this constraint asks for at an enforcement point (`deny`, `dryrun`, `warn`);
    /// empty when it does not act there (a `scoped` constraint without that point). Each action
    /// appears once, in the order of `scopedEnforcementActions`.
    pub fn actions_at(&self, point: &str) -> Vec<String> {
        match &self.enforcement_action {
            EnforcementAction::Scoped(scoped) => {
                let mut actions: Vec<String> = Vec::new();
                for entry in scoped {
                    if entry.points.iter().any(|p| p == point || p == "*") && !actions.contains(&entry.action) {
                        actions.push(entry.action.clone());
                    }
                }
                actions
            }
            plain => vec![plain.as_str().to_string()],
        }
    }

    /// Whether `spec.match` selects the reviewed object, or, for an update, its old object (as
    /// Gatekeeper matches). A namespaced object under a `namespaceSelector` needs
    /// `review.namespace_object`; without it this is an error, unless the other object matches.
    pub fn matches(&self, review: &Review) -> Result<bool, GatekeeperError> {
        let now = self.spec_match.matches(review);
        if now == Ok(true) {
            return Ok(true);
        }
        let before = review.through_old_object().map(|old| self.spec_match.matches(&old));
        match (now, before) {
            (_, Some(Ok(true))) => Ok(true),
            (Err(message), _) | (Ok(false), Some(Err(message))) => {
                Err(GatekeeperError::Match { constraint: self.name.clone(), message })
            }
            (Ok(_), _) => Ok(false),
        }
    }
}

fn enforcement_action(
    spec: &serde_json::Map<String, Value>,
    source: &str,
) -> Result<EnforcementAction, GatekeeperError> {
    const AT: &str = "spec.enforcementAction";
    let action = match spec.get("enforcementAction") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(GatekeeperError::invalid(source, AT, "a string: deny, dryrun, warn or scoped")),
    };
    match action {
        "" | "deny" => Ok(EnforcementAction::Deny),
        "dryrun" => Ok(EnforcementAction::Dryrun),
        "warn" => Ok(EnforcementAction::Warn),
        "scoped" => scoped_actions(spec.get("scopedEnforcementActions"), source).map(EnforcementAction::Scoped),
        other => Err(GatekeeperError::invalid(
            source,
            AT,
            format!("one of deny, dryrun, warn, scoped (lowercase; absent means deny), got {other:?}"),
        )),
    }
}

fn scoped_actions(value: Option<&Value>, source: &str) -> Result<Vec<ScopedAction>, GatekeeperError> {
    const AT: &str = "spec.scopedEnforcementActions";
    let entries = match value {
        Some(Value::Array(entries)) => entries,
        None | Some(Value::Null) => {
            return Err(GatekeeperError::invalid(
                source,
                AT,
                "a list of {action, enforcementPoints} when enforcementAction is scoped",
            ));
        }
        Some(_) => return Err(GatekeeperError::invalid(source, AT, "a list of {action, enforcementPoints}")),
    };
    let mut scoped = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{AT}[{i}]");
        let entry = entry
            .as_object()
            .ok_or_else(|| GatekeeperError::invalid(source, &at, "an object {action, enforcementPoints}"))?;
        reject_unknown(entry, &["action", "enforcementPoints"], source, &at)?;
        let action = entry.get("action").and_then(Value::as_str).unwrap_or_default();
        if !ACTIONS.contains(&action) {
            return Err(GatekeeperError::invalid(
                source,
                format!("{at}.action"),
                format!("one of deny, dryrun, warn (lowercase), got {action:?}"),
            ));
        }
        let points_at = format!("{at}.enforcementPoints");
        let points = match entry.get("enforcementPoints") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(points)) => points
                .iter()
                .enumerate()
                .map(|(j, p)| {
                    p.get("name").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                        GatekeeperError::invalid(
                            source,
                            format!("{points_at}[{j}].name"),
                            "a string (e.g. validation.gatekeeper.sh or *)",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(GatekeeperError::invalid(source, points_at, "a list of {name}")),
        };
        scoped.push(ScopedAction { action: action.to_string(), points });
    }
    Ok(scoped)
}
