//! Validation of `Microsoft.Kubernetes.Data` definitions (reference §4.2, §4.5), for PUT and the
//! `--definitions` directory, so a user learns at definition time what the add-on could not install.
//!
//! Every rule is checked on the definition as written (before parameters are known), and each has
//! its own error code and a message naming the field:
//!
//! | Code | When |
//! |---|---|
//! | `InvalidPolicyRuleEffectDetails` (Azure's, §4.5) | `details` missing or not an object; `templateInfo` with `constraintTemplate`/`constraint`; `constraintInfo` with `constraint`/`constraintTemplate`/`apiGroups`/`kinds`; no `templateInfo`; `apiGroups`/`kinds` missing; a match field of the wrong type; Kubernetes `details` under another mode (azure-policy#880) |
//! | `InvalidPolicyRuleEffect` | the effect (literal, or every allowed value of its parameter) is not audit, deny, disabled or mutate, compared case-insensitively |
//! | `KubernetesMatchWildcardNotAllowed` | `"*"` in `apiGroups` or `kinds` |
//! | `InvalidTemplateSourceType` | `sourceType` is not `PublicURL` (with `url`) or `Base64Encoded` (with `content`) |
//! | `InvalidConstraintTemplateContent` | `Base64Encoded` content that does not decode, or is not a ConstraintTemplate |
//! | `ConstraintTemplateNotFound` | a `PublicURL` that is not a store URL, or names a slug/version the store lacks |
//! | `UndefinedConstraintParameter` | a `values` key the template's parameter schema does not have |
//!
//! Store URLs are resolved by path against `policy-library` (the simulated store), whatever their
//! host, and never fetched.

use base64::Engine as _;
use policy_engine::gatekeeper_v3::ConstraintTemplate;
use policy_engine::gatekeeper_v3::azure_definition::{MODE, check_values_in_schema};
use serde_json::{Map, Value};

use crate::error::ArmError;

/// The keys that make a `details` a Kubernetes one.
const KUBERNETES_KEYS: &[&str] =
    &["templateInfo", "constraintInfo", "constraintTemplate", "constraint", "mutationInfo", "apiGroups", "kinds"];
const EFFECTS: &[&str] = &["audit", "deny", "disabled", "mutate"];
const SOURCES: &[&str] = &["All", "Generated", "Original"];

/// Whether `mode` is `Microsoft.Kubernetes.Data` (case-insensitive).
pub fn is_kubernetes_mode(mode: &str) -> bool {
    mode.eq_ignore_ascii_case(MODE)
}

/// What is wrong with a definition, with the field it concerns.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KubernetesDefinitionError {
    #[error("The policy effect 'details' property could not be parsed using mode '{mode}': {why}.")]
    Details { mode: String, why: String },
    #[error(
        "The policy effect '{effect}' ({field}) is not supported in mode '{MODE}'; use audit, deny, disabled or mutate."
    )]
    Effect { field: String, effect: String },
    #[error("details.{field} must not contain \"*\": name the API groups and kinds.")]
    Wildcard { field: &'static str },
    #[error(
        "details.{field}.sourceType {found} is not valid: use PublicURL (with url) or Base64Encoded (with content)."
    )]
    SourceType { field: &'static str, found: String },
    #[error("details.{field}.content cannot be used: {why}.")]
    Content { field: &'static str, why: String },
    #[error("details.{field}.url {url}: {why}.")]
    NotInStore { field: &'static str, url: String, why: String },
    #[error("details.values: {0}.")]
    UndefinedValues(String),
}

impl KubernetesDefinitionError {
    /// The ARM error code (table in the module docs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Details { .. } => "InvalidPolicyRuleEffectDetails",
            Self::Effect { .. } => "InvalidPolicyRuleEffect",
            Self::Wildcard { .. } => "KubernetesMatchWildcardNotAllowed",
            Self::SourceType { .. } => "InvalidTemplateSourceType",
            Self::Content { .. } => "InvalidConstraintTemplateContent",
            Self::NotInStore { .. } => "ConstraintTemplateNotFound",
            Self::UndefinedValues(_) => "UndefinedConstraintParameter",
        }
    }

    /// The 400 ARM answers, worded as Azure words a rule error.
    pub fn into_arm(self, definition: &str) -> ArmError {
        ArmError::bad_request(self.code(), format!("The policy definition '{definition}' rule is invalid. {self}"))
    }
}

type Checked<T> = Result<T, KubernetesDefinitionError>;

fn details_error(mode: &str, why: impl Into<String>) -> KubernetesDefinitionError {
    KubernetesDefinitionError::Details { mode: mode.to_string(), why: why.into() }
}

