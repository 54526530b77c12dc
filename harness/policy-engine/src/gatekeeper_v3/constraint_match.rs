//! `spec.match` (reference §1.4): which objects a Constraint reviews. The criteria are ANDed and an
//! absent criterion matches everything, as in Gatekeeper's `pkg/mutation/match`.
//!
//! Parsing refuses what the Constraint CRD's schema refuses (measured with gator v3.23.1): unknown
//! fields, wrongly typed fields, namespace and name globs outside `^\*?[-:a-z0-9]*\*?$`, a `source`
//! other than `All`/`Generated`/`Original`, and invalid label selectors. `scope` is *not* checked:
//! Gatekeeper treats any value other than `Cluster`/`Namespaced` (even a typo) as "all", and gator
//! accepts such constraints.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::label_selector::{LabelSelector, reject_unknown};
use super::{GatekeeperError, Review};

/// A parsed `spec.match`. Absent criteria match everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Match {
    /// `kinds[]`; empty matches every kind.
    pub kinds: Vec<KindSelector>,
    pub scope: Scope,
    /// `namespaces[]` globs; empty matches every namespace.
    pub namespaces: Vec<Glob>,
    /// `excludedNamespaces[]` globs.
    pub excluded_namespaces: Vec<Glob>,
    pub label_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    /// `name` glob; `None` (absent or empty) matches any name.
    pub name: Option<Glob>,
    pub source: Source,
}

/// One `kinds[]` entry. Empty lists and `*` match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KindSelector {
    pub api_groups: Vec<String>,
    pub kinds: Vec<String>,
}

/// `spec.match.scope`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Namespace objects and objects without a namespace.
    Cluster,
    /// Non-Namespace objects with a namespace.
    Namespaced,
    /// Absent, `*`, or any other string: Gatekeeper matches all for unknown values.
    #[default]
    All,
}

/// `spec.match.source`. The engine reviews manifests as they are written; it does not expand
/// generator resources (Deployments into Pods, gator's `expansion`), so every review is an
/// `Original` object: `Generated` matches nothing and `All`/`Original` match everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    All,
    Generated,
    Original,
}

/// A Gatekeeper wildcard (`pkg/wildcard`): `kube-*` prefix, `*-system` suffix, `*sys*` contains,
/// anything else exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(pub String);

/// The pattern the Constraint CRD puts on namespaces and names.
static GLOB_PATTERN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\*?[-:a-z0-9]*\*?$").expect("static regex"));

impl Glob {
    fn parse(value: &Value, source: &str, field: &str) -> Result<Glob, GatekeeperError> {
        let text = value.as_str().ok_or_else(|| GatekeeperError::invalid(source, field, "a string"))?;
        if !GLOB_PATTERN.is_match(text) {
            return Err(GatekeeperError::invalid(
                source,
                field,
                format!(r"a name or glob matching ^\*?[-:a-z0-9]*\*?$ (e.g. kube-*, *-system), got {text:?}"),
            ));
        }
        Ok(Glob(text.to_string()))
    }

    pub fn matches(&self, candidate: &str) -> bool {
        let pattern = self.0.as_str();
        match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(rest), Some(_)) => candidate.contains(rest.strip_suffix('*').unwrap_or(rest)),
            (Some(suffix), None) => candidate.ends_with(suffix),
            (None, Some(prefix)) => candidate.starts_with(prefix),
            (None, None) => candidate == pattern,
        }
    }
}

const FIELDS: &[&str] =
    &["kinds", "scope", "namespaces", "excludedNamespaces", "labelSelector", "namespaceSelector", "name", "source"];

