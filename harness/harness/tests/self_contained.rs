//! The main job needs nothing but the `harness` binary: it starts the add-on's webhook and agent
//! from itself (`harness webhook …`, `harness agent …`), so a fresh clone's `cargo run -p harness --
//! run`, or an installed `harness`, works without building the workspace first.
//!
//! The binary is copied alone into an empty directory and run from there, with no
//! `AKS_HARNESS_BIN_DIR` and no cargo environment: if it looked for `policy-webhook` or
//! `policy-agent` next to itself, the install scenarios would fail.

use std::process::Command;

#[test]
fn a_lone_harness_binary_installs_the_addon_and_denies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let harness = dir.path().join("harness");
    std::fs::copy(env!("CARGO_BIN_EXE_harness"), &harness).expect("copy the harness binary");
    let reports = dir.path().join("reports");
    let output = Command::new(&harness)
        .args(["run", "--tags", "@smoke", "--reports-dir"])
        .arg(&reports)
        .current_dir(dir.path())
        .env_remove("AKS_HARNESS_BIN_DIR")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("HARNESS_TAGS")
        .env_remove("HARNESS_SHARD")
        .output()
        .expect("run the copied harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing.len(), 2, "only the binary and its reports: {listing:?}");
    assert!(output.status.success(), "harness run failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().rev().find(|l| l.starts_with("harness: ")).unwrap_or_default();
    assert!(
        summary.ends_with(" 0 failed, 0 skipped") && !summary.starts_with("harness: 0 passed"),
        "summary: {summary:?}\n{stdout}"
    );
    // The @smoke scenario enables the add-on, assigns a policy and is denied.
    assert!(stdout.contains("denied"), "no denial was shown:\n{stdout}");
}
