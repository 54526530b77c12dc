//! `validation.gatekeeper.sh` end to end: in-process over real TLS with a policy built directly
//! (no API server), then once against the real local API server (`cluster::shared()`), where a
//! create of a disallowed pod fails with Gatekeeper's message.

use std::sync::OnceLock;
use std::time::Duration;

use gatekeeper::webhook::{self, RunningWebhook, WebhookOptions};
use policy_engine::gatekeeper_v3::{Constraint, ConstraintTemplate, PolicyClient};
use policy_webhook::server::TlsSource;
use serde_json::{Value, json};

const REGO: &str = r#"package k8sdisallowedimage
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  startswith(c.image, input.parameters.prefix)
  msg := sprintf("image %v is not allowed", [c.image])
}"#;

/// A complete rule with two values: an evaluation error in OPA and regorus alike.
const CONFLICT: &str = r#"package k8sconflict
x = 1 { true }
x = 2 { true }
violation[{"msg": "never"}] { x > 0 }"#;

fn template(name: &str, kind: &str, rego: &str) -> Value {
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": name},
        "spec": {
            "crd": {"spec": {"names": {"kind": kind},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {"prefix": {"type": "string"}}}}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]
        }
    })
}

/// A `K8sDisallowedImage` constraint on pods with `spec` extras (`enforcementAction`, ...).
fn constraint(name: &str, prefix: &str, extra: Value) -> Value {
    let mut spec = json!({
        "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
        "parameters": {"prefix": prefix},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sDisallowedImage",
        "metadata": {"name": name}, "spec": spec
    })
}

/// A policy with the image template and `constraints`.
fn policy(constraints: &[Value]) -> PolicyClient {
    let mut client = PolicyClient::new();
    let t = template("k8sdisallowedimage", "K8sDisallowedImage", REGO);
    client.add_template(ConstraintTemplate::from_value(&t, "template").unwrap()).unwrap();
    for c in constraints {
        client.add_constraint(Constraint::from_value(c, "constraint").unwrap()).unwrap();
    }
    client
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A CA and a serving certificate for these names and addresses.
fn pki_for(names: &[String], ips: &[std::net::IpAddr]) -> Pki {
    pki::install_ring_provider();
    let ca = pki::Ca::new("gatekeeper-test-ca").unwrap();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let server = ca.issue_server(&names, ips).unwrap();
    Pki { ca_pem: ca.cert_pem(), cert_pem: server.cert_pem, key_pem: server.key_pem }
}

fn local_pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| pki_for(&["localhost".into()], &["127.0.0.1".parse().unwrap()]))
}

fn tls(pki: &Pki) -> TlsSource {
    TlsSource::Pem { cert: pki.cert_pem.clone(), key: pki.key_pem.clone() }
}

/// The webhook serving `policy` on loopback, and an HTTPS client trusting only its CA.
async fn serve(policy: PolicyClient) -> (RunningWebhook, reqwest::Client) {
    let running = webhook::start(WebhookOptions::new(tls(local_pki())), None, policy).await.unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(local_pki().ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    (running, http)
}

/// An AdmissionReview creating pod `team/<name>` with image `image` by `user`.
fn pod_review(api_version: &str, name: &str, image: &str, user: &str) -> Value {
    json!({
        "apiVersion": api_version, "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{name}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "team", "name": name, "operation": "CREATE",
            "userInfo": {"username": user},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team"},
                "spec": {"containers": [{"name": "app", "image": image}]}},
        }
    })
}

