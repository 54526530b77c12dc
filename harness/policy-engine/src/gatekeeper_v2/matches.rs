//! The `data.k8s.matches` library module, as Gatekeeper v2 shipped it (ConfigMap `kubernetes-matches`).
//!
//! Two rules feed one partial set of `[kind, namespace, name, resource]` tuples:
//! 1. the replicated object itself at `data.kubernetes[kind][namespace][name]`;
//! 2. the `object` field of whatever sits at that path, which is only ever the AdmissionRequest that
//!    the admission query overlays there (see [`crate::gatekeeper_v2::admission`]).
//!
//! During admission rule 1 therefore also yields the AdmissionRequest as a "resource"; the 2019 policies
//! read `spec…`/`metadata.name` and so ignore it. Keeping both rules verbatim keeps that quirk.

/// Module id under which the library is loaded (it is not a ConfigMap, so the id is synthetic).
pub const MATCHES_MODULE_ID: &str = "gatekeeper-system/kubernetes-matches/matches.rego";

/// Rego v0 source of the library.
pub const MATCHES_MODULE: &str = r#"package k8s

matches[[kind, namespace, name, resource]] {
    resource := data.kubernetes[kind][namespace][name]
}

matches[[kind, namespace, name, resource]] {
    resource := data.kubernetes[kind][namespace][name].object
}
"#;
