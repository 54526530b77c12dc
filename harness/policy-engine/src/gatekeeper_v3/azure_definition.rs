//! A `Microsoft.Kubernetes.Data` definition to a Constraint, as the add-on builds it (reference
//! §4.2–4.3, §3.2–3.3). Everything here works on JSON, without the engine, so the mapping is unit
//! tested on its own; [`super::check`] then compiles the template and adds the constraint.
//!
//! Choices where Azure documents nothing (each is (inference) in the reference):
//! * The constraint name is `azurepolicy-<template name cut to 30>-<20 hex>`; the hex is the first
//!   20 hex digits of the SHA-256 of the definition id, a newline and the resolved parameters as
//!   JSON (keys sorted), so one definition with the same parameters always gets the same name.
//! * `audit` + `details.warn: true` is `scoped`: `warn` at the webhook and at gator (so
//!   `harness policy check` shows it), `dryrun` at audit.
//! * Store URLs are resolved by path against `policy-library`, never fetched.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::azure_parameters::{self, Parameters};
use super::{GatekeeperError, enforcement_point};

/// The definition mode this module handles.
pub const MODE: &str = "Microsoft.Kubernetes.Data";
/// Azure's code for a `details` it cannot parse (reference §4.5).
pub const INVALID_DETAILS: &str = "InvalidPolicyRuleEffectDetails";

/// What a definition and its parameters give the add-on to install.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltDefinition {
    /// The definition's `id` (else `name`, else its file).
    pub definition_id: String,
    /// The resolved effect, as written (`Deny`, `audit`, ...).
    pub effect: String,
    /// Where the template came from: the store URL, or `templateInfo.content (Base64Encoded)`.
    pub template_origin: String,
    /// The ConstraintTemplate, parsed from YAML.
    pub template: Value,
    /// The Constraint; `None` when the effect is `disabled` (the add-on installs nothing).
    pub constraint: Option<Value>,
}

/// Whether a definition JSON has mode `Microsoft.Kubernetes.Data` (compared case-insensitively).
pub fn is_kubernetes_data(definition: &Value) -> bool {
    properties(definition).get("mode").and_then(Value::as_str).is_some_and(|m| m.eq_ignore_ascii_case(MODE))
}

fn properties(definition: &Value) -> &Value {
    definition.get("properties").unwrap_or(definition)
}

fn details_error(file: &str, name: &str, why: String) -> GatekeeperError {
    GatekeeperError::AzureDefinition {
        file: file.to_string(),
        code: INVALID_DETAILS.to_string(),
        message: format!("the rule of policy definition '{name}' is invalid: its effect details cannot be used: {why}"),
    }
}

/// Build what the add-on installs for `definition` with the `--param` texts `given`. `file` names
/// the definition in errors.
pub fn build(definition: &Value, given: &[(String, String)], file: &str) -> Result<BuiltDefinition, GatekeeperError> {
    let props = properties(definition);
    if !is_kubernetes_data(definition) {
        return Err(GatekeeperError::invalid(
            file,
            "properties.mode",
            format!("{MODE} (other modes are 2019 or ARM definitions)"),
        ));
    }
    let name = definition.get("name").and_then(Value::as_str).unwrap_or(file).to_string();
    let definition_id = definition.get("id").and_then(Value::as_str).map_or_else(|| name.clone(), str::to_string);
    let empty = Map::new();
    let declared = props.get("parameters").and_then(Value::as_object).unwrap_or(&empty);
    let params = azure_parameters::resolve(declared, given, file)?;

    let then = props.pointer("/policyRule/then").ok_or_else(|| {
        GatekeeperError::invalid(file, "properties.policyRule.then", "an object with effect and details")
    })?;
    let effect =
        azure_parameters::expand(then.get("effect").unwrap_or(&Value::Null), &params, "policyRule.then.effect")
            .map_err(|e| GatekeeperError::invalid(file, "policyRule.then.effect", e))?;
    let effect = effect
        .as_str()
        .ok_or_else(|| GatekeeperError::invalid(file, "policyRule.then.effect", "a string (deny, audit or disabled)"))?
        .to_string();
    let raw_details =
        then.get("details").ok_or_else(|| details_error(file, &name, "policyRule.then.details is missing".into()))?;
    check_shape(raw_details).map_err(|why| details_error(file, &name, why))?;
    let details =
        azure_parameters::expand(raw_details, &params, "details").map_err(|why| details_error(file, &name, why))?;
    check_match_fields(&details).map_err(|why| details_error(file, &name, why))?;

    let (template_origin, template) = template_of(&details["templateInfo"], file, &name)?;
    let template_name = template.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = template
        .pointer("/spec/crd/spec/names/kind")
        .and_then(Value::as_str)
        .ok_or_else(|| GatekeeperError::invalid(&template_origin, "spec.crd.spec.names.kind", "the constraint kind"))?
        .to_string();
    check_values_in_schema(&details, &template).map_err(|why| details_error(file, &name, why))?;

    let action =
        enforcement(&effect, &details).map_err(|why| GatekeeperError::invalid(file, "policyRule.then.effect", why))?;
    let metadata_name = constraint_name(&template_name, &definition_id, &params);
    let constraint = action.map(|action| constraint(&kind, &metadata_name, &definition_id, &details, action));
    Ok(BuiltDefinition { definition_id, effect, template_origin, template, constraint })
}

