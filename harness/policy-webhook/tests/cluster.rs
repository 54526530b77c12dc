//! The webhook binary against the real local API server (`cluster::shared()`): registration with
//! proof of effect, denials with the policy's message, failure policies when the process is gone,
//! and the kube-mgmt status annotation for broken Rego.
//!
//! The tests share one cluster, one runtime (the cluster's client lives on it) and one policy
//! namespace, and run one at a time: a webhook configuration is cluster-wide, so a `Fail` one would
//! break any test running beside it.

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use policy_webhook::policy_loader::POLICY_STATUS_ANNOTATION;
use policy_webhook::registration::{self, FailurePolicy, Registration};
use serde_json::{Value, json};

const POLICY_NS: &str = "azure-policy";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
}

/// Runs one test body on the shared runtime, one test at a time.
fn serial<F: std::future::Future<Output = ()>>(body: F) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(body);
}

struct Env {
    cluster: &'static cluster::Cluster,
    client: kube::Client,
    pki: TestPki,
    dir: PathBuf,
}

/// The cluster, certificates on disk, and the nine policies as ConfigMaps in `azure-policy`.
async fn env() -> &'static Env {
    static ENV: tokio::sync::OnceCell<Env> = tokio::sync::OnceCell::const_new();
    ENV.get_or_init(|| async {
        pki::install_ring_provider();
        let cluster = cluster::shared().await.expect("local cluster");
        let client = cluster.client();
        let pki = test_pki_for(cluster.webhook_host());
        let dir = cluster.run_dir().join("policy-webhook-tests");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tls.crt"), &pki.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &pki.key_pem).unwrap();
        std::fs::write(dir.join("ca.crt"), &pki.ca_pem).unwrap();
        create_namespace(&client, POLICY_NS).await;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), POLICY_NS);
        for (name, rego) in nine_policies() {
            let cm = configmap(&name, &rego);
            cms.create(&PostParams::default(), &cm).await.expect("policy ConfigMap");
        }
        Env { cluster, client, pki, dir }
    })
    .await
}

fn configmap(name: &str, rego: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([("openpolicyagent.org/policy".to_string(), "rego".to_string())].into()),
            ..Default::default()
        },
        data: Some([("policy.rego".to_string(), rego.to_string())].into()),
        ..Default::default()
    }
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    match Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("namespace {name}: {e}"),
    }
}

/// A `policy-webhook serve` process, ready (initial ConfigMaps loaded).
struct WebhookProcess {
    process: cluster::Supervised,
    base_url: String,
}

impl WebhookProcess {
    async fn start(env: &Env, tag: &str) -> Self {
        let addr_file = env.dir.join(format!("{tag}.addr"));
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_policy-webhook"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("{}:0", env.cluster.webhook_bind_ip()))
            .arg("--tls-cert-file")
            .arg(env.dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(env.dir.join("tls.key"))
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--kubeconfig")
            .arg(env.cluster.kubeconfig_path());
        let process = cluster::Supervised::spawn("policy-webhook", cmd, &env.dir.join(format!("{tag}.log"))).unwrap();
        let addr = poll(Duration::from_secs(30), || async {
            std::fs::read_to_string(&addr_file).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        })
        .await
        .unwrap_or_else(|| panic!("no address file; log:\n{}", process.tail(40)));
        let port = addr.rsplit(':').next().unwrap();
        let base_url = format!("https://{}:{port}", env.cluster.webhook_host());
        let local = format!("https://127.0.0.1:{port}");
        let http = https_client(&env.pki.ca_pem);
        poll(Duration::from_secs(30), || async {
            let resp = http.get(format!("{local}/readyz")).send().await.ok()?;
            resp.status().is_success().then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("webhook never ready; log:\n{}", process.tail(40)));
        Self { process, base_url }
    }

    /// Cleanup in the safe order: configuration first, then the process.
    async fn finish(mut self, env: &Env, reg: &Registration) {
        registration::unregister(&env.client, &reg.name).await.unwrap();
        self.process.stop().await;
    }

    /// GET `path` on the webhook (from this process, over loopback) as JSON.
    async fn get_json(&self, env: &Env, path: &str) -> Value {
        let local = self.base_url.replace(env.cluster.webhook_host(), "127.0.0.1");
        let http = https_client(&env.pki.ca_pem);
        http.get(format!("{local}{path}")).send().await.unwrap().json().await.unwrap()
    }

    fn registration(&self, env: &Env, policy: FailurePolicy) -> Registration {
        let mut reg = Registration::new(format!("{}/v1/admit", self.base_url), env.pki.ca_pem.clone());
        reg.failure_policy = policy;
        reg
    }
}

/// The shared environment, namespace `namespace`, and a webhook process registered with
/// `Ignore` and proven to review requests.
async fn registered_webhook(tag: &str, namespace: &str) -> (&'static Env, WebhookProcess, Registration) {
    let env = env().await;
    create_namespace(&env.client, namespace).await;
    let webhook = WebhookProcess::start(env, tag).await;
    let reg = webhook.registration(env, FailurePolicy::Ignore);
    registration::register_and_wait(&env.client, &reg, Duration::from_secs(30)).await.expect("registered");
    (env, webhook, reg)
}

/// Polls `check` every 100 ms until it returns `Some` or `timeout` passes.
async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

async fn create_pod(client: &kube::Client, object: Value, dry_run: bool) -> Result<Pod, kube::Error> {
    let ns = object["metadata"]["namespace"].as_str().unwrap().to_string();
    let pod: Pod = serde_json::from_value(object).unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns).create(&PostParams { dry_run, field_manager: None }, &pod).await
}

fn api_message(result: Result<Pod, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(s)) => s.message,
        Err(e) => panic!("expected an API error, got {e}"),
        Ok(_) => panic!("expected the request to be rejected, it was admitted"),
    }
}

