//! Today's built-in catalog: the 54 `Microsoft.Kubernetes.Data` definitions with `templateInfo`
//! (reference §5), as our own JSON written from the catalog facts (GUIDs, display names, versions,
//! parameters with types, defaults and allowed values), one file per definition under
//! `builtins/kubernetes/`, embedded at build time.
//!
//! The files keep Azure's store URLs (`https://store.policy.core.windows.net/kubernetes/<slug>/v<N>/template.yaml`),
//! so `az policy definition show` prints what Azure prints; the dataplane points the add-on at this
//! server's store instead ([`crate::template_store`]).
//!
//! `metadata.harnessTemplate` says whose reading the template is: `publicReference` when the store
//! slug has a public reference folder (our template follows that public behaviour), `ourReading` when
//! only the definition's public description was there to go on. Where the facts are silent we chose
//! (README of `builtins/kubernetes`): `labelSelector` is typed `object`, the 16 AKS-only rows use
//! `equals`, and `versions` lists the current version only.

use std::sync::OnceLock;

use serde_json::Value;

mod files {
    include!(concat!(env!("OUT_DIR"), "/kubernetes_builtins.rs"));
}

/// Every catalogued definition, parsed once, sorted by file name.
pub fn all() -> &'static [Value] {
    static PARSED: OnceLock<Vec<Value>> = OnceLock::new();
    PARSED.get_or_init(|| {
        files::FILES
            .iter()
            .map(|(file, text)| {
                // The files are ours and tested; a broken one is a build mistake, not a request error.
                serde_json::from_str(text).unwrap_or_else(|e| panic!("builtins/kubernetes/{file}.json: {e}"))
            })
            .collect()
    })
}

/// The file stems (`ContainerAllowedImages`), in the order of [`all`].
pub fn file_names() -> impl Iterator<Item = &'static str> {
    files::FILES.iter().map(|(file, _)| *file)
}

/// A catalogued definition by GUID (case-insensitive).
pub fn find(guid: &str) -> Option<&'static Value> {
    all().iter().find(|d| d["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(guid)))
}

#[cfg(test)]
#[path = "kubernetes_builtins_tests.rs"]
mod tests;
