//! Shared test helpers: a simulator over real HTTPS, a small ARM client, a recording add-on
//! controller, and snapshot redaction of everything that changes between runs.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use azure_sim::{AddonController, AddonError, AddonInstall, AzureSim, RunningSim, SimConfig};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const CONTAINER_SERVICE: &str = "Microsoft.ContainerService";
pub const POLICY_INSIGHTS: &str = "Microsoft.PolicyInsights";
pub const IMAGES_GUID: &str = "5f86cb6e-c4da-441b-807c-44bd0cc14e66";
pub const PRIVILEGE_GUID: &str = "7ce7ac02-a5c6-45d6-8d1b-844feb1c1531";

/// A controller that records calls and can be told to fail installs (with the message given).
#[derive(Default)]
pub struct FakeController {
    pub calls: Mutex<Vec<String>>,
    pub installs: Mutex<Vec<AddonInstall>>,
    pub fail_install: Mutex<Option<String>>,
    /// How long installs take (to hold an operation open).
    pub install_delay: Mutex<std::time::Duration>,
    /// How long uninstalls take.
    pub uninstall_delay: Mutex<std::time::Duration>,
}

impl FakeController {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl AddonController for FakeController {
    async fn install(&self, req: &AddonInstall) -> Result<(), AddonError> {
        self.calls.lock().unwrap().push(format!("install {}", req.cluster_id));
        self.installs.lock().unwrap().push(req.clone());
        let delay = *self.install_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        match self.fail_install.lock().unwrap().clone() {
            Some(e) => Err(AddonError::NotReady(e)),
            None => Ok(()),
        }
    }

    async fn uninstall(&self, cluster_id: &str) -> Result<(), AddonError> {
        self.calls.lock().unwrap().push(format!("uninstall {cluster_id}"));
        let delay = *self.uninstall_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        Ok(())
    }

    async fn trigger_scan(&self, cluster_id: &str) -> Result<(), AddonError> {
        self.calls.lock().unwrap().push(format!("scan {cluster_id}"));
        Ok(())
    }
}

/// A response: status, headers and JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A tiny ARM client for one subscription's token.
pub struct Arm {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    pub api_version: &'static str,
}

impl Arm {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            return path.to_string();
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        if path.contains("api-version=")
            || !path.starts_with("/subscriptions") && !path.starts_with("/providers") && !path.starts_with("/tenants")
        {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}{sep}api-version={}", self.base, self.api_version)
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        into_resp(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::PUT, path, Some(&body)).await
    }

    pub async fn post(&self, path: &str) -> Resp {
        self.send(reqwest::Method::POST, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Polls an LRO URL (status document or Location) until it is terminal.
    pub async fn poll(&self, url: &str) -> Resp {
        for _ in 0..200 {
            let r = self.get(url).await;
            let running = r.status == 202 || r.body["status"] == "InProgress";
            if !running {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("operation {url} did not finish");
    }

    pub fn with_token(&self, token: Option<String>) -> Arm {
        Arm { http: self.http.clone(), base: self.base.clone(), token, api_version: self.api_version }
    }
}

/// Percent-encodes `s` for a query string or form body (RFC 3986 unreserved characters kept).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// POSTs a form (reqwest's `form` feature is off in this workspace) and returns the response.
pub async fn post_form(http: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> Resp {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect();
    let req = http.post(url).header("content-type", "application/x-www-form-urlencoded").body(body.join("&"));
    into_resp(req.send().await.expect("request")).await
}

pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(if bytes.is_empty() {
        Value::Null
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into())
    });
    Resp { status, headers, body }
}

/// A reqwest client trusting only the simulator's CA.
pub fn client(sim: &RunningSim) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = sim.ca_pem() {
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()]);
    }
    builder.build().unwrap()
}

/// A started simulator (HTTPS) with a recording controller and a client for a new subscription.
pub struct World {
    pub sim: RunningSim,
    pub controller: Arc<FakeController>,
    pub arm: Arm,
    pub sub: String,
    pub creds: azure_sim::SubscriptionCredentials,
}

pub async fn world_with(config: SimConfig) -> World {
    pki::install_ring_provider();
    let controller = Arc::new(FakeController::default());
    let sim = AzureSim::start(config, controller.clone()).await.expect("start");
    let creds = sim.new_subscription("test");
    let arm = Arm {
        http: client(&sim),
        base: sim.arm_url().to_string(),
        token: Some(sim.token_for(&creds.subscription_id).unwrap()),
        api_version: "2019-10-01",
    };
    World { sim, controller, arm, sub: creds.subscription_id.clone(), creds }
}

