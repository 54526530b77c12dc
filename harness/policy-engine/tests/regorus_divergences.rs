//! The measured divergences between regorus 0.14 and OPA (docs/regorus-divergences/), each as a
//! minimal policy evaluated by regorus directly: after `rego_compat::normalize` the result must be
//! OPA's (as measured with gator v3.23.1), and without it regorus must still diverge. The second
//! assertion is deliberate: if an upstream regorus release fixes a divergence it fails, telling us
//! the rewrite can go.

use policy_engine::gatekeeper_v3::rego_compat::{normalize, register_extensions};
use regorus::{Engine, Value};
use serde_json::json;

/// What a rule evaluated to: a JSON value, undefined, or an error (parse or evaluation).
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Value(serde_json::Value),
    Undefined,
    Error(String),
}

use Outcome::{Error, Undefined};

fn value(v: serde_json::Value) -> Outcome {
    Outcome::Value(v)
}

/// A v0 engine as the Gatekeeper v3 engine builds it (builtin errors are undefined, extensions on).
fn engine(extensions: bool) -> Engine {
    let mut engine = Engine::new();
    engine.set_rego_v0(true);
    engine.set_strict_builtin_errors(false);
    if extensions {
        register_extensions(&mut engine).expect("extensions register once");
    }
    engine
}

fn eval_with(mut engine: Engine, src: &str, rule: &str, input: &serde_json::Value) -> Outcome {
    if let Err(e) = engine.add_policy("probe.rego".into(), src.into()) {
        return Error(e.to_string());
    }
    engine.set_input(Value::from_json_str(&input.to_string()).expect("input is JSON"));
    match engine.eval_rule(format!("data.probe.{rule}")) {
        Ok(Value::Undefined) => Undefined,
        Ok(v) => Outcome::Value(serde_json::from_str(&v.to_json_str().expect("serialises")).expect("JSON")),
        Err(e) => Error(e.to_string()),
    }
}

/// `rule` of `src` as written, and after normalisation.
fn raw_and_normalized(src: &str, rule: &str, input: &serde_json::Value) -> (Outcome, Outcome) {
    (eval_with(engine(true), src, rule, input), eval_with(engine(true), &normalize(src), rule, input))
}

fn assert_error_contains(outcome: &Outcome, needle: &str) {
    match outcome {
        Error(e) => assert!(e.contains(needle), "error {e:?} lacks {needle:?}"),
        other => panic!("expected an error containing {needle:?}, got {other:?}"),
    }
}

const D1: &str = r#"package probe
s[x] { x := "a" } { x := "b" }
v = "first" { false } { true }
f(x) = "one" { x == 1 } { x == 2 }
r = y { y := f(2) }
b { false }
{ true }
"#;

#[test]
fn d1_rule_with_several_bodies() {
    let input = json!({});
    let (raw, fixed) = raw_and_normalized(D1, "v", &input);
    // Partial set rules do not even parse, so the raw module is checked without them.
    assert_error_contains(&raw, "else cannot be used with set rules");
    assert_eq!(fixed, value(json!("first")));
    let without_set = D1.replace("s[x] { x := \"a\" } { x := \"b\" }\n", "");
    let raw = |rule| eval_with(engine(true), &without_set, rule, &input);
    let fixed = |rule| eval_with(engine(true), &normalize(D1), rule, &input);
    assert_eq!(raw("v"), value(json!(true)), "regorus: the extra body yields true");
    assert_eq!(raw("r"), Undefined, "regorus: the extra function body yields nothing");
    assert_eq!(raw("b"), value(json!(true)), "boolean rules already agree");
    assert_eq!(fixed("s"), value(json!(["a", "b"])));
    assert_eq!(fixed("r"), value(json!("one")));
    assert_eq!(fixed("b"), value(json!(true)));
}

const D2: &str = "package probe\np {\n  a := input.n\n  (1 + 1) == 2\n}\n";

#[test]
fn d2_line_starting_with_a_parenthesis() {
    let (raw, fixed) = raw_and_normalized(D2, "p", &json!({"n": 1}));
    assert_error_contains(&raw, "could not find function input.n");
    assert_eq!(fixed, value(json!(true)));
}

