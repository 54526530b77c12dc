//! One module per user-facing command group.
pub mod azure;
pub mod bench;
pub mod bench_admission_cluster;
pub mod bench_gatekeeper;
pub mod bench_propagation;
pub mod cluster;
pub mod policy;
pub mod run;
pub mod up;
