//! # contracts: what the parts of aks-policy-harness say to each other, defined once
//!
//! azure-sim, policy-agent and policy-webhook run as separate processes (and are tested
//! separately), so the bodies they exchange are a contract. Each type here is the one definition of
//! its wire form: the server serialises it and the client deserialises the same type, so the two
//! sides cannot drift apart. `docs/contracts.md` describes the protocols (routes, headers,
//! semantics) and points here for the shapes.
//!
//! * [`addon`]: azure-sim's add-on controller seam (`docs/contracts.md` §4): the install request,
//!   and the typed error the controller answers with, which azure-sim turns into ARM errors.
//! * [`agent`]: the agent's trigger API (`docs/contracts.md` §6): which [`Cycle`] to run now.
//! * [`dataplane`]: the add-on ⇄ Azure protocol served by azure-sim (`docs/contracts.md` §3): the
//!   active assignments of a cluster, and the compliance reports the agent posts back.
//! * [`webhook`]: the bodies of the webhook's `GET /v1/audit` and `GET /v1/denials`
//!   (`docs/contracts.md` §5), read by the agent's audit cycle, and of `GET /v1/status`, which the
//!   harness waits on.
//! * [`addon_objects`]: the current add-on's names, labels and annotations on the ConstraintTemplates
//!   and Constraints it installs.
//! * [`gatekeeper`]: the bodies of the current add-on's Gatekeeper process read API (its audit and
//!   real-time admission results, `docs/contracts.md` §11), read by the agent's audit cycle.
//! * [`credential`]: the bearer token on `/admin` and the webhook's read endpoints when a listener is
//!   reachable beyond loopback (`docs/contracts.md` §10).
//! * [`policy_parameters`]: ARM's rules for policy parameters (declared types, defaults, allowed
//!   values, `[parameters('x')]`), shared by azure-sim's assignments and `harness policy check`.
//! * [`policy_configmaps`]: what the agent writes into the add-on namespace and the webhook loads
//!   from it (`docs/contracts.md` §6): which ConfigMaps are policies, and the enforcement mark.
//!
//! The crate depends on serde, serde_json, chrono, sha2 and thiserror only, so every part can use it without
//! pulling in a Kubernetes client, a web framework or the Rego engine.

pub mod addon;
pub mod addon_objects;
pub mod agent;
pub mod credential;
pub mod dataplane;
pub mod gatekeeper;
pub mod policy_configmaps;
pub mod policy_parameters;
pub mod webhook;

pub use addon::{AddonError, AddonGeneration, AddonInstall};
pub use agent::Cycle;
pub use dataplane::EnforcementMode;
pub use webhook::ResourceRef;