/// The documented exclusions between `details` keys (reference §4.2), checked before expressions
/// are resolved because they are about which keys are written.
fn check_shape(details: &Value) -> Result<(), String> {
    let d = details.as_object().ok_or("details must be an object")?;
    let has = |k: &str| d.contains_key(k);
    if has("mutationInfo") {
        return Err("mutationInfo (effect Mutate) definitions are not evaluated by this engine".into());
    }
    if has("templateInfo") && has("constraintTemplate") {
        return Err("templateInfo cannot be combined with constraintTemplate".into());
    }
    if has("constraintInfo") {
        if let Some(k) = ["constraint", "constraintTemplate", "apiGroups", "kinds"].into_iter().find(|k| has(k)) {
            return Err(format!("constraintInfo cannot be combined with {k}"));
        }
        return Err("constraintInfo is not supported here; let the constraint be generated from templateInfo".into());
    }
    if has("constraintTemplate") {
        return Err(
            "the legacy constraintTemplate/constraint shape is deprecated and not supported here; use templateInfo"
                .into(),
        );
    }
    if !has("templateInfo") {
        return Err("templateInfo is required".into());
    }
    let info = d["templateInfo"].as_object().ok_or("templateInfo must be an object")?;
    match info.get("sourceType").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("PublicURL") && info.get("url").is_some_and(Value::is_string) => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("Base64Encoded") && info.get("content").is_some_and(Value::is_string) => {
            Ok(())
        }
        Some(t) if t.eq_ignore_ascii_case("PublicURL") => {
            Err("templateInfo.sourceType PublicURL needs templateInfo.url".into())
        }
        Some(t) if t.eq_ignore_ascii_case("Base64Encoded") => {
            Err("templateInfo.sourceType Base64Encoded needs templateInfo.content".into())
        }
        Some(t) => Err(format!("templateInfo.sourceType `{t}` is not PublicURL or Base64Encoded")),
        None => Err("templateInfo.sourceType is required (PublicURL or Base64Encoded)".into()),
    }
}

fn string_array<'a>(details: &'a Value, key: &str) -> Result<Option<Vec<&'a str>>, String> {
    match details.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| format!("{key} must be an array of strings, found {v}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!("{key} must be an array of strings, found {other}")),
    }
}

/// `apiGroups`/`kinds` are required arrays without `*`; the namespace lists are string arrays and
/// `labelSelector`/`values` objects when given (after expressions are resolved).
fn check_match_fields(details: &Value) -> Result<(), String> {
    for key in ["apiGroups", "kinds"] {
        let items = string_array(details, key)?.ok_or_else(|| format!("{key} is required with templateInfo"))?;
        if items.contains(&"*") {
            return Err(format!("{key} must not contain \"*\""));
        }
    }
    for key in ["namespaces", "excludedNamespaces"] {
        string_array(details, key)?;
    }
    for key in ["labelSelector", "values"] {
        if let Some(v) = details.get(key).filter(|v| !v.is_null() && !v.is_object()) {
            return Err(format!("{key} must be an object, found {v}"));
        }
    }
    Ok(())
}

