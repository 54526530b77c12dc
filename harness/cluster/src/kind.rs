//! A throwaway kind cluster, through the `kind` command, for users and CI runners with Docker.
//!
//! - **Found or skipped.** `kind` comes from `KIND` (a path) or `PATH`; without it, or without a
//!   Docker engine, the backend is skipped with one line, as k3s is.
//! - **Named per run.** `harness-<pid>-<n>`: two harness runs on one machine, or two clusters in one
//!   run, never collide, and `kind get clusters` shows whose they are.
//! - **Pinned.** The node image is the Kubernetes minor the local backend builds
//!   ([`NODE_IMAGE`], overridable with `HARNESS_KIND_IMAGE`), so every backend runs one API server
//!   version. kind supports a node image only with the kind release that built it, so it is pinned
//!   by digest with that release ([`KIND_RELEASE`]).
//! - **Its own kubeconfig.** `kind create cluster --kubeconfig <run dir>/kubeconfig` writes the
//!   file the harness uses, and leaves the user's `~/.kube/config` alone.
//! - **Deleted whatever happens.** On a normal exit the cluster is deleted before the process ends
//!   (the crate's exit hook, as for the local control plane). A Ctrl-C, a panic that aborts or a
//!   SIGKILL gives no chance to run anything, so a [`Reaper`] is armed before the cluster is
//!   created: when this process ends for any reason, it runs `kind delete cluster`; a clean stop
//!   disarms it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::reaper::Reaper;
use crate::{Backend, ClusterError};

/// The kind release whose node image is pinned (the CI workflow installs this one).
pub const KIND_RELEASE: &str = "v0.33.0";
/// kind v0.33.0's node image for Kubernetes v1.36, the minor `scripts/build-control-plane.sh` builds.
pub const NODE_IMAGE: &str =
    "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";
/// Overrides [`NODE_IMAGE`].
pub const IMAGE_ENV: &str = "HARNESS_KIND_IMAGE";
/// A path to the `kind` binary, else it is looked up on `PATH`.
pub const BINARY_ENV: &str = "KIND";
/// The Docker network kind puts its nodes on.
pub const NETWORK: &str = "kind";
/// How long kind may wait for the control plane to be ready (`--wait`).
const CREATE_WAIT: &str = "5m";

/// The `kind` binary: `kind_env` (the value of `KIND`) when set, else the first `kind` on
/// `path_env` (the value of `PATH`). `Err` says where it looked, for the skip line.
pub fn locate(kind_env: Option<&OsStr>, path_env: Option<&OsStr>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if let Some(given) = kind_env.filter(|v| !v.is_empty()) {
        let path = PathBuf::from(given);
        return if runnable(&path) {
            Ok(path)
        } else {
            Err(format!("{BINARY_ENV}={} is not an executable file", path.display()))
        };
    }
    path_env.into_iter().flat_map(std::env::split_paths).map(|dir| dir.join("kind")).find(|p| runnable(p)).ok_or_else(
        || {
            format!(
                "no kind on PATH and {BINARY_ENV} is not set; install kind {KIND_RELEASE} from https://kind.sigs.k8s.io"
            )
        },
    )
}

/// The node image: `image_env` (the value of `HARNESS_KIND_IMAGE`) when set, else [`NODE_IMAGE`].
pub fn node_image(image_env: Option<&str>) -> String {
    image_env.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(NODE_IMAGE).to_string()
}

/// The name of the `n`-th cluster of process `pid`.
pub fn cluster_name(pid: u32, n: usize) -> String {
    format!("harness-{pid}-{n}")
}

/// A fresh name for this process's next cluster.
fn next_cluster_name() -> String {
    static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
    cluster_name(std::process::id(), CLUSTERS.fetch_add(1, Ordering::Relaxed))
}

/// `kind create cluster`'s arguments: the cluster's own kubeconfig, the pinned image, and a wait
/// for a ready control plane.
pub fn create_args(name: &str, image: &str, kubeconfig: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["create", "cluster", "--name", name, "--image", image, "--wait", CREATE_WAIT, "--kubeconfig"]
            .map(OsString::from)
            .to_vec();
    args.push(kubeconfig.into());
    args
}

/// `kind delete cluster`'s arguments (the kubeconfig is the one the cluster was created with, so
/// kind cleans that file instead of the user's).
pub fn delete_args(name: &str, kubeconfig: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["delete", "cluster", "--name", name, "--kubeconfig"].map(OsString::from).to_vec();
    args.push(kubeconfig.into());
    args
}