#[test]
fn privileged_pod_is_denied_with_the_policy_message_and_compliant_pod_admitted() {
    serial(async {
        let (env, webhook, reg) = registered_webhook("deny", "team-deny").await;

        let message = api_message(create_pod(&env.client, privileged_pod("team-deny", "priv"), false).await);
        assert!(message.starts_with("admission webhook \"mutation.gatekeeper.sh\" denied the request: "), "{message}");
        assert!(message.contains("setting privileged flag to true is not allowed for container nginx"), "{message}");
        assert_eq!(message.matches("The operation was disallowed by policy").count(), 5, "{message}");

        create_pod(&env.client, compliant_pod("team-deny", "good"), false).await.expect("compliant pod admitted");

        // The denial is in the agent's feed.
        let feed = webhook.get_json(env, "/v1/denials").await;
        assert!(feed["denials"].as_array().unwrap().iter().any(|d| d["resource"]["name"] == "priv"), "{feed}");

        webhook.finish(env, &reg).await;
    });
}

#[test]
fn stopped_webhook_passes_requests_under_ignore_and_fails_them_under_fail() {
    serial(async {
        let (env, webhook, reg) = registered_webhook("down", "team-down").await;
        assert!(create_pod(&env.client, privileged_pod("team-down", "p0"), true).await.is_err(), "denied while up");
        let fail = webhook.registration(env, FailurePolicy::Fail);
        let mut process = webhook.process;
        process.stop().await;

        // Ignore: the unreachable webhook is skipped, even a privileged pod goes through.
        let ignored = create_pod(&env.client, privileged_pod("team-down", "p1"), true).await;
        // Fail: once the API server has the new policy, every matching request is rejected.
        registration::register(&env.client, &fail).await.unwrap();
        let rejected = poll(Duration::from_secs(30), || async {
            match create_pod(&env.client, compliant_pod("team-down", "p2"), true).await {
                Err(kube::Error::Api(s)) => Some(s.message),
                _ => None,
            }
        })
        .await;
        // Clean up before asserting: a leftover `Fail` configuration would block the whole cluster.
        registration::unregister(&env.client, &reg.name).await.unwrap();
        ignored.expect("under Ignore a stopped webhook lets requests through");
        let rejected = rejected.expect("under Fail a stopped webhook rejects requests");
        assert!(rejected.contains("failed calling webhook \"mutation.gatekeeper.sh\""), "{rejected}");
        let back = poll(Duration::from_secs(30), || async {
            create_pod(&env.client, compliant_pod("team-down", "p3"), true).await.ok()
        })
        .await;
        assert!(back.is_some(), "requests pass again after unregistering");
    });
}

#[test]
fn broken_rego_configmap_gets_an_error_status_while_the_other_policies_still_deny() {
    serial(async {
        let (env, webhook, reg) = registered_webhook("broken", "team-broken").await;

        let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), POLICY_NS);
        let broken = configmap("azurepolicy-broken", "package admission\n\ndeny[{\"id\": \"x\"}] {\n  input.x ==\n}\n");
        cms.create(&PostParams::default(), &broken).await.unwrap();
        let status = poll(Duration::from_secs(30), || async {
            let cm = cms.get("azurepolicy-broken").await.ok()?;
            let text = cm.metadata.annotations?.get(POLICY_STATUS_ANNOTATION)?.clone();
            serde_json::from_str::<Value>(&text).ok()
        })
        .await
        .expect("status annotation written");
        assert_eq!(status["status"], "error", "{status}");
        assert_eq!(status["error"]["errors"][0]["location"]["file"], "azure-policy/azurepolicy-broken/policy.rego");

        let good = cms.get("azurepolicy-containernoprivilege").await.unwrap();
        let good_status = good.metadata.annotations.unwrap_or_default().get(POLICY_STATUS_ANNOTATION).cloned();
        assert_eq!(good_status.as_deref(), Some("{\"status\":\"ok\"}"));

        let message = api_message(create_pod(&env.client, privileged_pod("team-broken", "priv"), true).await);
        assert!(message.contains("setting privileged flag to true is not allowed"), "{message}");

        cms.delete("azurepolicy-broken", &DeleteParams::default()).await.unwrap();
        webhook.finish(env, &reg).await;
    });
}

