//! The current add-on's test world: a wiremock dataplane serving `constraintAssignments` and the
//! library templates, a wiremock gatekeeper read API, and a client with the agent's own identity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use policy_agent::current::install_cycle::InstallCycle;
use policy_agent::current::install_state::InstallState;
use policy_agent::metrics::Metrics;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const BUILTIN: &str = "/providers/Microsoft.Authorization/policyDefinitions/95edb821-ddaf-4404-9732-666045e056b4";
pub const CUSTOM: &str = "/subscriptions/s1/providers/Microsoft.Authorization/policyDefinitions/my-custom";
pub const TEMPLATE: &str = "k8sazurev2noprivilege";
pub const KIND: &str = "K8sAzureV2NoPrivilege";
/// Generous for a loaded two-core machine; the cycle itself returns as soon as Gatekeeper answers.
pub const WAIT: Duration = Duration::from_secs(60);

/// A client with the agent's own identity: a ServiceAccount bound to exactly
/// `policy_agent::current::cluster_rules()` by a ClusterRole.
pub async fn agent_client(admin: &kube::Client) -> kube::Client {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use kube::api::{ObjectMeta, PostParams};
    const NS: &str = "pa-current";
    const NAME: &str = "pa-current-agent";
    let pp = PostParams::default();
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..Default::default() };
    let _ = kube::Api::<Namespace>::all(admin.clone())
        .create(&pp, &Namespace { metadata: meta(NS), ..Default::default() })
        .await;
    let accounts = kube::Api::<ServiceAccount>::namespaced(admin.clone(), NS);
    let _ = accounts.create(&pp, &ServiceAccount { metadata: meta(NAME), ..Default::default() }).await;
    let role =
        ClusterRole { metadata: meta(NAME), rules: Some(policy_agent::current::cluster_rules()), ..Default::default() };
    let _ = kube::Api::<ClusterRole>::all(admin.clone()).create(&pp, &role).await;
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NS}]
    }))
    .unwrap();
    let _ = kube::Api::<ClusterRoleBinding>::all(admin.clone()).create(&pp, &binding).await;
    let request = serde_json::from_value(json!({"spec": {"audiences": []}})).unwrap();
    let token = accounts
        .create_token_request(NAME, &pp, &request)
        .await
        .expect("TokenRequest")
        .status
        .unwrap()
        .token
        .expect("token");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("agent.kubeconfig");
    cluster::shared().await.unwrap().kubeconfig_for_token(&token, &kubeconfig).await.unwrap();
    policy_agent::agent::kube_client(Some(&kubeconfig)).await.unwrap()
}

pub fn assignment_id(name: &str) -> String {
    format!("/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/{name}")
}

/// A wiremock dataplane: a token, a `constraintAssignments` list the test sets, and files by path.
pub struct Dataplane {
    pub server: MockServer,
    assignments: Arc<Mutex<Vec<Value>>>,
    pub files: Arc<Mutex<HashMap<String, String>>>,
}

impl Dataplane {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        super::mount_token(&server, 1..=1000).await;
        let assignments: Arc<Mutex<Vec<Value>>> = Arc::default();
        let list = assignments.clone();
        Mock::given(method("GET"))
            .and(path("/dataplane/v1/assignments"))
            .respond_with(move |_: &Request| {
                let body = json!({"clusterId": super::CLUSTER, "constraintAssignments": list.lock().unwrap().clone()});
                ResponseTemplate::new(200).set_body_json(body)
            })
            .mount(&server)
            .await;
        let files: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = files.clone();
        Mock::given(method("GET"))
            .and(path_regex("^/kubernetes/"))
            .respond_with(move |r: &Request| match served.lock().unwrap().get(r.url.path()) {
                Some(body) => ResponseTemplate::new(200).set_body_string(body.clone()),
                None => ResponseTemplate::new(404),
            })
            .mount(&server)
            .await;
        Self { server, assignments, files }
    }

    /// Serves a library template; answers its URL.
    pub fn serve_library(&self, slug: &str, version: u32) -> String {
        let file = format!("/kubernetes/{slug}/v{version}/template.yaml");
        let text = policy_library::template(slug, version).expect("library template");
        self.files.lock().unwrap().insert(file.clone(), text.to_string());
        format!("{}{file}", self.server.uri())
    }

    pub fn set(&self, assignments: Vec<Value>) {
        *self.assignments.lock().unwrap() = assignments;
    }

    pub fn cycle(&self, client: &kube::Client) -> (InstallCycle, Arc<InstallState>) {
        let dataplane = super::client(&self.server.uri(), &self.server.uri(), super::quick_retry(2));
        let state = Arc::new(InstallState::default());
        let cycle = InstallCycle::new(dataplane, client.clone(), state.clone(), Arc::new(Metrics::default()));
        (cycle.with_wait(WAIT), state)
    }
}

