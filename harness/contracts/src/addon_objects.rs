//! How the current add-on marks what it installs (reference `gatekeeper-v3-and-azure-addon.md`
//! §3.2): Constraint names, the `managed-by` label and the annotations naming the assignment,
//! definition and source. The agent writes them; the add-on lifecycle, the scenarios and
//! `kubectl` users find the objects by them.

use sha2::{Digest, Sha256};

/// The label on every Constraint (and ConstraintTemplate) the add-on installs.
pub const MANAGED_BY_LABEL: (&str, &str) = ("managed-by", "azure-policy-addon");

/// Template annotations.
pub const TEMPLATE_DEFINITION_ID: &str = "azure-policy-definition-id";
pub const TEMPLATE_INSTALLED_BY: (&str, &str) = ("constraint-template-installed-by", "azure-policy-addon");
/// The template's source URL (for `Base64Encoded` content: the definition id's content marker).
pub const TEMPLATE_SOURCE: &str = "constraint-template";

/// Constraint annotations.
pub const ASSIGNMENT_ID: &str = "azure-policy-assignment-id";
pub const DEFINITION_ID: &str = "azure-policy-definition-id";
pub const DEFINITION_REFERENCE_ID: &str = "azure-policy-definition-reference-id";
pub const SET_DEFINITION_ID: &str = "azure-policy-setdefinition-id";
pub const CONSTRAINT_INSTALLED_BY: (&str, &str) = ("constraint-installed-by", "azure-policy-addon");
pub const CONSTRAINT_SOURCE: &str = "constraint-url";

/// Every Constraint name starts with this.
pub const CONSTRAINT_PREFIX: &str = "azurepolicy-";
/// How much of the template name a Constraint name keeps: 12 + 30 + 1 + 20 = 63, the longest name.
const TEMPLATE_PART: usize = 30;
/// Length of the per-assignment hex suffix.
const SUFFIX_HEX: usize = 20;

/// The Constraint name for one assignment of a template: `azurepolicy-<template, cut to 30>-<20
/// hex>`. Azure's hex differs per assignment and its derivation is not public; ours is the first
/// 20 hex digits of the SHA-256 of the lower-cased assignment id, so it is stable across refreshes
/// and restarts and differs between assignments of one template.
pub fn constraint_name(template_name: &str, assignment_id: &str) -> String {
    let middle: String = template_name.to_ascii_lowercase().chars().take(TEMPLATE_PART).collect();
    let digest = Sha256::digest(assignment_id.to_ascii_lowercase().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect::<String>().chars().take(SUFFIX_HEX).collect();
    format!("{CONSTRAINT_PREFIX}{middle}-{hex}")
}

/// `key=value` of [`MANAGED_BY_LABEL`], for a label selector.
pub fn managed_by_selector() -> String {
    format!("{}={}", MANAGED_BY_LABEL.0, MANAGED_BY_LABEL.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_the_observed_shape() {
        let a = constraint_name("k8sazurev2containerallowedimages", "/subscriptions/s/providers/x/policyAssignments/a");
        assert!(a.starts_with("azurepolicy-k8sazurev2containerallowedimag-"), "{a}");
        assert_eq!(a.len(), 63);
        assert!(a.rsplit('-').next().unwrap().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let b = constraint_name("k8sazurev2containerallowedimages", "/subscriptions/s/providers/x/policyAssignments/b");
        assert_ne!(a, b, "two assignments of one template get two constraints");
        let again =
            constraint_name("k8sazurev2containerallowedimages", "/SUBSCRIPTIONS/s/providers/x/policyAssignments/A");
        assert_eq!(a, again, "assignment ids compare case-insensitively");
        assert_eq!(constraint_name("short", "x").len(), 12 + 5 + 1 + 20);
    }
}
