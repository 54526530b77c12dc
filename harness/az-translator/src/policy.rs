//! `az policy definition|assignment|state ...` (Microsoft.Authorization and Microsoft.PolicyInsights).
//!
//! Category filtering of definitions happened client-side in 2019 (`--query` over the full list),
//! so `definition list` returns everything. Assignments resolve `--policy` by name through the
//! subscription (which falls back to the built-ins) and scope from `--scope`, `-g` or the
//! subscription, as the CLI did. Compliance queries are POSTs against the narrowest scope given.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::args::{Args, flag, many, req, val};
use super::error::{AzError, AzResult};
use super::output::flatten_properties;
use super::{AzCli, Spec, api, rg_id};

const NAME: &[&str] = &["--name", "-n"];
const RG: &[&str] = &["--resource-group", "-g"];
const SCOPE: &[&str] = &["--scope"];
const AUTHZ: &str = "providers/Microsoft.Authorization";
const INSIGHTS: &str = "providers/Microsoft.PolicyInsights/policyStates";

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["policy", "definition", "list"], opts: &[] },
    Spec { words: &["policy", "definition", "show"], opts: &[req(NAME)] },
    Spec {
        words: &["policy", "definition", "create"],
        opts: &[
            req(NAME),
            req(&["--rules"]),
            val(&["--params"]),
            val(&["--mode", "-m"]),
            val(&["--display-name"]),
            val(&["--description"]),
            many(&["--metadata"]),
        ],
    },
    Spec { words: &["policy", "definition", "delete"], opts: &[req(NAME)] },
    Spec {
        words: &["policy", "assignment", "create"],
        opts: &[
            val(NAME),
            val(&["--policy"]),
            val(&["--policy-set-definition", "-d"]),
            val(SCOPE),
            val(RG),
            val(&["--params", "-p"]),
            many(&["--not-scopes"]),
            val(&["--enforcement-mode", "-e"]),
            val(&["--display-name"]),
            val(&["--description"]),
        ],
    },
    Spec { words: &["policy", "assignment", "delete"], opts: &[req(NAME), val(SCOPE), val(RG)] },
    Spec { words: &["policy", "assignment", "show"], opts: &[req(NAME), val(SCOPE), val(RG)] },
    Spec {
        words: &["policy", "assignment", "list"],
        opts: &[val(SCOPE), val(RG), flag(&["--disable-scope-strict-match"])],
    },
    Spec { words: &["policy", "state", "list"], opts: STATE_OPTS },
    Spec { words: &["policy", "state", "summarize"], opts: STATE_OPTS },
    Spec { words: &["policy", "state", "trigger-scan"], opts: &[val(RG), flag(&["--no-wait"])] },
];

const STATE_OPTS: &[super::args::Opt] = &[
    val(&["--resource"]),
    val(RG),
    val(&["--namespace"]),
    val(&["--resource-type"]),
    val(&["--policy-assignment", "-a"]),
    val(&["--filter"]),
    val(&["--top"]),
    val(&["--select"]),
    val(&["--order-by"]),
    val(&["--apply"]),
    val(&["--expand"]),
    val(&["--from"]),
    val(&["--to"]),
    flag(&["--all"]),
];

pub(crate) async fn run(cli: &mut AzCli, words: &[&str], args: &Args) -> AzResult<Value> {
    run_raw(cli, words, args).await.map(flatten_properties)
}

async fn run_raw(cli: &mut AzCli, words: &[&str], args: &Args) -> AzResult<Value> {
    let definitions = format!("/subscriptions/{}/{AUTHZ}/policyDefinitions", cli.subscription);
    match words {
        ["definition", "list"] => cli.list(&definitions, api::POLICY).await,
        ["definition", "show"] => cli.get(&format!("{definitions}/{}", args.must("--name")), api::POLICY).await,
        ["definition", "create"] => create_definition(cli, &definitions, args).await,
        ["definition", "delete"] => {
            cli.delete(&format!("{definitions}/{}", args.must("--name")), api::POLICY).await.map(|_| Value::Null)
        }
        ["assignment", "create"] => create(cli, args).await,
        ["assignment", "list"] => list(cli, args).await,
        ["assignment", verb] => {
            let path = format!("{}/{AUTHZ}/policyAssignments/{}", scope(cli, args)?, args.must("--name"));
            match *verb {
                "show" => cli.get(&path, api::POLICY).await,
                _ => cli.delete(&path, api::POLICY).await.map(|_| Value::Null),
            }
        }
        ["state", "trigger-scan"] => {
            let scope = args
                .get("--resource-group")
                .map_or_else(|| format!("/subscriptions/{}", cli.subscription), |rg| rg_id(cli, rg));
            let reply =
                cli.post(&format!("{scope}/{INSIGHTS}/latest/triggerEvaluation"), api::POLICY_INSIGHTS, &[]).await?;
            if !args.has("--no-wait") {
                cli.wait(&reply).await?;
            }
            Ok(Value::Null)
        }
        ["state", verb] => states(cli, verb, args).await,
        _ => Err(super::not_simulated(words)),
    }
}

