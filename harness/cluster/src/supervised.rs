//! Child processes that cannot outlive us.
//!
//! Every long-running process the harness starts (etcd, kube-apiserver, kube-controller-manager, the
//! add-on's webhook and agent) goes through [`Supervised`]:
//! - it gets its own process group, so a Ctrl-C in the terminal reaches only the harness, which then
//!   stops things in the right order (webhook configuration before webhook, apiserver before etcd);
//! - it gets `PR_SET_PDEATHSIG(SIGKILL)`, so if the harness is killed outright the kernel kills it too.
//!   The signal fires when the *thread* that forked exits, so all spawns happen on one dedicated thread
//!   that lives as long as the process (see [`spawner`]);
//! - stdout and stderr go to a log file, whose tail is shown when something fails;
//! - [`Supervised::stop`] sends SIGTERM, then SIGKILL after a grace period; dropping does the same.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::ClusterError;

/// How long a process gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A running child process with its log file.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// The one thread that forks every child (see the module docs for why).
fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("process-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn the process-spawner thread");
        Mutex::new(tx)
    })
}

impl Supervised {
    /// Starts `cmd` with its output appended to `log_path`.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Self, ClusterError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| ClusterError::io(format!("open log file {}", log_path.display()), e))?;
        let log_err = log.try_clone().map_err(|e| ClusterError::io("clone log handle", e))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent may have died between fork and prctl: then nobody would kill us.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let (tx, rx) = mpsc::channel();
        spawner().lock().expect("spawner lock").send((cmd, tx)).expect("spawner thread alive");
        let child = rx
            .recv()
            .expect("spawner replies")
            .map_err(|e| ClusterError::Spawn { name: name.to_string(), source: e })?;
        tracing::debug!(process = name, pid = child.id(), log = %log_path.display(), "started");
        Ok(Self { name: name.to_string(), child: Some(child), log_path: log_path.to_path_buf() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the process log.
    pub fn tail(&self, lines: usize) -> String {
        tail_file(&self.log_path, lines)
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The exit status if the process has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then SIGKILL after a grace period. Waits for the exit without blocking the runtime.
    pub async fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = tokio::task::spawn_blocking(move || terminate(child, GRACE)).await;
        }
    }

    /// Stops the process synchronously (for drop and exit paths).
    pub fn stop_blocking(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, GRACE);
        }
    }

    /// SIGKILL immediately, as a crash would (fault tests use this).
    pub fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

fn terminate(mut child: Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `lines` lines of a file (reads at most the last 64 KiB).
pub fn tail_file(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let _ = file.read_to_string(&mut buf);
    let all: Vec<&str> = buf.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_output_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello-from-child; exec sleep 30"]);
        let mut p = Supervised::spawn("sh", cmd, &log).unwrap();
        assert!(p.is_running());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !p.tail(5).contains("hello-from-child") {
            assert!(Instant::now() < deadline, "child output never reached the log");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        p.stop().await;
        assert!(!p.is_running());
    }
}
