use serde_json::{Value, json};

use super::*;

fn template(rego: &str) -> Value {
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sdisallowedimage"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sDisallowedImage"},
                "validation": {"openAPIV3Schema": {"type": "object", "properties": {"prefix": {"type": "string"}}}}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]
        }
    })
}

const REGO: &str = r#"package k8sdisallowedimage
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  startswith(c.image, input.parameters.prefix)
  msg := sprintf("image %v is not allowed", [c.image])
}"#;

fn constraint(name: &str, prefix: Value) -> Value {
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sDisallowedImage",
        "metadata": {"name": name}, "spec": {"parameters": {"prefix": prefix}}
    })
}

fn names(state: &CacheState) -> Vec<String> {
    state.client().constraints().map(|c| c.name.clone()).collect()
}

#[test]
fn constraints_wait_for_their_template_and_survive_its_replacement() {
    let mut state = CacheState::default();
    state.apply_constraint(constraint("early", json!("nginx")));
    assert!(names(&state).is_empty(), "no template yet");
    assert_eq!(state.apply_template(&template(REGO)), Some("K8sDisallowedImage".to_string()));
    assert_eq!(names(&state), ["early"]);
    // An update of the template drops its constraints from the client; the cache loads them again.
    assert!(state.apply_template(&template(&REGO.replace("not allowed", "refused"))).is_some());
    assert_eq!(names(&state), ["early"]);
    state.remove_constraint("K8sDisallowedImage", "early");
    assert!(names(&state).is_empty());
}

#[test]
fn a_template_that_does_not_compile_is_skipped_and_the_old_one_kept() {
    let mut state = CacheState::default();
    state.apply_template(&template(REGO)).unwrap();
    assert_eq!(state.apply_template(&template("package k8sdisallowedimage\nviolation[{")), None);
    assert!(state.client().template("K8sDisallowedImage").is_some());
    assert_eq!(state.remove_template("k8sdisallowedimage").as_deref(), Some("K8sDisallowedImage"));
    assert!(state.client().template("K8sDisallowedImage").is_none());
    assert_eq!(state.remove_template("k8sdisallowedimage"), None);
}

#[test]
fn a_constraint_whose_parameters_do_not_fit_enforces_nothing() {
    let mut state = CacheState::default();
    state.apply_template(&template(REGO)).unwrap();
    state.apply_constraint(constraint("c", json!("nginx")));
    assert_eq!(names(&state), ["c"]);
    state.apply_constraint(constraint("c", json!(3)));
    assert!(names(&state).is_empty(), "the previous version is dropped too");
}
