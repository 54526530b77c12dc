//! The 2019 engine's fast path: what makes an admission cost one object, not the cluster, while giving
//! exactly the literal Gatekeeper v2 query's answer (`tests/fast_path_equivalence.rs`).
//! Each module is analysed at load time (`analysis`), its `deny` subjects bound to the reviewed
//! object (`subject`), lookups of other objects precomputed (`lookups`) or indexed (`joins`);
//! replicated strings are shared (`interner`) and audits spread over cores (`parallel`).

pub(crate) mod analysis;
pub(crate) mod interner;
pub(crate) mod joins;
pub(crate) mod lookups;
pub(crate) mod parallel;
pub(crate) mod subject;
