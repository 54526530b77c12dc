//! Starting the add-on's two processes, `policy-webhook` and `policy-agent`, and knowing when they
//! are ready. Their output goes to per-install log files: the "add-on logs" scenarios read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cluster::Supervised;

use super::LifecycleError;

/// How long a process may take to listen and report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where `policy-webhook` and `policy-agent` are: `AKS_HARNESS_BIN_DIR`, else next to this
/// executable (or its parent, for test binaries under `target/<profile>/deps`).
pub fn find_binary(name: &str) -> Result<PathBuf, LifecycleError> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AKS_HARNESS_BIN_DIR") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.to_path_buf());
        if let Some(parent) = dir.parent() {
            candidates.push(parent.to_path_buf());
        }
    }
    candidates
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| LifecycleError::BinaryMissing {
            name: name.to_string(),
            searched: candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        })
}

/// Starts `cmd` and waits until it has written its listening address to `addr_file` and `probe_path`
/// answers 200 over `http`. Returns the process and its base URL.
pub async fn spawn_and_wait(
    name: &str,
    cmd: Command,
    log: &Path,
    addr_file: &Path,
    scheme: &str,
    probe_path: &str,
    http: &reqwest::Client,
) -> Result<(Supervised, String), LifecycleError> {
    let _ = std::fs::remove_file(addr_file);
    let mut process = Supervised::spawn(name, cmd, log)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let not_ready = |process: &mut Supervised, why: &str| LifecycleError::NotReady {
        name: name.to_string(),
        why: why.to_string(),
        log: process.log_path().to_path_buf(),
        tail: process.tail(20),
    };
    loop {
        if let Some(status) = process.exit_status() {
            return Err(not_ready(&mut process, &format!("exited with {status}")));
        }
        if let Ok(addr) = std::fs::read_to_string(addr_file) {
            let addr = addr.trim();
            if !addr.is_empty() {
                let base = format!("{scheme}://{addr}");
                let ok = http
                    .get(format!("{base}{probe_path}"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    return Ok((process, base));
                }
            }
        }
        if Instant::now() > deadline {
            return Err(not_ready(&mut process, &format!("{probe_path} not ready within {READY_TIMEOUT:?}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
