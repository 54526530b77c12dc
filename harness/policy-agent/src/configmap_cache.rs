//! The policy ConfigMaps (contracts §6): their deterministic names, their shape, the namespaced API
//! calls that write them, and the last-good cache that keeps enforcement when a refresh fails.
//!
//! Names are a pure function of the assignment (sanitised name + hash of the full id), so a refresh
//! that was killed half-way and re-run produces exactly the same set: nothing missing, nothing twice.

use std::collections::{BTreeMap, HashMap};

use contracts::EnforcementMode;
use contracts::policy_configmaps::{enforcement_annotation, enforcement_mode, is_policy};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use sha2::{Digest, Sha256};

/// The data key kube-mgmt loads (policy id `<ns>/<name>/policy.rego`).
pub const DATA_KEY: &str = "policy.rego";
pub const ANNOTATION_ASSIGNMENT: &str = "azurepolicy.microsoft.com/assignment-id";
pub const ANNOTATION_DEFINITION: &str = "azurepolicy.microsoft.com/definition-id";
pub const LABEL_POLICY: (&str, &str) = ("openpolicyagent.org/policy", "rego");
pub const LABEL_MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "azure-policy-addon");

const NAME_PART_MAX: usize = 40;

/// `azurepolicy-<sanitised name, ≤40>-<first 8 hex of sha256(assignment id)>`.
pub fn configmap_name(assignment_name: &str, assignment_id: &str) -> String {
    let hash = Sha256::digest(assignment_id.as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    match sanitize(assignment_name) {
        s if s.is_empty() => format!("azurepolicy-{short}"),
        s => format!("azurepolicy-{s}-{short}"),
    }
}

/// Lower-cases, maps everything outside `[a-z0-9]` to `-`, collapses runs of `-`, trims `-` at both
/// ends and cuts to 40 characters: the result is a valid DNS-1123 label fragment.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.truncate(NAME_PART_MAX);
    out.trim_end_matches('-').to_string()
}

/// One assignment's ready-to-load policy: the Rego with every placeholder filled.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyEntry {
    pub assignment_id: String,
    pub assignment_name: String,
    pub definition_id: String,
    /// `DoNotEnforce` is written as the mark `contracts::policy_configmaps::ENFORCEMENT_MODE_ANNOTATION`.
    pub enforcement_mode: EnforcementMode,
    pub rego: String,
}

impl PolicyEntry {
    pub fn configmap_name(&self) -> String {
        configmap_name(&self.assignment_name, &self.assignment_id)
    }

    /// The ConfigMap that carries this policy in `namespace`. A `DoNotEnforce` assignment's also
    /// carries the enforcement mark, which the webhook reads to audit without denying; a `Default`
    /// one carries none, so switching the mode changes the ConfigMap and the webhook reloads it.
    pub fn to_configmap(&self, namespace: &str) -> ConfigMap {
        let labels = [LABEL_POLICY, LABEL_MANAGED_BY].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut annotations = BTreeMap::from([
            (ANNOTATION_ASSIGNMENT.to_string(), self.assignment_id.clone()),
            (ANNOTATION_DEFINITION.to_string(), self.definition_id.clone()),
        ]);
        annotations.extend(enforcement_annotation(self.enforcement_mode).map(|(k, v)| (k.to_string(), v.to_string())));
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.configmap_name()),
                namespace: Some(namespace.to_string()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(DATA_KEY.to_string(), self.rego.clone())])),
            ..Default::default()
        }
    }

    /// Reads a policy back from a ConfigMap this agent wrote (annotations + data key); `None` for
    /// anything else.
    pub fn from_configmap(cm: &ConfigMap) -> Option<Self> {
        let ann = cm.metadata.annotations.as_ref()?;
        let assignment_id = ann.get(ANNOTATION_ASSIGNMENT)?.clone();
        let rego = cm.data.as_ref()?.get(DATA_KEY)?.clone();
        // The display name is not stored; the caller only needs id, definition and Rego, and the
        // next successful refresh rewrites the entry from the dataplane anyway.
        let assignment_name = assignment_id.rsplit('/').next().unwrap_or_default().to_string();
        Some(Self {
            definition_id: ann.get(ANNOTATION_DEFINITION).cloned().unwrap_or_default(),
            enforcement_mode: enforcement_mode(Some(ann)),
            assignment_id,
            assignment_name,
            rego,
        })
    }
}

/// Last good policy per assignment (keys are lower-cased: ARM ids are case-insensitive).
#[derive(Default)]
pub struct LastGoodCache {
    entries: HashMap<String, PolicyEntry>,
}

impl LastGoodCache {
    pub fn get(&self, assignment_id: &str) -> Option<&PolicyEntry> {
        self.entries.get(&assignment_id.to_ascii_lowercase())
    }

    pub fn put(&mut self, entry: PolicyEntry) {
        self.entries.insert(entry.assignment_id.to_ascii_lowercase(), entry);
    }

