//! `harness policy check`: offline evaluation of manifests against Rego files or definitions.
//! (being written)
