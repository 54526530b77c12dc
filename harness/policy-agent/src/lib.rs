//! # policy-agent: the `azurepolicy` add-on (Azure Policy for AKS, 2019 preview)
//!
//! With `--generation current` (env `ADDON_GENERATION`) it is today's add-on agent instead: the
//! same HTTP server and triggers, but Gatekeeper v3 ConstraintTemplates and Constraints instead of
//! ConfigMaps, and constraint compliance from the `gatekeeper` process; see [`current`]. What
//! follows describes the 2019 preview (`--generation preview`, the default).
//!
//! Two loops, as the 2019 documentation describes them:
//!
//! * **Refresh** ([`refresh_cycle`], every `REFRESH_INTERVAL`, default 5m): fetch the cluster's active
//!   assignments from the dataplane, download each Rego (retry with back-off), fill its placeholders
//!   with `policy_engine::fill_placeholders` (`{{AzurePolicyID}}` = the full assignment id, contracts
//!   §2), then **delete every ConfigMap in the policy namespace and create one per assignment**
//!   ([`configmap_cache`] has the naming). Hand edits and extra ConfigMaps are gone after one cycle,
//!   removed or `Disabled` assignments disappear in one cycle, and a run killed half-way converges on
//!   the next (deterministic names, create-or-replace on conflict).
//! * **Audit** ([`audit_cycle`], every `AUDIT_INTERVAL`, default 5m): the webhook's full scan
//!   (`/v1/audit`) merged with its real-time denials (`/v1/denials?since=`), one report per cycle with
//!   Compliant/NonCompliant per active assignment, sent by [`reporting`] with retry and an idempotency
//!   key so that nothing is lost or double-counted.
//!
//! ## Deviations from the 2019 add-on (documented choices)
//!
//! * **Last good policy on refresh failure.** A failed download or substitution does not drop an
//!   assignment's enforcement: its last good Rego stays (from memory, or from the ConfigMap in the
//!   cluster on a fresh start) and the failure is logged, counted
//!   (`policy_agent_errors_total{kind="policy_download"|"placeholder"}`) and reported as
//!   `refreshErrors` in the next report. An unreachable dataplane leaves the cluster untouched.
//! * **`kube-root-ca.crt` is not deleted** by the delete-all pass (it postdates 2019 and the control
//!   plane recreates it at once): it is not a policy (`contracts::policy_configmaps::is_policy`).
//! * **`DoNotEnforce` assignments are audited but not enforced.** The 2019 add-on predates the
//!   assignment's `enforcementMode`; this one writes such an assignment's ConfigMap as usual, marked
//!   with the annotation `contracts::policy_configmaps::ENFORCEMENT_MODE_ANNOTATION`, and the webhook
//!   then leaves it out of admission but keeps it in the audit. A mode change changes the ConfigMap,
//!   so it takes effect at the next refresh.
//! * **Denials come from the webhook, not the API server audit log**: it is what Gatekeeper itself
//!   knows, carries the policy (= assignment) ids, and is available on every backend without extra
//!   privileges (see [`audit_cycle`]).
//!
//! ## Least privilege (RBAC the add-on lifecycle must grant)
//!
//! A namespaced `Role` in the policy namespace (default `azure-policy`), bound to the agent's
//! ServiceAccount, with exactly:
//!
//! ```yaml
//! rules:
//! - apiGroups: [""]
//!   resources: ["configmaps"]
//!   verbs: ["list", "get", "create", "update", "delete"]
//! ```
//!
//! `list` (refresh reads the namespace before deleting), `delete` (delete-all), `create` (recreate),
//! `get` + `update` (create-or-replace after a 409). Nothing cluster-wide: no `watch`, no
//! `deletecollection`, no other resource, no other namespace. The agent reads cluster objects only
//! indirectly, through the webhook's audit endpoint.
//!
//! ## Running it
//!
//! Every setting is an env var and a flag (see [`config::Config`]); `policy-agent --help` lists them.
//! HTTP (on `LISTEN_ADDR`, default `127.0.0.1:0`; the bound address is logged and written to
//! `--addr-file`): `GET /healthz`, `GET /metrics`, `GET /status`, `POST /trigger/refresh`,
//! `POST /trigger/audit` (both wait for the triggered cycle: `{"cycle":n,"ok":bool,"error"?}`).
//! Each finished cycle logs `refresh cycle completed cycle=<n> configmaps=<k> …` or
//! `audit cycle completed cycle=<n> …`.

pub mod agent;
pub mod audit_cycle;
pub mod backoff;
pub mod config;
pub mod configmap_cache;
pub mod current;
pub mod dataplane_client;
pub mod http_client;
pub mod metrics;
pub mod refresh_cycle;
pub mod reporting;
pub mod server;
pub mod token;
pub mod triggers;
pub mod webhook_client;

/// The whole `policy-agent` process: parses `args` (the first is the program name), logs to stderr,
/// runs until its loops end or SIGINT/SIGTERM. The standalone binary and the multicall
/// `harness agent` both start here, so they cannot differ.
pub fn process_main<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser as _;
    pki::install_ring_provider();
    let cfg = config::Config::parse_from(args);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("policy-agent: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let handle = match agent::start(cfg).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "policy-agent failed to start");
                eprintln!("policy-agent: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("policy-agent: cannot handle SIGTERM: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        tokio::select! {
            _ = handle.wait() => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; exiting"),
            _ = term.recv() => tracing::info!("terminated; exiting"),
        }
        std::process::ExitCode::SUCCESS
    })
}