/// A no-privilege assignment (the library's `container-no-privilege` v2) with `effect` and `values`.
pub fn assignment(name: &str, template: Value, effect: &str, values: Value) -> Value {
    json!({
        "assignmentId": assignment_id(name), "assignmentName": name, "definitionId": BUILTIN,
        "effect": effect, "template": template,
        "apiGroups": [""], "kinds": ["Pod"], "excludedNamespaces": ["kube-system", "gatekeeper-system"],
        "labelSelector": {}, "values": values
    })
}

pub fn url_source(url: &str) -> Value {
    json!({"sourceType": "PublicURL", "url": url})
}

/// Captures the reports posted to `/dataplane/v1/reports` and acknowledges them.
pub async fn capture_reports(server: &MockServer) -> Arc<Mutex<Vec<Value>>> {
    let reports: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = reports.clone();
    Mock::given(method("POST"))
        .and(path("/dataplane/v1/reports"))
        .respond_with(move |r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let ack = json!({"reportId": body["reportId"], "accepted": true});
            seen.lock().unwrap().push(body);
            ResponseTemplate::new(200).set_body_json(ack)
        })
        .mount(server)
        .await;
    reports
}

pub fn pod(name: &str) -> Value {
    json!({"group": "", "version": "v1", "kind": "Pod", "namespace": "team", "name": name})
}

/// A gatekeeper read API (wiremock) whose audit judged `priv` (violating) and `fine`, and whose
/// real-time log has one recent denial of `denied`; every route requires the read token.
pub async fn gatekeeper_stub(constraint: &str, run_calls: u64) -> MockServer {
    let server = MockServer::start().await;
    let now = chrono::Utc::now();
    let mut violation = pod("priv");
    violation["enforcementAction"] = "deny".into();
    violation["message"] = "privileged container".into();
    let audit = json!({"cycle": 1, "auditTimestamp": (now - chrono::TimeDelta::minutes(2)).to_rfc3339(),
        "constraints": [{"kind": KIND, "name": constraint, "totalViolations": 1,
                         "violations": [violation], "judged": [pod("priv"), pod("fine")]}]});
    let denials = json!({"next": 3, "denials": [{"seq": 2, "time": (now - chrono::TimeDelta::minutes(1)).to_rfc3339(),
        "constraintKind": KIND, "constraintName": constraint, "enforcementAction": "deny",
        "object": pod("denied"), "message": "privileged container"}]});
    for (verb, route, body, calls) in [
        ("GET", "/v1/audit", audit.clone(), None),
        ("POST", "/v1/audit/run", audit, Some(run_calls)),
        ("GET", "/v1/denials", denials, None),
    ] {
        let mock = Mock::given(method(verb))
            .and(path(route))
            .and(wiremock::matchers::header("authorization", "Bearer read-token"));
        let mock = mock.respond_with(ResponseTemplate::new(200).set_body_json(body));
        match calls {
            Some(n) => mock.expect(n).mount(&server).await,
            None => mock.mount(&server).await,
        }
    }
    server
}