/// POSTs `body` to `/v1/admit`: HTTP status and the body (JSON when it is JSON, else a string).
async fn admit(running: &RunningWebhook, http: &reqwest::Client, body: Vec<u8>) -> (u16, Value) {
    let resp =
        http.post(running.admit_url()).header("content-type", "application/json").body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn admit_pod(running: &RunningWebhook, http: &reqwest::Client, image: &str) -> (u16, Value) {
    admit(running, http, pod_review("admission.k8s.io/v1", "web", image, "alice").to_string().into_bytes()).await
}

#[tokio::test]
async fn two_deny_constraints_give_one_403_with_a_line_each_and_warnings_too() {
    let (running, http) = serve(policy(&[
        constraint("a-no-ngi", "ngi", json!({})),
        constraint("b-no-nginx", "nginx", json!({"enforcementAction": "deny"})),
        constraint("c-warn-nginx", "nginx", json!({"enforcementAction": "warn"})),
        constraint("d-no-redis", "redis", json!({})),
    ]))
    .await;
    let (status, review) = admit_pod(&running, &http, "nginx:1.17").await;
    assert_eq!(status, 200);
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    let response = &review["response"];
    assert_eq!(response["uid"], "uid-web");
    assert_eq!(response["allowed"], false);
    assert_eq!(
        response["status"],
        json!({"code": 403, "reason": "Forbidden",
            "message": "[a-no-ngi] image nginx:1.17 is not allowed\n[b-no-nginx] image nginx:1.17 is not allowed"})
    );
    assert_eq!(response["warnings"], json!(["[c-warn-nginx] image nginx:1.17 is not allowed"]));

    let (status, review) = admit_pod(&running, &http, "myregistry.azurecr.io/app:1").await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("warnings").is_none(), "{review}");
    running.shutdown().await;
}

#[tokio::test]
async fn warn_allows_with_warnings_and_dryrun_is_invisible() {
    let (running, http) = serve(policy(&[
        constraint("warn-nginx", "nginx", json!({"enforcementAction": "warn"})),
        constraint("dry-nginx", "nginx", json!({"enforcementAction": "dryrun"})),
    ]))
    .await;
    let (status, review) = admit_pod(&running, &http, "nginx:1.17").await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["status"]["code"], 299);
    assert_eq!(review["response"]["warnings"], json!(["[warn-nginx] image nginx:1.17 is not allowed"]));
    running.shutdown().await;

    let (running, http) =
        serve(policy(&[constraint("dry-nginx", "nginx", json!({"enforcementAction": "dryrun"}))])).await;
    let (status, review) = admit_pod(&running, &http, "nginx:1.17").await;
    assert_eq!(status, 200);
    assert_eq!(review["response"], json!({"uid": "uid-web", "allowed": true, "status": {"code": 200}}));
    running.shutdown().await;
}

#[tokio::test]
async fn a_scoped_action_acts_only_at_its_enforcement_points() {
    let scoped = |actions: Value| json!({"enforcementAction": "scoped", "scopedEnforcementActions": actions});
    let (running, http) = serve(policy(&[
        // Deny in audit only, warn at admission.
        constraint(
            "scoped-warn",
            "nginx",
            scoped(json!([
                {"action": "deny", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]},
                {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
            ])),
        ),
        // Deny everywhere, for busybox.
        constraint("scoped-deny", "busybox", scoped(json!([{"action": "deny", "enforcementPoints": [{"name": "*"}]}]))),
    ]))
    .await;
    let (_, review) = admit_pod(&running, &http, "nginx:1.17").await;
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert_eq!(review["response"]["warnings"], json!(["[scoped-warn] image nginx:1.17 is not allowed"]));
    let (_, review) = admit_pod(&running, &http, "busybox").await;
    assert_eq!(review["response"]["allowed"], false, "{review}");
    assert_eq!(review["response"]["status"]["message"], "[scoped-deny] image busybox is not allowed");
    running.shutdown().await;
}

#[tokio::test]
async fn an_evaluation_error_is_http_500() {
    let mut client = policy(&[constraint("no-nginx", "nginx", json!({}))]);
    let t = template("k8sconflict", "K8sConflict", CONFLICT);
    client.add_template(ConstraintTemplate::from_value(&t, "template").unwrap()).unwrap();
    let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sConflict", "metadata": {"name": "conflict"}});
    client.add_constraint(Constraint::from_value(&c, "constraint").unwrap()).unwrap();
    let (running, http) = serve(client).await;
    let (status, body) = admit_pod(&running, &http, "nginx:1.17").await;
    assert_eq!(status, 500, "{body}");
    let text = body.as_str().unwrap();
    assert!(text.contains("conflict") && text.contains("evaluation failed"), "{text}");
    running.shutdown().await;
}

