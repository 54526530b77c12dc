//! Embeds the built-in `Microsoft.Kubernetes.Data` definitions (`builtins/kubernetes/*.json`): writes
//! `$OUT_DIR/kubernetes_builtins.rs` with one `(file stem, include_str!(..))` per file, sorted by
//! name, so adding a definition is adding a file.

use std::path::Path;

fn main() {
    // Read at run time: a build script compiled for another checkout of the same sources (a shared
    // target directory) must still read this one.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("builtins").join("kubernetes");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// `(file stem, JSON text)` of every built-in definition file.\npub const FILES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name");
        out.push_str(&format!("    ({stem:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("kubernetes_builtins.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
}
