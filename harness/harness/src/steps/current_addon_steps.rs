//! Steps about today's add-on (`@current-addon`): Gatekeeper's objects as `kubectl get` shows them,
//! custom `Microsoft.Kubernetes.Data` definitions, and Gatekeeper's exact denial message. Each step
//! parses its text and calls the World's domain API ([`harness::world::gatekeeper_objects`]).

use anyhow::Context as _;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use harness::world::gatekeeper_objects::{self, GATEKEEPER_NAMESPACE};
use harness::world::{Admission, AksWorld};
use k8s_openapi::api::apps::v1::Deployment;

/// Today's add-on needs no preview feature: registering the two resource providers is the
/// documented prerequisite.
#[given(expr = "a subscription with the resource providers {word} and {word} registered")]
async fn providers_registered(world: &mut AksWorld, first: String, second: String) -> anyhow::Result<()> {
    for namespace in [first, second] {
        world.az_ok(&format!("az provider register --namespace {namespace}")).await?;
    }
    Ok(())
}

/// A POSIX shell word holding `text` exactly (the translator splits lines as a shell does).
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `az policy definition create` line for a definition file (Azure's `{properties: ...}`
/// shape): display name, description, mode, category, parameters and rule, each passed as the CLI
/// takes it.
fn definition_create_line(world: &AksWorld, name: &str, fixture: &str) -> anyhow::Result<String> {
    let path = world.env.repo_root.join("fixtures").join(fixture);
    let text = std::fs::read_to_string(&path).with_context(|| format!("fixture {}", path.display()))?;
    let definition: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("fixture {} is not JSON", path.display()))?;
    let properties = &definition["properties"];
    let text_field = |field: &str| properties[field].as_str().unwrap_or_default().to_string();
    let mut line = format!(
        "az policy definition create --name {name} --mode {} --display-name {} --description {} --params {} --rules {}",
        text_field("mode"),
        shell_word(&text_field("displayName")),
        shell_word(&text_field("description")),
        shell_word(&properties["parameters"].to_string()),
        shell_word(&properties["policyRule"].to_string()),
    );
    if let Some(category) = properties["metadata"]["category"].as_str() {
        line.push_str(&format!(" --metadata category={}", shell_word(category)));
    }
    Ok(line)
}

/// Runs `az policy definition create`; its outcome is checked by the next steps.
#[when(expr = "I create the policy definition {string} from the fixture {string}")]
async fn create_definition(world: &mut AksWorld, name: String, fixture: String) -> anyhow::Result<()> {
    let line = definition_create_line(world, &name, &fixture)?;
    world.az(&line).await;
    Ok(())
}

/// The same as a precondition: the definition must be created.
#[given(expr = "the policy definition {string} was created from the fixture {string}")]
async fn definition_created(world: &mut AksWorld, name: String, fixture: String) -> anyhow::Result<()> {
    let line = definition_create_line(world, &name, &fixture)?;
    world.az_ok(&line).await.map(|_| ())
}

/// The names `kubectl get <resource>` lists, or kubectl's error for an unknown resource type.
async fn listed_names(world: &AksWorld, resource: &str, namespace: Option<&str>) -> anyhow::Result<Vec<String>> {
    let objects = world
        .kubectl_get(resource, namespace)
        .await?
        .ok_or_else(|| anyhow::anyhow!("error: the server doesn't have a resource type \"{resource}\""))?;
    Ok(objects.iter().map(gatekeeper_objects::name_of).collect())
}

/// `kubectl get <resource> [-n <namespace>]` lists (or does not list) an object by name. Names may
/// use `{hex:<assignment>}` for the 20 hex digits of that assignment's Constraint.
#[then(regex = r#"^kubectl get (\S+)(?: -n (\S+))? (lists|does not list) "(.*)"$"#)]
async fn kubectl_lists(
    world: &mut AksWorld,
    resource: String,
    namespace: String,
    verb: String,
    name: String,
) -> anyhow::Result<()> {
    let name = world.expand_constraint_names(&name)?;
    let namespace = (!namespace.is_empty()).then(|| world.namespaces.real(&namespace));
    let names = listed_names(world, &resource, namespace.as_deref()).await?;
    let listed = names.contains(&name);
    let wanted = verb == "lists";
    anyhow::ensure!(
        listed == wanted,
        "kubectl get {resource} {} {name:?}; it lists {names:?}",
        if wanted { "does not list" } else { "still lists" }
    );
    Ok(())
}

#[then(regex = r"^kubectl get (\S+) lists nothing$")]
async fn kubectl_lists_nothing(world: &mut AksWorld, resource: String) -> anyhow::Result<()> {
    let names = listed_names(world, &resource, None).await?;
    anyhow::ensure!(names.is_empty(), "kubectl get {resource} lists {names:?}");
    Ok(())
}

