//! insta snapshots of what scenarios assert on (az output, compliance reports), stored in the
//! top-level `snapshots/scenarios/`, with ids, secrets and times redacted so they are stable.

use std::path::PathBuf;

fn snapshot_dir() -> PathBuf {
    crate::world::environment::repo_root().join("snapshots/scenarios")
}

/// Replaces values that differ between runs (GUIDs, timestamps, ports) with stable markers.
pub fn redact(value: &serde_json::Value) -> serde_json::Value {
    use regex::Regex;
    use std::sync::LazyLock;
    static GUID: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap()
    });
    static TIME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?").unwrap());
    static PORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"127\.0\.0\.1:\d+").unwrap());
    match value {
        serde_json::Value::String(s) => {
            let s = GUID.replace_all(s, "[guid]");
            let s = TIME.replace_all(&s, "[time]");
            serde_json::Value::String(PORT.replace_all(&s, "127.0.0.1:[port]").into_owned())
        }
        serde_json::Value::Array(items) => items.iter().map(redact).collect(),
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), redact(v))).collect(),
        other => other.clone(),
    }
}

/// Asserts `value` (redacted) against `snapshots/scenarios/<name>.snap`.
pub fn assert_az_output(name: &str, value: &serde_json::Value) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(snapshot_dir());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_sort_maps(true);
    settings.set_omit_expression(true);
    let redacted = redact(value);
    settings.bind(|| insta::assert_json_snapshot!(name.to_string(), redacted));
}