/// The assignment scope: `--scope`, else the resource group, else the subscription.
fn scope(cli: &AzCli, args: &Args) -> AzResult<String> {
    match (args.get("--scope"), args.get("--resource-group")) {
        (Some(_), Some(rg)) => {
            Err(AzError::cli(format!("Resource group '{rg}' is redundant because 'scope' is supplied")))
        }
        (Some(scope), None) => Ok(scope.trim_end_matches('/').to_string()),
        (None, Some(rg)) => Ok(rg_id(cli, rg)),
        (None, None) => Ok(format!("/subscriptions/{}", cli.subscription)),
    }
}

/// `--params`: inline JSON or `@file`, sent as given (the `{"p": {"value": …}}` wrapper is the user's job).
fn params(text: &str) -> AzResult<Value> {
    json_argument("--params", text)
}

/// A JSON argument given inline, as `@file`, or (like the CLI's `--rules`) as the path of a file.
fn json_argument(flag: &str, text: &str) -> AzResult<Value> {
    let path = text.strip_prefix('@').or_else(|| {
        let trimmed = text.trim_start();
        (!trimmed.starts_with('{') && !trimmed.starts_with('[') && std::path::Path::new(text).is_file()).then_some(text)
    });
    let content = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|e| AzError::cli(format!("cannot read {path}: {e}")))?,
        None => text.to_string(),
    };
    serde_json::from_str(&content).map_err(|e| AzError::cli(format!("Failed to parse JSON in {flag}: {e}")))
}

/// `az policy definition create`: a custom definition in the subscription. Like the CLI, the mode
/// defaults to `Indexed` and `--metadata` takes `key=value` pairs.
async fn create_definition(cli: &mut AzCli, definitions: &str, args: &Args) -> AzResult<Value> {
    let mut properties = Map::new();
    properties.insert("mode".into(), json!(args.get("--mode").unwrap_or("Indexed")));
    properties.insert("policyRule".into(), json_argument("--rules", args.must("--rules"))?);
    if let Some(p) = args.get("--params") {
        properties.insert("parameters".into(), json_argument("--params", p)?);
    }
    for (flag, field) in [("--display-name", "displayName"), ("--description", "description")] {
        if let Some(v) = args.get(flag) {
            properties.insert(field.into(), json!(v));
        }
    }
    let mut metadata = Map::new();
    for pair in args.list("--metadata").iter().flat_map(|s| s.split_whitespace()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| AzError::cli(format!("usage error: --metadata KEY=VALUE [KEY=VALUE ...], got '{pair}'")))?;
        metadata.insert(key.to_string(), json!(value));
    }
    if !metadata.is_empty() {
        properties.insert("metadata".into(), Value::Object(metadata));
    }
    let path = format!("{definitions}/{}", args.must("--name"));
    Ok(cli.put(&path, api::POLICY, &json!({ "properties": properties })).await?.body)
}

