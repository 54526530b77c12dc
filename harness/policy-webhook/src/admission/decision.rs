//! From an evaluated review to an admission decision, the way the Gatekeeper v2 manager decided:
//! no violations → allowed; violations → denied with every message; any evaluation error → allowed
//! anyway ("policy check failed", fail open).

use std::panic::{AssertUnwindSafe, catch_unwind};

use policy_engine::{PolicyEngine, Violation};
use serde_json::{Value, json};

use super::review::Review;
use crate::metrics::Decision;

/// Annotation that marks a registration probe (see [`crate::registration`]).
pub const PROBE_ANNOTATION: &str = "policy-webhook.aks-policy-harness.io/probe";

/// The text a probe is denied with. The registering side looks for it in the API server's error to
/// know that *this* webhook reviewed the request, not merely that some request went through.
pub fn probe_message(token: &str) -> String {
    format!("policy-webhook probe {token} reviewed")
}

/// What the webhook decided for one review.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Allowed,
    Denied(Vec<Violation>),
    /// Evaluation failed; the request is allowed and the error reported.
    FailedOpen(String),
    /// A dry-run registration probe: denied with [`probe_message`], never evaluated or counted.
    Probe(String),
}

impl Outcome {
    /// The metrics label; `None` for probes, which are not policy decisions.
    pub fn decision(&self) -> Option<Decision> {
        match self {
            Outcome::Allowed => Some(Decision::Allow),
            Outcome::Denied(_) => Some(Decision::Deny),
            Outcome::FailedOpen(_) => Some(Decision::FailOpen),
            Outcome::Probe(_) => None,
        }
    }

    /// `allowed` and `status` of the AdmissionResponse.
    ///
    /// Gatekeeper v2 put its text in `status.reason` only. The contract (docs/contracts.md §5) sets
    /// `message` to the same text, which is what the API server prints after
    /// `admission webhook "<name>" denied the request: `.
    pub fn response_status(&self) -> (bool, Value) {
        match self {
            Outcome::Allowed => (true, json!({"reason": "valid based on configured policies"})),
            Outcome::Denied(violations) => {
                let text = denial_text(violations);
                (false, json!({"reason": text, "message": text}))
            }
            Outcome::FailedOpen(error) => (true, json!({"reason": format!("policy check failed: {error}")})),
            Outcome::Probe(token) => {
                let text = probe_message(token);
                (false, json!({"reason": text, "message": text}))
            }
        }
    }
}

/// Every violation message, in the engine's (sorted) order, joined with `", "`.
pub fn denial_text(violations: &[Violation]) -> String {
    violations.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join(", ")
}

/// The probe token of a dry-run request carrying [`PROBE_ANNOTATION`]. `pub` for the Gatekeeper v3
/// webhook (`harness/gatekeeper`), which answers the same registration probes.
pub fn probe_token(review: &Review) -> Option<String> {
    if !review.summary.dry_run {
        return None;
    }
    let token = review.request.pointer("/object/metadata/annotations")?.get(PROBE_ANNOTATION)?;
    token.as_str().map(str::to_string)
}

/// Evaluates `review` against `engine`. Never panics: an engine panic is caught and treated like any
/// other evaluation error (fail open), so one bad module cannot take the webhook down.
pub fn evaluate(engine: &PolicyEngine, review: &Review) -> Outcome {
    if let Some(token) = probe_token(review) {
        return Outcome::Probe(token);
    }
    match catch_unwind(AssertUnwindSafe(|| engine.admit(&review.request))) {
        Ok(Ok(violations)) if violations.is_empty() => Outcome::Allowed,
        Ok(Ok(violations)) => Outcome::Denied(violations),
        Ok(Err(error)) => Outcome::FailedOpen(error.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Outcome::FailedOpen(format!("policy engine panicked: {what}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::review::parse_review;
    use crate::admission::test_support::{engine_with, pod_review};

    const PRIVILEGED: &str = r#"package admission
import data.k8s.matches
deny[{"id": "no-priv", "resource": {"kind": "pods", "namespace": namespace, "name": name}, "resolution": {"message": msg}}] {
    matches[["pods", namespace, name, matched]]
    c := matched.spec.containers[_]
    c.securityContext.privileged
    msg := sprintf("privileged container %v", [c.name])
}"#;

    #[test]
    fn allows_compliant_and_denies_with_every_message() {
        let engine = engine_with(&[("azure-policy/p/policy.rego", PRIVILEGED)]);
        let ok = parse_review(pod_review("ok", false).to_string().as_bytes()).unwrap();
        assert_eq!(evaluate(&engine, &ok), Outcome::Allowed);
        let mut bad = pod_review("bad", true);
        let containers = bad["request"]["object"]["spec"]["containers"].as_array_mut().unwrap();
        containers.push(json!({"name": "second", "image": "nginx", "securityContext": {"privileged": true}}));
        let bad = parse_review(bad.to_string().as_bytes()).unwrap();
        let outcome = evaluate(&engine, &bad);
        let Outcome::Denied(violations) = &outcome else { panic!("{outcome:?}") };
        assert_eq!(violations.len(), 2);
        let (allowed, status) = outcome.response_status();
        assert!(!allowed);
        assert_eq!(status["reason"], "privileged container app, privileged container second");
        assert_eq!(status["message"], status["reason"]);
    }

    #[test]
    fn evaluation_errors_fail_open() {
        // A complete rule with conflicting values is a runtime error in OPA and regorus alike.
        let conflict = "package admission\nx = 1 { true }\nx = 2 { true }\ndeny[{\"id\": \"c\", \"resource\": {\"kind\": \"pods\", \"namespace\": \"team\", \"name\": \"bad\"}, \"resolution\": {\"message\": \"m\"}}] { x > 0 }";
        let engine = engine_with(&[("azure-policy/c/policy.rego", conflict)]);
        let review = parse_review(pod_review("bad", true).to_string().as_bytes()).unwrap();
        let outcome = evaluate(&engine, &review);
        assert!(matches!(outcome, Outcome::FailedOpen(_)), "{outcome:?}");
        let (allowed, status) = outcome.response_status();
        assert!(allowed);
        assert!(status["reason"].as_str().unwrap().starts_with("policy check failed"));
        assert_eq!(outcome.decision(), Some(Decision::FailOpen));
    }

    #[test]
    fn an_empty_resource_fails_open() {
        let engine = engine_with(&[("azure-policy/p/policy.rego", PRIVILEGED)]);
        let mut review = pod_review("x", true);
        review["request"]["resource"]["resource"] = json!("  ");
        let review = parse_review(review.to_string().as_bytes()).unwrap();
        assert!(matches!(evaluate(&engine, &review), Outcome::FailedOpen(_)));
    }

    #[test]
    fn dry_run_probe_is_recognised_and_real_requests_are_not() {
        let engine = engine_with(&[]);
        let mut review = pod_review("probe", false);
        review["request"]["object"]["metadata"]["annotations"] = json!({PROBE_ANNOTATION: "tok-1"});
        review["request"]["dryRun"] = json!(true);
        let probe = parse_review(review.to_string().as_bytes()).unwrap();
        let outcome = evaluate(&engine, &probe);
        assert_eq!(outcome, Outcome::Probe("tok-1".into()));
        assert_eq!(outcome.response_status().1["message"], probe_message("tok-1"));
        assert_eq!(outcome.decision(), None);
        review["request"]["dryRun"] = json!(false);
        let real = parse_review(review.to_string().as_bytes()).unwrap();
        assert_eq!(evaluate(&engine, &real), Outcome::Allowed);
    }
}
