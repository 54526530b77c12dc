//! `az aks list|show|create|enable-addons|disable-addons` (Microsoft.ContainerService).
//!
//! enable/disable-addons do what the 2019 CLI did: GET the managed cluster, flip
//! `addonProfiles.<key>.enabled`, null out `servicePrincipalProfile`/`aadProfile` (server-side
//! validation rejects round-tripped secrets), PUT the whole cluster, wait for the
//! `Azure-AsyncOperation`, and print the cluster. `azure-policy` was only known to the aks-preview
//! extension (≥ 0.4.0); core `az` raised `KeyError: 'azure-policy'`, which is reproduced.

use serde_json::{Map, Value, json};

use super::args::{Args, flag, many, req, val};
use super::error::{AzError, AzResult};
use super::extension::{AKS_PREVIEW, has_azure_policy};
use super::output::flatten_properties;
use super::{AzCli, Spec, api, group, rg_id};

const NAME: &[&str] = &["--name", "-n"];
const RG: &[&str] = &["--resource-group", "-g"];
const ADDONS: &[&str] = &["--addons", "-a"];

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["aks", "list"], opts: &[val(RG)] },
    Spec { words: &["aks", "show"], opts: &[req(NAME), req(RG)] },
    Spec {
        words: &["aks", "create"],
        opts: &[
            req(NAME),
            req(RG),
            val(&["--kubernetes-version", "-k"]),
            val(&["--location", "-l"]),
            val(&["--node-count", "-c"]),
            val(&["--node-vm-size", "-s"]),
            val(&["--dns-name-prefix", "-p"]),
            val(&["--enable-addons", "-a"]),
            many(&["--tags"]),
            flag(&["--generate-ssh-keys"]),
            flag(&["--no-wait"]),
        ],
    },
    Spec {
        words: &["aks", "enable-addons"],
        opts: &[
            req(ADDONS),
            req(NAME),
            req(RG),
            flag(&["--no-wait"]),
            val(&["--workspace-resource-id"]),
            val(&["--subnet-name", "-s"]),
        ],
    },
    Spec { words: &["aks", "disable-addons"], opts: &[req(ADDONS), req(NAME), req(RG), flag(&["--no-wait"])] },
];

pub(crate) async fn run(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    run_raw(cli, verb, args).await.map(flatten_properties)
}

async fn run_raw(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    if cli.extensions.contains_key(AKS_PREVIEW) {
        cli.warn(format!("The behavior of this command has been altered by the following extension: {AKS_PREVIEW}"));
    }
    let path = |cli: &AzCli| {
        format!(
            "{}/providers/Microsoft.ContainerService/managedClusters/{}",
            rg_id(cli, args.must("--resource-group")),
            args.must("--name")
        )
    };
    match verb {
        "list" => {
            let scope = args
                .get("--resource-group")
                .map_or_else(|| format!("/subscriptions/{}", cli.subscription), |rg| rg_id(cli, rg));
            cli.list(&format!("{scope}/providers/Microsoft.ContainerService/managedClusters"), api::AKS).await
        }
        "show" => cli.get(&path(cli), api::AKS).await,
        "create" => create(cli, &path(cli), args).await,
        _ => update_addons(cli, &path(cli), args, verb == "enable-addons").await,
    }
}

/// The `addonProfiles` key of a user-facing add-on name, as the CLI's `ADDONS` table mapped it.
fn addon_key(cli: &AzCli, command: &str, addon: &str) -> AzResult<&'static str> {
    match addon {
        "http_application_routing" => Ok("httpApplicationRouting"),
        "kube-dashboard" => Ok("kubeDashboard"),
        "azure-policy" if has_azure_policy(cli) => Ok("azurepolicy"),
        "monitoring" | "virtual-node" => Err(AzError::NotSimulated(format!(
            "az aks {command} --addons {addon} is not simulated by aks-policy-harness; supported add-ons: azure-policy, http_application_routing, kube-dashboard"
        ))),
        _ => Err(key_error(cli, command, addon)),
    }
}

/// The traceback the CLI printed for an add-on name missing from its `ADDONS` table.
fn key_error(cli: &AzCli, command: &str, addon: &str) -> AzError {
    let function = format!("aks_{}", command.replace('-', "_"));
    let module = if cli.extensions.contains_key(AKS_PREVIEW) {
        "/root/.azure/cliextensions/aks-preview/azext_aks_preview/custom.py"
    } else {
        "/opt/az/lib/python3.6/site-packages/azure/cli/command_modules/acs/custom.py"
    };
    AzError::Crash {
        message: format!("'{addon}'"),
        traceback: vec![
            "  File \"/opt/az/lib/python3.6/site-packages/knack/cli.py\", line 206, in invoke".into(),
            "  File \"/opt/az/lib/python3.6/site-packages/azure/cli/core/commands/__init__.py\", line 608, in execute"
                .into(),
            format!("  File \"{module}\", line 1842, in {function}"),
            format!("  File \"{module}\", line 2197, in _update_addons"),
            format!("KeyError: '{addon}'"),
        ],
    }
}

