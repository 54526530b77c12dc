//! A stateful stand-in for azure-sim's dataplane: a token endpoint, an assignment list the test can
//! change, and Rego files that can be made to fail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub struct FakeDataplane {
    pub server: MockServer,
    assignments: Arc<Mutex<Vec<serde_json::Value>>>,
    policies: Arc<Mutex<HashMap<String, (u16, String)>>>,
}

pub fn assignment_id(name: &str) -> String {
    format!("/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/{name}")
}

/// The Rego a test policy serves: it carries the placeholder so substitution is visible.
pub fn rego(name: &str, version: u32) -> String {
    format!("package admission\n# assignment {{{{AzurePolicyID}}}} of {name}, version {version}\n")
}

impl FakeDataplane {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        super::mount_token(&server, 1..=1000).await;
        let assignments: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let a = assignments.clone();
        Mock::given(method("GET"))
            .and(path("/dataplane/v1/assignments"))
            .respond_with(move |_: &Request| {
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"assignments": a.lock().unwrap().clone()}))
            })
            .mount(&server)
            .await;
        let policies: Arc<Mutex<HashMap<String, (u16, String)>>> = Arc::default();
        let p = policies.clone();
        Mock::given(method("GET"))
            .and(path_regex("^/policies/"))
            .respond_with(move |r: &Request| match p.lock().unwrap().get(r.url.path()) {
                Some((status, body)) => ResponseTemplate::new(*status).set_body_string(body.clone()),
                None => ResponseTemplate::new(404),
            })
            .mount(&server)
            .await;
        Self { server, assignments, policies }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Makes `names` the active assignments; each gets a working Rego file unless one is set.
    pub fn set_assignments(&self, names: &[&str]) {
        let list = names
            .iter()
            .map(|n| {
                let file = format!("/policies/{n}.rego");
                self.policies.lock().unwrap().entry(file.clone()).or_insert((200, rego(n, 1)));
                super::assignment_json(n, &format!("{}{file}", self.uri()))
            })
            .collect();
        *self.assignments.lock().unwrap() = list;
    }

    /// Sets what `/policies/<name>.rego` answers.
    pub fn set_policy(&self, name: &str, status: u16, body: String) {
        self.policies.lock().unwrap().insert(format!("/policies/{name}.rego"), (status, body));
    }
}