/// kubectl's `error: the server doesn't have a resource type "<resource>"`.
#[then(expr = "the API server has no resource type {string}")]
async fn no_resource_type(world: &mut AksWorld, resource: String) -> anyhow::Result<()> {
    if let Some(objects) = world.kubectl_get(&resource, None).await? {
        let names: Vec<String> = objects.iter().map(gatekeeper_objects::name_of).collect();
        anyhow::bail!("the API server still serves {resource}: {names:?}");
    }
    Ok(())
}

#[then(expr = "the CRD {string} is established")]
async fn crd_established(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    match world.crd_established(&name).await? {
        Some(true) => Ok(()),
        Some(false) => anyhow::bail!("the CRD {name} exists but is not Established"),
        None => anyhow::bail!("there is no CRD {name}"),
    }
}

/// Gatekeeper's namespace, by its real name (scenario namespaces are renamed per scenario). A
/// namespace being deleted is waited out (kube-controller-manager's grace period).
#[then(regex = r"^the namespace gatekeeper-system (exists|does not exist)$")]
async fn gatekeeper_namespace(world: &mut AksWorld, state: String) -> anyhow::Result<()> {
    if state == "exists" {
        anyhow::ensure!(
            world.namespace_present(GATEKEEPER_NAMESPACE).await?,
            "there is no namespace {GATEKEEPER_NAMESPACE}"
        );
        return Ok(());
    }
    world.wait_namespace_deleted(GATEKEEPER_NAMESPACE).await
}

#[then(expr = "the validating webhook configuration {string} registers {string}")]
async fn webhook_registered(world: &mut AksWorld, configuration: String, webhook: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        configuration == gatekeeper_objects::WEBHOOK_CONFIGURATION,
        "this step reads Gatekeeper's configuration {}",
        gatekeeper_objects::WEBHOOK_CONFIGURATION
    );
    let webhooks = world
        .gatekeeper_webhooks()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no ValidatingWebhookConfiguration {configuration}"))?;
    anyhow::ensure!(webhooks.contains(&webhook), "{configuration} registers {webhooks:?}, not {webhook}");
    Ok(())
}

#[then(expr = "the validating webhook configuration {string} does not exist")]
async fn webhook_configuration_absent(world: &mut AksWorld, configuration: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        configuration == gatekeeper_objects::WEBHOOK_CONFIGURATION,
        "this step reads Gatekeeper's configuration {}",
        gatekeeper_objects::WEBHOOK_CONFIGURATION
    );
    if let Some(webhooks) = world.gatekeeper_webhooks().await? {
        anyhow::bail!("ValidatingWebhookConfiguration {configuration} still exists, registering {webhooks:?}");
    }
    Ok(())
}

/// A Deployment in a system namespace (`gatekeeper-system`, `kube-system`, by real name) shows
/// `ready` in kubectl's READY column; the harness writes the status from the processes' liveness,
/// so this waits (bounded) for the first write.
#[then(regex = r#"^the Deployment "([^"]*)" in (gatekeeper-system|kube-system) shows "([^"]*)" ready$"#)]
async fn system_deployment_ready(
    world: &mut AksWorld,
    name: String,
    namespace: String,
    ready: String,
) -> anyhow::Result<()> {
    let api: kube::Api<Deployment> = kube::Api::namespaced(world.client(), &namespace);
    gatekeeper_objects::wait_until(&format!("Deployment {namespace}/{name} to show {ready} ready"), || async {
        let Some(deployment) = api.get_opt(&name).await? else {
            return Ok((None, "no such Deployment".to_string()));
        };
        let wanted = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
        let shown = format!("{}/{wanted}", deployment.status.and_then(|s| s.ready_replicas).unwrap_or(0));
        Ok(((shown == ready).then_some(()), format!("{shown} ready")))
    })
    .await
}

/// A field of the Constraint for an assignment, by JMESPath (`spec.enforcementAction`,
/// `status.totalViolations`, `status.violations[0].name`); numbers and booleans compare as text.
#[then(regex = r#"^the constraint for "([^"]*)" has "([^"]*)" set to "(.*)"$"#)]
async fn constraint_field(
    world: &mut AksWorld,
    assignment: String,
    path: String,
    expected: String,
) -> anyhow::Result<()> {
    let constraint = world.expect_constraint_for(&assignment).await?;
    let json = gatekeeper_objects::to_json(&constraint);
    let value = harness::az::output::query("then", &path, &json).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let actual = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
    let expected = world.expand_constraint_names(&expected)?;
    anyhow::ensure!(
        actual == expected,
        "{path} of {} is {actual:?}, expected {expected:?}",
        gatekeeper_objects::name_of(&constraint)
    );
    Ok(())
}

