//! Cleanup that outlives this process: for clusters that are not our children (a kind cluster, a
//! k3s container), which `PR_SET_PDEATHSIG` cannot take down with us.
//!
//! A normal exit cleans up in the crate's exit hook. A Ctrl-C, a panic that aborts, or a SIGKILL
//! runs nothing, so before such a cluster exists a [`Reaper`] is armed: a tiny shell in a session
//! of its own (a terminal's Ctrl-C does not reach it) holding the read end of a pipe whose write
//! end only this process has (the standard library opens it close-on-exec, so no other child
//! inherits it). When this process ends, for any reason, the pipe closes and the reaper runs the
//! cleanup command. A clean stop writes `done` first, and the reaper exits without doing anything.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::ClusterError;

/// Runs its arguments (`"$@"`) unless it reads the line `done` before its stdin closes.
const SCRIPT: &str = r#"IFS= read -r line; [ "$line" = done ] || exec "$@""#;

/// Runs a cleanup command when this process ends without disarming it.
#[derive(Debug)]
pub struct Reaper {
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
}

impl Reaper {
    /// Arms `command` (program, then arguments); its output goes to `log`, kept only if it ran.
    pub fn arm(command: &[OsString], log: &Path) -> Result<Self, ClusterError> {
        let out = std::fs::File::create(log).map_err(|e| ClusterError::io(format!("create {}", log.display()), e))?;
        let err = out.try_clone().map_err(|e| ClusterError::io("clone the reaper log handle", e))?;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(SCRIPT).arg("harness-reaper").args(command);
        cmd.stdin(Stdio::piped()).stdout(out).stderr(err);
        // SAFETY: setsid is async-signal-safe. A session of its own: no terminal signals, and not in
        // any process group the harness signals.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| ClusterError::Spawn { name: "cleanup reaper".into(), source: e })?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin, log: log.to_path_buf() })
    }

    /// The cleanup is done (or nothing was created): the reaper exits without running anything.
    pub fn disarm(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }

    /// What this process ending does: the pipe closes and the reaper runs the command. Returns once
    /// it has (for tests).
    pub fn fire_and_wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        drop(self.stdin.take());
        self.child.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real SIGKILL of the harness firing its reaper: `harness/harness/tests/cluster_backends.rs`.

    #[test]
    fn the_command_runs_when_the_process_ends_and_not_after_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let log = dir.path().join("reaper.log");
        // The marker file is created by the cleanup command, with an argument that has a space.
        let command: Vec<OsString> = ["/bin/sh", "-c", "echo \"$1\" > \"$0\"", marker.to_str().unwrap(), "cluster one"]
            .map(OsString::from)
            .to_vec();
        Reaper::arm(&command, &log).unwrap().disarm();
        assert!(!marker.exists(), "a clean stop runs nothing");
        assert!(!log.exists(), "a clean stop leaves no log");
        assert!(Reaper::arm(&command, &log).unwrap().fire_and_wait().unwrap().success());
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "cluster one\n");
    }
}
