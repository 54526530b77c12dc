//! Steps about the add-on itself: its cycles, its ConfigMaps, its webhook and its logs.

use cucumber::{given, then, when};
use harness::world::AksWorld;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

#[given(expr = "the add-on's webhook failure policy is {string}")]
async fn failure_policy(world: &mut AksWorld, policy: String) -> anyhow::Result<()> {
    world.addon_settings.failure_policy = match policy.as_str() {
        "Ignore" => policy_webhook::FailurePolicy::Ignore,
        "Fail" => policy_webhook::FailurePolicy::Fail,
        other => anyhow::bail!("unknown failure policy {other:?}: use Ignore or Fail"),
    };
    Ok(())
}

/// The add-on's own refresh timer for the next enable (the 2019 add-on: 5 minutes). Scenarios
/// otherwise trigger their cycles; with a short interval the add-on refreshes on its own.
#[given(expr = "the add-on's refresh interval is {string}")]
async fn refresh_interval(world: &mut AksWorld, interval: String) -> anyhow::Result<()> {
    world.addon_settings.refresh_interval = parse_interval(&interval)?;
    Ok(())
}

/// `500ms`, `2s` or `1m`.
fn parse_interval(text: &str) -> anyhow::Result<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| anyhow::anyhow!("not an interval: {text:?} (use e.g. 500ms, 2s or 1m)"))?;
    Ok(match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => anyhow::bail!("unknown unit in {text:?}: use ms, s or m"),
    })
}

#[when(regex = r"^(?:a|one|the next) refresh cycle completes$")]
#[given(regex = r"^(?:a|one) refresh cycle has completed$")]
async fn refresh(world: &mut AksWorld) -> anyhow::Result<()> {
    world.refresh_cycle().await.map(|_| ())
}

#[when(regex = r"^(?:an|one|the next) audit cycle completes$")]
#[given(regex = r"^(?:an|one) audit cycle has completed$")]
async fn audit(world: &mut AksWorld) -> anyhow::Result<()> {
    world.audit_cycle().await.map(|_| ())
}

#[when("the refresh cycle fails to complete")]
async fn refresh_fails(world: &mut AksWorld) -> anyhow::Result<()> {
    match world.refresh_cycle().await {
        Ok(reply) => anyhow::bail!("the refresh cycle succeeded: {reply}"),
        Err(_) => Ok(()),
    }
}

#[then(expr = "there is/are {int} policy ConfigMap(s) in the add-on namespace")]
async fn configmap_count(world: &mut AksWorld, count: usize) -> anyhow::Result<()> {
    let names: Vec<_> = world.policy_configmaps().await?.into_iter().filter_map(|c| c.metadata.name).collect();
    anyhow::ensure!(names.len() == count, "found {} ConfigMaps, expected {count}: {names:?}", names.len());
    Ok(())
}

/// The policy ConfigMap created for assignment `name`.
async fn configmap_for(world: &AksWorld, assignment: &str) -> anyhow::Result<Option<ConfigMap>> {
    let suffix = format!("/policyassignments/{}", assignment.to_ascii_lowercase());
    Ok(world.policy_configmaps().await?.into_iter().find(|cm| {
        cm.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("azurepolicy.microsoft.com/assignment-id"))
            .is_some_and(|id| id.to_ascii_lowercase().ends_with(&suffix))
    }))
}

#[then(expr = "a policy ConfigMap for {string} exists")]
async fn configmap_exists(world: &mut AksWorld, assignment: String) -> anyhow::Result<()> {
    anyhow::ensure!(configmap_for(world, &assignment).await?.is_some(), "no policy ConfigMap for {assignment}");
    Ok(())
}

#[then(expr = "no policy ConfigMap for {string} exists")]
async fn configmap_absent(world: &mut AksWorld, assignment: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        configmap_for(world, &assignment).await?.is_none(),
        "a policy ConfigMap for {assignment} still exists"
    );
    Ok(())
}

#[then(expr = "the policy ConfigMap for {string} contains {string}")]
async fn configmap_contains(world: &mut AksWorld, assignment: String, text: String) -> anyhow::Result<()> {
    let text = world.expand(&text);
    let cm =
        configmap_for(world, &assignment).await?.ok_or_else(|| anyhow::anyhow!("no ConfigMap for {assignment}"))?;
    let found = cm.data.unwrap_or_default().values().any(|v| v.contains(&text));
    anyhow::ensure!(found, "the ConfigMap for {assignment} does not contain {text:?}");
    Ok(())
}

#[when(expr = "I replace the Rego in the policy ConfigMap for {string} with {string}")]
async fn edit_configmap(world: &mut AksWorld, assignment: String, rego: String) -> anyhow::Result<()> {
    let cm =
        configmap_for(world, &assignment).await?.ok_or_else(|| anyhow::anyhow!("no ConfigMap for {assignment}"))?;
    let name = cm.metadata.name.clone().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(world.client(), "azure-policy");
    let mut edited = cm;
    // A replaced manifest carries no status: the webhook writes a fresh one once it has loaded it.
    if let Some(annotations) = edited.metadata.annotations.as_mut() {
        annotations.remove(harness::world::addon::POLICY_STATUS);
    }
    for value in edited.data.get_or_insert_with(Default::default).values_mut() {
        *value = rego.replace("\\n", "\n");
    }
    api.replace(&name, &Default::default(), &edited).await?;
    Ok(())
}

