//! Property tests: parsing AdmissionReviews and loading modules never panic, whatever the input.

use policy_engine::{PolicyEngine, admission_review_to_request};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9/._-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("AdmissionReview"),
            Just("admission.k8s.io/v1"),
            Just("admission.k8s.io/v1beta1"),
            Just("pods"),
            Just("")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("kind".to_string()),
                    Just("apiVersion".to_string()),
                    Just("request".to_string()),
                    Just("resource".to_string()),
                    Just("name".to_string()),
                    Just("namespace".to_string()),
                    Just("object".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn review_parsing_and_admission_never_panic(review in json_value()) {
        let engine = PolicyEngine::new();
        if let Ok(request) = admission_review_to_request(&review) {
            let _ = engine.admit(&request);
        }
    }

    #[test]
    fn module_loading_never_panics(body in "[ -~\n]{0,200}") {
        let mut engine = PolicyEngine::new();
        let _ = engine.upsert_module("ns/cm/key", &body);
        let _ = engine.upsert_module("ns/cm/key2", &format!("package admission\n{body}"));
        let _ = engine.audit();
    }

    #[test]
    fn rego_like_text_never_panics(words in prop::collection::vec(prop_oneof![
        Just("deny["), Just("{"), Just("}"), Just("split(s, \",\", out)"), Just("\""), Just("`"), Just("#"), Just("\n"),
        Just("matches[[\"pods\", ns, n, o]]"), Just("re_match(\"a\", x)"), Just("format_int(1, 10, s)"), Just(":="), Just("x"),
        // Pieces of an indexed join (`joins`): a bound variable, a lookup, a filter on its path.
        Just("h := \"a\""), Just("o.spec.rules[_].host == h"), Just("h == o.spec[\"x\"]"), Just("=="), Just(";"), Just("[_]"),
    ], 0..30)) {
        let mut engine = PolicyEngine::new();
        let _ = engine.upsert_module("ns/cm/key", &format!("package admission\nimport data.k8s.matches\n{}", words.concat()));
        let _ = engine.audit();
    }
}
