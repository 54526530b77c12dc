//! Reading and compiling ConstraintTemplates (Gatekeeper v3 engine): versions, Rego precedence,
//! name/kind rule, required `violation`, v1 and v0 modules, libs, and the policy library's templates.

use std::path::PathBuf;

use policy_engine::gatekeeper_v3::compiled_template::compile;
use policy_engine::gatekeeper_v3::{ConstraintTemplate, GatekeeperError};
use serde_json::{Value, json};

const V0_REGO: &str = "package k8srequired\n\nviolation[{\"msg\": msg}] {\n  not input.review.object.metadata.labels.owner\n  msg := \"needs an owner\"\n}\n";

fn template(api_version: &str, target: Value) -> Value {
    json!({
        "apiVersion": format!("templates.gatekeeper.sh/{api_version}"),
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8srequired"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sRequired"},
                             "validation": {"openAPIV3Schema": {"type": "object", "properties": {"x": {"type": "string"}}}}}},
            "targets": [target],
        }
    })
}

fn rego_target(rego: &str) -> Value {
    json!({"target": "admission.k8s.gatekeeper.sh", "rego": rego})
}

fn read(value: &Value) -> Result<ConstraintTemplate, GatekeeperError> {
    ConstraintTemplate::from_value(value, "t.yaml")
}

#[test]
fn every_served_version_reads_with_its_legacy_schema_default() {
    for (version, legacy) in [("v1", false), ("v1beta1", true), ("v1alpha1", true)] {
        let t = read(&template(version, rego_target(V0_REGO))).unwrap();
        assert_eq!(t.api_version, format!("templates.gatekeeper.sh/{version}"));
        assert_eq!(t.legacy_schema, legacy, "{version}");
        assert_eq!((t.name.as_str(), t.kind.as_str()), ("k8srequired", "K8sRequired"));
        assert_eq!(t.schema.as_ref().unwrap()["properties"]["x"]["type"], "string");
        assert_eq!(t.rego, V0_REGO);
    }
    let mut explicit = template("v1", rego_target(V0_REGO));
    explicit["spec"]["crd"]["spec"]["validation"]["legacySchema"] = json!(true);
    assert!(read(&explicit).unwrap().legacy_schema);
}

#[test]
fn other_api_versions_and_kinds_are_refused() {
    let err = read(&template("v2", rego_target(V0_REGO))).unwrap_err().to_string();
    assert!(err.starts_with("t.yaml: apiVersion: templates.gatekeeper.sh/v1, v1beta1 or v1alpha1"), "{err}");
    let mut wrong_kind = template("v1", rego_target(V0_REGO));
    wrong_kind["kind"] = json!("Constraint");
    let err = read(&wrong_kind).unwrap_err().to_string();
    assert!(err.starts_with("t.yaml: kind: ConstraintTemplate"), "{err}");
}

#[test]
fn the_name_must_be_the_lowercase_kind() {
    let mut t = template("v1", rego_target(V0_REGO));
    t["metadata"]["name"] = json!("other");
    let err = read(&t).unwrap_err().to_string();
    assert_eq!(
        err,
        "t.yaml: metadata.name: the ConstraintTemplate's name \"other\" is not equal to the lowercase of CRD's Kind \"K8sRequired\""
    );
}

#[test]
fn targets_rego_beats_code_and_cel_is_noted() {
    let code_rego = V0_REGO.replace("needs an owner", "from code");
    let both = json!({"target": "admission.k8s.gatekeeper.sh", "rego": V0_REGO, "libs": ["package lib.a\nx := 1\n"],
                      "code": [{"engine": "K8sNativeValidation", "source": {"validations": []}},
                               {"engine": "Rego", "source": {"rego": code_rego}}]});
    let t = read(&template("v1", both)).unwrap();
    assert_eq!(t.rego, V0_REGO);
    assert_eq!(t.rego_field, "spec.targets[0].rego");
    assert_eq!(t.libs, vec!["package lib.a\nx := 1\n".to_string()]);
    assert_eq!(t.notes.len(), 1);
    assert!(t.notes[0].contains("code[0]") && t.notes[0].contains("CEL"), "{:?}", t.notes);

    let code_only = json!({"target": "admission.k8s.gatekeeper.sh",
                           "code": [{"engine": "K8sNativeValidation", "source": {}},
                                    {"engine": "Rego", "source": {"rego": code_rego, "libs": ["package lib.b\ny := 2\n"], "version": "v1"}}]});
    let t = read(&template("v1", code_only)).unwrap();
    assert_eq!(t.rego, code_rego);
    assert_eq!(t.rego_field, "spec.targets[0].code[1].source.rego");
    assert_eq!(t.libs, vec!["package lib.b\ny := 2\n".to_string()]);
    assert!(t.rego_v1_only);
}

