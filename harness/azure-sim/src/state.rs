//! The simulator's whole world, in memory, and its optional persistence.
//!
//! Everything lives in one [`SimState`] behind one mutex: requests are short and never hold the lock
//! across an `.await`, so a single lock keeps every invariant (a cluster and its operation, an
//! assignment and its compliance states) consistent without lock ordering. With a state file, each
//! mutation is written to a temporary file and renamed over the old one while the lock is held, so
//! files are written in mutation order and a kill leaves either the old or the new state, never half.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use contracts::AddonGeneration;
use contracts::dataplane::{ComplianceReport, Violation};

use crate::error::SimError;
use crate::ids::key;

/// A registration state of a provider or a preview feature, as ARM spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegState {
    NotRegistered,
    Pending,
    Registering,
    Registered,
    Unregistering,
    Unregistered,
}

impl RegState {
    pub fn as_str(self) -> &'static str {
        match self {
            RegState::NotRegistered => "NotRegistered",
            RegState::Pending => "Pending",
            RegState::Registering => "Registering",
            RegState::Registered => "Registered",
            RegState::Unregistering => "Unregistering",
            RegState::Unregistered => "Unregistered",
        }
    }
}

/// A principal that can get tokens: a service principal (client credentials) or a user (password).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Principal {
    pub client_id: String,
    pub secret: String,
    /// Set for users (password grant); the client id is then the object id.
    pub username: Option<String>,
    /// Subscription ids (lower case) this principal may read and change.
    pub subscriptions: Vec<String>,
}

/// A provider's registration in one subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderReg {
    pub namespace: String,
    pub state: RegState,
    /// When a `Registering`/`Unregistering` state settles (the provider delay).
    pub settles_at: Option<DateTime<Utc>>,
    /// Event sequence number of the last register call (for the "re-register after approval" rule).
    pub register_seq: u64,
}

/// A preview feature's state in one subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureReg {
    pub namespace: String,
    pub name: String,
    pub state: RegState,
    /// Event sequence number of the moment the feature became `Registered`.
    pub registered_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub name: String,
    pub location: String,
    pub tags: Value,
}

/// A managed cluster: the resource body as last accepted, plus what the mock knows about the add-on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedCluster {
    pub id: String,
    pub resource_group: String,
    pub name: String,
    /// The full resource body returned by GET (id/name/type/location/tags/properties...).
    pub body: Value,
    /// Whether the add-on controller installed the add-on (and has not uninstalled it since).
    pub addon_installed: bool,
    /// The service principal minted for the add-on of this cluster.
    pub addon_client_id: Option<String>,
}

/// A subscription and everything in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub display_name: String,
    /// Client id of the service principal created with the subscription (its owner).
    pub owner_client_id: String,
    pub providers: BTreeMap<String, ProviderReg>,
    pub features: BTreeMap<String, FeatureReg>,
    pub resource_groups: BTreeMap<String, ResourceGroup>,
    /// Keyed by lower-case `rg/name`.
    pub clusters: BTreeMap<String, ManagedCluster>,
    /// Custom policy definitions, keyed by lower-case name; values are full definition bodies.
    pub definitions: BTreeMap<String, Value>,
    /// Which add-on enabling `azurepolicy` installs on this subscription's clusters: fixed at
    /// creation from [`crate::SimConfig::addon_generation`], changed only by
    /// [`crate::RunningSim::set_addon_generation`]. A state file written before there were two
    /// generations held only 2019-preview subscriptions, so a missing field reads as the preview.
    #[serde(default = "addon_generation::before_generations", with = "addon_generation")]
    pub addon_generation: AddonGeneration,
}

/// The add-on generation in the state file, spelled as `--addon-generation` spells it (`current`,
/// `preview`): `contracts` keeps its wire types free of serde for this enum.
mod addon_generation {
    use contracts::AddonGeneration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn before_generations() -> AddonGeneration {
        AddonGeneration::Preview2019
    }

