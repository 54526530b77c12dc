//! `az feature register|unregister|show|list` (Microsoft.Features, api-version 2015-12-01). In the
//! 2019 limited preview a registration stayed `Pending` until Microsoft approved it, and only a
//! provider re-registration afterwards propagated it, which is why `register` warns about that step.

use serde_json::Value;

use super::args::{Args, req, val};
use super::error::AzResult;
use super::{AzCli, Spec, api};

const NS: &[&str] = &["--namespace"];
const NAME: &[&str] = &["--name", "-n"];

pub(crate) const SPECS: &[Spec] = &[
    Spec { words: &["feature", "register"], opts: &[req(NS), req(NAME)] },
    Spec { words: &["feature", "unregister"], opts: &[req(NS), req(NAME)] },
    Spec { words: &["feature", "show"], opts: &[req(NS), req(NAME)] },
    Spec { words: &["feature", "list"], opts: &[val(NS)] },
];

pub(crate) async fn run(cli: &mut AzCli, verb: &str, args: &Args) -> AzResult<Value> {
    let root = format!("/subscriptions/{}/providers/Microsoft.Features", cli.subscription);
    let (ns, name) = (args.get("--namespace"), args.must("--name"));
    let feature = format!("{root}/providers/{}/features/{name}", ns.unwrap_or_default());
    match (verb, ns) {
        ("register", Some(ns)) => {
            let reply = cli.post(&format!("{feature}/register"), api::FEATURES, &[]).await?;
            cli.warn(format!(
                "Once the feature '{name}' is registered, invoking 'az provider register -n {ns}' is required to get the change propagated"
            ));
            Ok(reply.body)
        }
        ("unregister", _) => Ok(cli.post(&format!("{feature}/unregister"), api::FEATURES, &[]).await?.body),
        ("show", _) => cli.get(&feature, api::FEATURES).await,
        (_, Some(ns)) => cli.list(&format!("{root}/providers/{ns}/features"), api::FEATURES).await,
        (_, None) => cli.list(&format!("{root}/features"), api::FEATURES).await,
    }
}
