//! What every watcher of the webhook shares: the watch loop, bursts of events, and relist
//! bookkeeping, so an object deleted while a watch was down is dropped when the watch relists.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::core::TypeMeta;
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};

/// An object's identity within one resource: namespace (none when cluster-scoped) and name.
pub type Key = (Option<String>, String);

/// A change to apply, in order.
#[derive(Debug)]
pub enum Change {
    /// Added or modified (or listed), with `apiVersion` and `kind` filled in.
    Upsert(serde_json::Value),
    /// Deleted, or gone from a relist.
    Remove(Key),
}

/// Turns watch events of one resource into [`Change`]s.
#[derive(Debug)]
pub struct Relist {
    resource: ApiResource,
    known: HashSet<Key>,
    /// Keys seen since the last `Init`, while a (re)list is in progress.
    listing: Option<HashSet<Key>>,
}

impl Relist {
    pub fn new(resource: ApiResource) -> Self {
        Self { resource, known: HashSet::new(), listing: None }
    }

    /// The changes a burst of events makes, and whether a (re)list completed in it.
    pub fn changes(&mut self, events: Vec<watcher::Event<DynamicObject>>) -> (Vec<Change>, bool) {
        let mut changes = Vec::with_capacity(events.len());
        let mut listed = false;
        for event in events {
            match event {
                watcher::Event::Init => self.listing = Some(HashSet::new()),
                watcher::Event::InitApply(obj) | watcher::Event::Apply(obj) => {
                    let key = key(&obj);
                    if let Some(listing) = &mut self.listing {
                        listing.insert(key.clone());
                    }
                    self.known.insert(key);
                    changes.push(Change::Upsert(self.stored(obj)));
                }
                watcher::Event::Delete(obj) => {
                    let key = key(&obj);
                    self.known.remove(&key);
                    changes.push(Change::Remove(key));
                }
                watcher::Event::InitDone => {
                    let listing = self.listing.take().unwrap_or_default();
                    changes.extend(self.known.difference(&listing).cloned().map(Change::Remove));
                    self.known = listing;
                    listed = true;
                }
            }
        }
        (changes, listed)
    }

    /// The object as JSON with its type (list items come without it) and without
    /// `managedFields`, which no template reads.
    fn stored(&self, mut obj: DynamicObject) -> serde_json::Value {
        obj.types = Some(TypeMeta { api_version: self.resource.api_version.clone(), kind: self.resource.kind.clone() });
        obj.metadata.managed_fields = None;
        serde_json::to_value(&obj).unwrap_or_default()
    }
}

fn key(obj: &DynamicObject) -> Key {
    (obj.namespace(), obj.name_any())
}

/// The watchers' retry delays: 50 ms, doubling up to 10 s, back to 50 ms once a watch works. A
/// constraint kind's watcher usually starts before the API server serves its CRD (the controller
/// creates it just after the template is seen), and kube's default first retry, 800 ms, sat on the
/// path from an assignment to its enforcement (`harness bench propagation`).
#[derive(Debug, Clone, Copy)]
pub struct RetrySoon {
    next: Duration,
}

impl RetrySoon {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(10);
}

impl Default for RetrySoon {
    fn default() -> Self {
        RetrySoon { next: Self::FIRST }
    }
}

impl Iterator for RetrySoon {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(delay)
    }
}

impl kube::runtime::utils::Backoff for RetrySoon {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Watches `resource` cluster-wide forever, handing each burst of changes to `apply` (with whether
/// a list completed in it). Watch errors (the resource not served yet, a dropped connection) are
/// logged and retried with backoff.
pub async fn watch(client: kube::Client, resource: ApiResource, mut apply: impl FnMut(Vec<Change>, bool)) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let mut relist = Relist::new(resource.clone());
    let mut bursts = watcher(api, watcher::Config::default()).backoff(RetrySoon::default()).ready_chunks(1024).boxed();
    while let Some(burst) = bursts.next().await {
        let mut events = Vec::with_capacity(burst.len());
        for item in burst {
            match item {
                Ok(event) => events.push(event),
                Err(e) => {
                    tracing::warn!(resource = %resource.plural, group = %resource.group, error = %e, "watch error (retrying)")
                }
            }
        }
        if events.is_empty() {
            continue;
        }
        let (changes, listed) = relist.changes(events);
        if !changes.is_empty() || listed {
            apply(changes, listed);
        }
    }
}

/// A task aborted when this handle is dropped (watchers that come and go with templates and
/// with the sync configuration).
#[derive(Debug)]
pub struct Watcher(pub tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> DynamicObject {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns, "managedFields": [{}]}})).unwrap()
    }

    #[test]
    fn a_relist_removes_what_it_no_longer_lists() {
        let mut r = Relist::new(ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()));
        use watcher::Event::*;
        let (changes, listed) = r.changes(vec![Init, InitApply(pod("a", "p1")), InitApply(pod("a", "p2")), InitDone]);
        assert!(listed);
        assert_eq!(changes.len(), 2);
        let Change::Upsert(first) = &changes[0] else { panic!() };
        assert_eq!((first["kind"].as_str(), first["apiVersion"].as_str()), (Some("Pod"), Some("v1")));
        assert!(first["metadata"].get("managedFields").is_none());
        let (changes, _) = r.changes(vec![Init, InitApply(pod("a", "p2")), InitDone]);
        assert!(
            matches!(&changes[..], [Change::Upsert(_), Change::Remove((Some(ns), n))] if ns == "a" && n == "p1"),
            "{changes:?}"
        );
    }

    #[test]
    fn retries_start_soon_double_and_reset() {
        use kube::runtime::utils::Backoff as _;
        let mut retry = super::RetrySoon::default();
        let first: Vec<u128> = retry.by_ref().take(10).map(|d| d.as_millis()).collect();
        assert_eq!(first, [50, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]);
        retry.reset();
        assert_eq!(retry.next().map(|d| d.as_millis()), Some(50));
    }
}