    /// Drops entries for assignments that are no longer active, so a re-created assignment with the
    /// same id never resurrects an old policy.
    pub fn retain_ids<'a>(&mut self, active: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::HashSet<String> = active.into_iter().map(str::to_ascii_lowercase).collect();
        self.entries.retain(|k, _| keep.contains(k));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The namespaced ConfigMap calls the refresh cycle makes. These need exactly the verbs
/// `list`, `get`, `create`, `update`, `delete` on `configmaps` in the policy namespace.
#[derive(Clone)]
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    namespace: String,
}

impl ConfigMapStore {
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self { api: Api::namespaced(client, namespace), namespace: namespace.to_string() }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub async fn list(&self) -> Result<Vec<ConfigMap>, kube::Error> {
        Ok(self.api.list(&ListParams::default()).await?.items)
    }

    /// Deletes every listed ConfigMap that is a policy ([`is_policy`]: all but the control plane's
    /// `kube-root-ca.crt`, which it would recreate at once; it did not exist in 2019, so the
    /// documented "delete everything" is unchanged in effect). One already gone (404) is fine.
    pub async fn delete_all(&self, existing: &[ConfigMap]) -> Result<usize, kube::Error> {
        let mut deleted = 0;
        for name in existing.iter().filter_map(|cm| cm.metadata.name.as_deref()) {
            if !is_policy(name) {
                continue;
            }
            match self.api.delete(name, &DeleteParams::default()).await {
                Ok(_) => deleted += 1,
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// Creates `cm`; if one with that name exists (a concurrent writer, or a delete that has not
    /// finished), replaces it instead, so the end state is the same either way.
    pub async fn create_or_replace(&self, cm: &ConfigMap) -> Result<(), kube::Error> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        match self.api.create(&PostParams::default(), cm).await {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(409) => {
                let current = self.api.get(&name).await?;
                let mut next = cm.clone();
                next.metadata.resource_version = current.metadata.resource_version;
                self.api.replace(&name, &PostParams::default(), &next).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

/// The HTTP status of a Kubernetes API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/policyAssignments/a1";

    fn is_dns1123_subdomain(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 253
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn names_are_stable_sanitised_and_hash_suffixed() {
        let n = configmap_name("a1", ID);
        assert!(n.starts_with("azurepolicy-a1-") && n.len() == "azurepolicy-a1-".len() + 8, "{n}");
        assert_eq!(n, configmap_name("a1", ID));
        assert_ne!(n, configmap_name("a1", &ID.replace("rg", "rg2")));
    }

    #[test]
    fn sanitising_handles_case_symbols_runs_and_length() {
        assert_eq!(sanitize("My_Policy  Name!"), "my-policy-name");
        assert_eq!(sanitize("--x--"), "x");
        assert_eq!(sanitize("ÄÖ.ü"), "");
        assert_eq!(sanitize(&"a".repeat(100)).len(), 40);
        assert_eq!(sanitize(&format!("{}-b", "a".repeat(39))), "a".repeat(39));
        for raw in ["", "___", "Z", "x.y.z", &"Q-".repeat(60), "日本語 policy"] {
            let n = configmap_name(raw, ID);
            assert!(is_dns1123_subdomain(&n) && n.len() <= 63, "{raw:?} -> {n}");
        }
    }

    fn entry(enforcement_mode: EnforcementMode) -> PolicyEntry {
        PolicyEntry {
            assignment_id: ID.into(),
            assignment_name: "a1".into(),
            definition_id: "/d".into(),
            enforcement_mode,
            rego: "package x".into(),
        }
    }

    #[test]
    fn configmap_round_trips_through_annotations() {
        let e = entry(EnforcementMode::Default);
        let cm = e.to_configmap("azure-policy");
        assert_eq!(cm.metadata.labels.as_ref().unwrap()["openpolicyagent.org/policy"], "rego");
        assert_eq!(cm.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"], "azure-policy-addon");
        assert_eq!(PolicyEntry::from_configmap(&cm).unwrap(), e);
    }

    #[test]
    fn a_do_not_enforce_assignment_is_marked_and_a_default_one_is_not() {
        use contracts::policy_configmaps::ENFORCEMENT_MODE_ANNOTATION;
        let marked = entry(EnforcementMode::DoNotEnforce).to_configmap("azure-policy");
        let annotations = marked.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.get(ENFORCEMENT_MODE_ANNOTATION).map(String::as_str), Some("DoNotEnforce"));
        assert_eq!(PolicyEntry::from_configmap(&marked).unwrap(), entry(EnforcementMode::DoNotEnforce));

        let plain = entry(EnforcementMode::Default).to_configmap("azure-policy");
        assert!(!plain.metadata.annotations.as_ref().unwrap().contains_key(ENFORCEMENT_MODE_ANNOTATION));
        assert_eq!(plain.metadata.name, marked.metadata.name, "same ConfigMap, rewritten when the mode changes");
        assert_ne!(plain.metadata.annotations, marked.metadata.annotations);
    }

    #[test]
    fn last_good_cache_is_case_insensitive_and_pruned() {
        let mut c = LastGoodCache::default();
        c.put(entry(EnforcementMode::Default));
        assert!(c.get(&ID.to_uppercase()).is_some());
        c.retain_ids(["/other"]);
        assert!(c.is_empty());
    }
}