/// A running kind cluster.
#[derive(Debug)]
pub struct KindCluster {
    name: String,
    binary: PathBuf,
    kubeconfig: PathBuf,
    log: PathBuf,
    reaper: Option<Reaper>,
}

impl KindCluster {
    /// Whether this backend can run here: `Err` is the skip (no kind, or no Docker engine).
    pub async fn preflight() -> Result<PathBuf, ClusterError> {
        let binary = locate(std::env::var_os(BINARY_ENV).as_deref(), std::env::var_os("PATH").as_deref())
            .map_err(|reason| ClusterError::Unavailable { backend: Backend::Kind, missing: "kind", reason })?;
        crate::docker::probe().await.map_err(|reason| ClusterError::docker_unavailable(Backend::Kind, reason))?;
        Ok(binary)
    }

    /// Creates a cluster with `binary` (see [`Self::preflight`]); its kubeconfig and logs go to `run_dir`.
    pub async fn create(binary: PathBuf, run_dir: &Path) -> Result<Self, ClusterError> {
        let name = next_cluster_name();
        let kubeconfig = run_dir.join("kubeconfig");
        let log = run_dir.join("kind.log");
        // Armed first: a Ctrl-C half-way through `kind create` still leaves nothing behind.
        let mut delete = vec![binary.clone().into_os_string()];
        delete.extend(delete_args(&name, &kubeconfig));
        let reaper = Reaper::arm(&delete, &std::env::temp_dir().join(format!("{name}-reaper.log")))?;
        let mut cluster = Self { name, binary, kubeconfig, log, reaper: Some(reaper) };
        let image = node_image(std::env::var(IMAGE_ENV).ok().as_deref());
        eprintln!("kind: creating cluster {} with {image} (a first pull takes a minute)", cluster.name);
        if let Err(err) = cluster.kind(create_args(&cluster.name, &image, &cluster.kubeconfig)).await {
            cluster.delete().await;
            return Err(err);
        }
        Ok(cluster)
    }

    /// Runs kind with `args`, its output appended to the cluster's log.
    async fn kind(&self, args: Vec<OsString>) -> Result<(), ClusterError> {
        let what = format!("kind {}", args.iter().take(2).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ClusterError::io(format!("open {}", self.log.display()), e))?;
        let err = out.try_clone().map_err(|e| ClusterError::io("clone the kind log handle", e))?;
        let status = tokio::process::Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .status()
            .await
            .map_err(|e| ClusterError::Spawn { name: what.clone(), source: e })?;
        if status.success() {
            Ok(())
        } else {
            Err(ClusterError::ProcessExited {
                name: what,
                status: status.to_string(),
                log: self.log.clone(),
                tail: crate::supervised::tail_file(&self.log, 25),
            })
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kubeconfig kind wrote for this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The gateway of kind's Docker network: where the node reaches this machine.
    pub async fn gateway(&self) -> Result<std::net::IpAddr, ClusterError> {
        crate::docker::network_gateway(NETWORK).await.map_err(|why| {
            ClusterError::Kubeconfig(format!(
                "cannot tell where the kind node reaches this machine ({why}); give an address with {}",
                crate::webhook_host::FLAG
            ))
        })
    }

    /// Deletes the cluster and disarms the reaper.
    pub async fn delete(&mut self) {
        let Some(reaper) = self.reaper.take() else { return };
        match self.kind(delete_args(&self.name, &self.kubeconfig)).await {
            Ok(()) => reaper.disarm(),
            // The reaper tries again when this process ends.
            Err(err) => tracing::warn!(cluster = %self.name, %err, "kind delete failed"),
        }
    }

    /// [`Self::delete`] for exit hooks, where no runtime may be left.
    pub fn delete_blocking(&mut self) {
        let Some(reaper) = self.reaper.take() else { return };
        let status = Command::new(&self.binary)
            .args(delete_args(&self.name, &self.kubeconfig))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => reaper.disarm(),
            _ => drop(reaper),
        }
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        self.delete_blocking();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `kind` that appends its arguments to `calls`, and on `create` writes a kubeconfig
    /// to the path after `--kubeconfig`, as the real one does.
    fn fake_kind(dir: &Path, create_exit: i32) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let calls = dir.join("calls");
        let script = dir.join("kind");
        let body = format!(
            r#"#!/bin/sh
echo "$*" >> '{calls}'
if [ "$1" = create ]; then
  while [ $# -gt 0 ]; do [ "$1" = --kubeconfig ] && kc="$2"; shift; done
  printf 'apiVersion: v1\nkind: Config\nclusters: []\n' > "$kc"
  exit {create_exit}
fi
"#,
            calls = calls.display()
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, calls)
    }

    fn calls(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
    }

    #[test]
    fn clusters_are_named_per_process_and_per_cluster() {
        assert_eq!(cluster_name(4242, 0), "harness-4242-0");
        let (a, b) = (next_cluster_name(), next_cluster_name());
        let prefix = format!("harness-{}-", std::process::id());
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix), "{a} {b}");
        assert_ne!(a, b);
        // kind names become container and network names: lower case, no dots, short.
        assert!(a.len() <= 32 && a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'));
    }

    #[test]
    fn the_node_image_is_the_locally_built_minor_and_overridable() {
        let script = std::fs::read_to_string(crate::binaries::build_script()).expect("the build script");
        let version = script.lines().find_map(|l| l.strip_prefix("K8S_VERSION=")).expect("K8S_VERSION in the script");
        let minor = |v: &str| v.trim_start_matches('v').split('.').take(2).collect::<Vec<_>>().join(".");
        let tag = NODE_IMAGE.split_once(':').unwrap().1.split('@').next().unwrap();
        assert_eq!(minor(tag), minor(version.trim()), "kind node image {NODE_IMAGE} vs the local build {version}");
        assert!(NODE_IMAGE.contains("@sha256:"), "pinned by digest: {NODE_IMAGE}");
        assert_eq!(node_image(None), NODE_IMAGE);
        assert_eq!(node_image(Some(" ")), NODE_IMAGE);
        assert_eq!(node_image(Some("kindest/node:v1.36.9")), "kindest/node:v1.36.9");
    }

    #[test]
    fn create_and_delete_use_the_clusters_own_kubeconfig() {
        let kc = Path::new("/run/x/kubeconfig");
        let create: Vec<String> =
            create_args("harness-1-0", NODE_IMAGE, kc).iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            create,
            [
                "create",
                "cluster",
                "--name",
                "harness-1-0",
                "--image",
                NODE_IMAGE,
                "--wait",
                "5m",
                "--kubeconfig",
                "/run/x/kubeconfig"
            ]
        );
        let delete: Vec<String> = delete_args("harness-1-0", kc).iter().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(delete, ["delete", "cluster", "--name", "harness-1-0", "--kubeconfig", "/run/x/kubeconfig"]);
    }

