//! The cluster backends as a user meets them, through the `harness` binary.
//!
//! **An existing cluster end to end**: `harness cluster up` in one process, and `harness run
//! --cluster existing` in another with `KUBECONFIG` pointing at it. The webhook is given a
//! non-default loopback address, `127.0.0.2:<port>`, and `127.0.0.1:<port>` is held by a decoy that
//! accepts connections and never answers. So the run passes only if the webhook listens where
//! `--webhook-host` says (binding `127.0.0.1:<port>` would fail) and the API server calls it there
//! (a call to `127.0.0.1:<port>` would hang on the decoy and time out). Then the same cluster with
//! an address the API server cannot reach: enabling the add-on must fail with a message naming the
//! URL and `--webhook-host`.
//!
//! **kind's plumbing without Docker**: a stand-in `kind` (a script that hands out the kubeconfig of
//! a local control plane) and a stand-in Docker engine (a unix socket answering `/_ping` and
//! `/networks/kind` with the gateway `127.0.0.3`). The run must create a per-run cluster with the
//! pinned image, reach the webhook on the network's gateway, and delete the cluster before it exits;
//! a SIGKILLed harness must have its cluster deleted by the reaper.
//!
//! **kind and k3s without what they need** (no kind, no Docker engine): one line and a clean exit.
//! The missing pieces are given explicitly (`KIND`, `DOCKER_HOST`), so this holds on machines with
//! Docker too.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `harness cluster up`, killed when dropped (its control plane goes with it: PR_SET_PDEATHSIG).
struct ClusterUp {
    child: Child,
    kubeconfig: PathBuf,
}

impl ClusterUp {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["cluster", "up"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start harness cluster up");
        let mut kubeconfig = None;
        for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
            let line = line.expect("read harness cluster up");
            if let Some(path) = line.strip_prefix("kubeconfig: ") {
                kubeconfig = Some(PathBuf::from(path));
            }
            if line.starts_with("ready") {
                break;
            }
        }
        let kubeconfig = kubeconfig.expect("harness cluster up printed its kubeconfig before ready");
        Self { child, kubeconfig }
    }

    /// `harness run --cluster existing` against this cluster, the reports in `reports`.
    fn run(&self, webhook_host: &str, tags: &str, reports: &Path) -> (Output, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "--cluster", "existing", "--webhook-host", webhook_host, "--tags", tags, "--reports-dir"])
            .arg(reports)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("HARNESS_WEBHOOK_HOST")
            .env_remove("HARNESS_TAGS")
            .env_remove("HARNESS_SHARD")
            .env_remove("AKS_HARNESS_CLUSTER")
            .output()
            .expect("run harness run");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output, stdout)
    }
}

impl Drop for ClusterUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn summary(stdout: &str) -> &str {
    stdout.lines().rev().find(|l| l.starts_with("harness: ") && l.contains(" passed, ")).unwrap_or_default()
}