fn addon_keys(cli: &AzCli, command: &str, addons: &str) -> AzResult<Vec<&'static str>> {
    addons.split(',').map(str::trim).filter(|a| !a.is_empty()).map(|a| addon_key(cli, command, a)).collect()
}

/// PUTs a managed cluster and, unless `--no-wait`, waits for the operation and prints the cluster.
async fn put_and_show(cli: &AzCli, path: &str, body: &Value, no_wait: bool) -> AzResult<Value> {
    let reply = cli.put(path, api::AKS, body).await?;
    if no_wait {
        return Ok(Value::Null);
    }
    cli.wait(&reply).await?;
    cli.get(path, api::AKS).await
}

async fn update_addons(cli: &mut AzCli, path: &str, args: &Args, enable: bool) -> AzResult<Value> {
    let command = if enable { "enable-addons" } else { "disable-addons" };
    let keys = addon_keys(cli, command, args.must("--addons"))?;
    let mut cluster = cli.get(path, api::AKS).await?;
    let properties =
        cluster["properties"].as_object_mut().ok_or_else(|| AzError::cli("the managed cluster has no properties"))?;
    let profiles = properties.entry("addonProfiles").or_insert_with(|| json!({}));
    if !profiles.is_object() {
        *profiles = json!({});
    }
    let profiles = profiles.as_object_mut().expect("just made an object");
    for key in keys {
        // Existing keys match case-insensitively (clusters created with `azurePolicy` keep it).
        let existing = profiles.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        match (enable, existing) {
            (true, existing) => {
                let k = existing.unwrap_or_else(|| key.to_string());
                let config = profiles.get(&k).and_then(|p| p.get("config")).cloned().unwrap_or(Value::Null);
                profiles.insert(k, json!({"enabled": true, "config": config}));
            }
            (false, None) => return Err(AzError::cli(format!("The addon {key} is not installed."))),
            (false, Some(k)) => {
                profiles.insert(k, json!({"enabled": false, "config": null}));
            }
        }
    }
    properties.insert("servicePrincipalProfile".into(), Value::Null);
    properties.insert("aadProfile".into(), Value::Null);
    put_and_show(cli, path, &cluster, args.has("--no-wait")).await
}

/// A minimal `az aks create`: location from `-l` or the resource group, one node pool, optional add-ons.
async fn create(cli: &mut AzCli, path: &str, args: &Args) -> AzResult<Value> {
    let rg = args.must("--resource-group");
    let location = match args.get("--location") {
        Some(l) => l.to_string(),
        None => {
            cli.get(&rg_id(cli, rg), api::RESOURCES).await?["location"].as_str().unwrap_or(&cli.location).to_string()
        }
    };
    let count: u64 = args
        .get("--node-count")
        .unwrap_or("3")
        .parse()
        .map_err(|_| AzError::usage("aks create", "argument --node-count/-c: invalid int value"))?;
    let name = args.must("--name");
    let mut properties = Map::new();
    if let Some(v) = args.get("--kubernetes-version") {
        properties.insert("kubernetesVersion".into(), json!(v));
    }
    let prefix = args
        .get("--dns-name-prefix")
        .map_or_else(|| format!("{}-{}", name, &rg.chars().take(16).collect::<String>()), str::to_string);
    properties.insert("dnsPrefix".into(), json!(prefix));
    properties.insert(
        "agentPoolProfiles".into(),
        json!([{"name": "nodepool1", "count": count, "vmSize": args.get("--node-vm-size").unwrap_or("Standard_DS2_v2"), "osType": "Linux"}]),
    );
    let mut addons = Map::new();
    for key in addon_keys(cli, "create", args.get("--enable-addons").unwrap_or_default())? {
        addons.insert(key.into(), json!({"enabled": true, "config": null}));
    }
    properties.insert("addonProfiles".into(), Value::Object(addons));
    let body = json!({"location": location, "tags": group::tags(&args.list("--tags"))?, "properties": properties});
    put_and_show(cli, path, &body, args.has("--no-wait")).await
}
