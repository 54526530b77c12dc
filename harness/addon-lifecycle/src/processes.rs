//! Starting the add-on's processes and knowing when they are ready: `policy-webhook` and
//! `policy-agent` for the 2019 preview, `gatekeeper` and `policy-agent --generation current` for
//! today's add-on. Their output goes to per-install log files: the "add-on logs" scenarios read.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cluster::Supervised;

use super::install_dir::{InstallDir, Serving, local_webhook_url};
use super::{LifecycleError, http_client};

/// How long a process may take to listen and report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The add-on's processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddonProcess {
    /// The 2019 preview's admission webhook (Gatekeeper v2 with kube-mgmt).
    Webhook,
    /// The agent of either generation.
    Agent,
    /// Today's Gatekeeper v3: template controller, `validation.gatekeeper.sh` and audit.
    Gatekeeper,
}

impl AddonProcess {
    /// The standalone binary's name.
    pub fn binary_name(self) -> &'static str {
        match self {
            AddonProcess::Webhook => "policy-webhook",
            AddonProcess::Agent => "policy-agent",
            AddonProcess::Gatekeeper => "gatekeeper",
        }
    }

    /// The role's first argument in a multicall executable (`harness webhook …`).
    pub fn role(self) -> &'static str {
        match self {
            AddonProcess::Webhook => "webhook",
            AddonProcess::Agent => "agent",
            AddonProcess::Gatekeeper => "gatekeeper",
        }
    }

    fn from_role(role: &std::ffi::OsStr) -> Option<Self> {
        [AddonProcess::Webhook, AddonProcess::Agent, AddonProcess::Gatekeeper].into_iter().find(|p| role == p.role())
    }

    /// Runs this process's `main` with `args` (the first is the program name).
    fn run(self, args: Vec<std::ffi::OsString>) -> ExitCode {
        match self {
            AddonProcess::Webhook => policy_webhook::cli::process_main(args),
            AddonProcess::Agent => policy_agent::process_main(args),
            AddonProcess::Gatekeeper => gatekeeper::process_main(args),
        }
    }
}

/// Set once this executable has called [`dispatch_addon_process`]: it can then be started again in
/// a role, so the add-on needs no other binary.
static MULTICALL: AtomicBool = AtomicBool::new(false);

/// Call first thing in `main` of every executable that installs the add-on (the `harness` binary,
/// the scenario test). When the arguments ask for an add-on role (`webhook …`, `agent …` or
/// `gatekeeper …`), runs
/// that process to the end and returns its exit code; otherwise returns `None` and marks this
/// executable as able to play the roles. One build then holds everything, the way k3s ships one
/// binary, and an installed `harness` is self-contained.
pub fn dispatch_addon_process() -> Option<ExitCode> {
    MULTICALL.store(true, Ordering::Relaxed);
    let mut args = std::env::args_os();
    let program = args.next()?;
    let process = AddonProcess::from_role(&args.next()?)?;
    let name = std::ffi::OsString::from(format!("{} {}", program.to_string_lossy(), process.role()));
    Some(process.run(std::iter::once(name).chain(args).collect()))
}

/// The command that starts `process`: the standalone binary from `AKS_HARNESS_BIN_DIR` when set,
/// else this executable in its role (see [`dispatch_addon_process`]), else the standalone binary
/// next to this executable (or its parent, for test binaries under `target/<profile>/deps`).
pub fn command_for(process: AddonProcess) -> Result<Command, LifecycleError> {
    let name = process.binary_name();
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AKS_HARNESS_BIN_DIR") {
        candidates.push(PathBuf::from(dir));
    } else if let Ok(exe) = std::env::current_exe() {
        if MULTICALL.load(Ordering::Relaxed) {
            // `/proc/self/exe` is this very image even after a rebuild has replaced or removed the
            // file at `exe` (a shared target directory), when `exe` would be missing or newer code.
            let image = Path::new("/proc/self/exe");
            let mut cmd = Command::new(if image.exists() { image } else { exe.as_path() });
            cmd.arg0(&exe).arg(process.role());
            return Ok(cmd);
        }
        if let Some(dir) = exe.parent() {
            candidates.push(dir.to_path_buf());
            candidates.extend(dir.parent().map(Path::to_path_buf));
        }
    }
    candidates.iter().map(|d| d.join(name)).find(|p| p.is_file()).map(Command::new).ok_or_else(|| {
        LifecycleError::BinaryMissing {
            name: name.to_string(),
            searched: candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        }
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
                let base = format!("{scheme}://{}", callable(addr));
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

/// The admission process of either generation (`gatekeeper`, or the 2019 `policy-webhook`), started
/// by [`start_admission`].
#[derive(Debug)]
pub struct Admission {
    pub process: Supervised,
    /// The port the API server calls it on, at the cluster's webhook host.
    pub port: u16,
    /// The process as this machine calls it (see [`local_webhook_url`]).
    pub url: String,
    /// Its serving certificate and the CA that signed it (the configuration's `caBundle`).
    pub serving: Serving,
    /// The bearer token of its read endpoints, which carry cluster objects: only the agent gets it.
    pub read_token: String,
}

/// Starts the admission process `process` from `cmd` (its command with its own arguments) and waits
/// until its `/readyz` answers: a fresh serving certificate for the cluster's webhook host, the
/// listening address the API server can reach, a new read token in environment variable
/// `token_env` (not argv, which `ps` shows), and `kubeconfig` as its identity. Its address and log
/// go to the install's directory.
pub async fn start_admission(
    cluster: &cluster::Cluster,
    dir: &InstallDir,
    process: AddonProcess,
    mut cmd: Command,
    token_env: &str,
    kubeconfig: &Path,
) -> Result<Admission, LifecycleError> {
    let serving = dir.issue_serving_certificate(cluster)?;
    let host = cluster.webhook();
    let read_token = pki::random_token();
    let addr_file = dir.file(&format!("{}.addr", process.role()));
    cmd.env(token_env, &read_token)
        .arg(format!("--listen={}", host.listen_addr()))
        .arg("--tls-cert-file")
        .arg(&serving.cert_file)
        .arg("--tls-key-file")
        .arg(&serving.key_file)
        .arg("--addr-file")
        .arg(&addr_file)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUST_LOG", "info");
    let name = process.binary_name();
    let log = dir.file(&format!("{name}.log"));
    let http = http_client(Some(&serving.ca_pem));
    let (process, base) = spawn_and_wait(name, cmd, &log, &addr_file, "https", "/readyz", &http).await?;
    let (port, url) = local_webhook_url(host, &base);
    Ok(Admission { process, port, url, serving, read_token })
}

/// A listening address as this machine calls it: one bound to all addresses (`0.0.0.0:port`,
/// `[::]:port`) is called on loopback, which its certificate names.
fn callable(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sock) if sock.ip().is_unspecified() => {
            let loopback: std::net::IpAddr = match sock.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            std::net::SocketAddr::from((loopback, sock.port())).to_string()
        }
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_bound_everywhere_is_called_on_loopback() {
        assert_eq!(super::callable("0.0.0.0:8443"), "127.0.0.1:8443");
        assert_eq!(super::callable("[::]:8443"), "[::1]:8443");
        assert_eq!(super::callable("127.0.0.2:8443"), "127.0.0.2:8443");
        assert_eq!(super::callable("172.18.0.1:8443"), "172.18.0.1:8443");
    }
}