/// The ConstraintTemplate `templateInfo` points at, parsed: base64 content decoded, or a store URL
/// looked up in our catalog by its `/kubernetes/<slug>/v<N>/template.yaml` path.
fn template_of(info: &Value, file: &str, name: &str) -> Result<(String, Value), GatekeeperError> {
    let (origin, text) = if let Some(url) =
        info.get("url").and_then(Value::as_str).filter(|_| is_source(info, "PublicURL"))
    {
        let (slug, version) = policy_library::parse_store_url(url).ok_or_else(|| {
            details_error(file, name, format!("templateInfo.url {url} is not a store URL (…/kubernetes/<slug>/v<N>/template.yaml); URLs are never fetched"))
        })?;
        let entry = policy_library::get(&slug, version).ok_or_else(|| {
            let known: Vec<String> =
                policy_library::all().iter().filter(|e| e.slug == slug).map(|e| format!("v{}", e.version)).collect();
            let hint = if known.is_empty() { "no version of it".to_string() } else { format!("only {}", known.join(", ")) };
            GatekeeperError::invalid(
                file,
                "templateInfo.url",
                format!("template {slug} v{version} ({url}) is not in the policy library (harness/policy-library/templates has {hint})"),
            )
        })?;
        (url.to_string(), entry.template.to_string())
    } else {
        let content = info["content"].as_str().unwrap_or_default();
        let compact: String = content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| details_error(file, name, format!("templateInfo.content is not base64: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| details_error(file, name, "templateInfo.content is not UTF-8 text".into()))?;
        ("templateInfo.content (Base64Encoded)".to_string(), text)
    };
    let template = crate::manifests::parse_documents(&text)
        .map_err(|e| GatekeeperError::invalid(&origin, "template", format!("YAML: {e}")))?
        .into_iter()
        .next()
        .filter(|t| t.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate"))
        .ok_or_else(|| GatekeeperError::invalid(&origin, "kind", "a ConstraintTemplate"))?;
    Ok((origin, template))
}

fn is_source(info: &Value, kind: &str) -> bool {
    info.get("sourceType").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

/// "each value must exist in the Constraint template CRD" (reference §4.2): every `values` key is a
/// top-level property of the template's openAPIV3Schema.
pub fn check_values_in_schema(details: &Value, template: &Value) -> Result<(), String> {
    let Some(values) = details.get("values").and_then(Value::as_object).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let schema = template.pointer("/spec/crd/spec/validation/openAPIV3Schema/properties").and_then(Value::as_object);
    let unknown: Vec<&str> =
        values.keys().map(String::as_str).filter(|k| !schema.is_some_and(|s| s.contains_key(*k))).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = schema.map(|s| s.keys().map(String::as_str).collect()).unwrap_or_default();
    Err(format!(
        "values key(s) {} are not in the template's parameter schema (it has: {})",
        unknown.join(", "),
        known.join(", ")
    ))
}

/// The constraint's `spec.enforcementAction` (and scoped actions) for an effect; `None` for
/// `disabled`. Effects compare case-insensitively (reference §3.3, §4.4).
fn enforcement(effect: &str, details: &Value) -> Result<Option<Value>, String> {
    let warn = details.get("warn").and_then(Value::as_bool).unwrap_or(false);
    match effect.to_ascii_lowercase().as_str() {
        "deny" => Ok(Some(json!({"enforcementAction": "deny"}))),
        "audit" if warn => Ok(Some(json!({
            "enforcementAction": "scoped",
            "scopedEnforcementActions": [
                {"action": "warn", "enforcementPoints": [{"name": enforcement_point::WEBHOOK}, {"name": enforcement_point::GATOR}]},
                {"action": "dryrun", "enforcementPoints": [{"name": enforcement_point::AUDIT}]},
            ],
        }))),
        "audit" => Ok(Some(json!({"enforcementAction": "dryrun"}))),
        "disabled" => Ok(None),
        "mutate" => Err("effect Mutate (mutationInfo) is not evaluated by this engine".into()),
        other => Err(format!("effect `{other}` is not deny, audit or disabled")),
    }
}

/// `azurepolicy-<template name cut to 30>-<20 hex>` (63 characters at most, reference §3.2).
pub fn constraint_name(template_name: &str, definition_id: &str, params: &Parameters) -> String {
    let middle: String = template_name.chars().take(30).collect();
    let mut hasher = Sha256::new();
    hasher.update(definition_id.as_bytes());
    hasher.update(b"\n");
    // `Parameters` is a BTreeMap, so this JSON has its keys sorted at the top level; nested objects
    // keep serde_json's own (sorted) order.
    hasher.update(serde_json::to_string(params).unwrap_or_default().as_bytes());
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("azurepolicy-{middle}-{}", &hex[..20])
}

/// The Constraint object: `spec.match` from the details (empty lists and selectors omitted, as in
/// the observed dump), `spec.parameters` = `values`, and the label and the annotations of §3.2 that
/// are known without an assignment.
fn constraint(kind: &str, name: &str, definition_id: &str, details: &Value, action: Value) -> Value {
    let mut spec_match = Map::new();
    spec_match.insert("kinds".into(), json!([{"apiGroups": details["apiGroups"], "kinds": details["kinds"]}]));
    for key in ["namespaces", "excludedNamespaces"] {
        if let Some(list) = details.get(key).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
            spec_match.insert(key.into(), list.clone());
        }
    }
    let selector_used = |v: &&Value| {
        v.as_object().is_some_and(|s| s.values().any(|x| !x.is_null() && x != &json!({}) && x != &json!([])))
    };
    if let Some(selector) = details.get("labelSelector").filter(selector_used) {
        spec_match.insert("labelSelector".into(), selector.clone());
    }
    if let Some(source) = details.get("source").filter(|v| v.is_string()) {
        spec_match.insert("source".into(), source.clone());
    }
    let mut spec = Map::new();
    spec.insert("match".into(), Value::Object(spec_match));
    if let Value::Object(action) = action {
        spec.extend(action);
    }
    if let Some(values) = details.get("values").filter(|v| v.is_object()) {
        spec.insert("parameters".into(), values.clone());
    }
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {
            "name": name,
            "labels": {"managed-by": "azure-policy-addon"},
            "annotations": {"azure-policy-definition-id": definition_id, "constraint-installed-by": "azure-policy-addon"},
        },
        "spec": spec,
    })
}

#[cfg(test)]
#[path = "azure_definition_tests.rs"]
mod tests;
