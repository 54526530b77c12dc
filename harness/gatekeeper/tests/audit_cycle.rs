//! The gatekeeper process's audit and denial log against the real local API server
//! (`cluster::shared()`): the CRDs installed as the process installs them, the template controller
//! generating the constraint CRD, then a template, two constraints (`deny` and `dryrun`), three
//! violating pods and a compliant one. An audit run through `POST /v1/audit/run` reports what each
//! constraint judged and found, and writes each constraint's status, capped at the violations
//! limit; a pod the webhook denies lands in `/v1/denials`, and the `dryrun` result does not.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use contracts::gatekeeper::{AUDIT_PATH, AUDIT_RUN_PATH, AuditReport, DENIALS_PATH, DenialPage};
use gatekeeper::audit::AuditOptions;
use gatekeeper::controller::{TemplateController, template_resource};
use gatekeeper::crds::{constraint_crd_name, install_crds, wait_established};
use gatekeeper::webhook::policy_cache::constraint_resource;
use gatekeeper::webhook::{self, WebhookOptions, registration};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, PostParams};
use policy_engine::gatekeeper_v3::PolicyClient;
use policy_webhook::server::TlsSource;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const NAMESPACE: &str = "audit-team";
const KIND: &str = "K8sAuditImage";
const TOKEN: &str = "audit-read-token";

const REGO: &str = r#"package k8sauditimage
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  startswith(c.image, input.parameters.prefix)
  msg := sprintf("image %v is not allowed", [c.image])
}"#;

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < WAIT, "timed out after {WAIT:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn template() -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": KIND.to_lowercase()},
        "spec": {
            "crd": {"spec": {"names": {"kind": KIND},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {"prefix": {"type": "string"}}}}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": REGO}]
        }
    }))
    .unwrap()
}

fn constraint(name: &str, action: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": KIND, "metadata": {"name": name},
        "spec": {"enforcementAction": action, "parameters": {"prefix": "nginx"},
            "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": [NAMESPACE]}}
    }))
    .unwrap()
}

fn pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "app", "image": image}]}}))
    .unwrap()
}

struct Pki {
    ca_pem: String,
    tls: TlsSource,
}

fn pki_for(host: &cluster::webhook_host::WebhookHost) -> Pki {
    pki::install_ring_provider();
    let ca = pki::Ca::new("gatekeeper-audit-test-ca").unwrap();
    let (names, ips) = host.sans();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let server = ca.issue_server(&names, &ips).unwrap();
    Pki { ca_pem: ca.cert_pem(), tls: TlsSource::Pem { cert: server.cert_pem, key: server.key_pem } }
}

