//! The Azure side of a scenario: `az` commands, the preview opt-in, the managed cluster,
//! assignments and compliance, all through azure-sim's real ARM API.

use anyhow::Context as _;

use super::AksWorld;
use crate::az::AzOutput;

/// The preview features and providers of the 2019 opt-in.
pub const PREVIEW_FEATURES: [(&str, &str); 2] = [
    ("Microsoft.ContainerService", "AKS-AzurePolicyAutoApprove"),
    ("Microsoft.PolicyInsights", "AKS-DataplaneAutoApprove"),
];

impl AksWorld {
    /// Runs an `az` command line (placeholders expanded) and keeps its output.
    pub async fn az(&mut self, line: &str) -> &AzOutput {
        let line = self.expand(line);
        let out = self.az.run(&line).await;
        tracing::debug!(command = %line, code = out.exit_code, "az");
        self.last_az = Some(out);
        self.last_az.as_ref().expect("just set")
    }

    /// Runs an `az` command that must succeed; returns its JSON output.
    pub async fn az_ok(&mut self, line: &str) -> anyhow::Result<serde_json::Value> {
        let out = self.az(line).await.clone();
        anyhow::ensure!(out.success(), "`{line}` failed ({}):\n{}", out.exit_code, out.stderr);
        Ok(out.json())
    }

    /// Approves a pending preview feature, as the AKS team did for the limited preview.
    pub fn approve_feature(&self, namespace: &str, name: &str) -> anyhow::Result<()> {
        self.env
            .sim
            .approve_feature(&self.subscription.subscription_id, namespace, name)
            .map_err(|e| anyhow::anyhow!("approve {namespace}/{name}: {e:?}"))
    }

    /// The documented opt-in: the aks-preview extension, both providers and features, approval,
    /// then the providers registered again.
    pub async fn opt_in(&mut self) -> anyhow::Result<()> {
        self.az_ok("az extension add --name aks-preview --version 0.4.0").await?;
        for (ns, feature) in PREVIEW_FEATURES {
            self.az_ok(&format!("az provider register --namespace {ns}")).await?;
            self.az_ok(&format!("az feature register --namespace {ns} --name {feature}")).await?;
            self.approve_feature(ns, feature)?;
        }
        for (ns, _) in PREVIEW_FEATURES {
            self.az_ok(&format!("az provider register --namespace {ns}")).await?;
        }
        Ok(())
    }

    /// Registers Microsoft.ContainerService, then creates the resource group and the AKS cluster:
    /// everything a cluster needs, for callers that are not scenarios (`harness bench`). Scenarios
    /// say each step ([`Self::create_resource_group`], [`Self::create_aks_cluster`]).
    pub async fn create_cluster(&mut self, name: &str, group: &str, version: &str) -> anyhow::Result<()> {
        self.az_ok("az provider register --namespace Microsoft.ContainerService").await?;
        self.create_resource_group(group).await?;
        self.create_aks_cluster(name, group, version).await
    }

    /// `az group create` in westus2; later steps' `{resource-group}` is this group.
    pub async fn create_resource_group(&mut self, group: &str) -> anyhow::Result<()> {
        self.resource_group = group.to_string();
        self.az_ok(&format!("az group create --name {group} --location westus2")).await?;
        Ok(())
    }

    /// `az aks create` and nothing else: the resource group must exist and Microsoft.ContainerService
    /// be registered, as with the real CLI.
    pub async fn create_aks_cluster(&mut self, name: &str, group: &str, version: &str) -> anyhow::Result<()> {
        self.resource_group = group.to_string();
        self.cluster_name = name.to_string();
        let cluster = self
            .az_ok(&format!("az aks create --name {name} --resource-group {group} --kubernetes-version {version}"))
            .await?;
        let id = cluster["id"].as_str().context("az aks create printed no id")?.to_string();
        self.cluster_id = Some(id);
        Ok(())
    }

    /// `az aks enable-addons` with the scenario's add-on settings.
    pub async fn enable_addon(&mut self) -> anyhow::Result<()> {
        let id = self.cluster_id()?.to_string();
        self.env.addon.configure(&id, self.addon_settings.clone());
        let line = format!(
            "az aks enable-addons --addons azure-policy --name {} --resource-group {}",
            self.cluster_name, self.resource_group
        );
        self.az_ok(&line).await?;
        Ok(())
    }

    /// The id of a built-in definition found by display name.
    pub async fn definition_id(&mut self, display_name: &str) -> anyhow::Result<String> {
        let list = self.az_ok("az policy definition list").await?;
        list.as_array()
            .into_iter()
            .flatten()
            .find(|d| {
                [&d["displayName"], &d["properties"]["displayName"]]
                    .iter()
                    .any(|n| n.as_str().is_some_and(|n| n == display_name || n.ends_with(&format!(": {display_name}"))))
            })
            .and_then(|d| d["id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("no policy definition named {display_name:?}"))
    }

    /// Assigns a definition (by display name) at the cluster scope, with parameters given as
    /// `name → JSON value`.
    pub async fn assign(
        &mut self,
        assignment: &str,
        display_name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        scope: Option<&str>,
    ) -> anyhow::Result<String> {
        let definition = self.definition_id(display_name).await?;
        let scope = match scope {
            Some(s) => self.expand(s),
            None => self.cluster_id()?.to_string(),
        };
        let mut line = format!("az policy assignment create --name {assignment} --policy {definition} --scope {scope}");
        if !params.is_empty() {
            let wrapped: serde_json::Map<_, _> =
                params.iter().map(|(k, v)| (k.clone(), serde_json::json!({ "value": v }))).collect();
            line.push_str(&format!(" --params '{}'", serde_json::Value::Object(wrapped)));
        }
        let created = self.az_ok(&line).await?;
        created["id"].as_str().map(str::to_string).context("assignment create printed no id")
    }

    /// The latest compliance record of an assignment on the cluster, if any.
    async fn compliance_record(&mut self, assignment: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let line = format!(
            "az policy state list --expand components --resource {} --filter \"policyAssignmentName eq '{assignment}'\"",
            self.cluster_id()?
        );
        let states = self.az_ok(&line).await?;
        Ok(states.as_array().and_then(|a| a.first()).cloned())
    }

    /// The compliance state azure-sim reports for an assignment on the cluster.
    pub async fn compliance_state(&mut self, assignment: &str) -> anyhow::Result<Option<String>> {
        Ok(self.compliance_record(assignment).await?.and_then(|s| s["complianceState"].as_str().map(str::to_string)))
    }

    /// The per-resource details (`components`) of an assignment's latest compliance record.
    pub async fn compliance_components(&mut self, assignment: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let record = self
            .compliance_record(assignment)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{assignment} has no compliance state"))?;
        Ok(record["components"].as_array().cloned().unwrap_or_default())
    }
}