#[tokio::test]
async fn gatekeeper_admin_is_allowed_unreviewed() {
    let (running, http) = serve(policy(&[constraint("no-nginx", "nginx", json!({}))])).await;
    let body = pod_review("admission.k8s.io/v1", "web", "nginx:1.17", webhook::GATEKEEPER_ADMIN);
    let (status, review) = admit(&running, &http, body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], true, "{review}");
    // Any other service account is reviewed.
    let other = pod_review("admission.k8s.io/v1", "web", "nginx:1.17", "system:serviceaccount:gatekeeper-system:other");
    let (_, review) = admit(&running, &http, other.to_string().into_bytes()).await;
    assert_eq!(review["response"]["allowed"], false, "{review}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_v1beta1_review_is_answered_in_v1beta1() {
    let (running, http) = serve(policy(&[constraint("no-nginx", "nginx", json!({}))])).await;
    let body = pod_review("admission.k8s.io/v1beta1", "old", "nginx:1.17", "alice");
    let (status, review) = admit(&running, &http, body.to_string().into_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(review["response"]["uid"], "uid-old");
    assert_eq!(review["response"]["status"]["message"], "[no-nginx] image nginx:1.17 is not allowed");
    running.shutdown().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_400_with_a_reason() {
    let (running, http) = serve(policy(&[])).await;
    let (status, body) = admit(&running, &http, b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("not valid JSON"), "{body}");
    let (status, body) = admit(&running, &http, json!({"kind": "Pod"}).to_string().into_bytes()).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("not an AdmissionReview"), "{body}");
    let huge = vec![b' '; policy_webhook::DEFAULT_MAX_BODY_BYTES + 1];
    let (status, body) = admit(&running, &http, huge).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("exceeds the limit"), "{body}");
    running.shutdown().await;
}

/// Against the real API server: minimal CRDs stand in for the template CRD and the constraint CRD
/// the controller generates (structural, preserving unknown fields), so this test does not depend
/// on the controller.
mod real_api_server {
    use super::*;
    use gatekeeper::webhook::policy_cache::{constraint_resource, template_resource};
    use gatekeeper::webhook::{registration, sync};
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use kube::discovery::ApiResource;

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

