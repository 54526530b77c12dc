//! Rego language machinery both generations share: a tokenizer for load-time rewrites and the
//! builtins OPA has and regorus lacks, registered as extensions.

pub(crate) mod extensions;
pub(crate) mod tokens;