/// A definition of a mode other than `Microsoft.Kubernetes.Data` must not carry Kubernetes
/// `details`: re-creating a built-in without its mode is refused (azure-policy#880).
pub fn check_other_mode(mode: &str, then: Option<&Value>) -> Checked<()> {
    let details = then.and_then(|t| t.get("details")).and_then(Value::as_object);
    match details.and_then(|d| KUBERNETES_KEYS.iter().find(|k| d.contains_key(**k))) {
        Some(key) => Err(details_error(mode, format!("details.{key} belongs to mode '{MODE}'"))),
        None => Ok(()),
    }
}

/// Checks a `Microsoft.Kubernetes.Data` definition's `properties` (mode already known to be it).
pub fn check(properties: &Map<String, Value>) -> Checked<()> {
    let then = properties.get("policyRule").and_then(|r| r.get("then"));
    let effect = then.and_then(|t| t.get("effect")).and_then(Value::as_str).unwrap_or_default();
    check_effect(effect, properties.get("parameters"))?;
    let details = then
        .and_then(|t| t.get("details"))
        .ok_or_else(|| details_error(MODE, "policyRule.then.details is required"))?
        .as_object()
        .ok_or_else(|| details_error(MODE, "policyRule.then.details must be an object"))?;
    let has = |k: &str| details.contains_key(k);
    if has("mutationInfo") {
        // Mutation definitions are accepted as Azure accepts them, and not delivered to clusters.
        return match ["constraint", "constraintTemplate", "apiGroups", "kinds"].into_iter().find(|k| has(k)) {
            Some(k) => Err(details_error(MODE, format!("details.mutationInfo cannot be combined with details.{k}"))),
            None => Ok(()),
        };
    }
    if has("templateInfo")
        && let Some(k) = ["constraintTemplate", "constraint"].into_iter().find(|k| has(k))
    {
        return Err(details_error(
            MODE,
            format!("details.templateInfo cannot be combined with the legacy details.{k}"),
        ));
    }
    if !has("templateInfo") {
        return Err(details_error(
            MODE,
            "details.templateInfo is required (the legacy constraintTemplate/constraint pair is deprecated)",
        ));
    }
    if has("constraintInfo") {
        if let Some(k) = ["apiGroups", "kinds"].into_iter().find(|k| has(k)) {
            return Err(details_error(MODE, format!("details.constraintInfo cannot be combined with details.{k}")));
        }
        source_of(&details["constraintInfo"], "constraintInfo")?;
    } else {
        for field in ["apiGroups", "kinds"] {
            let value = details.get(field).ok_or_else(|| {
                details_error(
                    MODE,
                    format!("details.{field} is required with templateInfo (use [\"\"] for the core group)"),
                )
            })?;
            let items = string_list(value, field)?;
            if items.contains(&"*") {
                return Err(KubernetesDefinitionError::Wildcard { field });
            }
        }
    }
    for field in ["namespaces", "excludedNamespaces"] {
        if let Some(value) = details.get(field) {
            string_list(value, field)?;
        }
    }
    check_scalar_fields(details)?;
    let template = resolve_template(&details["templateInfo"])?;
    match details.get("values") {
        Some(values) if values.is_object() => {
            check_values_in_schema(&Value::Object(details.clone()), &template.raw)
                .map_err(KubernetesDefinitionError::UndefinedValues)?;
        }
        None | Some(Value::Null) => {}
        Some(v) if is_expression(v) => {}
        Some(_) => return Err(details_error(MODE, "details.values must be an object")),
    }
    Ok(())
}

fn is_expression(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.starts_with('[') && !s.starts_with("[["))
}

/// A list field: an array of strings (each possibly an expression), or one expression for the
/// whole list. Returns the literal strings.
fn string_list<'a>(value: &'a Value, field: &str) -> Checked<Vec<&'a str>> {
    if is_expression(value) {
        return Ok(Vec::new());
    }
    let items =
        value.as_array().ok_or_else(|| details_error(MODE, format!("details.{field} must be an array of strings")))?;
    items
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| details_error(MODE, format!("details.{field} must be an array of strings, found {v}")))
        })
        .collect()
}

fn check_scalar_fields(details: &Map<String, Value>) -> Checked<()> {
    let wrong = |field: &str, expected: &str| details_error(MODE, format!("details.{field} must be {expected}"));
    let literal = |field: &str| details.get(field).filter(|v| !v.is_null() && !is_expression(v));
    if literal("labelSelector").is_some_and(|v| !v.is_object()) {
        return Err(wrong("labelSelector", "an object (matchLabels, matchExpressions)"));
    }
    if literal("warn").is_some_and(|v| !v.is_boolean()) {
        return Err(wrong("warn", "a boolean"));
    }
    if let Some(source) = literal("source")
        && !source.as_str().is_some_and(|s| SOURCES.iter().any(|x| x.eq_ignore_ascii_case(s)))
    {
        return Err(wrong("source", "All, Generated or Original"));
    }
    Ok(())
}

