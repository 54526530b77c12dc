//! Putting a CRD into the API server: server-side apply under Gatekeeper's field manager, then a
//! bounded wait for `Established` (before that, objects of the new kind are refused as unknown).

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use super::config_crd::{CONFIG_CRD_NAME, config_crd};
use super::template_crd::{CRD_NAME, constraint_template_crd};

/// The field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "gatekeeper-controller";

/// How long a new CRD may take to become Established (the API server needs well under a second).
pub const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The API server refused or failed the apply.
    #[error("applying CRD {name}: {source}")]
    Apply {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("watching CRD {name} for Established: {source}")]
    Watch {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
    #[error("CRD {name} was not Established within {after:?}")]
    NotEstablished { name: String, after: Duration },
}

impl CrdError {
    /// The API server's own refusal (4xx other than conflicts and throttling): retrying the same
    /// object cannot help, so it is a result to report, not an error to retry.
    pub fn refusal(&self) -> Option<&kube::core::Status> {
        match self {
            CrdError::Apply { source: kube::Error::Api(status), .. }
                if (400..500).contains(&status.code) && ![409, 429].contains(&status.code) =>
            {
                Some(status)
            }
            _ => None,
        }
    }
}

/// Server-side apply `crd` (forced: the controller owns these fields).
pub async fn apply_crd(client: &kube::Client, crd: &CustomResourceDefinition) -> Result<(), CrdError> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(crd))
        .await
        .map(|_| ())
        .map_err(|source| CrdError::Apply { name, source })
}

/// Wait, at most `timeout`, until the CRD `name` is Established.
pub async fn wait_established(client: &kube::Client, name: &str, timeout: Duration) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    match tokio::time::timeout(timeout, await_condition(api, name, conditions::is_crd_established())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(CrdError::Watch { name: name.into(), source }),
        Err(_) => Err(CrdError::NotEstablished { name: name.into(), after: timeout }),
    }
}

/// Install the ConstraintTemplate and Config CRDs and wait until templates and the `Config` can
/// be created.
pub async fn install_crds(client: &kube::Client) -> Result<(), CrdError> {
    apply_crd(client, &constraint_template_crd()).await?;
    apply_crd(client, &config_crd()).await?;
    wait_established(client, CRD_NAME, ESTABLISH_TIMEOUT).await?;
    wait_established(client, CONFIG_CRD_NAME, ESTABLISH_TIMEOUT).await
}
