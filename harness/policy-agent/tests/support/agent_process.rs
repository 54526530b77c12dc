//! Runs the real `policy-agent` binary for tests: env as the add-on lifecycle would set it, the
//! bound address read from `--addr-file`, stdout/stderr to a log file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use contracts::agent::Cycle;
use policy_agent::triggers::CycleOutcome;

pub struct AgentProcess {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

/// A kubeconfig pointing nowhere, for runs that never reach Kubernetes.
pub fn dummy_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n").unwrap();
    path
}

impl AgentProcess {
    pub async fn spawn(
        dir: &Path,
        dataplane: &str,
        webhook: &str,
        kubeconfig: &Path,
        namespace: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let addr_file = dir.join(format!("agent-{}.addr", uuid::Uuid::new_v4()));
        let log = dir.join("agent.log");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_policy-agent"));
        cmd.env_clear()
            .env("REFRESH_INTERVAL", "1h")
            .env("AUDIT_INTERVAL", "1h")
            .env("DATAPLANE_ENDPOINT", dataplane)
            .env("RESOURCE_ID", super::CLUSTER)
            .env("AZURE_TENANT_ID", "t")
            .env("AZURE_CLIENT_ID", "cid")
            .env("AZURE_CLIENT_SECRET", "secret")
            .env("POLICY_NAMESPACE", namespace)
            .env("WEBHOOK_URL", webhook)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .arg("--addr-file")
            .arg(&addr_file)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in extra_env {
            // Later values win: callers override the 1h intervals or add DATAPLANE_CA_FILE.
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn policy-agent");
        let mut addr = None;
        for _ in 0..500 {
            if let Ok(a) = std::fs::read_to_string(&addr_file) {
                addr = Some(a);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let addr = addr
            .unwrap_or_else(|| panic!("agent did not start: {}", std::fs::read_to_string(&log).unwrap_or_default()));
        Self { child, base: format!("http://{addr}"), log, http: reqwest::Client::new() }
    }

    pub async fn trigger(&self, cycle: Cycle) -> CycleOutcome {
        let resp = self.http.post(format!("{}{}", self.base, cycle.trigger_path())).send().await.unwrap();
        assert!(resp.status().is_success());
        resp.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> String {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap().text().await.unwrap()
    }

    /// `VmHWM` (peak RSS) in KiB, from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
