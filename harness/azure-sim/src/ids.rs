//! ARM resource ids and scopes. ARM compares path segments, names and namespaces case-insensitively
//! but answers with the caller's casing, so the mock keys its maps by [`key`] (lower case) and keeps
//! the original spelling in the stored value.

use crate::error::{ArmError, ArmResult};

/// The map key for a name or id: ARM identity is case-insensitive.
pub fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Case-insensitive equality.
pub fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Percent-decodes one path segment; invalid escapes are kept literally (ARM would 404 them anyway).
pub fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a request path into decoded, non-empty segments.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(decode_segment).collect()
}

/// Joins segments back into an id with a leading slash.
pub fn join(segments: &[String]) -> String {
    let mut id = String::new();
    for s in segments {
        id.push('/');
        id.push_str(s);
    }
    id
}

/// Whether `inner` lies at or below `outer` (segment-aware, case-insensitive).
pub fn contains(outer: &str, inner: &str) -> bool {
    let (o, i) = (key(outer.trim_end_matches('/')), key(inner.trim_end_matches('/')));
    i == o || i.starts_with(&format!("{o}/"))
}

/// What kind of thing a scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Subscription,
    ResourceGroup,
    Resource,
    /// A policy assignment used as a PolicyInsights scope.
    Assignment,
}

/// A parsed ARM scope (`/subscriptions/{s}[/resourceGroups/{rg}[/providers/...]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The scope as the caller spelled it, leading slash, no trailing slash.
    pub id: String,
    pub subscription: String,
    pub resource_group: Option<String>,
    pub kind: ScopeKind,
}

impl Scope {
    /// Parses the segments of a scope. Only subscription-rooted scopes exist in this mock.
    pub fn parse(segs: &[String]) -> ArmResult<Scope> {
        let invalid =
            || ArmError::bad_request("InvalidScope", format!("The scope '{}' is not a valid ARM scope.", join(segs)));
        if segs.len() < 2 || !eq(&segs[0], "subscriptions") {
            return Err(invalid());
        }
        let subscription = segs[1].clone();
        let lower: Vec<String> = segs.iter().map(|s| key(s)).collect();
        let is_assignment = lower.len() >= 4
            && lower[lower.len() - 2] == "policyassignments"
            && lower[lower.len() - 3] == "microsoft.authorization";
        let (resource_group, kind) = match lower.len() {
            2 => (None, ScopeKind::Subscription),
            4 if lower[2] == "resourcegroups" => (Some(segs[3].clone()), ScopeKind::ResourceGroup),
            _ if is_assignment => {
                let rg = (lower[2] == "resourcegroups").then(|| segs[3].clone());
                (rg, ScopeKind::Assignment)
            }
            n if n >= 8 && lower[2] == "resourcegroups" && lower[4] == "providers" && n % 2 == 0 => {
                (Some(segs[3].clone()), ScopeKind::Resource)
            }
            _ => return Err(invalid()),
        };
        Ok(Scope { id: join(segs), subscription, resource_group, kind })
    }

    /// Whether a resource (by id) falls under this scope. An assignment scope contains nothing.
    pub fn contains_resource(&self, resource_id: &str) -> bool {
        self.kind != ScopeKind::Assignment && contains(&self.id, resource_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        segments(p)
    }

    #[test]
    fn parses_scopes() {
        assert_eq!(Scope::parse(&segs("/subscriptions/S")).unwrap().kind, ScopeKind::Subscription);
        let rg = Scope::parse(&segs("/subscriptions/S/resourceGroups/RG")).unwrap();
        assert_eq!((rg.kind, rg.resource_group.as_deref()), (ScopeKind::ResourceGroup, Some("RG")));
        let res = Scope::parse(&segs(
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/c",
        ))
        .unwrap();
        assert_eq!(res.kind, ScopeKind::Resource);
        let a = Scope::parse(&segs("/subscriptions/S/providers/Microsoft.Authorization/policyAssignments/a")).unwrap();
        assert_eq!(a.kind, ScopeKind::Assignment);
        assert!(Scope::parse(&segs("/tenants/x")).is_err());
    }

    #[test]
    fn containment_is_segment_aware_and_case_insensitive() {
        assert!(contains("/subscriptions/S/resourceGroups/rg", "/subscriptions/s/resourcegroups/RG/providers/x/y/z"));
        assert!(!contains("/subscriptions/S/resourceGroups/rg", "/subscriptions/S/resourceGroups/rg2"));
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode_segment("a%2Fb%20c"), "a/b c");
        assert_eq!(decode_segment("bad%zz%"), "bad%zz%");
    }
}