/// The literal effect must be one Kubernetes definitions support; `[parameters('effect')]` is
/// checked through the parameter's allowed values and default. Case-insensitive, as Azure compares
/// it (built-ins list `audit` and `Audit` alike).
fn check_effect(effect: &str, parameters: Option<&Value>) -> Checked<()> {
    let supported = |e: &str| EFFECTS.iter().any(|x| x.eq_ignore_ascii_case(e));
    let name = effect.trim().strip_prefix("[parameters('").and_then(|r| r.strip_suffix("')]"));
    let Some(name) = name else {
        return match supported(effect) {
            true => Ok(()),
            false => {
                Err(KubernetesDefinitionError::Effect { field: "policyRule.then.effect".into(), effect: effect.into() })
            }
        };
    };
    let declared = parameters
        .and_then(Value::as_object)
        .and_then(|p| p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(_, d)| d);
    let Some(declared) = declared else { return Ok(()) };
    let candidates = declared["allowedValues"].as_array().into_iter().flatten().chain(declared.get("defaultValue"));
    for value in candidates {
        let text = value.as_str().unwrap_or_default();
        if !supported(text) {
            return Err(KubernetesDefinitionError::Effect {
                field: format!("parameters.{name}"),
                effect: value.as_str().map_or_else(|| value.to_string(), str::to_string),
            });
        }
    }
    Ok(())
}

/// Where a `templateInfo`/`constraintInfo` points.
enum Source<'a> {
    Url(&'a str),
    Content(&'a str),
}

fn source_of<'a>(info: &'a Value, field: &'static str) -> Checked<Source<'a>> {
    let found = info.get("sourceType").map_or_else(|| "(missing)".to_string(), Value::to_string);
    let bad = || KubernetesDefinitionError::SourceType { field, found: found.clone() };
    let kind = info.get("sourceType").and_then(Value::as_str).ok_or_else(bad)?;
    if kind.eq_ignore_ascii_case("PublicURL") {
        info.get("url").and_then(Value::as_str).map(Source::Url).ok_or_else(bad)
    } else if kind.eq_ignore_ascii_case("Base64Encoded") {
        info.get("content").and_then(Value::as_str).map(Source::Content).ok_or_else(bad)
    } else {
        Err(bad())
    }
}

/// The ConstraintTemplate a `templateInfo` names: store URLs by path from `policy-library`,
/// base64 content decoded; parsed as Gatekeeper would.
pub fn resolve_template(info: &Value) -> Checked<ConstraintTemplate> {
    let field = "templateInfo";
    let (origin, text) = match source_of(info, field)? {
        Source::Url(url) => {
            let not_found = |why: String| KubernetesDefinitionError::NotInStore { field, url: url.to_string(), why };
            let (slug, version) = policy_library::parse_store_url(url)
                .ok_or_else(|| not_found("not a store URL (…/kubernetes/<slug>/v<N>/template.yaml)".into()))?;
            let entry = policy_library::get(&slug, version)
                .ok_or_else(|| not_found(format!("the template store has no template '{slug}' version v{version}")))?;
            (url.to_string(), entry.template.to_string())
        }
        Source::Content(content) => {
            let bad = |why: String| KubernetesDefinitionError::Content { field, why };
            let compact: String = content.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| bad(format!("it is not base64 ({e})")))?;
            let text = String::from_utf8(bytes).map_err(|_| bad("it does not decode to UTF-8 text".into()))?;
            ("templateInfo.content".to_string(), text)
        }
    };
    let content_error = |why: String| match origin.as_str() {
        "templateInfo.content" => KubernetesDefinitionError::Content { field, why },
        url => KubernetesDefinitionError::NotInStore { field, url: url.to_string(), why },
    };
    let document = policy_engine::manifests::parse_documents(&text)
        .map_err(|e| content_error(format!("it is not YAML ({e})")))?
        .into_iter()
        .next()
        .ok_or_else(|| content_error("it is empty".into()))?;
    ConstraintTemplate::from_value(&document, &origin)
        .map_err(|e| content_error(format!("it is not a valid ConstraintTemplate ({e})")))
}

#[cfg(test)]
#[path = "kubernetes_definitions_tests.rs"]
mod tests;
