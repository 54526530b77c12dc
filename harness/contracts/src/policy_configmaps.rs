//! The policy ConfigMaps in the add-on namespace (`docs/contracts.md` §6): the agent writes them,
//! the webhook loads them, the harness counts them.

use std::collections::BTreeMap;

use crate::dataplane::EnforcementMode;

/// ConfigMaps in the add-on namespace that are not policies. The control plane (Kubernetes ≥ 1.20)
/// publishes its CA bundle as `kube-root-ca.crt` into every namespace and recreates it at once when
/// it is deleted; it did not exist in 2019.
const NOT_POLICIES: &[&str] = &["kube-root-ca.crt"];

/// Whether the ConfigMap `name` in the add-on namespace is a policy: the agent's delete-all pass
/// deletes it, the webhook loads it as Rego, the harness counts it. Everything is, except what the
/// control plane itself puts there.
pub fn is_policy(name: &str) -> bool {
    !NOT_POLICIES.contains(&name)
}

/// The annotation that marks the policy ConfigMap of a `DoNotEnforce` assignment. The webhook
/// still loads such a policy and audits with it, but does not deny at admission. The ConfigMap of
/// a `Default` assignment carries no such annotation, so a mode change changes the ConfigMap and the
/// webhook reloads it.
pub const ENFORCEMENT_MODE_ANNOTATION: &str = "azure-policy.aks-policy-harness/enforcement-mode";

/// The annotation that says `mode` on a policy ConfigMap, as `(name, value)`; none for `Default`.
pub fn enforcement_annotation(mode: EnforcementMode) -> Option<(&'static str, &'static str)> {
    (mode != EnforcementMode::Default).then(|| (ENFORCEMENT_MODE_ANNOTATION, mode.as_str()))
}

/// The enforcement mode a policy ConfigMap's annotations say. Missing or unreadable is `Default`:
/// a mark nobody understands must not switch enforcement off.
pub fn enforcement_mode(annotations: Option<&BTreeMap<String, String>>) -> EnforcementMode {
    annotations.and_then(|a| a.get(ENFORCEMENT_MODE_ANNOTATION)).and_then(|v| v.parse().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_plane_ca_is_not_a_policy() {
        assert!(!is_policy("kube-root-ca.crt"));
        assert!(is_policy("azurepolicy-no-privileged-0123abcd"));
        assert!(is_policy("my-own-policy"));
    }

    #[test]
    fn the_mark_round_trips_and_defaults_to_enforcing() {
        assert_eq!(enforcement_annotation(EnforcementMode::Default), None);
        let marked: BTreeMap<String, String> = enforcement_annotation(EnforcementMode::DoNotEnforce)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(enforcement_mode(Some(&marked)), EnforcementMode::DoNotEnforce);
        assert_eq!(enforcement_mode(None), EnforcementMode::Default);
        let garbled = BTreeMap::from([(ENFORCEMENT_MODE_ANNOTATION.to_string(), "off".to_string())]);
        assert_eq!(enforcement_mode(Some(&garbled)), EnforcementMode::Default);
    }
}
