//! Killing the harness outright (SIGKILL: no destructors, no exit hooks) must not leave etcd,
//! kube-apiserver or kube-controller-manager behind. `PR_SET_PDEATHSIG` is what guarantees it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; count only processes that are not yet reaped *and* not zombies.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

#[test]
fn sigkill_of_the_harness_leaves_no_control_plane_processes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["cluster", "up", "--print-pids"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start harness cluster up");
    let mut pids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(pid) = line.strip_prefix("pid: ") {
            pids.push(pid.parse::<u32>().unwrap());
        }
        if line.starts_with("ready") {
            break;
        }
    }
    assert_eq!(pids.len(), 3, "etcd, kube-apiserver and kube-controller-manager run: {pids:?}");
    assert!(pids.iter().all(|&p| alive(p)), "all control-plane processes are up before the kill");

    child.kill().expect("SIGKILL the harness");
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "left running after SIGKILL: {:?}",
            pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
