//! Steps on the Azure side: `az` commands, opt-in, clusters, assignments, compliance.

use anyhow::Context as _;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use harness::world::AksWorld;

#[given("a subscription that has opted in to the preview")]
async fn opted_in(world: &mut AksWorld) -> anyhow::Result<()> {
    world.opt_in().await
}

#[given(expr = "a resource group {string}")]
async fn resource_group(world: &mut AksWorld, group: String) -> anyhow::Result<()> {
    world.create_resource_group(&group).await
}

/// `az aks create` only: the group must exist and Microsoft.ContainerService be registered (an
/// opted-in subscription has it).
#[given(expr = "an AKS cluster {string} in resource group {string}")]
async fn aks_cluster(world: &mut AksWorld, name: String, group: String) -> anyhow::Result<()> {
    world.create_aks_cluster(&name, &group, "1.13.5").await
}

#[given(expr = "an AKS cluster {string} in resource group {string} running Kubernetes {string}")]
async fn aks_cluster_version(world: &mut AksWorld, name: String, group: String, version: String) -> anyhow::Result<()> {
    world.create_aks_cluster(&name, &group, &version).await
}

#[given("the azure-policy add-on is enabled")]
async fn addon_enabled(world: &mut AksWorld) -> anyhow::Result<()> {
    world.enable_addon().await
}

#[given(regex = r#"^(?:I run|I ran|I have run) "(.*)"$"#)]
#[when(regex = r#"^I run "(.*)"$"#)]
async fn run_az(world: &mut AksWorld, line: String) {
    world.az(&line).await;
}

#[when("I run:")]
async fn run_az_docstring(world: &mut AksWorld, step: &Step) -> anyhow::Result<()> {
    let text = crate::steps::docstring(step)?.to_string();
    // Shell line continuations, as users paste them from the docs.
    let line = text.replace("\\\n", " ");
    world.az(line.trim()).await;
    Ok(())
}

#[when(expr = "the feature {string} in namespace {string} is approved")]
#[given(expr = "the feature {string} in namespace {string} is approved")]
async fn approve(world: &mut AksWorld, name: String, namespace: String) -> anyhow::Result<()> {
    world.approve_feature(&namespace, &name)
}

#[then("the command succeeds")]
async fn succeeds(world: &mut AksWorld) -> anyhow::Result<()> {
    let out = world.last_az()?;
    anyhow::ensure!(out.success(), "the command failed with exit code {}:\n{}", out.exit_code, out.stderr);
    Ok(())
}

#[then(expr = "the command fails with {string}")]
async fn fails_with(world: &mut AksWorld, text: String) -> anyhow::Result<()> {
    let out = world.last_az()?;
    anyhow::ensure!(!out.success(), "the command succeeded, expected a failure with {text:?}:\n{}", out.stdout);
    anyhow::ensure!(out.stderr.contains(&text), "the error does not contain {text:?}:\n{}", out.stderr);
    Ok(())
}

#[then(expr = "the output contains {string}")]
async fn output_contains(world: &mut AksWorld, text: String) -> anyhow::Result<()> {
    let out = world.last_az()?;
    let text = world.expand(&text);
    anyhow::ensure!(
        out.stdout.contains(&text) || out.stderr.contains(&text),
        "output does not contain {text:?}:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    Ok(())
}

/// `az --version` (text) or `az version` (JSON): the azure-cli version it shows, compared with
/// `minimum` number by number (2.0.100 is later than 2.0.62).
#[then(expr = "the output shows azure-cli version {string} or later")]
async fn cli_version_at_least(world: &mut AksWorld, minimum: String) -> anyhow::Result<()> {
    let out = world.last_az()?;
    let shown = shown_cli_version(&out.stdout)
        .with_context(|| format!("the output shows no azure-cli version:\n{}", out.stdout))?;
    let (mut have, mut want) = (version_numbers(&shown)?, version_numbers(&minimum)?);
    let len = have.len().max(want.len());
    have.resize(len, 0);
    want.resize(len, 0);
    anyhow::ensure!(have >= want, "azure-cli {shown} is older than {minimum}");
    Ok(())
}

/// The `azure-cli` version in `az version`'s JSON, or on the `azure-cli   X.Y.Z` line of `az --version`.
fn shown_cli_version(stdout: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(stdout) {
        return json["azure-cli"].as_str().map(str::to_string);
    }
    stdout.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        // The real CLI marks an outdated component with a trailing ` *`.
        (words.next() == Some("azure-cli")).then(|| words.next()).flatten().map(|v| v.trim_end_matches('*').to_string())
    })
}

fn version_numbers(version: &str) -> anyhow::Result<Vec<u64>> {
    version.trim().split('.').map(|n| n.parse::<u64>().with_context(|| format!("not a version: {version:?}"))).collect()
}

/// Evaluates a JMESPath expression on the last output, as `--query` would.
fn query(world: &AksWorld, expression: &str) -> anyhow::Result<serde_json::Value> {
    let json = world.last_az()?.json();
    harness::az::output::query("then", expression, &json).map_err(|e| anyhow::anyhow!("{e:?}"))
}

