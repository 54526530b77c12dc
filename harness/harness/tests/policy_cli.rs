//! `harness policy verify` and `harness policy check` (Gatekeeper v3 path) as a user runs them: the
//! exit codes (0 ok, 1 failed/denied, 2 usage or parse error) and what is printed. The logic is
//! tested in policy-engine; this checks the thin CLI keeps the contract.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn harness(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).args(args).current_dir(repo()).output().expect("run harness");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8 output");
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

const SUITES: &str = "harness/policy-engine/tests/fixtures/gatekeeper/suites";
const GK: &str = "harness/policy-engine/tests/fixtures/gatekeeper";

#[test]
fn verify_exit_codes_and_last_line() {
    let (code, out, _) = harness(&["policy", "verify", &format!("{SUITES}/passing/...")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().last(), Some("verify: suites=3 tests=4 cases=8 passed=6 failed=0 skipped=2"));

    let (code, out, _) = harness(&["policy", "verify", &format!("{SUITES}/failing/...")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().next().unwrap_or_default().starts_with("FAIL "), "{out}");
    assert!(out.lines().last().unwrap_or_default().ends_with("failed=7 skipped=0"), "{out}");

    let (code, _, err) = harness(&["policy", "verify", &format!("{SUITES}/broken/...")]);
    assert_eq!(code, 2);
    assert!(err.contains("broken/suite.yaml: tests[0].constraint"), "{err}");
}

#[test]
fn check_exit_codes_follow_deny_only() {
    let def = format!("{GK}/definitions/container-no-privilege.json");
    let pods = format!("{GK}/objects/pods-mixed.yaml");
    let (code, out, _) = harness(&["policy", "check", "--definition", &def, &pods]);
    assert_eq!(code, 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["allowed"], false);
    assert_eq!(json["violations"][0]["enforcementAction"], "deny");

    let (code, out, _) = harness(&["policy", "check", "--definition", &def, "--param", "effect=Audit", &pods]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (json["allowed"].as_bool(), json["violations"][0]["enforcementAction"].as_str()),
        (Some(true), Some("dryrun"))
    );

    let (code, out, err) = harness(&["policy", "check", "--definition", &def, "--param", "effect=Disabled", &pods]);
    assert_eq!((code, out.contains("\"violations\": []")), (0, true), "{out}");
    assert!(err.contains("nothing to check"), "{err}");

    let images = format!("{GK}/definitions/container-allowed-images.json");
    let (code, _, err) = harness(&["policy", "check", "--definition", &images, &pods]);
    assert_eq!(code, 2);
    assert!(err.contains("MissingPolicyParameter"), "{err}");

    let (code, _, err) = harness(&["policy", "check", "--definition", &def, "--existing", &pods, &pods]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be combined"), "{err}");
}