/// A server whose subscriptions get the 2019 preview add-on, behind its preview features (the
/// default is today's add-on, which no feature gates).
pub fn preview_2019() -> SimConfig {
    SimConfig { addon_generation: azure_sim::AddonGeneration::Preview2019, ..SimConfig::default() }
}

pub async fn world() -> World {
    world_with(SimConfig { auto_approve_features: true, ..SimConfig::default() }).await
}

impl World {
    pub fn cluster_id(&self, rg: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}",
            self.sub
        )
    }

    /// Registers both features and both providers (auto-approval must be on).
    pub async fn opt_in(&self) {
        for (ns, f) in
            [(CONTAINER_SERVICE, "AKS-AzurePolicyAutoApprove"), (POLICY_INSIGHTS, "AKS-DataplaneAutoApprove")]
        {
            let r = self
                .arm
                .post(&format!(
                    "/subscriptions/{}/providers/Microsoft.Features/providers/{ns}/features/{f}/register",
                    self.sub
                ))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        for ns in [CONTAINER_SERVICE, POLICY_INSIGHTS] {
            assert_eq!(
                self.arm.post(&format!("/subscriptions/{}/providers/{ns}/register", self.sub)).await.status,
                200
            );
        }
    }

    /// Creates a resource group and a cluster (add-on as given) and waits for the LRO.
    pub async fn cluster(&self, rg: &str, name: &str, addon: bool) -> Resp {
        let r = self
            .arm
            .put(
                &format!("/subscriptions/{}/resourcegroups/{rg}", self.sub),
                serde_json::json!({"location": "westus2"}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        self.put_cluster(
            rg,
            name,
            serde_json::json!({"location": "westus2", "properties": {
            "kubernetesVersion": "1.14.8", "addonProfiles": {"azurepolicy": {"enabled": addon}}}}),
        )
        .await
    }

    pub async fn put_cluster(&self, rg: &str, name: &str, body: Value) -> Resp {
        let path = format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}",
            self.sub
        );
        let r = self.arm.put(&path, body).await;
        if r.status >= 300 {
            return r;
        }
        let op = self.arm.poll(r.header("azure-asyncoperation").expect("async header")).await;
        assert_eq!(op.status, 200);
        op
    }

    pub async fn assign(&self, scope: &str, name: &str, guid: &str, params: Value) -> Resp {
        self.arm
            .put(
                &format!("{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"),
                serde_json::json!({"properties": {"policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{guid}"), "parameters": params}}),
            )
            .await
    }
}

/// Replaces everything run-specific (ids, URLs, times, tokens, secrets) with stable placeholders.
pub fn redact(value: &Value, world: &World) -> Value {
    let text = serde_json::to_string(value).unwrap();
    let mut text = text
        .replace(world.sim.arm_url(), "https://[arm]")
        .replace(&world.sub, "[subscription]")
        .replace(&world.sim.tenant_id(), "[tenant]");
    let builtin: Vec<&str> = azure_sim::builtin_definitions().map(|(g, ..)| g).collect();
    let uuid =
        regex::Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap();
    text = uuid
        .replace_all(
            &text,
            |c: &regex::Captures| if builtin.contains(&&c[0]) { c[0].to_string() } else { "[uuid]".into() },
        )
        .into_owned();
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})").unwrap();
    text = time.replace_all(&text, "[time]").into_owned();
    let token = regex::Regex::new(r"eyJ[\w-]+\.[\w-]+\.[\w-]+").unwrap();
    text = token.replace_all(&text, "[token]").into_owned();
    let epoch = regex::Regex::new(r#""expires_on":"\d+""#).unwrap();
    text = epoch.replace_all(&text, r#""expires_on":"[epoch]""#).into_owned();
    let hex = regex::Regex::new(r"\b[0-9a-f]{64}\b").unwrap();
    text = hex.replace_all(&text, "[secret]").into_owned();
    serde_json::from_str(&text).unwrap()
}

/// Snapshot of a response (status, selected headers, body), redacted, in `snapshots/azure-sim/`.
pub fn snap(name: &str, resp: &Resp, world: &World) {
    let mut headers = serde_json::Map::new();
    for h in ["location", "azure-asyncoperation", "retry-after", "content-type"] {
        if let Some(v) = resp.header(h) {
            headers.insert(h.into(), Value::String(v.into()));
        }
    }
    let value = serde_json::json!({"status": resp.status, "headers": headers, "body": resp.body});
    let value = redact(&value, world);
    let mut settings = insta::Settings::clone_current();
    // The runtime variable (cargo test sets it) names this checkout even when the binary was
    // compiled in another one sharing the target directory.
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    settings.set_snapshot_path(std::path::Path::new(&crate_dir).join("../../snapshots/azure-sim"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_sort_maps(true);
    settings.bind(|| insta::assert_json_snapshot!(name, value));
}