impl Match {
    /// Parse `spec.match` of the constraint read from `source`. `null` is the same as absent.
    pub fn from_value(value: &Value, source: &str) -> Result<Match, GatekeeperError> {
        const AT: &str = "spec.match";
        if value.is_null() {
            return Ok(Match::default());
        }
        let object = value.as_object().ok_or_else(|| GatekeeperError::invalid(source, AT, "an object"))?;
        reject_unknown(object, FIELDS, source, AT)?;
        let field = |name: &str| object.get(name).filter(|v| !v.is_null());

        let mut kinds = Vec::new();
        for (i, entry) in list(field("kinds"), source, "spec.match.kinds")?.iter().enumerate() {
            let at = format!("{AT}.kinds[{i}]");
            let entry = entry
                .as_object()
                .ok_or_else(|| GatekeeperError::invalid(source, &at, "an object {apiGroups, kinds}"))?;
            reject_unknown(entry, &["apiGroups", "kinds"], source, &at)?;
            kinds.push(KindSelector {
                api_groups: strings(entry.get("apiGroups"), source, &format!("{at}.apiGroups"))?,
                kinds: strings(entry.get("kinds"), source, &format!("{at}.kinds"))?,
            });
        }
        let scope = match field("scope") {
            None => Scope::All,
            Some(Value::String(s)) if s == "Cluster" => Scope::Cluster,
            Some(Value::String(s)) if s == "Namespaced" => Scope::Namespaced,
            Some(Value::String(_)) => Scope::All,
            Some(_) => {
                return Err(GatekeeperError::invalid(
                    source,
                    "spec.match.scope",
                    "a string (Cluster, Namespaced or *)",
                ));
            }
        };
        let globs = |name: &str| -> Result<Vec<Glob>, GatekeeperError> {
            let at = format!("{AT}.{name}");
            list(field(name), source, &at)?
                .iter()
                .enumerate()
                .map(|(i, v)| Glob::parse(v, source, &format!("{at}[{i}]")))
                .collect()
        };
        let selector =
            |name: &str| field(name).map(|v| LabelSelector::from_value(v, source, &format!("{AT}.{name}"))).transpose();
        let name = match field("name") {
            None => None,
            Some(v) => Some(Glob::parse(v, source, "spec.match.name")?).filter(|g| !g.0.is_empty()),
        };
        let match_source = match field("source").map(|v| v.as_str()) {
            None | Some(Some("All")) => Source::All,
            Some(Some("Generated")) => Source::Generated,
            Some(Some("Original")) => Source::Original,
            Some(other) => {
                return Err(GatekeeperError::invalid(
                    source,
                    "spec.match.source",
                    format!(
                        "one of All, Generated, Original, got {}",
                        other.map_or("a non-string".into(), |s| format!("{s:?}"))
                    ),
                ));
            }
        };
        Ok(Match {
            kinds,
            scope,
            namespaces: globs("namespaces")?,
            excluded_namespaces: globs("excludedNamespaces")?,
            label_selector: selector("labelSelector")?,
            namespace_selector: selector("namespaceSelector")?,
            name,
            source: match_source,
        })
    }

