//! Finding (or building) etcd, kube-apiserver and kube-controller-manager.
//!
//! Lookup order, most explicit first:
//! 1. `TEST_ASSET_ETCD`, `TEST_ASSET_KUBE_APISERVER`, `TEST_ASSET_KUBE_CONTROLLER_MANAGER` (envtest's names);
//! 2. `scripts/build-control-plane.sh`, which reuses its per-user cache, then `KUBEBUILDER_ASSETS`,
//!    and only then builds from the Go module proxy (minutes, once per machine).
//!
//! The build script is the single source of truth for versions and cache paths, so the Rust side
//! only ever calls it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ClusterError;

/// Paths of the control-plane binaries.
#[derive(Clone, Debug)]
pub struct ControlPlaneBinaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    /// Absent when the binaries come from envtest assets without it: namespace deletion then never
    /// completes, and the harness says so instead of hanging.
    pub kube_controller_manager: Option<PathBuf>,
}

/// The build script, relative to the checkout root.
const BUILD_SCRIPT: &str = "scripts/build-control-plane.sh";

/// The checkout this program runs from: the nearest directory holding the build script, looking up
/// from the running package (`CARGO_MANIFEST_DIR`, set by `cargo run` and `cargo test`), then the
/// working directory, then the sources this was compiled from. The runtime places come first
/// because a target directory shared by two checkouts can hold a binary compiled in the other one
/// (cargo rebuilds on newer sources, not on a moved checkout).
pub fn checkout_root() -> Option<PathBuf> {
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
    ];
    starts
        .into_iter()
        .flatten()
        .find_map(|start| start.ancestors().find(|dir| dir.join(BUILD_SCRIPT).is_file()).map(Path::to_path_buf))
}

/// The build script of [`checkout_root`] (override with `AKS_HARNESS_BUILD_SCRIPT`). Without a
/// checkout, where it would be in the sources this was compiled from, so the error names a path.
pub fn build_script() -> PathBuf {
    std::env::var_os("AKS_HARNESS_BUILD_SCRIPT").map(PathBuf::from).unwrap_or_else(|| {
        checkout_root().unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).join(BUILD_SCRIPT)
    })
}

fn executable(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_path_buf())
}

impl ControlPlaneBinaries {
    /// Finds the binaries, building them on first use. Build progress goes to stderr.
    pub fn locate_or_build() -> Result<Self, ClusterError> {
        if let Some(found) = Self::from_test_assets() {
            return Ok(found);
        }
        let dir = run_build_script()?;
        Ok(Self {
            etcd: executable(&dir.join("etcd")).ok_or_else(|| missing(&dir, "etcd"))?,
            kube_apiserver: executable(&dir.join("kube-apiserver")).ok_or_else(|| missing(&dir, "kube-apiserver"))?,
            kube_controller_manager: executable(&dir.join("kube-controller-manager")),
        })
    }

    fn from_test_assets() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).map(PathBuf::from).and_then(|p| executable(&p));
        Some(Self {
            etcd: var("TEST_ASSET_ETCD")?,
            kube_apiserver: var("TEST_ASSET_KUBE_APISERVER")?,
            kube_controller_manager: var("TEST_ASSET_KUBE_CONTROLLER_MANAGER"),
        })
    }
}

fn missing(dir: &Path, name: &str) -> ClusterError {
    ClusterError::Binaries {
        message: format!(
            "{name} is missing from {}; delete that directory and run scripts/build-control-plane.sh",
            dir.display()
        ),
    }
}

/// Runs the build script; its progress lines stream to our stderr, its last stdout line is the bin dir.
fn run_build_script() -> Result<PathBuf, ClusterError> {
    let script = build_script();
    if !script.is_file() {
        return Err(ClusterError::Binaries {
            message: format!(
                "the build script {} is missing; set AKS_HARNESS_BUILD_SCRIPT, or set TEST_ASSET_ETCD and TEST_ASSET_KUBE_APISERVER",
                script.display()
            ),
        });
    }
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(stream_stderr_and_wait)
        .map_err(|e| ClusterError::io(format!("run {}", script.display()), e))?;
    if !output.0.success() {
        return Err(ClusterError::Binaries { message: last_lines(&output.2, 6) });
    }
    let dir = output.1.lines().last().unwrap_or_default().trim().to_string();
    Ok(PathBuf::from(dir))
}

/// Echoes the child's stderr live (so a first build shows progress) while keeping a copy.
fn stream_stderr_and_wait(
    mut child: std::process::Child,
) -> std::io::Result<(std::process::ExitStatus, String, String)> {
    use std::io::{BufRead, BufReader, Read};
    let stderr = child.stderr.take().expect("piped stderr");
    let echo = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let mut stdout = String::new();
    child.stdout.take().expect("piped stdout").read_to_string(&mut stdout)?;
    let status = child.wait()?;
    let stderr = echo.join().unwrap_or_default();
    Ok((status, stdout, stderr))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
