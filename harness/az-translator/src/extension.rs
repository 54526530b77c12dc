//! `az extension add|show|list|remove`, simulated locally: the real command needs the internet
//! extension index. In 2019 `azure-policy` existed only in the `aks-preview` extension (0.4.0 per
//! the preview's prerequisites), so whether it is installed decides what `az aks enable-addons`
//! does; see `aks.rs`.

use serde_json::{Value, json};

use super::args::{Args, flag, req, val};
use super::error::{AzError, AzResult};
use super::{AzCli, Spec};

/// The one extension the simulated index offers.
pub const AKS_PREVIEW: &str = "aks-preview";
/// Versions the simulated index offers, oldest first; the last is what `add` installs by default.
pub const AKS_PREVIEW_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.3.2", "0.4.0"];

const NAME: &[&str] = &["--name", "-n"];

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["extension", "add"], opts: &[req(NAME), val(&["--version"]), flag(&["--yes", "-y"])] },
    Spec { words: &["extension", "show"], opts: &[req(NAME)] },
    Spec { words: &["extension", "list"], opts: &[] },
    Spec { words: &["extension", "remove"], opts: &[req(NAME)] },
];

fn describe(name: &str, version: &str) -> Value {
    json!({
        "extensionType": "whl", "name": name, "version": version, "preview": true,
        "path": format!("/root/.azure/cliextensions/{name}"),
    })
}

fn not_installed(name: &str) -> AzError {
    AzError::cli(format!("The extension {name} is not installed."))
}

pub(crate) fn run(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    let name = args.must("--name").to_string();
    match verb {
        "add" => {
            if cli.extensions.contains_key(&name) {
                cli.warn(format!("The extension '{name}' already exists."));
                return Ok(Value::Null);
            }
            let version = args.get("--version").unwrap_or(AKS_PREVIEW_VERSIONS[AKS_PREVIEW_VERSIONS.len() - 1]);
            if name != AKS_PREVIEW {
                return Err(AzError::cli(format!(
                    "No matching extensions for '{name}'. Use --debug for more information."
                )));
            }
            if !AKS_PREVIEW_VERSIONS.contains(&version) {
                return Err(AzError::cli(format!(
                    "No matching extensions for '{name} ({version})'. Use --debug for more information."
                )));
            }
            cli.extensions.insert(name, version.to_string());
            Ok(Value::Null)
        }
        "show" => cli.extensions.get(&name).map(|v| describe(&name, v)).ok_or_else(|| not_installed(&name)),
        "remove" => cli.extensions.remove(&name).map(|_| Value::Null).ok_or_else(|| not_installed(&name)),
        _ => Ok(Value::Array(cli.extensions.iter().map(|(n, v)| describe(n, v)).collect())),
    }
}

/// Whether the CLI knows the `azure-policy` add-on: built in (today's CLI), or through an installed
/// aks-preview of 0.4.0 or later (2019).
pub(crate) fn has_azure_policy(cli: &AzCli) -> bool {
    cli.azure_policy_built_in || cli.extensions.get(AKS_PREVIEW).is_some_and(|v| version_key(v) >= version_key("0.4.0"))
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}
