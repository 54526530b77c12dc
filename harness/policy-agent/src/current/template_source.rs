//! A `templateInfo` (or `constraintInfo`) → the object it describes. `PublicURL` is downloaded through
//! the dataplane HTTP client (with its retry); `Base64Encoded` is decoded. Every error names the
//! assignment, because it ends up as that assignment's compliance reason.

use contracts::dataplane::{ConstraintAssignment, ReasonCode, TemplateSource};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::sync_config::{SyncKind, SyncParseError, requirements};
use crate::dataplane_client::DataplaneClient;
use crate::http_client::HttpError;

/// The annotation a template declares its `data.inventory` needs with (reference §1.7, §3.5).
pub const REQUIRES_SYNC_DATA: &str = "metadata.gatekeeper.sh/requires-sync-data";

#[derive(Debug, thiserror::Error)]
pub enum TemplateSourceError {
    #[error("assignment {assignment}: downloading {url}: {source}")]
    Download {
        assignment: String,
        url: String,
        #[source]
        source: HttpError,
    },
    #[error("assignment {assignment}: the Base64Encoded content does not decode: {source}")]
    Base64 {
        assignment: String,
        #[source]
        source: base64::DecodeError,
    },
    #[error("assignment {assignment}: the Base64Encoded content is not UTF-8 text")]
    NotText { assignment: String },
    #[error("assignment {assignment}: {what} from {origin} is not valid YAML: {source}")]
    Yaml {
        assignment: String,
        what: &'static str,
        origin: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("assignment {assignment}: {what} from {origin} is not a {what}: {reason}")]
    Shape { assignment: String, what: &'static str, origin: String, reason: String },
    #[error("assignment {assignment}: template {template}: {source}")]
    SyncData {
        assignment: String,
        template: String,
        #[source]
        source: SyncParseError,
    },
}

impl TemplateSourceError {
    /// A download that did not complete (the template itself may be fine).
    pub fn is_download(&self) -> bool {
        matches!(self, TemplateSourceError::Download { .. })
    }

    /// The reason reported for the assignment: content that does not read as the object is
    /// `Invalid*` (reference §3.6: "bad YAML"); a source that cannot be had, or a template that
    /// cannot be built, is `ConstraintTemplateInstallFailed`.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            TemplateSourceError::Download { .. } | TemplateSourceError::SyncData { .. } => {
                ReasonCode::ConstraintTemplateInstallFailed
            }
            TemplateSourceError::Yaml { what: "Constraint", .. }
            | TemplateSourceError::Shape { what: "Constraint", .. } => ReasonCode::InvalidConstraint,
            _ => ReasonCode::InvalidConstraintTemplate,
        }
    }
}

/// A ConstraintTemplate as fetched for one assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedTemplate {
    /// The YAML, as JSON.
    pub object: Value,
    /// `metadata.name`.
    pub name: String,
    /// `spec.crd.spec.names.kind`: the Constraint kind.
    pub kind: String,
    /// The `constraint-template` annotation value: where it came from (see [`source_marker`]).
    pub source: String,
    /// What `metadata.gatekeeper.sh/requires-sync-data` asks for (empty without it).
    pub requires_sync: Vec<SyncKind>,
    /// Whether the template carries that annotation at all.
    pub declares_sync: bool,
}

/// Where a source comes from, as the `constraint-template`/`constraint-url` annotations and the
/// conflict check compare it: the URL, or for inline content `base64:sha256:<16 hex>` (so two
/// definitions with the same inline template do not conflict, and different ones do).
pub fn source_marker(source: &TemplateSource) -> String {
    match source {
        TemplateSource::PublicUrl { url } => url.clone(),
        TemplateSource::Base64Encoded { content } => {
            let digest = Sha256::digest(content.trim().as_bytes());
            let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("base64:sha256:{hex}")
        }
    }
}

/// The text of `source`: downloaded or decoded.
pub async fn read_source(
    dataplane: &DataplaneClient,
    assignment: &str,
    source: &TemplateSource,
) -> Result<String, TemplateSourceError> {
    match source {
        TemplateSource::PublicUrl { url } => dataplane.download_template(url).await.map_err(|source| {
            TemplateSourceError::Download { assignment: assignment.to_string(), url: url.clone(), source }
        }),
        TemplateSource::Base64Encoded { content } => decode_base64(assignment, content),
    }
}

/// Decodes `Base64Encoded` content (standard alphabet; whitespace and line breaks ignored).
pub fn decode_base64(assignment: &str, content: &str) -> Result<String, TemplateSourceError> {
    use base64::Engine as _;
    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|source| TemplateSourceError::Base64 { assignment: assignment.to_string(), source })?;
    String::from_utf8(bytes).map_err(|_| TemplateSourceError::NotText { assignment: assignment.to_string() })
}

/// Fetches and reads the assignment's ConstraintTemplate.
pub async fn fetch_template(
    dataplane: &DataplaneClient,
    a: &ConstraintAssignment,
) -> Result<FetchedTemplate, TemplateSourceError> {
    let text = read_source(dataplane, &a.assignment_id, &a.template).await?;
    parse_template(&a.assignment_id, &text, &source_marker(&a.template))
}

/// Fetches the assignment's own Constraint (`constraintInfo`), when it has one.
pub async fn fetch_constraint(
    dataplane: &DataplaneClient,
    a: &ConstraintAssignment,
) -> Result<Option<Value>, TemplateSourceError> {
    let Some(source) = &a.constraint else { return Ok(None) };
    let text = read_source(dataplane, &a.assignment_id, source).await?;
    let origin = source_marker(source);
    let object = parse_yaml(&a.assignment_id, "Constraint", &origin, &text)?;
    if !object.get("spec").is_some_and(Value::is_object) {
        return Err(shape(&a.assignment_id, "Constraint", &origin, "it has no spec"));
    }
    Ok(Some(object))
}