#[then(expr = "every policy ConfigMap has the policy status {string}")]
async fn configmap_status(world: &mut AksWorld, status: String) -> anyhow::Result<()> {
    world.wait_policies_loaded().await?;
    for cm in world.policy_configmaps().await? {
        let annotation = cm
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(harness::world::addon::POLICY_STATUS))
            .cloned()
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&annotation).unwrap_or_default();
        anyhow::ensure!(value["status"] == status.as_str(), "{:?} has status {annotation}", cm.metadata.name);
    }
    Ok(())
}

#[then(expr = "the policy ConfigMap for {string} has a policy status error mentioning {string}")]
async fn configmap_error(world: &mut AksWorld, assignment: String, text: String) -> anyhow::Result<()> {
    world.wait_policies_loaded().await?;
    let cm =
        configmap_for(world, &assignment).await?.ok_or_else(|| anyhow::anyhow!("no ConfigMap for {assignment}"))?;
    let annotation = cm
        .metadata
        .annotations
        .unwrap_or_default()
        .get(harness::world::addon::POLICY_STATUS)
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        annotation.contains("\"error\"") && annotation.contains(&text),
        "status annotation is {annotation}"
    );
    Ok(())
}

#[then(expr = "the webhook configuration {string} exists")]
async fn webhook_exists(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(world.client());
    anyhow::ensure!(api.get_opt(&name).await?.is_some(), "no MutatingWebhookConfiguration {name}");
    Ok(())
}

#[then(expr = "the webhook configuration {string} does not exist")]
async fn webhook_absent(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(world.client());
    anyhow::ensure!(api.get_opt(&name).await?.is_none(), "MutatingWebhookConfiguration {name} still exists");
    Ok(())
}

#[when("the webhook process is killed")]
async fn kill_webhook(world: &mut AksWorld) -> anyhow::Result<()> {
    world.kill_webhook().await
}

#[then(expr = "the Deployment {string} in the add-on namespace shows {string} ready")]
async fn deployment_ready(world: &mut AksWorld, name: String, ready: String) -> anyhow::Result<()> {
    world.wait_deployment_ready(&name, &ready).await
}

#[then(expr = "the add-on logs contain {string}")]
async fn logs_contain(world: &mut AksWorld, text: String) -> anyhow::Result<()> {
    let text = world.expand(&text);
    let logs = world.addon_logs().await?;
    anyhow::ensure!(logs.contains(&text), "the add-on logs do not contain {text:?}");
    Ok(())
}

/// The webhook's decision log has a line for this review: `allow`, `deny` or `fail_open` (allowed
/// because the policy check failed), with the object's kind, namespace and name. Waits up to 5 s for
/// the line to reach the log file.
#[then(regex = r#"^the webhook logged the decision "([a-z_]+)" for the (\w+) "([^"]*)" in namespace "([^"]*)"$"#)]
async fn decision_logged(
    world: &mut AksWorld,
    decision: String,
    kind: String,
    name: String,
    namespace: String,
) -> anyhow::Result<()> {
    let ns = world.namespaces.real(&namespace);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let decisions = world.webhook_decisions().await?;
        let about = |e: &&serde_json::Value| {
            e["kind"].as_str().is_some_and(|k| k.eq_ignore_ascii_case(&kind))
                && e["name"] == name.as_str()
                && e["namespace"] == ns.as_str()
        };
        if decisions.iter().filter(about).any(|e| e["decision"] == decision.as_str()) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let logged: Vec<_> = decisions.iter().filter(about).map(|e| e["decision"].clone()).collect();
            anyhow::bail!(
                "the webhook logged no {decision:?} decision for the {kind} {ns}/{name}; its decisions for it: {logged:?}"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[then(expr = "the API server audit log records the denial of {string} {string} in namespace {string}")]
async fn audit_log(world: &mut AksWorld, resource: String, name: String, namespace: String) -> anyhow::Result<()> {
    let ns = world.namespaces.real(&namespace);
    let hit = world.audit_log_denials()?.into_iter().find(|e| {
        e["objectRef"]["resource"] == resource.as_str()
            && e["objectRef"]["name"] == name.as_str()
            && e["objectRef"]["namespace"] == ns.as_str()
    });
    let entry = hit.ok_or_else(|| anyhow::anyhow!("no audit entry for the denial of {resource} {ns}/{name}"))?;
    anyhow::ensure!(entry["responseStatus"]["code"].as_i64().is_some_and(|c| c >= 400), "not a denial: {entry}");
    Ok(())
}
