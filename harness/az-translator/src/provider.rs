//! `az provider register|unregister|show|list` (Microsoft.Resources). Registration is what lets a
//! subscription use a namespace; the preview needed it repeated after the features were approved.

use serde_json::Value;

use super::args::{Args, flag, req};
use super::error::AzResult;
use super::{AzCli, Spec, api};

const NS: &[&str] = &["--namespace", "-n"];

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["provider", "register"], opts: &[req(NS), flag(&["--wait"])] },
    Spec { words: &["provider", "unregister"], opts: &[req(NS), flag(&["--wait"])] },
    Spec { words: &["provider", "show"], opts: &[req(NS)] },
    Spec { words: &["provider", "list"], opts: &[] },
];

pub(crate) async fn run(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    let base = format!("/subscriptions/{}/providers", cli.subscription);
    match verb {
        "register" | "unregister" => {
            change(cli, verb == "register", args.must("--namespace"), args.has("--wait")).await
        }
        "show" => cli.get(&format!("{base}/{}", args.must("--namespace")), api::RESOURCES).await,
        _ => cli.list(&base, api::RESOURCES).await,
    }
}

/// POSTs register/unregister. Without `--wait` the CLI returns at once and, if the provider has not
/// reached the target state yet, warns that the change is still on-going; with `--wait` it polls
/// `GET provider` until it has. Prints nothing on success.
async fn change(cli: &mut AzCli, register: bool, namespace: &str, wait: bool) -> AzResult<Value> {
    let (verb, target, action) = if register {
        ("register", "Registered", "Registering")
    } else {
        ("unregister", "Unregistered", "Unregistering")
    };
    let path = format!("/subscriptions/{}/providers/{namespace}", cli.subscription);
    let reply = cli.post(&format!("{path}/{verb}"), api::RESOURCES, &[]).await?;
    let reached = |body: &Value| body["registrationState"].as_str() == Some(target);
    if reached(&reply.body) {
        return Ok(Value::Null);
    }
    if !wait {
        cli.warn(format!("{action} is still on-going. You can monitor using 'az provider show -n {namespace}'"));
        return Ok(Value::Null);
    }
    let started = std::time::Instant::now();
    while started.elapsed() < cli.lro_timeout {
        tokio::time::sleep(cli.poll_interval).await;
        if reached(&cli.get(&path, api::RESOURCES).await?) {
            return Ok(Value::Null);
        }
    }
    Err(super::AzError::cli(format!("{namespace} did not become {target} within {:?}", cli.lro_timeout)))
}
