//! # azure-sim: a mocked Azure control plane for Azure Policy for AKS
//!
//! A LocalStack-style stand-in for the parts of Azure the 2019 preview and today's add-on touch,
//! faithful enough that the real `az` CLI can be pointed at it (ARM conventions, ADFS login, cloud
//! metadata):
//!
//! | Area | Paths |
//! |---|---|
//! | Auth | `POST /adfs/oauth2/token`, `GET /adfs/.well-known/openid-configuration`, `GET /metadata/endpoints`, `GET /subscriptions`, `GET /tenants` |
//! | Providers | `…/providers[/{ns}[/register\|/unregister]]` (`Registering` → `Registered` after `provider_delay`) |
//! | Preview features | `…/providers/Microsoft.Features/[providers/{ns}/]features[/{name}[/register\|/unregister]]` (`Pending` until approved) |
//! | Resource groups | `…/resourceGroups[/{rg}]` |
//! | Managed clusters | `…/managedClusters[/{name}]`, an LRO; `addonProfiles.azurepolicy` calls the [`AddonController`] |
//! | Policy | `…/policyDefinitions`, `{scope}/providers/Microsoft.Authorization/policyAssignments/{name}` |
//! | PolicyInsights | `{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/{queryResults\|summarize\|triggerEvaluation}` |
//! | Dataplane (ours) | `GET /dataplane/v1/assignments?clusterId=`, `POST /dataplane/v1/reports`, `GET /policies/{kubernetes\|custom}/{file}` |
//! | Template store | `GET /kubernetes/{slug}/v{N}/template.yaml` (policy-library's templates, for `store.policy.core.windows.net`) |
//! | Admin (ours) | `/admin/faults`, `/admin/features/approve`, `/admin/subscriptions`, `/admin/reports` |
//!
//! Errors are ARM's `{"error":{"code","message"}}`; see `docs/contracts.md` §3–4 and §7 for the
//! dataplane, the controller trait and the built-in Rego files.
//!
//! ```no_run
//! # async fn demo() -> Result<(), azure_sim::SimError> {
//! use std::sync::Arc;
//! let sim = azure_sim::AzureSim::start(azure_sim::SimConfig::default(), Arc::new(azure_sim::NoopAddonController)).await?;
//! let scenario = sim.new_subscription("scenario 1");
//! let token = sim.token_for(&scenario.subscription_id)?;
//! println!("{} {:?} {token}", sim.arm_url(), sim.ca_path());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod addon;
mod admin;
mod app;
mod arm;
mod assignments;
mod auth;
mod builtins;
mod compliance;
mod compliance_components;
mod config;
mod dataplane;
mod definitions;
mod error;
mod faults;
mod features;
mod ids;
mod kubernetes_builtins;
mod kubernetes_definitions;
mod lro;
mod managed_clusters;
mod odata;
mod parameters;
mod providers;
mod request;
mod resource_groups;
mod server;
mod state;
mod subscriptions;
mod template_store;

pub use addon::{AddonController, AddonError, AddonGeneration, AddonInstall, NoopAddonController};
pub use config::SimConfig;
pub use error::{ArmError, SimError};
pub use faults::{Fault, FaultRule, Faults};
pub use server::{AzureSim, RunningSim};
pub use subscriptions::SubscriptionCredentials;

/// The two preview features as `(namespace, name)`.
pub mod preview_features {
    pub use crate::features::{AZURE_POLICY_FEATURE, DATAPLANE_FEATURE};
}

/// The built-in catalog: `(guid, policyId, rego file name)` of each of the nine 2019 definitions.
pub fn builtin_definitions() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    builtins::BUILTINS.iter().map(|b| (b.policy.guid, b.policy.policy_id, b.policy.file))
}

/// Today's built-in catalog: `(file stem, definition JSON)` of each of the 54
/// `Microsoft.Kubernetes.Data` definitions (`builtins/kubernetes/<File>.json`), as ARM serves them.
pub fn kubernetes_builtin_definitions() -> impl Iterator<Item = (&'static str, &'static serde_json::Value)> {
    kubernetes_builtins::file_names().zip(kubernetes_builtins::all())
}