const D3: &str = r#"package probe
missing = sprintf("missing: %v and %v", ["one"])
verbs = sprintf("missing-d: %d|%s|%5.2f|%%", [])
extra = sprintf("extra: %v", ["one", 2])
extra_array = sprintf("func: %v", [["one"], ["one"]])
dynamic = sprintf(input.format, input.args)
normal = sprintf("normal: %v %v %v %d %s %x", [{"b", "a"}, {"k": "v", "n": 1}, ["s", 1], 7, "str", 255])
"#;

#[test]
fn d3_sprintf_argument_count_mismatch() {
    let input = json!({"format": "%v-%v", "args": [1]});
    for (rule, opa) in [
        ("missing", "missing: one and %!v(MISSING)"),
        ("verbs", "missing-d: %!d(MISSING)|%!s(MISSING)|%!f(MISSING)|%"),
        ("extra", "extra: one%!(EXTRA int=2)"),
        ("extra_array", r#"func: ["one"]%!(EXTRA string=["one"])"#),
        ("dynamic", "1-%!v(MISSING)"),
    ] {
        let (raw, fixed) = raw_and_normalized(D3, rule, &input);
        assert_eq!(raw, Undefined, "{rule}: regorus drops the message");
        assert_eq!(fixed, value(json!(opa)), "{rule}");
    }
    // Matching calls print exactly as before, in OPA's notation for sets and objects.
    let (raw, fixed) = raw_and_normalized(D3, "normal", &input);
    assert_eq!(raw, value(json!(r#"normal: {"a", "b"} {"k": "v", "n": 1} ["s", 1] 7 str ff"#)));
    assert_eq!(fixed, raw);
    // With strict builtin errors (regorus' default) the mismatch is an error instead.
    let mut strict = engine(true);
    strict.set_strict_builtin_errors(true);
    assert_error_contains(&eval_with(strict, D3, "missing", &input), "no argument specified for format verb");
}

const D4: &str = r#"package probe
import future.keywords.every
import future.keywords.in

f(x) { x == "a" }
g(x) = y { x == 2; y := "a" }
h(x) { x == x }
obj := {"a": true}
undefined_rule = "a" { false }

r01 { not f(input.missing) }
r02 { not startswith(input.missing, "a") }
r03 { not obj[input.missing] }
r04 { not input.missing == "a" }
r05 { not input.missing }
r06 { not count(input.missing) > 0 }
r07 { x := input.review.object.metadata; not f(x.missing) }
r08 { not h([input.missing]) }
r09 { not f(undefined_rule) }
r10 { not f(g(1)) }
r11 { xs := [1 | not f(input.missing)]; count(xs) == 1 }
r12 { every _ in [1] { not f(input.missing) } }
r13 { not f(input.missing) with input as {"missing": "b"} }
r14 { not input.missing != "a" }
r15 { not f(input.review.object.metadata.name) }
r16 { x := input.review.object.metadata; not x.missing == 1 }
r17 { x := "b"; not f(x) }
r18 { x := input.review.object.metadata; not obj[x.missing] }
r19 { not to_number("abc") == 1 }
r20 { false } else { not f(input.missing) }
r21 { not input.missing in [1] }
r22 { not count([1 | input.missing[_]]) > 0 }
r23 { not input.missing > 0 }
r24 { not input.missing + 1 == 2 }
r25 { not 1 == input.missing }
r27 { not [input.missing] == [1] }
r29 { not input.review.object.metadata[input.missing] != 1 }
"#;

/// The rules of `D4` whose body succeeds under OPA (gator v3.23.1); every other rule is undefined.
const D4_OPA_TRUE: &[&str] = &["r04", "r05", "r13", "r15", "r16", "r17", "r22", "r25"];

#[test]
fn d4_negated_call_with_undefined_operand() {
    let input = json!({"review": {"object": {"metadata": {"name": "probe-pod"}}}});
    let normalized = normalize(D4);
    let mut diverging = Vec::new();
    let rules = D4.lines().filter(|l| l.starts_with('r')).map(|l| l[..3].to_string());
    for rule in rules {
        let opa = if D4_OPA_TRUE.contains(&rule.as_str()) { value(json!(true)) } else { Undefined };
        let raw = eval_with(engine(true), D4, &rule, &input);
        let fixed = eval_with(engine(true), &normalized, &rule, &input);
        assert_eq!(fixed, opa, "{rule} after normalisation:\n{normalized}");
        if raw != opa {
            diverging.push(rule);
        }
    }
    // The shapes named in the reference all diverge as written.
    for rule in ["r01", "r02", "r03", "r06", "r07", "r09", "r18", "r21", "r23"] {
        assert!(diverging.iter().any(|d| d == rule), "{rule} no longer diverges in regorus: {diverging:?}");
    }
}

const D6: &str = r#"package probe
checks = [any([false, true]), any(set()), all([]), all({true}), all([true, false]), any({false})]
any_string { any("x") }
"#;

#[test]
fn d6_any_and_all() {
    let input = json!({});
    let raw = eval_with(engine(false), D6, "checks", &input);
    assert_error_contains(&raw, "could not find function any");
    let with = |rule| eval_with(engine(true), D6, rule, &input);
    assert_eq!(with("checks"), value(json!([true, false, true, true, false, false])));
    assert_eq!(with("any_string"), Undefined, "a non-collection is a type error in OPA");
}

#[test]
fn d5_builtin_errors_are_undefined_only_when_not_strict() {
    let src = "package probe\np { to_number(\"abc\") == 1 }";
    let mut strict = engine(true);
    strict.set_strict_builtin_errors(true);
    assert_error_contains(&eval_with(strict, src, "p", &json!({})), "could not parse");
    assert_eq!(eval_with(engine(true), src, "p", &json!({})), Undefined);
}

// The rewriter on its own: the shapes it must leave alone, the exact text it produces, idempotence.

#[test]
fn leaves_lookalikes_in_strings_comments_else_chains_and_literals() {
    for src in [
        "package probe\nmsg := \"p[x] { a } { b }\"",
        "package probe\nmsg := `not f(input.x)`",
        "package probe\n# not f(input.x)\np { true } # { false }",
        "package probe\np = 1 { false } else = 2 { true }",
        "package probe\np = {1, 2} { true }\nq = {\"a\": {1}} { true }",
        "package probe\np { x := input.n; (1 + 1) == 2 }",
        "package probe\np { x := 1 +\n (2) }",
        "package probe\np { not f(x); not input.x; not obj[k]; not input.a == 1 }",
        "package probe\np { not f(input.x[_]) }",
        "package probe\nm = sprintf(\"%v and %d\", [a, 2])",
    ] {
        assert_eq!(normalize(src), src, "{src}");
    }
}

#[test]
fn rewrites_to_the_expected_text() {
    let cases = [
        ("p[x] { x := 1 } { x := 2 }", "p[x] { x := 1 } p[x] { x := 2 }"),
        ("p { a := input.n\n (1) == 1 }", "p { a := input.n;\n (1) == 1 }"),
        ("p { not f(input.x) }", "p { __compat_local0__ := input.x; not f(__compat_local0__) }"),
        (
            "p { not obj[input.k] with input as {} }",
            "p { __compat_local0__ := input.k with input as {}; not obj[__compat_local0__] with input as {} }",
        ),
        (
            "p { not count(input.x) > 0 }",
            "p { __compat_local0__ := input.x; __compat_local1__ := count(__compat_local0__); not __compat_local1__ > 0 }",
        ),
        (
            "p { not 1 == count(input.x) }",
            "p { __compat_local0__ := input.x; __compat_local1__ := count(__compat_local0__); not 1 == __compat_local1__ }",
        ),
        ("p if not f(input.x)", "p if { __compat_local0__ := input.x; not f(__compat_local0__) }"),
        (
            "p { xs := [1 | not f(input.x)] }",
            "p { xs := [1 | __compat_local0__ := input.x; not f(__compat_local0__)] }",
        ),
        ("m = sprintf(\"%v %v\", [a])", "m = sprintf(__compat_sprintf_format(\"%v %v\", [a]), [a])"),
        ("m = sprintf(f, args)", "m = sprintf(__compat_sprintf_format(f, args), args)"),
    ];
    for (src, expected) in cases {
        let src = format!("package probe\n{src}");
        assert_eq!(normalize(&src), format!("package probe\n{expected}"), "{src}");
    }
}

#[test]
fn fresh_names_do_not_collide_and_normalising_twice_changes_nothing() {
    let src = "package probe\np { __compat_local4__ := 1; not f(input.x, __compat_local4__) }";
    assert!(normalize(src).contains("__compat_local5__ := input.x;"));
    for src in [D1, D2, D3, D4, D6] {
        let once = normalize(src);
        assert_eq!(normalize(&once), once);
    }
}

/// Half-written modules (every prefix of the probes) never make the rewriter panic.
#[test]
fn truncated_modules_never_panic() {
    for src in [D1, D2, D3, D4, D6] {
        for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            let _ = normalize(&src[..end]);
        }
    }
}

/// The ConstraintTemplates of the policy library: normalisation is idempotent, keeps every module
/// compiling, and gives the same violations for every constraint and sample of each template.
#[test]
fn library_templates_keep_their_results() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates");
    let mut templates = 0;
    let mut reviews = 0;
    for dir in glob_dirs(&root) {
        let template: serde_yaml::Value = read_yaml(&dir.join("template.yaml"));
        let rego = template["spec"]["targets"][0]["rego"].as_str().expect("rego").to_string();
        let normalized = normalize(&rego);
        assert_eq!(normalize(&normalized), normalized, "{}", dir.display());
        let package = rego.lines().find_map(|l| l.trim().strip_prefix("package ")).expect("package").trim();
        templates += 1;
        for constraint in files(&dir, "constraint") {
            let parameters = read_yaml(&constraint)["spec"]["parameters"].clone();
            for sample in files(&dir.join("samples"), "") {
                let object = read_yaml(&sample);
                let input = json!({"parameters": yaml_to_json(parameters.clone()), "review": {
                    "object": yaml_to_json(object.clone()), "kind": {"kind": yaml_to_json(object["kind"].clone())},
                    "operation": "CREATE"}});
                let run = |src: &str| violations(src, package, &input);
                assert_eq!(run(&normalized), run(&rego), "{} {}", constraint.display(), sample.display());
                reviews += 1;
            }
        }
    }
    assert!(templates >= 27 && reviews > 100, "{templates} templates, {reviews} reviews");
}

fn violations(src: &str, package: &str, input: &serde_json::Value) -> Outcome {
    let mut engine = engine(true);
    let parsed = engine.add_policy("t.rego".into(), src.into());
    let mut engine = if parsed.is_err() {
        // Templates written in v1 syntax.
        let mut v1 = Engine::new();
        v1.set_strict_builtin_errors(false);
        register_extensions(&mut v1).expect("extensions");
        v1.add_policy("t.rego".into(), src.into()).expect("template compiles");
        v1
    } else {
        engine
    };
    engine.set_input(Value::from_json_str(&input.to_string()).expect("input"));
    match engine.eval_rule(format!("data.{package}.violation")) {
        Ok(v) => Outcome::Value(serde_json::from_str(&v.to_json_str().expect("json")).expect("json")),
        Err(e) => Error(e.to_string()),
    }
}

fn glob_dirs(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .expect("templates")
        .map(|slug| slug.expect("entry").path())
        .filter(|slug| slug.is_dir())
        .flat_map(|slug| std::fs::read_dir(slug).expect("versions"))
        .map(|v| v.expect("entry").path())
        .filter(|v| v.join("template.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn files(dir: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> =
        std::fs::read_dir(dir).map(|d| d.map(|e| e.expect("entry").path()).collect()).unwrap_or_else(|_| Vec::new());
    out.retain(|p: &std::path::PathBuf| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with(prefix) && name.ends_with(".yaml")
    });
    out.sort();
    out
}

fn read_yaml(path: &std::path::Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("YAML")
}

fn yaml_to_json(v: serde_yaml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The policies of docs/regorus-divergences/*.md, reviewing the pod of those reports: after
/// normalisation, the violation messages gator v3.23.1 printed for them.
#[test]
fn documented_examples_match_gator() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe-pod", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]}});
    let input = json!({"review": {"object": pod}, "parameters": {}});
    for (name, rego, gator) in DOC_EXAMPLES {
        let package = rego.lines().next().and_then(|l| l.strip_prefix("package ")).expect("package line");
        let Outcome::Value(found) = violations(&normalize(rego), package, &input) else { panic!("{name} failed") };
        let mut msgs: Vec<&str> = found.as_array().expect("set").iter().filter_map(|v| v["msg"].as_str()).collect();
        msgs.sort();
        assert_eq!(&msgs, gator, "{name}");
    }
}

const DOC_EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "d1a",
        r#"package k8sd1a

violation[{"msg": msg}] {
  kinds[k]
  msg := sprintf("kind: %v", [k])
}

kinds[k] { k := "a" } { k := "b" }
"#,
        &["kind: a", "kind: b"],
    ),
    (
        "d1b",
        r#"package k8sd1b

violation[{"msg": msg}] {
  msg := sprintf("value: %v, function: %v", [level, [x | x := label(2)]])
}

level = "high" { false } { true }

label(n) = "even" { n == 0 } { n == 2 }
"#,
        &["value: high, function: [\"even\"]"],
    ),
    (
        "d2",
        r#"package k8sd2

violation[{"msg": msg}] {
  name := input.review.object.metadata.name
  (1 + 1) == 2
  msg := sprintf("name: %v", [name])
}
"#,
        &["name: probe-pod"],
    ),
    (
        "d3",
        r#"package k8sd3

violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  msg := sprintf("container %v uses image %v", [c.name])
}

violation[{"msg": msg}] {
  msg := sprintf("extra: %v", ["one", 2])
}
"#,
        &["container app uses image %!v(MISSING)", "extra: one%!(EXTRA int=2)"],
    ),
    (
        "d4",
        r#"package k8sd4

violation[{"msg": msg}] {
  img := input.review.object.spec.containers[_].image
  not regex.match(input.parameters.imageRegex, img)
  msg := sprintf("image %v is not allowed", [img])
}

violation[{"msg": "user function"}] {
  not is_team(input.review.object.metadata.labels.team)
}

violation[{"msg": "nested reference"}] {
  not known[input.review.object.metadata.labels.team]
}

violation[{"msg": "comparison"}] {
  not input.review.object.metadata.labels.team == "a"
}

is_team(t) { t == "a" }

known := {"a": true}
"#,
        &["comparison"],
    ),
    (
        "d5",
        r#"package k8sd5

violation[{"msg": "numeric name"}] {
  to_number(input.review.object.metadata.name) > 1
}

violation[{"msg": "always"}] {
  true
}
"#,
        &["always"],
    ),
    (
        "d6",
        r#"package k8sd6

violation[{"msg": msg}] {
  msg := sprintf("any: %v, all: %v, all([]): %v, re_match: %v", [
    any([false, true]), all([true, false]), all([]), re_match("^ng", "nginx")])
}
"#,
        &["any: true, all: false, all([]): true, re_match: true"],
    ),
];

/// `cargo test --test regorus_divergences -- --ignored --nocapture`: what normalisation changes in
/// each library template (a review aid, not a check).
#[test]
#[ignore]
fn show_library_rewrites() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates");
    for dir in glob_dirs(&root) {
        let rego =
            read_yaml(&dir.join("template.yaml"))["spec"]["targets"][0]["rego"].as_str().unwrap_or("").to_string();
        let normalized = normalize(&rego);
        for (before, after) in rego.lines().zip(normalized.lines()).filter(|(a, b)| a != b) {
            println!("{}\n  - {before}\n  + {after}", dir.display());
        }
    }
}
