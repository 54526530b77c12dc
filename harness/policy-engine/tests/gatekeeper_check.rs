//! `harness policy check` on the Gatekeeper v3 path, end to end through the library API: Azure-shaped
//! `Microsoft.Kubernetes.Data` definitions (our fixtures) resolved against the policy library, and
//! plain templates, constraints and inventory.

use std::path::PathBuf;

use policy_engine::gatekeeper_v3::GatekeeperError;
use policy_engine::gatekeeper_v3::check::{CheckReport, CheckRequest, check, is_kubernetes_data_definition};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gatekeeper").join(path)
}

fn library(slug_version: &str, file: &str) -> PathBuf {
    policy_library::templates_dir().join(slug_version).join(file)
}

fn definition(name: &str, object: &str, params: &[(&str, &str)]) -> Result<CheckReport, GatekeeperError> {
    check(&CheckRequest {
        definition: Some(fixture(&format!("definitions/{name}.json"))),
        params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        object_file: fixture(&format!("objects/{object}.yaml")),
        ..CheckRequest::default()
    })
}

/// `(constraint kind, enforcementAction, msg)` of each violation.
fn summary(report: &CheckReport) -> Vec<(String, String, String)> {
    report.violations.iter().map(|v| (v.kind.clone(), v.enforcement_action.clone(), v.msg.clone())).collect()
}

#[test]
fn a_deny_definition_denies_a_privileged_pod() {
    let report = definition("container-no-privilege", "privileged-pod", &[]).unwrap();
    assert_eq!(
        summary(&report),
        vec![(
            "K8sAzureV2NoPrivilege".to_string(),
            "deny".to_string(),
            r#"Privileged container is not allowed: shell, securityContext: {"privileged": true}"#.to_string()
        )]
    );
    assert!(report.violations[0].constraint.starts_with("azurepolicy-k8sazurev2noprivilege-"));
    assert_eq!(report.exit_code(), 1);
    let json = report.to_json();
    assert_eq!(json["allowed"], false);
    assert_eq!(json["violations"][0]["enforcementAction"], "deny");
    assert_eq!(json["violations"][0].as_object().unwrap().len(), 4);
}

#[test]
fn every_manifest_is_reviewed_and_audit_does_not_block() {
    let report = definition("container-no-privilege", "pods-mixed", &[]).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert!(report.violations[0].msg.starts_with("Privileged container is not allowed: agent,"));
    let audit = definition("container-no-privilege", "pods-mixed", &[("effect", "audit")]).unwrap();
    assert_eq!(summary(&audit)[0].1, "dryrun");
    assert_eq!(audit.exit_code(), 0);
    assert_eq!(audit.to_json()["allowed"], true);
}

#[test]
fn audit_with_warn_warns_without_blocking() {
    let report =
        definition("container-no-privilege", "privileged-pod", &[("effect", "Audit"), ("warn", "true")]).unwrap();
    assert_eq!(summary(&report)[0].1, "warn");
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn excluded_namespaces_and_admission_reviews() {
    let report = definition("container-no-privilege", "privileged-pod-in-kube-system", &[]).unwrap();
    assert_eq!(summary(&report), vec![]);
    let report =
        definition("container-no-privilege", "privileged-pod-in-kube-system", &[("excludedNamespaces", "[]")]).unwrap();
    assert_eq!(report.violations.len(), 1);
    let report = definition("container-no-privilege", "admission-review-privileged", &[]).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].resource.name, "root-shell");
}

#[test]
fn a_renamed_parameter_reaches_the_template() {
    let report =
        definition("container-allowed-images", "pods-mixed", &[("allowedContainerImagesRegex", r"^.+azurecr\.io/.+$")])
            .unwrap();
    assert_eq!(
        summary(&report),
        vec![(
            "K8sAzureV2ContainerAllowedImages".to_string(),
            "deny".to_string(),
            "Container image docker.io/library/agent:1 for container agent has not been allowed.".to_string()
        )]
    );
    let err = definition("container-allowed-images", "pods-mixed", &[]).unwrap_err().to_string();
    assert!(err.contains("MissingPolicyParameter") && err.contains("allowedContainerImagesRegex"), "{err}");
}