    pub fn serialize<S: Serializer>(generation: &AddonGeneration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(generation.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AddonGeneration, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A policy assignment as stored (the response body is rendered from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub subscription: String,
    /// The `properties` object, normalised (scope, notScopes, enforcementMode, parameters present).
    pub properties: Value,
    pub location: Option<Value>,
    pub identity: Option<Value>,
}

/// The status document of a long-running operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub subscription: String,
    pub status: OperationStatus,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// Set when the operation `Failed`.
    pub error: Option<OperationError>,
    /// Final body of a 202+Location operation (`None` → 204 when done).
    pub result: Option<Value>,
}

/// Where a long-running operation is, as ARM's status document spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// Why an operation failed: the `error` of its status document, `{"code","message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationError {
    pub code: String,
    pub message: String,
}

impl OperationError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_string(), message: message.into() }
    }
}

/// The compliance state of one assignment on one cluster, from the latest accepted report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatestState {
    pub cluster_id: String,
    pub assignment_id: String,
    pub compliance_state: String,
    pub timestamp: DateTime<Utc>,
    pub report_id: String,
    pub violations: Vec<Violation>,
    /// Today's add-on (a report's `constraintAssignments`): its components and reasons. `None` for
    /// 2019 records, and absent from older state files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<crate::compliance_components::ConstraintRecord>,
}

/// TLS material kept in the state file, so a restarted server keeps the CA clients already trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Everything the simulator knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimState {
    pub tenant_id: String,
    /// HMAC key for tokens (hex). Persisted, so tokens survive a restart with `--state-file`.
    pub signing_key: String,
    pub default_subscription: String,
    pub default_client_id: String,
    /// Monotonic event counter: orders feature approvals against provider registrations.
    pub seq: u64,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub principals: BTreeMap<String, Principal>,
    pub assignments: BTreeMap<String, Assignment>,
    pub operations: BTreeMap<String, Operation>,
    /// Accepted dataplane reports, in arrival order.
    pub reports: Vec<ComplianceReport>,
    /// Keyed by lower-case `cluster-id|assignment-id`.
    pub latest: BTreeMap<String, LatestState>,
    pub tls: Option<TlsMaterial>,
}

impl SimState {
    /// Advances and returns the event counter.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.get(&key(id))
    }

    pub fn subscription_mut(&mut self, id: &str) -> Option<&mut Subscription> {
        self.subscriptions.get_mut(&key(id))
    }

    /// The add-on `subscription`'s clusters get (today's for an unknown subscription, which no
    /// request gets this far with).
    pub fn addon_generation(&self, subscription: &str) -> AddonGeneration {
        self.subscription(subscription).map(|s| s.addon_generation).unwrap_or_default()
    }

    /// Finds a cluster by its resource id (any casing).
    pub fn cluster_by_id(&self, id: &str) -> Option<&ManagedCluster> {
        let id = key(id);
        self.subscriptions.values().flat_map(|s| s.clusters.values()).find(|c| key(&c.id) == id)
    }

    pub fn latest_key(cluster_id: &str, assignment_id: &str) -> String {
        format!("{}|{}", key(cluster_id), key(assignment_id))
    }
}

/// The state behind its lock, plus the file it persists to.
pub struct Store {
    state: Mutex<SimState>,
    file: Option<PathBuf>,
}

impl Store {
    pub fn new(state: SimState, file: Option<PathBuf>) -> Self {
        Self { state: Mutex::new(state), file }
    }

    /// Reads the state file, if it exists.
    pub fn load(path: &Path) -> Result<Option<SimState>, SimError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| SimError::CorruptState { path: path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SimError::io(path)(e)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A panic while holding the lock would leave the data as it was at the panic; every mutation
        // validates before it changes anything, so the data is still consistent and usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` with shared access.
    pub fn read<R>(&self, f: impl FnOnce(&SimState) -> R) -> R {
        f(&self.lock())
    }

    /// Runs `f` with exclusive access and persists the result (when a state file is configured).
    pub fn write<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        let mut guard = self.lock();
        let result = f(&mut guard);
        if let Some(path) = &self.file
            && let Err(e) = persist(path, &guard)
        {
            tracing::error!("azure-sim: could not persist state to {}: {e}", path.display());
        }
        result
    }

    /// Writes the state now (used once at startup, so the file exists from the first moment).
    pub fn flush(&self) -> Result<(), SimError> {
        match &self.file {
            Some(path) => persist(path, &self.lock()).map_err(SimError::io(path)),
            None => Ok(()),
        }
    }
}

/// Atomic replace: write a sibling temp file, fsync it, rename it over the target.
fn persist(path: &Path, state: &SimState) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(state).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
