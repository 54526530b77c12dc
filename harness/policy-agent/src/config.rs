//! Command-line and environment configuration.
//!
//! The variable names follow the later public add-on chart (`REFRESH_INTERVAL`, `AUDIT_INTERVAL`,
//! `DATAPLANE_ENDPOINT`, `RESOURCE_ID`), so a harness can start the agent the way AKS started the
//! real one; every variable is also a flag (contracts §6).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use contracts::AddonGeneration;

/// The agent's whole configuration. `Config::parse()` reads flags, then env vars.
#[derive(Clone, Debug, Parser)]
#[command(name = "policy-agent", version, about = "Azure Policy for AKS add-on (2019 preview simulation)")]
pub struct Config {
    /// Which add-on this agent is: `preview` (the 2019 add-on: Rego in ConfigMaps) or `current`
    /// (Gatekeeper v3 ConstraintTemplates and Constraints).
    #[arg(long, env = "ADDON_GENERATION", default_value = "preview", value_parser = parse_generation)]
    pub generation: AddonGeneration,

    /// How often assignments are fetched and installed [default: 5m for preview, 15m for current].
    #[arg(long, env = "REFRESH_INTERVAL", value_parser = humantime::parse_duration)]
    pub refresh_interval: Option<Duration>,

    /// How often the full scan runs and compliance is reported [default: 5m for preview, 15m for current].
    #[arg(long, env = "AUDIT_INTERVAL", value_parser = humantime::parse_duration)]
    pub audit_interval: Option<Duration>,

    /// azure-sim's base URL (ARM and dataplane share it).
    #[arg(long, env = "DATAPLANE_ENDPOINT")]
    pub dataplane_endpoint: String,

    /// The managed cluster's ARM resource id.
    #[arg(long, env = "RESOURCE_ID")]
    pub resource_id: String,

    /// PEM CA that signs the dataplane's HTTPS certificate (omit for plain HTTP).
    #[arg(long, env = "DATAPLANE_CA_FILE")]
    pub dataplane_ca_file: Option<PathBuf>,

    #[arg(long, env = "AZURE_TENANT_ID", default_value = "")]
    pub tenant_id: String,

    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub client_id: String,

    #[arg(long, env = "AZURE_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,

    /// The only namespace the agent touches.
    #[arg(long, env = "POLICY_NAMESPACE", default_value = "azure-policy")]
    pub policy_namespace: String,

    /// policy-webhook's base URL (`https://127.0.0.1:<port>`).
    #[arg(long, env = "WEBHOOK_URL")]
    pub webhook_url: String,

    /// Bearer token the webhook requires on `/v1/audit` and `/v1/denials` (its `--read-token`).
    #[arg(long, env = "WEBHOOK_READ_TOKEN", hide_env_values = true)]
    pub webhook_read_token: Option<String>,

    /// PEM CA that signs the webhook's serving certificate.
    #[arg(long, env = "WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<PathBuf>,

    /// kubeconfig of the agent's ServiceAccount identity (else in-cluster / default inference).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Address of the health/metrics/trigger server.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:0")]
    pub listen_addr: SocketAddr,

    /// Write the real listen address here once bound (for port 0).
    #[arg(long)]
    pub addr_file: Option<PathBuf>,

    /// Per-request timeout for dataplane and webhook calls.
    #[arg(long, env = "HTTP_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_timeout: Duration,

    /// Longest single back-off wait between retries (429 Retry-After is honoured up to this too).
    #[arg(long, env = "RETRY_CAP", default_value = "30s", value_parser = humantime::parse_duration)]
    pub retry_cap: Duration,

    /// How many unacknowledged reports are kept; the oldest is dropped (and counted) beyond it.
    #[arg(long, env = "REPORT_QUEUE_CAPACITY", default_value_t = 64)]
    pub report_queue_capacity: usize,
}

impl Config {
    /// The refresh interval: as given, else the generation's default (the 2019 add-on's 5 minutes,
    /// today's 15 minutes, reference §3.1).
    pub fn refresh_every(&self) -> Duration {
        self.refresh_interval.unwrap_or_else(|| default_interval(self.generation))
    }

    /// The audit interval: as given, else the generation's default.
    pub fn audit_every(&self) -> Duration {
        self.audit_interval.unwrap_or_else(|| default_interval(self.generation))
    }
}

fn default_interval(generation: AddonGeneration) -> Duration {
    match generation {
        AddonGeneration::Preview2019 => Duration::from_secs(5 * 60),
        AddonGeneration::Current => Duration::from_secs(15 * 60),
    }
}

fn parse_generation(s: &str) -> Result<AddonGeneration, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_humantime_and_default_to_five_minutes() {
        let base = [
            "policy-agent",
            "--dataplane-endpoint",
            "http://x",
            "--resource-id",
            "/s/c",
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--webhook-url",
            "https://w",
        ];
        let c = Config::try_parse_from(base).unwrap();
        assert_eq!(c.generation, AddonGeneration::Preview2019);
        assert_eq!(c.refresh_every(), Duration::from_secs(300));
        assert_eq!(c.audit_every(), Duration::from_secs(300));
        assert_eq!(c.policy_namespace, "azure-policy");
        let mut args = base.to_vec();
        args.extend(["--refresh-interval", "2s", "--audit-interval", "1m 30s"]);
        let c = Config::try_parse_from(args).unwrap();
        assert_eq!(c.refresh_every(), Duration::from_secs(2));
        assert_eq!(c.audit_every(), Duration::from_secs(90));

        let mut current = base.to_vec();
        current.extend(["--generation", "current"]);
        let c = Config::try_parse_from(&current).unwrap();
        assert_eq!(c.generation, AddonGeneration::Current);
        assert_eq!((c.refresh_every(), c.audit_every()), (Duration::from_secs(900), Duration::from_secs(900)));
        current.extend(["--audit-interval", "1m"]);
        let c = Config::try_parse_from(&current).unwrap();
        assert_eq!((c.refresh_every(), c.audit_every()), (Duration::from_secs(900), Duration::from_secs(60)));
        let mut wrong = base.to_vec();
        wrong.extend(["--generation", "2030"]);
        assert!(Config::try_parse_from(wrong).unwrap_err().to_string().contains("expected `current` or `preview`"));
    }
}