/// Reads a ConstraintTemplate's YAML: its name, Constraint kind and sync needs.
pub fn parse_template(assignment: &str, text: &str, origin: &str) -> Result<FetchedTemplate, TemplateSourceError> {
    const WHAT: &str = "ConstraintTemplate";
    let object = parse_yaml(assignment, WHAT, origin, text)?;
    let field = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    let (api_version, kind) = (field("/apiVersion"), field("/kind"));
    if kind != WHAT || !api_version.starts_with("templates.gatekeeper.sh/") {
        let reason = format!("apiVersion {api_version:?}, kind {kind:?}");
        return Err(shape(assignment, WHAT, origin, &reason));
    }
    let name = field("/metadata/name");
    let constraint_kind = field("/spec/crd/spec/names/kind");
    if name.is_empty() || constraint_kind.is_empty() {
        return Err(shape(assignment, WHAT, origin, "metadata.name or spec.crd.spec.names.kind is missing"));
    }
    let annotation = object.pointer(&format!("/metadata/annotations/{}", REQUIRES_SYNC_DATA.replace('/', "~1")));
    let declares_sync = annotation.is_some();
    let requires_sync = match annotation.and_then(Value::as_str) {
        Some(text) => requirements(text).map_err(|source| TemplateSourceError::SyncData {
            assignment: assignment.to_string(),
            template: name.clone(),
            source,
        })?,
        None => Vec::new(),
    };
    Ok(FetchedTemplate {
        object,
        name,
        kind: constraint_kind,
        source: origin.to_string(),
        requires_sync,
        declares_sync,
    })
}

fn parse_yaml(assignment: &str, what: &'static str, origin: &str, text: &str) -> Result<Value, TemplateSourceError> {
    let object: Value = serde_yaml::from_str(text).map_err(|source| TemplateSourceError::Yaml {
        assignment: assignment.to_string(),
        what,
        origin: origin.to_string(),
        source,
    })?;
    if !object.is_object() {
        return Err(shape(assignment, what, origin, "the document is not a mapping"));
    }
    Ok(object)
}

fn shape(assignment: &str, what: &'static str, origin: &str, reason: &str) -> TemplateSourceError {
    TemplateSourceError::Shape {
        assignment: assignment.to_string(),
        what,
        origin: origin.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const A: &str = "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a1";

    /// A small template with Gatekeeper's quoted-JSON `requires-sync-data`.
    const TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sazurev1blockdefault
  annotations:
    metadata.gatekeeper.sh/requires-sync-data: |
      "[[{\"groups\": [\"\"], \"versions\": [\"v1\"], \"kinds\": [\"Namespace\"]}]]"
spec:
  crd:
    spec:
      names:
        kind: K8sAzureV1BlockDefault
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sazurev1blockdefault
      violation[{"msg": "no"}] { false }
"#;

    #[test]
    fn a_template_gives_its_name_kind_and_sync_needs() {
        let t = parse_template(A, TEMPLATE, "https://store/x/v1/template.yaml").unwrap();
        assert_eq!(t.name, "k8sazurev1blockdefault");
        assert_eq!(t.kind, "K8sAzureV1BlockDefault");
        assert_eq!(t.source, "https://store/x/v1/template.yaml");
        assert!(t.declares_sync);
        assert_eq!(
            t.requires_sync,
            vec![SyncKind { group: String::new(), version: "v1".into(), kind: "Namespace".into() }]
        );
    }

    #[test]
    fn base64_content_decodes_and_a_decode_error_names_the_assignment() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(TEMPLATE);
        let wrapped = format!("{}\n{}", &encoded[..40], &encoded[40..]);
        assert_eq!(decode_base64(A, &wrapped).unwrap(), TEMPLATE);
        let error = decode_base64(A, "not*base64!").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("assignment {A}: the Base64Encoded content does not decode")),
            "{message}"
        );
        assert!(!error.is_download());
    }

    #[test]
    fn yaml_and_shape_errors_are_clear() {
        let message = parse_template(A, "kind: [unclosed", "base64:sha256:00").unwrap_err().to_string();
        assert!(
            message
                .starts_with(&format!("assignment {A}: ConstraintTemplate from base64:sha256:00 is not valid YAML: ")),
            "{message}"
        );
        let error = parse_template(A, "kind: [unclosed", "u").unwrap_err();
        assert_eq!(error.reason_code(), ReasonCode::InvalidConstraintTemplate);
        let message = parse_template(A, "apiVersion: v1\nkind: ConfigMap\n", "u").unwrap_err().to_string();
        assert!(message.contains("is not a ConstraintTemplate: apiVersion \"v1\", kind \"ConfigMap\""), "{message}");
        let nameless = "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {}\n";
        let message = parse_template(A, nameless, "u").unwrap_err().to_string();
        assert!(message.contains("metadata.name or spec.crd.spec.names.kind is missing"), "{message}");
    }

    #[test]
    fn inline_sources_are_marked_by_content() {
        let a = TemplateSource::Base64Encoded { content: "YQ==".into() };
        let b = TemplateSource::Base64Encoded { content: "Yg==".into() };
        assert!(source_marker(&a).starts_with("base64:sha256:"));
        assert_ne!(source_marker(&a), source_marker(&b));
        assert_eq!(source_marker(&TemplateSource::PublicUrl { url: "https://u".into() }), "https://u");
    }
}