    /// A CRD serving `resource` with any content.
    fn crd(resource: &ApiResource, namespaced: bool) -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}.{}", resource.plural, resource.group)},
            "spec": {
                "group": resource.group,
                "names": {"kind": resource.kind, "plural": resource.plural, "listKind": format!("{}List", resource.kind),
                    "singular": resource.kind.to_lowercase()},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "versions": [{"name": resource.version, "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        }))
        .unwrap()
    }

    /// Creates `object` of `resource` once the API server serves it (a fresh CRD takes a moment).
    async fn create_when_served(client: &kube::Client, resource: &ApiResource, object: Value) {
        let api: Api<DynamicObject> = match object.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
            None => Api::all_with(client.clone(), resource),
        };
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => return,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("{} {:?} not created: {e}", resource.kind, object.metadata.name)
                }
                Err(_) => {}
            }
        }
    }

    fn namespace(name: &str) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
    }

    #[test]
    fn the_api_server_denies_a_disallowed_pod_with_gatekeepers_message() {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let cluster = cluster::shared().await.expect("local cluster");
            let client = cluster.client();
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            let config = sync::config_resource();
            for (resource, namespaced) in
                [(template_resource(), false), (constraint_resource("K8sDisallowedImage"), false), (config.clone(), true)]
            {
                crds.create(&PostParams::default(), &crd(&resource, namespaced)).await.unwrap();
            }
            let namespaces: Api<Namespace> = Api::all(client.clone());
            for ns in [webhook::GATEKEEPER_NAMESPACE, "team-gk"] {
                namespaces.create(&PostParams::default(), &namespace(ns)).await.unwrap();
            }

            let host = cluster.webhook();
            let (names, ips) = host.sans();
            let pki = pki_for(&names, &ips);
            let mut options = WebhookOptions::new(tls(&pki));
            options.listen = host.listen_addr();
            let running = webhook::start(options, Some(client.clone()), PolicyClient::new()).await.unwrap();

            let t = template("k8sdisallowedimage", "K8sDisallowedImage", REGO);
            create_when_served(&client, &template_resource(), t).await;
            let c = constraint("no-nginx", "nginx", json!({}));
            create_when_served(&client, &constraint_resource("K8sDisallowedImage"), c).await;
            let sync_namespaces = json!({
                "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
                "metadata": {"name": "config", "namespace": webhook::GATEKEEPER_NAMESPACE},
                "spec": {"sync": {"syncOnly": [{"group": "", "version": "v1", "kind": "Namespace"}]}}
            });
            create_when_served(&client, &config, sync_namespaces).await;

            let policy = running.policy().clone();
            let loaded = poll(Duration::from_secs(30), || {
                let snapshot = policy.snapshot();
                async move { snapshot.constraints().any(|c| c.name == "no-nginx").then_some(()) }
            })
            .await;
            assert!(loaded.is_some(), "the constraint never reached the webhook: {:?}", policy.snapshot());
            let synced = poll(Duration::from_secs(30), || {
                let snapshot = policy.snapshot();
                async move { snapshot.inventory().namespace("team-gk").is_some().then_some(()) }
            })
            .await;
            assert!(synced.is_some(), "namespace team-gk never synced: {:?}", policy.snapshot());

            let url = host.url(running.addr().port(), "/v1/admit");
            registration::register_and_wait(&client, &url, &pki.ca_pem, Duration::from_secs(30))
                .await
                .expect("validation.gatekeeper.sh in force");

            let pods: Api<Pod> = Api::namespaced(client.clone(), "team-gk");
            let pod = |name: &str, image: &str| -> Pod {
                serde_json::from_value(json!({"metadata": {"name": name},
                    "spec": {"containers": [{"name": "app", "image": image}]}}))
                .unwrap()
            };
            let denied = pods.create(&PostParams::default(), &pod("web", "nginx:1.17")).await;
            let message = match denied {
                Err(kube::Error::Api(status)) => status.message,
                other => panic!("expected a denial, got {other:?}"),
            };
            println!("API server said: {message}");
            assert_eq!(
                message,
                "admission webhook \"validation.gatekeeper.sh\" denied the request: [no-nginx] image nginx:1.17 is not allowed"
            );
            let dry_run = PostParams { dry_run: true, ..Default::default() };
            let admitted = pods.create(&dry_run, &pod("ok", "registry.k8s.io/pause:3.10")).await;
            assert!(admitted.is_ok(), "{admitted:?}");

            // Deleting the template takes its constraints out of the webhook.
            let templates: Api<DynamicObject> = Api::all_with(client.clone(), &template_resource());
            templates.delete("k8sdisallowedimage", &Default::default()).await.unwrap();
            let gone = poll(Duration::from_secs(30), || {
                let snapshot = policy.snapshot();
                async move { (snapshot.constraints().count() == 0).then_some(()) }
            })
            .await;
            assert!(gone.is_some(), "the constraint outlived its template: {:?}", policy.snapshot());
            assert!(pods.create(&dry_run, &pod("web", "nginx:1.17")).await.is_ok());

            // A constraint whose evaluation fails: the webhook answers HTTP 500, and failurePolicy
            // Ignore admits the request.
            let conflict = constraint_resource("K8sConflict");
            crds.create(&PostParams::default(), &crd(&conflict, false)).await.unwrap();
            create_when_served(&client, &template_resource(), template("k8sconflict", "K8sConflict", CONFLICT)).await;
            let c = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sConflict", "metadata": {"name": "conflict"}});
            create_when_served(&client, &conflict, c).await;
            let loaded = poll(Duration::from_secs(30), || {
                let snapshot = policy.snapshot();
                async move { snapshot.constraints().any(|c| c.name == "conflict").then_some(()) }
            })
            .await;
            assert!(loaded.is_some(), "the conflict constraint never reached the webhook: {:?}", policy.snapshot());
            let admitted = pods.create(&dry_run, &pod("web", "nginx:1.17")).await;
            assert!(admitted.is_ok(), "an evaluation error should fail open: {admitted:?}");

            // Emptying syncOnly drops the synced objects.
            let configs: Api<DynamicObject> = Api::namespaced_with(client.clone(), webhook::GATEKEEPER_NAMESPACE, &config);
            let patch = json!({"spec": {"sync": {"syncOnly": []}}});
            configs.patch("config", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
            let dropped = poll(Duration::from_secs(30), || {
                let snapshot = policy.snapshot();
                async move { snapshot.inventory().is_empty().then_some(()) }
            })
            .await;
            assert!(dropped.is_some(), "the inventory kept its objects: {:?}", policy.snapshot());

            registration::unregister(&client).await.unwrap();
            running.shutdown().await;
        });
    }
}