#[then(regex = r#"^the output field "([^"]*)" is "(.*)"$"#)]
async fn field_is(world: &mut AksWorld, expression: String, expected: String) -> anyhow::Result<()> {
    let value = query(world, &expression)?;
    let actual = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
    let expected = world.expand(&expected);
    anyhow::ensure!(actual == expected, "{expression} is {actual:?}, expected {expected:?}");
    Ok(())
}

#[then(expr = "the output field {string} has {int} item(s)")]
async fn field_count(world: &mut AksWorld, expression: String, count: usize) -> anyhow::Result<()> {
    let value = query(world, &expression)?;
    let n = value.as_array().map(Vec::len).context("not a list")?;
    anyhow::ensure!(n == count, "{expression} has {n} items, expected {count}: {value}");
    Ok(())
}

#[then(expr = "the output matches the snapshot {string}")]
async fn snapshot(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    harness::snapshots::assert_az_output(&name, &world.last_az()?.json());
    Ok(())
}

/// `When I assign "<display name>" as "<assignment>"` (at the cluster), optionally with a table of
/// parameters (`| name | value |`, values as JSON, bare strings allowed) or at a scope.
#[when(regex = r#"^I assign "(.*)" as "([^"]*)"(?: at scope "(.*)")?(?: with parameters:)?$"#)]
#[given(regex = r#"^the policy "(.*)" is assigned as "([^"]*)"(?: at scope "(.*)")?(?: with parameters:)?$"#)]
async fn assign(world: &mut AksWorld, step: &Step, display: String, name: String, scope: String) -> anyhow::Result<()> {
    let mut params = serde_json::Map::new();
    for row in crate::steps::table_rows(step).into_iter().filter(|r| !r[0].is_empty()) {
        let value = serde_json::from_str(&row[1]).unwrap_or(serde_json::Value::String(row[1].clone()));
        params.insert(row[0].clone(), value);
    }
    let scope = (!scope.is_empty()).then_some(scope);
    world.assign(&name, &display, &params, scope.as_deref()).await.map(|_| ())
}

#[then(expr = "the compliance state of {string} is {string}")]
async fn compliance(world: &mut AksWorld, assignment: String, expected: String) -> anyhow::Result<()> {
    let state = world.compliance_state(&assignment).await?;
    anyhow::ensure!(
        state.as_deref() == Some(expected.as_str()),
        "compliance state of {assignment} is {state:?}, expected {expected}"
    );
    Ok(())
}

#[then(expr = "{string} has no compliance state")]
async fn no_compliance(world: &mut AksWorld, assignment: String) -> anyhow::Result<()> {
    let state = world.compliance_state(&assignment).await?;
    anyhow::ensure!(state.is_none(), "{assignment} still reports {state:?}");
    Ok(())
}

#[when(expr = "azure-sim answers {string} with HTTP {int} for the next {int} calls")]
async fn inject_status(world: &mut AksWorld, route: String, status: u16, calls: u64) -> anyhow::Result<()> {
    let fault = if status == 429 {
        azure_sim::Fault::Throttle { retry_after_secs: 1 }
    } else {
        azure_sim::Fault::Status { status }
    };
    world.env.sim.faults().inject(azure_sim::FaultRule::new(&route, fault).times(calls)).map_err(anyhow::Error::msg)?;
    world.injected_faults = true;
    Ok(())
}

#[when(expr = "azure-sim drops the connection on {string} for the next {int} calls")]
async fn inject_drop(world: &mut AksWorld, route: String, calls: u64) -> anyhow::Result<()> {
    world
        .env
        .sim
        .faults()
        .inject(azure_sim::FaultRule::new(&route, azure_sim::Fault::Drop).times(calls))
        .map_err(anyhow::Error::msg)?;
    world.injected_faults = true;
    Ok(())
}

/// The per-resource details (`az policy state list --expand components`), optionally narrowed to a
/// namespace and to where the violation was seen: `audit` (the periodic scan) or `admission` (a
/// real-time denial).
#[then(
    regex = r#"^the compliance details of "([^"]*)" list "([^"]*)" "([^"]*)"(?: in namespace "([^"]*)")?(?: from "([^"]*)")?$"#
)]
async fn compliance_details(
    world: &mut AksWorld,
    assignment: String,
    kind: String,
    name: String,
    namespace: String,
    source: String,
) -> anyhow::Result<()> {
    let components = world.compliance_components(&assignment).await?;
    let namespace = (!namespace.is_empty()).then(|| world.namespaces.real(&namespace));
    let found = components.iter().any(|c| {
        c["type"] == kind.as_str()
            && c["name"] == name.as_str()
            && namespace.as_ref().is_none_or(|ns| c["namespace"] == ns.as_str())
            && (source.is_empty() || c["source"] == source.as_str())
    });
    let what = format!(
        "{kind} {}{name}{}",
        namespace.map(|n| format!("{n}/")).unwrap_or_default(),
        if source.is_empty() { String::new() } else { format!(" from {source}") }
    );
    anyhow::ensure!(found, "no {what} among the non-compliant resources of {assignment}: {components:?}");
    Ok(())
}