    /// Err(message) when the match cannot be decided (namespaceSelector without the Namespace).
    /// The criteria are tested in Gatekeeper's order, so a namespaced object a cheaper criterion
    /// already rules out does not need its Namespace.
    pub fn matches(&self, review: &Review) -> Result<bool, String> {
        let resource = &review.resource;
        let is_namespace = review.is_namespace();
        let has_namespace = resource.namespace.is_some() || review.namespace_object.is_some();
        // The namespace the namespace lists test: a Namespace by its own name, else the Namespace
        // object's name, else the object's own namespace (gator); `None`: cluster-scoped, never
        // disqualified.
        let namespace: Option<&str> = if is_namespace {
            Some(resource.name.as_str())
        } else if let Some(ns) = review.namespace_object.as_ref().and_then(|n| n["metadata"]["name"].as_str()) {
            Some(ns)
        } else {
            resource.namespace.as_deref()
        };

        let kinds_ok = self.kinds.is_empty()
            || self
                .kinds
                .iter()
                .any(|k| any_or_contains(&k.kinds, &resource.kind) && any_or_contains(&k.api_groups, &resource.group));
        if !kinds_ok {
            return Ok(false);
        }
        let scope_ok = match self.scope {
            Scope::Cluster => is_namespace || !has_namespace,
            Scope::Namespaced => !is_namespace && has_namespace,
            Scope::All => true,
        };
        if !scope_ok {
            return Ok(false);
        }
        if let Some(ns) = namespace {
            if !self.namespaces.is_empty() && !self.namespaces.iter().any(|g| g.matches(ns)) {
                return Ok(false);
            }
            if self.excluded_namespaces.iter().any(|g| g.matches(ns)) {
                return Ok(false);
            }
        }
        if let Some(selector) = &self.label_selector
            && !selector.matches(&review.object()["metadata"]["labels"])
        {
            return Ok(false);
        }
        if let Some(selector) = &self.namespace_selector {
            let selected = if is_namespace {
                selector.matches(&review.object()["metadata"]["labels"])
            } else if let Some(ns) = &review.namespace_object {
                selector.matches(&ns["metadata"]["labels"])
            } else if resource.namespace.is_none() {
                // Cluster-scoped non-Namespace objects always pass a namespaceSelector.
                true
            } else {
                return Err("namespace selector for namespace-scoped object but missing Namespace".to_string());
            };
            if !selected {
                return Ok(false);
            }
        }
        if let Some(name) = &self.name
            && !name.matches(&resource.name)
        {
            return Ok(false);
        }
        Ok(self.source != Source::Generated)
    }
}

/// An empty list, `*` or the value itself.
fn any_or_contains(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == "*" || x == value)
}

/// A list field (absent or `null` = empty).
fn list<'a>(value: Option<&'a Value>, source: &str, field: &str) -> Result<&'a [Value], GatekeeperError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(GatekeeperError::invalid(source, field, "a list")),
    }
}

fn strings(value: Option<&Value>, source: &str, field: &str) -> Result<Vec<String>, GatekeeperError> {
    let items = list(value, source, field).map_err(|_| GatekeeperError::invalid(source, field, "a list of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| GatekeeperError::invalid(source, format!("{field}[{i}]"), "a string"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_follow_gatekeeper_wildcards() {
        let g = |p: &str| Glob(p.to_string());
        assert!(g("kube-*").matches("kube-system"));
        assert!(!g("kube-*").matches("my-kube-system"));
        assert!(g("*-system").matches("gatekeeper-system"));
        assert!(!g("*-system").matches("system-x"));
        assert!(g("*sys*").matches("kube-system-x"));
        assert!(!g("*sys*").matches("kube-public"));
        assert!(g("default").matches("default"));
        assert!(!g("default").matches("default2"));
        assert!(g("*").matches("anything"));
        assert!(g("").matches(""));
        assert!(!g("").matches("x"));
    }

    #[test]
    fn glob_patterns_are_checked_at_parse_time() {
        let err = Match::from_value(&json!({"namespaces": ["ok", "Kube_*"]}), "c.yaml").unwrap_err().to_string();
        assert!(
            err.starts_with(r"c.yaml: spec.match.namespaces[1]: a name or glob matching ^\*?[-:a-z0-9]*\*?$"),
            "{err}"
        );
        assert!(Match::from_value(&json!({"excludedNamespaces": ["a*b"]}), "c").is_err());
        assert!(Match::from_value(&json!({"name": "Pod"}), "c").is_err());
        assert!(Match::from_value(&json!({"namespaces": ["*sys*", "kube:x-*"]}), "c").is_ok());
    }

    #[test]
    fn empty_name_means_any() {
        assert_eq!(Match::from_value(&json!({"name": ""}), "c").unwrap().name, None);
    }

    #[test]
    fn scope_typos_match_all_but_a_non_string_is_refused() {
        assert_eq!(Match::from_value(&json!({"scope": "cluster"}), "c").unwrap().scope, Scope::All);
        assert_eq!(Match::from_value(&json!({"scope": "Cluster"}), "c").unwrap().scope, Scope::Cluster);
        assert!(Match::from_value(&json!({"scope": 1}), "c").is_err());
    }
}