#[test]
fn an_object_parameter_sub_field_reaches_the_template() {
    let report = definition("allowed-host-paths", "hostpath-pod", &[]).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert!(report.violations[0].msg.starts_with("HostPath volume "), "{}", report.violations[0].msg);
    assert_eq!(report.violations[0].enforcement_action, "dryrun");
    let allowed = r#"{"paths": [{"pathPrefix": "/var/log", "readOnly": true}]}"#;
    let report = definition("allowed-host-paths", "hostpath-pod", &[("allowedHostPaths", allowed)]).unwrap();
    assert_eq!(summary(&report), vec![]);
}

#[test]
fn block_default_namespace_matches_its_kinds_in_default_only() {
    let report = definition("block-default-namespace", "default-namespace", &[("effect", "Deny")]).unwrap();
    let messages: Vec<&str> = report.violations.iter().map(|v| v.msg.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "Usage of the default namespace is not allowed, name: web, kind: Service",
            "Usage of the default namespace is not allowed, name: builder, kind: ServiceAccount",
        ]
    );
    assert_eq!(report.exit_code(), 1);
    let other = definition("block-default-namespace", "privileged-pod", &[("effect", "Deny")]).unwrap();
    assert_eq!(other.violations.len(), 0);
}

#[test]
fn a_disabled_definition_checks_nothing_and_says_so() {
    let report = definition("container-no-privilege", "privileged-pod", &[("effect", "Disabled")]).unwrap();
    assert!(report.violations.is_empty());
    assert_eq!(report.exit_code(), 0);
    assert!(report.notes[0].contains("Disabled") && report.notes[0].contains("nothing to check"), "{:?}", report.notes);
}

#[test]
fn definition_modes_are_told_apart() {
    assert!(is_kubernetes_data_definition(&fixture("definitions/block-default-namespace.json")).unwrap());
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/custom-definitions/deny-latest-tag.json");
    assert!(!is_kubernetes_data_definition(&repo).unwrap());
}

#[test]
fn templates_constraints_and_inventory() {
    let request = |inventory: Vec<PathBuf>| CheckRequest {
        templates: vec![library("ingress-hostnames-conflict/v1", "template.yaml")],
        constraints: vec![library("ingress-hostnames-conflict/v1", "constraint.yaml")],
        inventory,
        object_file: fixture("objects/ingress-other.yaml"),
        ..CheckRequest::default()
    };
    let report = check(&request(vec![fixture("objects/ingress-existing.yaml")])).unwrap();
    assert_eq!(
        summary(&report),
        vec![(
            "K8sAzureUniqueIngressHost".to_string(),
            "deny".to_string(),
            "ingress host conflicts with an existing ingress <shop.example.com>".to_string()
        )]
    );
    assert_eq!(report.violations[0].constraint, "ingress-hostnames-conflict");
    assert_eq!(check(&request(vec![])).unwrap().violations.len(), 0);
}

#[test]
fn usage_errors() {
    // A constraint without its template.
    let err = check(&CheckRequest {
        constraints: vec![library("ingress-hostnames-conflict/v1", "constraint.yaml")],
        object_file: fixture("objects/ingress-other.yaml"),
        ..CheckRequest::default()
    })
    .unwrap_err();
    assert!(matches!(err, GatekeeperError::UnknownKind { .. }), "{err}");
    // Nothing to check.
    let err = check(&CheckRequest {
        templates: vec![library("ingress-hostnames-conflict/v1", "template.yaml")],
        object_file: fixture("objects/ingress-other.yaml"),
        ..CheckRequest::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("at least one constraint"), "{err}");
    // --param without a definition.
    let err = check(&CheckRequest { params: vec![("x".into(), "1".into())], ..CheckRequest::default() }).unwrap_err();
    assert!(err.to_string().contains("--definition"), "{err}");
    // An unknown parameter.
    let err = definition("container-no-privilege", "privileged-pod", &[("nope", "1")]).unwrap_err();
    assert!(err.to_string().contains("UndefinedPolicyParameter"), "{err}");
}
