//! Property tests: no body, however malformed, panics the AdmissionReview parser or the decision,
//! and every parsed review is answered with its own uid.

mod common;

use common::*;
use policy_webhook::admission::decision::evaluate;
use policy_webhook::admission::review::{parse_review, review_response};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![Just("pods"), Just("namespaces"), Just(""), Just("CREATE"), Just("kube-system")]
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Paths of a valid review that a mutation may replace.
const PATHS: [&str; 12] = [
    "/apiVersion",
    "/kind",
    "/request",
    "/request/uid",
    "/request/kind",
    "/request/resource",
    "/request/resource/resource",
    "/request/name",
    "/request/namespace",
    "/request/operation",
    "/request/object",
    "/request/object/spec/containers",
];

fn engine() -> &'static policy_engine::PolicyEngine {
    static ENGINE: std::sync::OnceLock<policy_engine::PolicyEngine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(engine_with_nine)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_review(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let _ = parse_review(value.to_string().as_bytes());
    }

    #[test]
    fn mutated_reviews_are_refused_or_answered_with_their_uid(
        path in prop::sample::select(PATHS.to_vec()),
        replacement in arb_json(),
        privileged in any::<bool>(),
    ) {
        let pod = if privileged { privileged_pod("team", "p") } else { compliant_pod("team", "p") };
        let mut review = review_for("uid-1", "pods", "", &pod);
        if let Some(slot) = review.pointer_mut(path) {
            *slot = replacement;
        }
        if let Ok(parsed) = parse_review(review.to_string().as_bytes()) {
            let outcome = evaluate(engine(), &parsed);
            let (allowed, status) = outcome.response_status();
            let reply = review_response(parsed.version, &parsed.summary.uid, allowed, status);
            prop_assert_eq!(&reply["response"]["uid"], &review["request"]["uid"]);
            prop_assert!(reply["response"]["status"].is_object());
        }
    }
}
