//! Steps on the Kubernetes side: namespaces, manifests, and what admission answered.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use harness::world::{Admission, AksWorld};

#[given(expr = "a namespace {string}")]
async fn namespace(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let client = world.client();
    world.namespaces.ensure(&client, &name).await.map(|_| ())
}

/// Creates (or, with `update`, replaces) every document, remembering the last answer.
async fn write(world: &mut AksWorld, namespace: &str, text: &str, update: bool) -> anyhow::Result<()> {
    let client = world.client();
    let ns = world.namespaces.ensure(&client, namespace).await?;
    for object in harness::world::kubernetes::parse_manifests(&world.expand(text))? {
        let (answer, warnings) = if update {
            (harness::world::kubernetes::update(&client, &object, Some(&ns)).await?, Vec::new())
        } else {
            harness::world::kubernetes::create_with_warnings(&client, &object, Some(&ns)).await?
        };
        world.last_warnings = warnings;
        if answer == Admission::Admitted {
            world.created_objects.push((object, ns.clone()));
        }
        world.last_admission = Some(answer);
    }
    // Referential policies see other objects through replication: let it catch up.
    if world.webhook_running().await {
        world.wait_replicated().await?;
    }
    Ok(())
}

#[when(expr = "I create in namespace {string}:")]
#[given(expr = "I created in namespace {string}:")]
async fn create_doc(world: &mut AksWorld, step: &Step, namespace: String) -> anyhow::Result<()> {
    write(world, &namespace, crate::steps::docstring(step)?, false).await
}

#[when(expr = "I update in namespace {string}:")]
async fn update_doc(world: &mut AksWorld, step: &Step, namespace: String) -> anyhow::Result<()> {
    write(world, &namespace, crate::steps::docstring(step)?, true).await
}

#[when(expr = "I create the fixture {string} in namespace {string}")]
#[given(expr = "I created the fixture {string} in namespace {string}")]
async fn create_fixture(world: &mut AksWorld, fixture: String, namespace: String) -> anyhow::Result<()> {
    let path = world.env.repo_root.join("fixtures").join(&fixture);
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("fixture {}: {e}", path.display()))?;
    write(world, &namespace, &text, false).await
}

/// Asks the API server, by server-side dry runs of the fixture (admission runs, nothing is stored),
/// until it is denied with `text`, for at most `seconds`: a bounded wait for something the scenario
/// does not trigger itself. The last answer becomes "the request".
#[then(regex = r#"^within (\d+) seconds the fixture "([^"]*)" in namespace "([^"]*)" is denied with "(.*)"$"#)]
async fn denied_within(
    world: &mut AksWorld,
    seconds: u64,
    fixture: String,
    namespace: String,
    text: String,
) -> anyhow::Result<()> {
    let text = world.expand(&text);
    let path = world.env.repo_root.join("fixtures").join(&fixture);
    let manifest = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("fixture {}: {e}", path.display()))?;
    let objects = harness::world::kubernetes::parse_manifests(&world.expand(&manifest))?;
    let client = world.client();
    let ns = world.namespaces.ensure(&client, &namespace).await?;
    let started = std::time::Instant::now();
    loop {
        for object in &objects {
            let answer = harness::world::kubernetes::create_dry_run(&client, object, Some(&ns)).await?;
            world.last_admission = Some(answer);
        }
        match world.last_admission.as_ref() {
            Some(Admission::Denied(message)) if message.contains(&text) => return Ok(()),
            other => anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(seconds),
                "{fixture} was not denied with {text:?} within {seconds} s; the last answer: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn last(world: &AksWorld) -> anyhow::Result<&Admission> {
    world.last_admission.as_ref().ok_or_else(|| anyhow::anyhow!("nothing was written to Kubernetes yet"))
}

#[then("the request is admitted")]
async fn admitted(world: &mut AksWorld) -> anyhow::Result<()> {
    match last(world)? {
        Admission::Admitted => Ok(()),
        other => anyhow::bail!("expected the request to be admitted, got {other:?}"),
    }
}

#[then(regex = r#"^the request is denied with "(.*)"$"#)]
async fn denied_with(world: &mut AksWorld, text: String) -> anyhow::Result<()> {
    let text = world.expand(&text);
    match last(world)? {
        Admission::Denied(message) if message.contains(&text) => Ok(()),
        other => anyhow::bail!("expected a denial containing {text:?}, got {other:?}"),
    }
}

#[then("the request is denied")]
async fn denied(world: &mut AksWorld) -> anyhow::Result<()> {
    match last(world)? {
        Admission::Denied(_) => Ok(()),
        other => anyhow::bail!("expected a denial, got {other:?}"),
    }
}

#[then(expr = "the request fails with {string}")]
async fn fails_with(world: &mut AksWorld, text: String) -> anyhow::Result<()> {
    match last(world)? {
        Admission::Failed(message) if message.contains(&text) => Ok(()),
        other => anyhow::bail!("expected a failure containing {text:?}, got {other:?}"),
    }
}

#[then(expr = "the namespace {string} exists")]
async fn namespace_exists(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(world.client());
    anyhow::ensure!(api.get_opt(&world.namespaces.real(&name)).await?.is_some(), "namespace {name} does not exist");
    Ok(())
}

/// A deletion was requested and is in progress (the namespace has a deletion timestamp).
#[then(expr = "the namespace {string} is terminating")]
async fn namespace_terminating(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(world.client());
    let found = api.get_opt(&world.namespaces.real(&name)).await?;
    let found = found.ok_or_else(|| anyhow::anyhow!("namespace {name} does not exist"))?;
    anyhow::ensure!(
        found.metadata.deletion_timestamp.is_some(),
        "namespace {name} is not being deleted: {:?}",
        found.status
    );
    Ok(())
}

/// Waits out a deletion in progress: kube-controller-manager removes a namespace only after its
/// fixed 5 s grace period.
#[then(expr = "the namespace {string} does not exist")]
async fn namespace_gone(world: &mut AksWorld, name: String) -> anyhow::Result<()> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(world.client());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let found = api.get_opt(&world.namespaces.real(&name)).await?;
        let Some(found) = found else { return Ok(()) };
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "namespace {name} still exists after 30 s: {:?}",
            found.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[when(expr = "I delete the {word} {string} in namespace {string}")]
async fn delete_object(world: &mut AksWorld, kind: String, name: String, namespace: String) -> anyhow::Result<()> {
    let ns = world.namespaces.real(&namespace);
    let api_version = match kind.as_str() {
        "ingress" => "networking.k8s.io/v1",
        _ => "v1",
    };
    let kind = format!("{}{}", kind[..1].to_uppercase(), &kind[1..]);
    let object = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    harness::world::kubernetes::delete(&world.client(), &object, Some(&ns)).await?;
    // Referential policies and the audit read replicated data: wait until the deletion shows there.
    if world.webhook_running().await {
        world.wait_replicated().await?;
    }
    Ok(())
}

/// The last create was admitted, and the API server passed on exactly these warnings (one per
/// line, none for an empty text), as kubectl prints them after `Warning:`.
#[then(expr = "the request is admitted with the warning:")]
async fn admitted_with_warning(world: &mut AksWorld, step: &Step) -> anyhow::Result<()> {
    let text = world.expand_constraint_names(crate::steps::docstring(step)?)?;
    let expected: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    anyhow::ensure!(
        world.last_admission == Some(Admission::Admitted),
        "the request was not admitted: {:?}",
        world.last_admission
    );
    anyhow::ensure!(world.last_warnings == expected, "warnings {:?}, expected {expected:?}", world.last_warnings);
    Ok(())
}