async fn create(cli: &mut AzCli, args: &Args) -> AzResult<Value> {
    if args.has("--policy-set-definition") {
        return Err(AzError::NotSimulated(
            "az policy assignment create --policy-set-definition is not simulated by aks-policy-harness: the preview supported no initiatives".into(),
        ));
    }
    let policy = args
        .get("--policy")
        .ok_or_else(|| AzError::cli("Either --policy or --policy-set-definition should be provided"))?;
    let scope = scope(cli, args)?;
    let definition_id = if policy.starts_with('/') {
        policy.to_string()
    } else {
        let path = format!("/subscriptions/{}/{AUTHZ}/policyDefinitions/{policy}", cli.subscription);
        cli.get(&path, api::POLICY).await?["id"].as_str().unwrap_or(&path).to_string()
    };
    let mut properties = Map::new();
    properties.insert("policyDefinitionId".into(), json!(definition_id));
    properties.insert("scope".into(), json!(scope));
    let mode = args.get("--enforcement-mode").unwrap_or("Default");
    let mode = ["Default", "DoNotEnforce"].into_iter().find(|m| m.eq_ignore_ascii_case(mode)).ok_or_else(|| {
        AzError::usage(
            "policy assignment create",
            format!("argument --enforcement-mode/-e: invalid choice: '{mode}' (choose from 'Default', 'DoNotEnforce')"),
        )
    })?;
    properties.insert("enforcementMode".into(), json!(mode));
    if let Some(p) = args.get("--params") {
        properties.insert("parameters".into(), params(p)?);
    }
    let not_scopes: Vec<String> = args
        .list("--not-scopes")
        .iter()
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    if !not_scopes.is_empty() {
        properties.insert("notScopes".into(), json!(not_scopes));
    }
    for (flag, field) in [("--display-name", "displayName"), ("--description", "description")] {
        if let Some(v) = args.get(flag) {
            properties.insert(field.into(), json!(v));
        }
    }
    // Without --name the CLI generated one: a URL-safe base64 UUID without padding.
    let name = args.get("--name").map_or_else(
        || base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        str::to_string,
    );
    let path = format!("{scope}/{AUTHZ}/policyAssignments/{name}");
    Ok(cli.put(&path, api::POLICY, &json!({ "properties": properties })).await?.body)
}

/// Lists assignments at a scope; like the CLI, only those *at* that exact scope unless
/// `--disable-scope-strict-match` also keeps inherited and child ones.
async fn list(cli: &mut AzCli, args: &Args) -> AzResult<Value> {
    let scope = scope(cli, args)?;
    let subscription_level = scope.trim_matches('/').split('/').count() == 2;
    let query = if subscription_level { vec![] } else { vec![("$filter", "atScope()".to_string())] };
    let path = format!("{scope}/{AUTHZ}/policyAssignments");
    let body = cli.call(reqwest::Method::GET, &path, Some(api::POLICY), &query, None).await?.body;
    let all = body["value"].as_array().cloned().unwrap_or_default();
    let strict = !args.has("--disable-scope-strict-match");
    let keep = |a: &Value| !strict || a["properties"]["scope"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&scope));
    Ok(Value::Array(all.into_iter().filter(keep).collect()))
}

/// The PolicyInsights scope: a resource, an assignment, a resource group or the subscription.
fn state_scope(cli: &AzCli, args: &Args) -> AzResult<String> {
    let rg = args.get("--resource-group");
    let sub = format!("/subscriptions/{}", cli.subscription);
    if let Some(resource) = args.get("--resource") {
        if resource.starts_with('/') {
            return Ok(resource.trim_end_matches('/').to_string());
        }
        return match (rg, args.get("--namespace"), args.get("--resource-type")) {
            (Some(rg), Some(ns), Some(ty)) => Ok(format!("{}/providers/{ns}/{ty}/{resource}", rg_id(cli, rg))),
            _ => Err(AzError::cli(
                "--resource given by name needs --resource-group, --namespace and --resource-type (or pass the full resource id)",
            )),
        };
    }
    if let Some(assignment) = args.get("--policy-assignment") {
        if assignment.starts_with('/') {
            return Ok(assignment.to_string());
        }
        let parent = rg.map_or(sub, |rg| rg_id(cli, rg));
        return Ok(format!("{parent}/{AUTHZ}/policyAssignments/{assignment}"));
    }
    Ok(rg.map_or(sub, |rg| rg_id(cli, rg)))
}

async fn states(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    let scope = state_scope(cli, args)?;
    let mut query = Vec::new();
    for (flag, param) in [
        ("--filter", "$filter"),
        ("--top", "$top"),
        ("--select", "$select"),
        ("--order-by", "$orderby"),
        ("--apply", "$apply"),
        ("--expand", "$expand"),
        ("--from", "$from"),
        ("--to", "$to"),
    ] {
        if let Some(v) = args.get(flag) {
            query.push((param, v.to_string()));
        }
    }
    if verb == "summarize" {
        let body = cli.post(&format!("{scope}/{INSIGHTS}/latest/summarize"), api::POLICY_INSIGHTS, &query).await?.body;
        // The CLI printed the single summary (value[0]).
        return Ok(body["value"].get(0).cloned().unwrap_or(Value::Null));
    }
    let which = if args.has("--all") { "default" } else { "latest" };
    let body = cli.post(&format!("{scope}/{INSIGHTS}/{which}/queryResults"), api::POLICY_INSIGHTS, &query).await?.body;
    Ok(body.get("value").cloned().unwrap_or(Value::Array(Vec::new())))
}
