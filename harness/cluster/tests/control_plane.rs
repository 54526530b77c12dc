//! The local control plane, exercised for real: kubectl against the written kubeconfig, an
//! admission webhook on loopback that the API server really calls, the audit log recording its
//! denial, and clear errors when things are missing or die.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

async fn shared() -> &'static cluster::Cluster {
    pki::install_ring_provider();
    cluster::shared().await.expect("local control plane boots")
}

#[tokio::test]
async fn kubectl_works_with_the_written_kubeconfig() {
    let cluster = shared().await;
    let kubeconfig = cluster.kubeconfig_path();
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("kubectl is installed (Debian package kubernetes-client)");
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    kubectl(&["create", "configmap", "from-kubectl", "-n", "default", "--from-literal=answer=42"]);
    let got = kubectl(&["get", "configmap", "from-kubectl", "-n", "default", "-o", "jsonpath={.data.answer}"]);
    assert_eq!(got, "42");
    // The typed client sees what kubectl wrote: both talk to the same real API server.
    let cm = Api::<ConfigMap>::namespaced(cluster.client(), "default").get("from-kubectl").await.unwrap();
    assert_eq!(cm.data.unwrap()["answer"], "42");
}

/// A webhook that denies ConfigMaps named `forbidden`, served over HTTPS by a test CA.
async fn start_denying_webhook(ca: &pki::Ca) -> std::net::SocketAddr {
    use axum::{Json, Router, routing::post};
    let leaf = ca.issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()]).unwrap();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem(leaf.cert_pem.into_bytes(), leaf.key_pem.into_bytes())
        .await
        .unwrap();
    async fn review(Json(body): Json<serde_json::Value>) -> Json<serde_json::Value> {
        let req = &body["request"];
        let denied = req["object"]["metadata"]["name"] == "forbidden";
        let mut response = serde_json::json!({"uid": req["uid"], "allowed": !denied});
        if denied {
            response["status"] =
                serde_json::json!({"code": 403, "message": "configmaps named forbidden are not allowed"});
        }
        Json(serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}))
    }
    let handle = axum_server::Handle::new();
    let server = axum_server::bind_rustls("127.0.0.1:0".parse().unwrap(), tls)
        .handle(handle.clone())
        .serve(Router::new().route("/validate", post(review)).into_make_service());
    tokio::spawn(server);
    handle.listening().await.expect("webhook listening")
}

#[tokio::test]
async fn api_server_calls_a_loopback_webhook_and_audits_the_denial() {
    let cluster = shared().await;
    let client = cluster.client();
    let ns_name = "webhook-probe";
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": ns_name, "labels": {"webhook-probe": "on"}}
    }))
    .unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();

    let ca = pki::Ca::new("probe webhook CA").unwrap();
    let addr = start_denying_webhook(&ca).await;
    let config: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "probe-webhook"},
        "webhooks": [{
            "name": "probe.aks-policy-harness.test",
            "clientConfig": {"url": format!("https://127.0.0.1:{}/validate", addr.port()),
                             "caBundle": base64_pem(&ca.cert_pem())},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["configmaps"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"webhook-probe": "on"}},
            "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "timeoutSeconds": 5
        }]
    }))
    .unwrap();
    let hooks: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    hooks.create(&PostParams::default(), &config).await.unwrap();

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns_name);
    let forbidden: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "forbidden"}})).unwrap();
    // The API server picks the configuration up through an informer: poll with dry-run until it bites.
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        match cms.create(&PostParams { dry_run: true, ..Default::default() }, &forbidden).await {
            Err(kube::Error::Api(status)) => break status.message,
            Ok(_) => {
                assert!(Instant::now() < deadline, "the webhook was never called");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    };
    assert!(message.contains("admission webhook \"probe.aks-policy-harness.test\" denied the request"), "{message}");
    assert!(message.contains("configmaps named forbidden are not allowed"), "{message}");

    // A real (non-dry-run) denial, and an allowed create next to it.
    let err = cms.create(&PostParams::default(), &forbidden).await.unwrap_err();
    assert!(err.to_string().contains("denied the request"), "{err}");
    let allowed: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "allowed"}})).unwrap();
    cms.create(&PostParams::default(), &allowed).await.expect("other names are admitted");

    // The audit log has the denial, findable as AKS users did: by "admission webhook".
    let audit = cluster.audit_log_path().expect("local backend writes an audit log");
    let entry = wait_for_audit_entry(&audit, |e| {
        e["objectRef"]["name"] == "forbidden"
            && e["objectRef"]["namespace"] == ns_name
            && e["responseStatus"]["message"].as_str().is_some_and(|m| m.contains("admission webhook"))
    });
    assert_eq!(entry["verb"], "create");
    assert_eq!(entry["responseStatus"]["code"], 403);

    hooks.delete("probe-webhook", &DeleteParams::default()).await.unwrap();
}

fn base64_pem(pem: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(pem)
}

fn wait_for_audit_entry(path: &Path, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(hit) = text.lines().filter_map(|l| serde_json::from_str(l).ok()).find(|e| pred(e)) {
            return hit;
        }
        assert!(Instant::now() < deadline, "no matching audit entry in {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_binary_that_dies_at_startup_reports_its_last_log_lines() {
    pki::install_ring_provider();
    let bins = cluster::ControlPlaneBinaries::locate_or_build().expect("binaries");
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("kube-apiserver");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'starting fake apiserver'\necho 'E0101 fatal: cannot bind: marker-7731' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let broken = cluster::ControlPlaneBinaries { kube_apiserver: fake, ..bins };
    let err = cluster::LocalControlPlane::start(&broken).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("kube-apiserver exited during startup"), "{text}");
    assert!(text.contains("marker-7731"), "the log tail is shown: {text}");
}

#[test]
fn building_without_go_or_cache_names_what_to_install() {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(cluster::binaries::build_script())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", cache.path())
        .env("AKS_HARNESS_BIN_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED at step \"find the Go toolchain\""), "{stderr}");
    assert!(stderr.contains("install Go"), "{stderr}");
    assert!(stderr.contains("KUBEBUILDER_ASSETS"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
