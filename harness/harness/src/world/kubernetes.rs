//! Kubernetes as a scenario sees it: manifests applied under the scenario's own namespaces, and
//! what the API server answered (admitted, or denied by which admission webhook with what message).

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiResource, Scope};

/// The API server's answer to a write.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    Admitted,
    /// Denied by an admission webhook: the message as the API server returned it.
    Denied(String),
    /// Refused for another reason (validation, conflict...).
    Failed(String),
}

/// Maps the namespace names a scenario uses to the real ones, so scenarios never collide and the
/// names in feature files stay readable. System namespaces (`kube-system`, `azure-policy`,
/// `default`) are shared and kept as they are.
#[derive(Debug, Default)]
pub struct Namespaces {
    suffix: String,
    created: BTreeMap<String, String>,
}

pub const SHARED_NAMESPACES: [&str; 3] = ["kube-system", "azure-policy", "default"];

impl Namespaces {
    pub fn new(suffix: &str) -> Self {
        Self { suffix: suffix.to_string(), created: BTreeMap::new() }
    }

    /// The real name of `logical`.
    pub fn real(&self, logical: &str) -> String {
        if SHARED_NAMESPACES.contains(&logical) { logical.to_string() } else { format!("{logical}-{}", self.suffix) }
    }

    /// Namespaces this scenario created (real names), for teardown.
    pub fn created(&self) -> impl Iterator<Item = &String> {
        self.created.values()
    }

    /// Creates `logical` (idempotent) with optional labels; returns the real name.
    pub async fn ensure(&mut self, client: &kube::Client, logical: &str) -> anyhow::Result<String> {
        let real = self.real(logical);
        if SHARED_NAMESPACES.contains(&logical) || self.created.contains_key(logical) {
            return Ok(real);
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": real}});
        match create(client, &ns, None).await? {
            Admission::Admitted => {}
            Admission::Failed(m) if m.contains("already exists") => {}
            other => anyhow::bail!("could not create namespace {real}: {other:?}"),
        }
        self.created.insert(logical.to_string(), real.clone());
        Ok(real)
    }
}

/// Looks up the API resource for an object's apiVersion and kind.
async fn resource_for(client: &kube::Client, object: &serde_json::Value) -> anyhow::Result<(ApiResource, Scope)> {
    let api_version = object["apiVersion"].as_str().ok_or_else(|| anyhow::anyhow!("manifest has no apiVersion"))?;
    let kind = object["kind"].as_str().ok_or_else(|| anyhow::anyhow!("manifest has no kind"))?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery::pinned_kind(client, &gvk).await?;
    Ok((ar, caps.scope))
}

fn api_for(client: &kube::Client, ar: &ApiResource, scope: &Scope, namespace: Option<&str>) -> Api<DynamicObject> {
    match (scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), ar),
        (Scope::Cluster, _) => Api::all_with(client.clone(), ar),
    }
}

fn classify(result: Result<DynamicObject, kube::Error>) -> anyhow::Result<Admission> {
    match result {
        Ok(_) => Ok(Admission::Admitted),
        Err(kube::Error::Api(status)) if status.message.contains("admission webhook") => {
            Ok(Admission::Denied(status.message))
        }
        Err(kube::Error::Api(status)) => Ok(Admission::Failed(status.message)),
        Err(other) => Err(other.into()),
    }
}

/// Creates `object` (in `namespace` if it is namespaced) and reports what the API server said.
pub async fn create(
    client: &kube::Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
) -> anyhow::Result<Admission> {
    Ok(create_with_warnings(client, object, namespace).await?.0)
}

/// Creates `object` and reports what the API server said, with the warnings it sent back (the
/// `Warning` headers kubectl prints as `Warning: …`, which carry admission webhooks' `warnings`).
pub async fn create_with_warnings(
    client: &kube::Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
) -> anyhow::Result<(Admission, Vec<String>)> {
    let (ar, scope) = resource_for(client, object).await?;
    let api = api_for(client, &ar, &scope, namespace);
    let request =
        kube::core::Request::new(api.resource_url()).create(&PostParams::default(), serde_json::to_vec(object)?)?;
    let response = client.send(request.map(kube::client::Body::from)).await?;
    let warnings =
        response.headers().get_all("warning").iter().filter_map(|v| v.to_str().ok()).map(warning_text).collect();
    let ok = response.status().is_success();
    let body = response.into_body().collect_bytes().await?;
    let answer = if ok {
        Admission::Admitted
    } else {
        let status: kube::core::Status = serde_json::from_slice(&body).map_err(|e| {
            anyhow::anyhow!("the API server's refusal is not a Status ({e}): {}", String::from_utf8_lossy(&body))
        })?;
        classify(Err(kube::Error::Api(Box::new(status))))?
    };
    Ok((answer, warnings))
}

/// The text of a `Warning` header (RFC 7234: `299 - "<text>"`), as kubectl prints it.
fn warning_text(header: &str) -> String {
    let text = header.splitn(3, ' ').nth(2).unwrap_or(header).trim();
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text).replace("\\\"", "\"")
}

/// A server-side dry run of a create: admission runs, nothing is stored.
pub async fn create_dry_run(
    client: &kube::Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
) -> anyhow::Result<Admission> {
    let (ar, scope) = resource_for(client, object).await?;
    let obj: DynamicObject = serde_json::from_value(object.clone())?;
    let params = PostParams { dry_run: true, ..Default::default() };
    classify(api_for(client, &ar, &scope, namespace).create(&params, &obj).await)
}

/// Replaces an existing object with `object` (an UPDATE admission request).
pub async fn update(
    client: &kube::Client,
    object: &serde_json::Value,
    namespace: Option<&str>,
) -> anyhow::Result<Admission> {
    let (ar, scope) = resource_for(client, object).await?;
    let api = api_for(client, &ar, &scope, namespace);
    let name = object["metadata"]["name"].as_str().ok_or_else(|| anyhow::anyhow!("update needs metadata.name"))?;
    let current = api.get(name).await?;
    let mut obj: DynamicObject = serde_json::from_value(object.clone())?;
    obj.metadata.resource_version = current.metadata.resource_version;
    classify(api.replace(name, &PostParams::default(), &obj).await)
}

/// Deletes an object if it exists (cleanup of shared namespaces such as kube-system).
pub async fn delete(client: &kube::Client, object: &serde_json::Value, namespace: Option<&str>) -> anyhow::Result<()> {
    let (ar, scope) = resource_for(client, object).await?;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match api_for(client, &ar, &scope, namespace).delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Parses one or more YAML (or JSON) documents.
pub fn parse_manifests(text: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    anyhow::ensure!(!docs.is_empty(), "the manifest is empty");
    Ok(docs)
}