#[test]
fn scenarios_pass_on_an_existing_cluster_with_the_webhook_on_another_loopback_address() {
    let cluster = ClusterUp::start();
    let reports = tempfile::tempdir().expect("reports dir");

    // A port free on 127.0.0.2, and a decoy on 127.0.0.1 with the same port.
    let port = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).unwrap().local_addr().unwrap().port();
    let _decoy = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("decoy on 127.0.0.1");

    // @smoke enables each add-on (today's and the 2019 preview), assigns a policy and is denied;
    // @logging has two scenarios that read the webhook's and the agent's logs, and one that needs
    // the local audit log (skipped).
    let (output, stdout) = cluster.run(&format!("127.0.0.2:{port}"), "@smoke or @logging", &reports.path().join("ok"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harness run failed:\n{stdout}\n{stderr}");
    assert_eq!(summary(&stdout), "harness: 4 passed, 0 failed, 1 skipped", "\n{stdout}");
    assert!(
        stdout.contains(
            "  - Logs › A denial is recorded in the API server audit log: it needs the local control plane's API server audit log (tagged @local-cluster); this run uses --cluster existing"
        ),
        "the @local-cluster scenario is skipped with its reason:\n{stdout}"
    );
    assert!(stdout.contains("denied"), "no denial was shown:\n{stdout}");

    // An address the API server cannot reach (TEST-NET-1 is never routed): each add-on's install
    // fails and says which URL was unreachable and which flag fixes it.
    let (output, stdout) = cluster.run("192.0.2.1", "@smoke", &reports.path().join("unreachable"));
    assert!(!output.status.success(), "an unreachable webhook must fail the run:\n{stdout}");
    assert!(
        stdout.contains("the API server could not reach the webhook at https://192.0.2.1:")
            && stdout.contains("give the harness an address the API server can reach with --webhook-host HOST[:PORT]"),
        "the failure names the URL and the flag:\n{stdout}"
    );
    assert_eq!(summary(&stdout), "harness: 0 passed, 2 failed, 0 skipped", "\n{stdout}");
}

/// `harness ARGS` with `env`, no cluster choice inherited; its exit status and stdout.
fn harness(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("HARNESS_WEBHOOK_HOST")
        .env_remove("AKS_HARNESS_CLUSTER")
        .output()
        .expect("run harness");
    (output.status, String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn kind_and_k3s_skip_in_one_line_without_kind_or_docker() {
    let no_docker = "unix:///nonexistent/docker.sock";
    let no_engine = "no Docker engine at /nonexistent/docker.sock: No such file or directory (os error 2)";
    /// Arguments, environment, and the exact stdout.
    type Case = (&'static [&'static str], Vec<(&'static str, &'static str)>, String);
    let cases: [Case; 4] = [
        (
            &["run", "--cluster", "kind"],
            vec![("KIND", "/nonexistent/kind")],
            "kind not available: kind backend skipped (KIND=/nonexistent/kind is not an executable file)\n\
             harness: 0 passed, 0 failed, 0 skipped\n"
                .to_string(),
        ),
        (
            &["run", "--cluster", "kind"],
            vec![("KIND", "/bin/sh"), ("DOCKER_HOST", no_docker)],
            format!(
                "Docker not available: kind backend skipped ({no_engine})\nharness: 0 passed, 0 failed, 0 skipped\n"
            ),
        ),
        (
            &["cluster", "check", "--cluster", "kind"],
            vec![("KIND", "/nonexistent/kind")],
            "kind not available: kind backend skipped (KIND=/nonexistent/kind is not an executable file)\n".to_string(),
        ),
        (
            &["run", "--cluster", "k3s"],
            vec![("DOCKER_HOST", no_docker)],
            format!(
                "Docker not available: k3s backend skipped ({no_engine})\nharness: 0 passed, 0 failed, 0 skipped\n"
            ),
        ),
    ];
    for (args, env, expected) in cases {
        let (status, stdout) = harness(args, &env);
        assert!(status.success(), "harness {args:?} {env:?}: {status}\n{stdout}");
        assert_eq!(stdout, expected, "harness {args:?} {env:?}");
    }
}

/// A stand-in Docker engine on a unix socket: `/_ping` answers OK, `/networks/kind` has the gateway
/// 127.0.0.3 (a loopback address, so the local API server behind the stand-in kind reaches it).
/// Returns the `DOCKER_HOST` value and the request lines it received.
fn fake_docker_engine(dir: &Path) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let socket = dir.join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind the stand-in Docker socket");
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
            let reply = if line.starts_with("GET /_ping ") {
                "HTTP/1.0 200 OK\r\n\r\nOK".to_string()
            } else if line.starts_with("GET /networks/kind ") {
                let body = r#"{"Name":"kind","IPAM":{"Config":[{"Subnet":"127.0.0.0/8","Gateway":"127.0.0.3"}]}}"#;
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}")
            } else {
                "HTTP/1.0 404 Not Found\r\n\r\n".to_string()
            };
            seen.lock().unwrap().push(line);
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (format!("unix://{}", socket.display()), requests)
}

