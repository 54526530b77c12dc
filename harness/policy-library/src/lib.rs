//! Our Gatekeeper v3 ConstraintTemplates for the Azure Policy for AKS built-ins (see
//! `templates/README.md`), embedded in the binary. It is the catalog behind the simulated template
//! store: a definition's `templateInfo.url` (`https://store.policy.core.windows.net/kubernetes/<slug>/v<N>/template.yaml`)
//! is resolved here by its path, never fetched.
//!
//! ```
//! let entry = policy_library::by_store_url(
//!     "https://store.policy.core.windows.net/kubernetes/container-no-privilege/v2/template.yaml",
//! ).unwrap();
//! assert_eq!(entry.slug, "container-no-privilege");
//! assert!(entry.template.contains("kind: ConstraintTemplate"));
//! assert_eq!(policy_library::template("container-no-privilege", 2), Some(entry.template));
//! ```

use std::path::PathBuf;

/// The store's host and path prefix, as the built-in definitions spell their URLs.
pub const STORE_URL_PREFIX: &str = "https://store.policy.core.windows.net/kubernetes/";

/// One template folder, `templates/<slug>/v<version>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The store slug (`container-no-privilege`).
    pub slug: &'static str,
    /// The store version (`2` for `v2`).
    pub version: u32,
    /// `template.yaml`: the ConstraintTemplate.
    pub template: &'static str,
    /// `constraint-definition-values.yaml`: a Constraint carrying the keys (and defaults) the Azure
    /// definition passes in `details.values`, when the folder has one.
    pub definition_values: Option<&'static str>,
}

impl Entry {
    /// The store URL a definition uses for this template.
    pub fn store_url(&self) -> String {
        store_url(self.slug, self.version)
    }
}

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// Every embedded template, sorted by slug and version.
pub fn all() -> &'static [Entry] {
    ENTRIES
}

/// The folder `<slug>/v<version>`, if the catalog has it.
pub fn get(slug: &str, version: u32) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.slug == slug && e.version == version)
}

/// The `template.yaml` text of `<slug>/v<version>`.
pub fn template(slug: &str, version: u32) -> Option<&'static str> {
    get(slug, version).map(|e| e.template)
}

/// `https://store.policy.core.windows.net/kubernetes/<slug>/v<version>/template.yaml`.
pub fn store_url(slug: &str, version: u32) -> String {
    format!("{STORE_URL_PREFIX}{slug}/v{version}/template.yaml")
}

/// The slug and version a store URL names, read from its path `/kubernetes/<slug>/v<N>/template.yaml`
/// (scheme and host are not checked: the simulated store may run on another host). `None` when the
/// path does not have that shape.
pub fn parse_store_url(url: &str) -> Option<(String, u32)> {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme.find('/').map_or("", |i| &without_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let rest = path.strip_prefix("/kubernetes/")?;
    let mut parts = rest.split('/');
    let (slug, version, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || file != "template.yaml" || slug.is_empty() {
        return None;
    }
    let version = version.strip_prefix('v')?.parse().ok()?;
    Some((slug.to_string(), version))
}

/// The catalog entry a store URL names (see [`parse_store_url`]).
pub fn by_store_url(url: &str) -> Option<&'static Entry> {
    let (slug, version) = parse_store_url(url)?;
    get(&slug, version)
}

/// The source folder of the templates (with suites and samples), for tests and tools run from the
/// repository; the embedded texts do not need it.
pub fn templates_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `templates/<slug>/v<N>/template.yaml` files in the source tree.
    fn template_files_on_disk() -> usize {
        let slugs = std::fs::read_dir(templates_dir()).unwrap().flatten().filter(|e| e.path().is_dir());
        slugs
            .flat_map(|slug| std::fs::read_dir(slug.path()).unwrap().flatten())
            .filter(|version| version.path().join("template.yaml").is_file())
            .count()
    }

    #[test]
    fn every_folder_is_embedded_once() {
        assert_eq!(all().len(), template_files_on_disk(), "{:?}", all().iter().map(|e| e.slug).collect::<Vec<_>>());
        let mut keys: Vec<_> = all().iter().map(|e| (e.slug, e.version)).collect();
        keys.dedup();
        assert_eq!(keys.len(), all().len());
        assert!(all().iter().all(|e| e.template.contains("kind: ConstraintTemplate")));
    }

    #[test]
    fn store_urls_resolve_by_path() {
        let e = by_store_url("https://store.policy.core.windows.net/kubernetes/allowed-host-paths/v4/template.yaml")
            .unwrap();
        assert_eq!((e.slug, e.version), ("allowed-host-paths", 4));
        assert!(e.definition_values.is_some());
        // Another host serving the same path (the simulated store) resolves too.
        assert_eq!(by_store_url("http://127.0.0.1:8443/kubernetes/allowed-host-paths/v4/template.yaml"), Some(e));
        assert_eq!(
            e.store_url(),
            "https://store.policy.core.windows.net/kubernetes/allowed-host-paths/v4/template.yaml"
        );
    }

    #[test]
    fn unknown_or_malformed_urls_do_not_resolve() {
        assert_eq!(
            parse_store_url("https://x/kubernetes/no-such-slug/v1/template.yaml"),
            Some(("no-such-slug".into(), 1))
        );
        assert!(by_store_url("https://x/kubernetes/no-such-slug/v1/template.yaml").is_none());
        assert!(by_store_url("https://x/kubernetes/allowed-host-paths/v9/template.yaml").is_none());
        assert!(parse_store_url("https://x/kubernetes/allowed-host-paths/v4/constraint.yaml").is_none());
        assert!(parse_store_url("https://x/other/allowed-host-paths/v4/template.yaml").is_none());
        assert!(parse_store_url("https://x/kubernetes/allowed-host-paths/4/template.yaml").is_none());
    }
}