    #[test]
    fn kind_is_found_through_kind_or_path_and_missing_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let (script, _) = fake_kind(dir.path(), 0);
        assert_eq!(locate(Some(script.as_os_str()), None).unwrap(), script);
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(locate(None, Some(&path)).unwrap(), script);
        let err = locate(Some(OsStr::new("/nonexistent/kind")), Some(&path)).unwrap_err();
        assert_eq!(err, "KIND=/nonexistent/kind is not an executable file");
        let err = locate(None, Some(OsStr::new("/nonexistent"))).unwrap_err();
        assert!(err.starts_with("no kind on PATH and KIND is not set; install kind v0.33.0"), "{err}");
        // The skip line users see.
        let skip = ClusterError::Unavailable { backend: Backend::Kind, missing: "kind", reason: err }.to_string();
        assert!(skip.starts_with("kind not available: kind backend skipped (no kind on PATH"), "{skip}");
        assert_eq!(skip.lines().count(), 1);
    }

    #[tokio::test]
    async fn a_created_cluster_has_its_kubeconfig_and_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (script, calls_file) = fake_kind(dir.path(), 0);
        let mut cluster = KindCluster::create(script, dir.path()).await.unwrap();
        let name = cluster.name().to_string();
        assert_eq!(cluster.kubeconfig(), dir.path().join("kubeconfig"));
        assert!(std::fs::read_to_string(cluster.kubeconfig()).unwrap().contains("kind: Config"));
        cluster.delete().await;
        let kc = dir.path().join("kubeconfig");
        assert_eq!(
            calls(&calls_file),
            [
                format!("create cluster --name {name} --image {NODE_IMAGE} --wait 5m --kubeconfig {}", kc.display()),
                format!("delete cluster --name {name} --kubeconfig {}", kc.display()),
            ]
        );
        // Deleted once: a second delete (or the exit hook) does nothing.
        drop(cluster);
        assert_eq!(calls(&calls_file).len(), 2);
    }

    #[tokio::test]
    async fn a_failed_create_says_why_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (script, calls_file) = fake_kind(dir.path(), 3);
        let err = KindCluster::create(script, dir.path()).await.unwrap_err().to_string();
        assert!(err.starts_with("kind create cluster exited during startup (exit status: 3)"), "{err}");
        let calls = calls(&calls_file);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[1].starts_with("delete cluster --name harness-"), "{calls:?}");
    }
}
