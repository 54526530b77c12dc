//! `az group create|show|delete|list` (Microsoft.Resources resource groups): the container every
//! managed cluster and resource-group-scoped assignment lives in.

use serde_json::{Map, Value, json};

use super::args::{Args, flag, many, req};
use super::error::{AzError, AzResult};
use super::{AzCli, Spec, api, rg_id};

const NAME: &[&str] = &["--name", "-n", "--resource-group", "-g"];

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["group", "create"], opts: &[req(NAME), req(&["--location", "-l"]), many(&["--tags"])] },
    Spec { words: &["group", "show"], opts: &[req(NAME)] },
    Spec { words: &["group", "delete"], opts: &[req(NAME), flag(&["--yes", "-y"]), flag(&["--no-wait"])] },
    Spec { words: &["group", "list"], opts: &[] },
];

pub(crate) async fn run(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    let id = rg_id(cli, args.must("--name"));
    match verb {
        "create" => {
            let body = json!({"location": args.must("--location"), "tags": tags(&args.list("--tags"))?});
            Ok(cli.put(&id, api::RESOURCES, &body).await?.body)
        }
        "show" => cli.get(&id, api::RESOURCES).await,
        // The real CLI asks "Are you sure…" without --yes; a scenario has no terminal, so it proceeds.
        "delete" => {
            let reply = cli.delete(&id, api::RESOURCES).await?;
            if !args.has("--no-wait") {
                cli.wait(&reply).await?;
            }
            Ok(Value::Null)
        }
        _ => cli.list(&format!("/subscriptions/{}/resourcegroups", cli.subscription), api::RESOURCES).await,
    }
}

/// `--tags a=b c=d` (a bare `a` is an empty value, as in the CLI).
pub(crate) fn tags(items: &[String]) -> AzResult<Value> {
    let mut map = Map::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        if k.is_empty() {
            return Err(AzError::cli(format!("invalid tag '{item}': use KEY[=VALUE]")));
        }
        map.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(map))
}