/// A read route: status and body (JSON when it is JSON).
async fn read(http: &reqwest::Client, method: reqwest::Method, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.header("authorization", contracts::credential::bearer(token));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn the_audit_reports_and_writes_status_and_the_denial_log_records_denials() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = cluster::shared().await.expect("local cluster");
        let client = cluster.client();
        install_crds(&client).await.expect("Gatekeeper CRDs");
        let controller = TemplateController::spawn(client.clone());

        let host = cluster.webhook();
        let pki = pki_for(host);
        let options = WebhookOptions {
            listen: host.listen_addr(),
            read_token: Some(TOKEN.into()),
            audit: AuditOptions { interval: Duration::ZERO, violations_limit: 2 },
            ..WebhookOptions::new(pki.tls.clone())
        };
        let running = webhook::start(options, Some(client.clone()), PolicyClient::new()).await.unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let url = |path: &str| host.url(running.addr().port(), path);

        // Ready once the (empty) template and Config lists are in; no audit has run yet.
        eventually("/readyz", || async {
            let (status, _) = read(&http, reqwest::Method::GET, &url("/readyz"), None).await;
            (status == 200).then_some(())
        })
        .await;
        let (status_before, body) = read(&http, reqwest::Method::GET, &url(AUDIT_PATH), Some(TOKEN)).await;
        assert_eq!((status_before, body.as_str()), (503, Some(webhook::read_api::NO_AUDIT_YET)));
        let (unauthorized, _) = read(&http, reqwest::Method::GET, &url(DENIALS_PATH), None).await;
        assert_eq!(unauthorized, 401);

        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap();
        namespaces.create(&PostParams::default(), &ns).await.unwrap();
        let templates: Api<DynamicObject> = Api::all_with(client.clone(), &template_resource());
        templates.create(&PostParams::default(), &template()).await.unwrap();
        wait_established(&client, &constraint_crd_name(KIND), WAIT).await.expect("the generated constraint CRD");
        let constraints: Api<DynamicObject> = Api::all_with(client.clone(), &constraint_resource(KIND));
        for (name, action) in [("no-nginx", "deny"), ("nginx-dryrun", "dryrun")] {
            eventually(&format!("constraint {name} created"), || async {
                constraints.create(&PostParams::default(), &constraint(name, action)).await.ok()
            })
            .await;
        }
        let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
        for (name, image) in [("web-1", "nginx:1"), ("web-2", "nginx:2"), ("web-3", "nginx:3"), ("ok", "pause:3")] {
            pods.create(&PostParams::default(), &pod(name, image)).await.unwrap();
        }
        let policy = running.policy().clone();
        eventually("both constraints in the policy", || async {
            (policy.snapshot().constraints().count() == 2).then_some(())
        })
        .await;

        // Triggers that arrive while an audit runs share the next one (it sees what they asked after).
        let audit = running.audit();
        let (first, second, third) = tokio::join!(audit.run(), audit.run(), audit.run());
        let cycles = [first.unwrap().cycle, second.unwrap().cycle, third.unwrap().cycle];
        assert_eq!(cycles, [1, 2, 2], "the two waiting triggers should share one audit");

        let (code, body) = read(&http, reqwest::Method::POST, &url(AUDIT_RUN_PATH), Some(TOKEN)).await;
        assert_eq!(code, 200, "{body}");
        let report: AuditReport = serde_json::from_value(body).unwrap();
        assert_eq!(report.cycle, 3);
        let deny = report.constraint(KIND, "no-nginx").expect("no-nginx in the report");
        assert_eq!(deny.total_violations, 3);
        let judged: BTreeSet<&str> = deny.judged.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(judged, BTreeSet::from(["web-1", "web-2", "web-3", "ok"]));
        assert!(deny.judged.iter().all(|k| k.kind == "Pod" && k.version == "v1" && k.namespace == NAMESPACE));
        let violating: BTreeSet<&str> = deny.violations.iter().map(|v| v.object.name.as_str()).collect();
        assert_eq!(violating, BTreeSet::from(["web-1", "web-2", "web-3"]));
        let dryrun = report.constraint(KIND, "nginx-dryrun").expect("nginx-dryrun in the report");
        assert_eq!(dryrun.total_violations, 3);
        assert!(dryrun.violations.iter().all(|v| v.enforcement_action == "dryrun"));
        let (code, last) = read(&http, reqwest::Method::GET, &url(AUDIT_PATH), Some(TOKEN)).await;
        assert_eq!((code, serde_json::from_value::<AuditReport>(last).unwrap()), (200, report.clone()));

        let written = constraints.get("no-nginx").await.unwrap();
        let status = &written.data["status"];
        assert_eq!(status["totalViolations"], 3, "{status}");
        let violations = status["violations"].as_array().unwrap();
        assert_eq!(violations.len(), 2, "the limit caps status.violations: {status}");
        for v in violations {
            assert_eq!(
                (&v["enforcementAction"], &v["kind"], &v["version"]),
                (&json!("deny"), &json!("Pod"), &json!("v1"))
            );
            assert_eq!((&v["group"], &v["namespace"]), (&json!(""), &json!(NAMESPACE)));
            let name = v["name"].as_str().unwrap();
            assert!(name.starts_with("web-"), "{v}");
            assert_eq!(v["message"], format!("image nginx:{} is not allowed", &name[4..]));
        }
        let stamp = status["auditTimestamp"].as_str().unwrap();
        let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
        assert_eq!(stamp.timestamp(), report.audit_timestamp.timestamp());

        // Admission: the deny result is logged with its object, the dryrun result is not.
        registration::register_and_wait(&client, &url("/v1/admit"), &pki.ca_pem, WAIT)
            .await
            .expect("validation.gatekeeper.sh in force");
        let denied = pods.create(&PostParams::default(), &pod("denied-web", "nginx:9")).await;
        assert!(matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403), "{denied:?}");
        let (code, page) =
            read(&http, reqwest::Method::GET, &format!("{}?since=0", url(DENIALS_PATH)), Some(TOKEN)).await;
        assert_eq!(code, 200, "{page}");
        let page: DenialPage = serde_json::from_value(page).unwrap();
        let ours: Vec<_> = page.denials.iter().filter(|d| d.object.name == "denied-web").collect();
        assert_eq!(ours.len(), 1, "one deny result, no dryrun one: {page:?}");
        let d = ours[0];
        assert_eq!((d.constraint_kind.as_str(), d.constraint_name.as_str()), (KIND, "no-nginx"));
        assert_eq!(d.enforcement_action, "deny");
        assert_eq!((d.object.kind.as_str(), d.object.version.as_str()), ("Pod", "v1"));
        assert_eq!((d.object.namespace.as_str(), d.message.as_str()), (NAMESPACE, "image nginx:9 is not allowed"));
        assert_eq!(page.next, page.denials.last().unwrap().seq + 1);

        registration::unregister(&client).await.unwrap();
        running.shutdown().await;
        controller.stop().await;
    });
}