/// A manual edit of the add-on's Constraint, as `kubectl edit` or `kubectl patch` would make it.
#[when(regex = r#"^I set "([^"]*)" of the constraint for "([^"]*)" to "(.*)"$"#)]
async fn edit_constraint(world: &mut AksWorld, path: String, assignment: String, value: String) -> anyhow::Result<()> {
    let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
    world.edit_constraint(&assignment, &path, value).await
}

#[then(expr = "the constraint for {string} is labelled {string}")]
async fn constraint_label(world: &mut AksWorld, assignment: String, label: String) -> anyhow::Result<()> {
    let (key, value) = label.split_once('=').ok_or_else(|| anyhow::anyhow!("write the label as key=value"))?;
    let constraint = world.expect_constraint_for(&assignment).await?;
    let labels = constraint.metadata.labels.clone().unwrap_or_default();
    anyhow::ensure!(
        labels.get(key).is_some_and(|v| v == value),
        "{} has the labels {labels:?}",
        constraint.metadata.name.unwrap_or_default()
    );
    Ok(())
}

#[then(expr = "the constraint for {string} is annotated {string} with {string}")]
async fn constraint_annotation(
    world: &mut AksWorld,
    assignment: String,
    key: String,
    value: String,
) -> anyhow::Result<()> {
    let value = world.expand_constraint_names(&value)?;
    let constraint = world.expect_constraint_for(&assignment).await?;
    let annotations = constraint.metadata.annotations.clone().unwrap_or_default();
    anyhow::ensure!(
        annotations.get(&key).is_some_and(|v| *v == value),
        "{} is annotated {key}={:?}, expected {value:?}",
        gatekeeper_objects::name_of(&constraint),
        annotations.get(&key)
    );
    Ok(())
}

#[then(expr = "there is no constraint for {string}")]
async fn no_constraint(world: &mut AksWorld, assignment: String) -> anyhow::Result<()> {
    if let Some(found) = world.constraint_for(&assignment, None).await? {
        anyhow::bail!("the Constraint {} still stands for {assignment}", gatekeeper_objects::name_of(&found));
    }
    Ok(())
}

/// Gatekeeper's `Config` syncs a kind into `data.inventory` (`spec.sync.syncOnly`), e.g. `"" "v1"
/// "Service"` for the core group.
#[then(expr = "Gatekeeper's Config syncs {string} {string} {string}")]
async fn config_syncs(world: &mut AksWorld, group: String, version: String, kind: String) -> anyhow::Result<()> {
    let config = world
        .gatekeeper_config()
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no Config \"config\" in {GATEKEEPER_NAMESPACE}"))?;
    let json = gatekeeper_objects::to_json(&config);
    let sync_only = json.pointer("/spec/sync/syncOnly").cloned().unwrap_or_default();
    let synced = sync_only.as_array().into_iter().flatten().any(|entry| {
        entry["group"].as_str().unwrap_or_default() == group
            && entry["version"] == version.as_str()
            && entry["kind"] == kind.as_str()
    });
    anyhow::ensure!(synced, "the Config syncs {sync_only}, not {group:?} {version} {kind}");
    Ok(())
}

/// The whole message of the last denial, as kubectl prints it after `Error from server
/// (Forbidden): error when creating "<file>": `.
#[then("the request is denied with exactly:")]
async fn denied_exactly(world: &mut AksWorld, step: &Step) -> anyhow::Result<()> {
    let expected = world.expand_constraint_names(crate::steps::docstring(step)?.trim())?;
    match world.last_admission.as_ref() {
        Some(Admission::Denied(message)) if *message == expected => Ok(()),
        Some(Admission::Denied(message)) => anyhow::bail!("the denial says\n  {message:?}\nexpected\n  {expected:?}"),
        other => anyhow::bail!("expected a denial, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    /// The custom definitions carry exactly the templates next to them, so readers can read the
    /// template the scenario installs.
    #[test]
    fn definitions_carry_the_templates_beside_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/current-addon");
        for (definition, template) in [
            ("required-labels-definition.json", "required-labels-template.yaml"),
            ("required-labels-as-text-definition.json", "required-labels-template.yaml"),
            ("broken-template-definition.json", "broken-template.yaml"),
        ] {
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(definition)).unwrap()).unwrap();
            let content = json.pointer("/properties/policyRule/then/details/templateInfo/content").unwrap();
            let decoded =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, content.as_str().unwrap()).unwrap();
            assert_eq!(
                String::from_utf8(decoded).unwrap(),
                std::fs::read_to_string(dir.join(template)).unwrap(),
                "{definition}"
            );
        }
    }

    #[test]
    fn shell_words_survive_the_translators_split() {
        let rule = r#"{"effect": "[parameters('effect')]"}"#;
        let line = format!("az x --rules {}", super::shell_word(rule));
        assert_eq!(harness::az::args::split_line(&line).unwrap(), vec!["az", "x", "--rules", rule]);
    }
}