#[test]
fn a_template_without_rego_is_refused() {
    let cel_only =
        json!({"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "K8sNativeValidation", "source": {}}]});
    let err = read(&template("v1", cel_only)).unwrap_err().to_string();
    assert!(err.starts_with("t.yaml: spec.targets[0]: Rego"), "{err}");
    let wrong_target = json!({"target": "mutation", "rego": V0_REGO});
    let err = read(&template("v1", wrong_target)).unwrap_err().to_string();
    assert!(err.starts_with("t.yaml: spec.targets[0].target: admission.k8s.gatekeeper.sh"), "{err}");
}

#[test]
fn a_missing_violation_rule_is_gatekeepers_error() {
    let t = read(&template("v1", rego_target("package x\n\ndeny[msg] { msg := \"no\" }\n"))).unwrap();
    let err = compile(&t).unwrap_err().to_string();
    assert_eq!(
        err,
        "t.yaml: template k8srequired: rego spec.targets[0].rego: invalid ConstraintTemplate: invalid rego: invalid module: missing required rules: [violation]"
    );
}

#[test]
fn v1_and_v0_modules_both_compile_and_the_package_is_template() {
    let v1 = "package anything.at.all\n\nviolation contains {\"msg\": msg} if {\n  some c in input.review.object.spec.containers\n  msg := c.name\n}\n";
    for rego in [v1, V0_REGO] {
        let compiled = compile(&read(&template("v1", rego_target(rego))).unwrap()).unwrap();
        let mut engine = compiled.engine.clone();
        engine.set_input(regorus::Value::from(
            json!({"review": {"object": {"metadata": {}, "spec": {"containers": [{"name": "a"}]}}}}),
        ));
        let found = engine.eval_rule("data.template.violation".to_string()).unwrap();
        assert_eq!(found.as_set().unwrap().len(), 1, "{rego}");
        assert!(!compiled.reads_inventory);
    }
}

#[test]
fn a_v1_only_module_in_v0_syntax_fails_with_its_line() {
    let code = json!({"target": "admission.k8s.gatekeeper.sh",
                      "code": [{"engine": "Rego", "source": {"rego": V0_REGO, "version": "v1"}}]});
    let err = compile(&read(&template("v1", code)).unwrap()).unwrap_err();
    let GatekeeperError::Rego { module, message, .. } = &err else { panic!("{err}") };
    assert_eq!(module, "spec.targets[0].code[0].source.rego");
    assert!(message.starts_with("line 3,"), "{message}");
}

#[test]
fn a_syntax_error_names_module_and_line() {
    let broken = "package x\n\nviolation[{\"msg\": msg}] {\n  msg := \n}\n";
    let err = compile(&read(&template("v1", rego_target(broken))).unwrap()).unwrap_err();
    let GatekeeperError::Rego { file, template, module, message } = &err else { panic!("{err}") };
    assert_eq!((file.as_str(), template.as_str(), module.as_str()), ("t.yaml", "k8srequired", "spec.targets[0].rego"));
    assert!(message.starts_with("line "), "{message}");
}

#[test]
fn an_unknown_function_is_a_compile_error() {
    let rego = "package x\n\nviolation[{\"msg\": msg}] {\n  msg := no_such_function(1)\n}\n";
    let err = compile(&read(&template("v1", rego_target(rego))).unwrap()).unwrap_err().to_string();
    assert!(err.contains("no_such_function"), "{err}");
}

#[test]
fn libs_are_under_data_lib() {
    let rego = "package k8srequired\nimport data.lib.helpers\n\nviolation[{\"msg\": msg}] {\n  helpers.bad(input.review.object)\n  msg := helpers.text\n}\n";
    let lib = "package lib.helpers\n\ntext := \"from lib\"\n\nbad(o) {\n  o.metadata.name == \"x\"\n}\n";
    let target = json!({"target": "admission.k8s.gatekeeper.sh", "rego": rego, "libs": [lib]});
    let compiled = compile(&read(&template("v1", target)).unwrap()).unwrap();
    let mut engine = compiled.engine.clone();
    engine.set_input(regorus::Value::from(json!({"review": {"object": {"metadata": {"name": "x"}}}})));
    let found = serde_json::to_value(engine.eval_rule("data.template.violation".to_string()).unwrap()).unwrap();
    assert_eq!(found, json!([{"msg": "from lib"}]));

    let bad_lib = json!({"target": "admission.k8s.gatekeeper.sh", "rego": rego, "libs": ["package helpers\nx := 1\n"]});
    let err = compile(&read(&template("v1", bad_lib)).unwrap()).unwrap_err().to_string();
    assert!(err.contains("rego spec.targets[0].libs[0]: a lib's package must be under lib"), "{err}");
}

#[test]
fn a_template_reading_data_inventory_is_marked() {
    let rego = "package x\n\nviolation[{\"msg\": \"dup\"}] {\n  data.inventory.cluster[_]\n}\n";
    let compiled = compile(&read(&template("v1", rego_target(rego))).unwrap()).unwrap();
    assert!(compiled.reads_inventory);
}

fn library_templates() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates");
    let mut found = Vec::new();
    for slug in std::fs::read_dir(&root).unwrap().flatten().filter(|e| e.path().is_dir()) {
        for version in std::fs::read_dir(slug.path()).unwrap().flatten() {
            let path = version.path().join("template.yaml");
            if path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_policy_library_template_reads_and_compiles() {
    let paths = library_templates();
    // The 27 public built-ins at least (the library may grow).
    assert!(paths.len() >= 27, "{paths:?}");
    let mut referential = 0;
    for path in paths {
        let t = ConstraintTemplate::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.api_version, "templates.gatekeeper.sh/v1");
        let compiled = compile(&t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compiled.reads_inventory, t.rego.contains("data.inventory"), "{}", path.display());
        referential += usize::from(compiled.reads_inventory);
    }
    assert!(referential >= 1, "ingress-hostnames-conflict reads data.inventory");
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = ConstraintTemplate::from_file(std::path::Path::new("/nonexistent/template.yaml")).unwrap_err();
    assert!(matches!(err, GatekeeperError::Read { .. }), "{err}");
}