/// A stand-in `kind` that logs its arguments to `calls` and, on `create`, writes `kubeconfig` (a
/// running cluster's) where `--kubeconfig` says, as the real one writes the new cluster's.
fn fake_kind(dir: &Path, kubeconfig: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let (script, calls) = (dir.join("kind"), dir.join("kind-calls"));
    let body = format!(
        "#!/bin/sh\necho \"$*\" >> '{calls}'\nif [ \"$1\" = create ]; then\n  while [ $# -gt 0 ]; do [ \"$1\" = --kubeconfig ] && kc=\"$2\"; shift; done\n  cp '{kubeconfig}' \"$kc\"\nfi\n",
        calls = calls.display(),
        kubeconfig = kubeconfig.display()
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, calls)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
}

#[test]
fn the_kind_backend_creates_reaches_and_deletes_its_cluster() {
    let local = ClusterUp::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (docker_host, requests) = fake_docker_engine(dir.path());
    let (kind, calls) = fake_kind(dir.path(), &local.kubeconfig);
    let env = [("KIND", kind.to_str().unwrap()), ("DOCKER_HOST", docker_host.as_str())];
    let reports = dir.path().join("reports");

    // A run: @smoke enables each add-on (webhook on the gateway), assigns a policy and is denied.
    let (status, stdout) =
        harness(&["run", "--cluster", "kind", "--tags", "@smoke", "--reports-dir", reports.to_str().unwrap()], &env);
    assert!(status.success(), "harness run --cluster kind failed:\n{stdout}");
    assert_eq!(summary(&stdout), "harness: 2 passed, 0 failed, 0 skipped", "\n{stdout}");
    assert!(requests.lock().unwrap().iter().any(|r| r.starts_with("GET /networks/kind ")), "the gateway was looked up");
    // Created with the pinned image and its own kubeconfig, and deleted before the process ended.
    let calls_made = lines(&calls);
    assert_eq!(calls_made.len(), 2, "{calls_made:?}");
    let name = calls_made[0].split_whitespace().nth(3).unwrap().to_string();
    assert!(name.starts_with("harness-") && name.ends_with("-0"), "{calls_made:?}");
    assert!(
        calls_made[0].starts_with(&format!("create cluster --name {name} --image kindest/node:v1.36.")),
        "{calls_made:?}"
    );
    assert!(calls_made[0].contains(" --kubeconfig /"), "{calls_made:?}");
    assert!(calls_made[1].starts_with(&format!("delete cluster --name {name} --kubeconfig /")), "{calls_made:?}");

    // SIGKILL: no exit hook runs, and the reaper deletes the cluster.
    let mut up = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["cluster", "up", "--cluster", "kind"])
        .envs(env)
        // The reaper keeps its log after acting: here, in the test's directory.
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start harness cluster up --cluster kind");
    let mut webhook_host = String::new();
    for line in BufReader::new(up.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(host) = line.strip_prefix("webhook-host: ") {
            webhook_host = host.to_string();
        }
        if line.starts_with("ready") {
            break;
        }
    }
    assert_eq!(webhook_host, "127.0.0.3", "the kind network's gateway");
    up.kill().expect("SIGKILL harness cluster up");
    up.wait().unwrap();
    // The reaper may already have appended its deletion: find the create, not the last line.
    let created = lines(&calls).into_iter().rev().find(|l| l.starts_with("create cluster")).unwrap_or_default();
    let name = created.split_whitespace().nth(3).unwrap_or_default().to_string();
    assert!(created.starts_with("create cluster --name harness-"), "{created}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let deleted = format!("delete cluster --name {name} --kubeconfig /");
    while !lines(&calls).iter().any(|l| l.starts_with(&deleted)) {
        assert!(std::time::Instant::now() < deadline, "no deletion after SIGKILL: {:?}", lines(&calls));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