#[test]
fn generate_name_creates_are_reviewed_before_the_name_exists() {
    serial(async {
        let (env, webhook, reg) = registered_webhook("gen", "team-gen").await;
        let mut pod = privileged_pod("team-gen", "");
        pod["metadata"].as_object_mut().unwrap().remove("name");
        pod["metadata"]["generateName"] = json!("gen-");
        let message = api_message(create_pod(&env.client, pod.clone(), false).await);
        // Mutating admission runs before the name is generated: the labels rule, whose message needs
        // metadata.name, stays silent, exactly as under Gatekeeper v2 (4 violations, not 5).
        assert_eq!(message.matches("The operation was disallowed by policy").count(), 4, "{message}");
        assert!(!message.contains("required label"), "{message}");

        // Registered as validating instead, the same webhook sees the generated name.
        registration::unregister(&env.client, &reg.name).await.unwrap();
        let reg = reg.validating();
        registration::register_and_wait(&env.client, &reg, Duration::from_secs(30))
            .await
            .expect("validating registration");
        let message = api_message(create_pod(&env.client, pod, false).await);
        assert!(
            message.starts_with("admission webhook \"validation.gatekeeper.sh\" denied the request: "),
            "{message}"
        );
        assert_eq!(message.matches("The operation was disallowed by policy").count(), 5, "{message}");
        assert!(message.contains("required label"), "{message}");
        webhook.finish(env, &reg).await;
    });
}

async fn create_ingress(
    client: &kube::Client,
    ns: &str,
    name: &str,
    host: &str,
    dry_run: bool,
) -> Result<Ingress, kube::Error> {
    let ingress: Ingress = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "annotations": {"kubernetes.io/ingress.allow-http": "false"}},
        "spec": {
            "tls": [{"hosts": [host], "secretName": "tls"}],
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 443}}}}]}}]
        }
    }))
    .unwrap();
    Api::<Ingress>::namespaced(client.clone(), ns).create(&PostParams { dry_run, field_manager: None }, &ingress).await
}

#[test]
fn replicated_objects_feed_audit_and_referential_policies() {
    serial(async {
        let env = env().await;
        for ns in ["team-audit", "team-ing-a", "team-ing-b"] {
            create_namespace(&env.client, ns).await;
        }
        let webhook = WebhookProcess::start(env, "replication").await;
        // Created while the webhook is not registered: only the audit can find it.
        create_pod(&env.client, privileged_pod("team-audit", "legacy"), false).await.expect("admitted without webhook");
        let found = poll(Duration::from_secs(30), || async {
            let audit = webhook.get_json(env, "/v1/audit").await;
            let hits = audit["violations"].as_array()?.iter().filter(|v| v["resource"]["name"] == "legacy").count();
            (hits == 5).then_some(audit)
        })
        .await;
        assert!(found.is_some(), "audit never reported the 5 violations of team-audit/legacy");

        let reg = webhook.registration(env, FailurePolicy::Ignore);
        registration::register_and_wait(&env.client, &reg, Duration::from_secs(30)).await.expect("registered");
        create_ingress(&env.client, "team-ing-a", "i0", "shared.example.com", false)
            .await
            .expect("first ingress admitted");
        // Once i0 is replicated, another ingress name with the same host in another namespace is denied.
        let conflict = poll(Duration::from_secs(30), || async {
            match create_ingress(&env.client, "team-ing-b", "i1", "shared.example.com", true).await {
                Err(kube::Error::Api(s)) => Some(s.message),
                _ => None,
            }
        })
        .await;
        webhook.finish(env, &reg).await;
        let conflict = conflict.expect("host conflict denied once i0 was replicated");
        assert!(
            conflict.contains("ingress host conflicts with an existing ingress i0 in the team-ing-a namespace"),
            "{conflict}"
        );
    });
}

#[test]
fn deleting_a_policy_configmap_unloads_it_and_recreating_reloads_it() {
    serial(async {
        let (env, webhook, reg) = registered_webhook("unload", "team-unload").await;
        let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), POLICY_NS);
        let name = "azurepolicy-containernoprivilege";
        let saved = cms.get(name).await.unwrap();
        let privileged_denied = |want: bool| async move {
            poll(Duration::from_secs(30), || async {
                let message = api_message(create_pod(&env.client, privileged_pod("team-unload", "p"), true).await);
                (message.contains("setting privileged flag") == want).then_some(())
            })
            .await
            .is_some()
        };
        cms.delete(name, &DeleteParams::default()).await.unwrap();
        let unloaded = privileged_denied(false).await;
        let rego = saved.data.unwrap_or_default().remove("policy.rego").unwrap();
        cms.create(&PostParams::default(), &configmap(name, &rego)).await.unwrap();
        let reloaded = privileged_denied(true).await;
        webhook.finish(env, &reg).await;
        assert!(unloaded, "the privileged rule stopped denying after its ConfigMap was deleted");
        assert!(reloaded, "the privileged rule denies again after the ConfigMap was recreated");
    });
}
