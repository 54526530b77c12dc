//! The current add-on against the real local API server (`cluster::shared()`) with Gatekeeper's
//! CRD and template controller running in-process, a wiremock dataplane serving the
//! `constraintAssignments` and the library templates, and a wiremock gatekeeper read API
//! (`support::current_world`): templates and Constraints are installed with the add-on's names,
//! labels and annotations (as the agent's own ServiceAccount), manual edits are reverted, removed
//! assignments are deleted, failures carry Azure's reason codes, the audit cycle reports components
//! and reasons, and the whole agent in `--generation current` answers its triggers.
//!
//! One cluster, one runtime and one controller for the binary; tests run one at a time because each
//! refresh deletes every add-on object its assignment list does not want.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use contracts::addon_objects::constraint_name;
use contracts::dataplane::ReasonCode;
use kube::api::{DynamicObject, Patch, PatchParams};
use policy_agent::current::install_cycle::{InstallCycle, InstallOutcome};
use policy_agent::current::resources;
use policy_agent::metrics::Metrics;
use serde_json::{Value, json};
use support::current_world::*;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap())
}

fn serial<F: Future<Output = ()>>(body: F) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    runtime().block_on(body);
}

/// The cluster's client with Gatekeeper's CRD installed and its template controller running.
async fn client() -> kube::Client {
    static CLIENT: tokio::sync::OnceCell<kube::Client> = tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async {
            support::init();
            let cluster = cluster::shared().await.expect("local cluster");
            let client = cluster.client();
            gatekeeper::crds::install_crds(&client).await.expect("ConstraintTemplate CRD");
            std::mem::forget(gatekeeper::controller::TemplateController::spawn(client.clone()));
            client
        })
        .await
        .clone()
}

fn reasons(outcome: &InstallOutcome, name: &str) -> Vec<(ReasonCode, String)> {
    let install = &outcome.installs[&assignment_id(name)];
    install.reasons.iter().map(|r| (r.code, r.message.clone())).collect()
}

async fn template(client: &kube::Client, name: &str) -> Option<DynamicObject> {
    resources::templates(client, "v1").get_opt(name).await.unwrap()
}

async fn constraint(client: &kube::Client, kind: &str, name: &str) -> Option<DynamicObject> {
    match resources::constraints(client, kind).get_opt(name).await {
        Ok(found) => found,
        Err(kube::Error::Api(status)) if status.code == 404 => None,
        Err(e) => panic!("reading constraint {name}: {e}"),
    }
}

/// Empties the assignment list and refreshes, so the next test starts from a clean cluster.
async fn clean_up(dp: &Dataplane, cycle: &InstallCycle) {
    dp.set(vec![]);
    cycle.refresh().await.expect("clean-up refresh");
}

#[test]
fn assignments_install_templates_and_constraints_revert_edits_and_removal_deletes_them() {
    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let url = dp.serve_library("container-no-privilege", 2);
        let values = json!({"excludedContainers": [], "excludedImages": []});
        let mut warn = assignment("no-priv-warn", url_source(&url), "audit", values.clone());
        warn["warn"] = json!(true);
        warn["source"] = json!("Original");
        dp.set(vec![assignment("no-priv-deny", url_source(&url), "Deny", values.clone()), warn]);
        // The cycle runs as the agent's ServiceAccount, so the documented rules are proven enough.
        let agent = agent_client(&client).await;
        let (cycle, state) = dp.cycle(&agent);

        let outcome = cycle.refresh().await.expect("refresh");
        assert_eq!((outcome.templates, outcome.constraints, outcome.reasons()), (1, 2, 0), "{:?}", outcome.installs);

        let installed = template(&client, TEMPLATE).await.expect("the template is installed");
        let labels = installed.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get("managed-by").map(String::as_str), Some("azure-policy-addon"));
        let annotations = installed.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations["azure-policy-definition-id"], BUILTIN);
        assert_eq!(annotations["constraint-template-installed-by"], "azure-policy-addon");
        assert_eq!(annotations["constraint-template"], url);
        assert_eq!(installed.data["status"]["created"], json!(true));

        let deny_name = constraint_name(TEMPLATE, &assignment_id("no-priv-deny"));
        let warn_name = constraint_name(TEMPLATE, &assignment_id("no-priv-warn"));
        let deny = constraint(&client, KIND, &deny_name).await.expect("the deny constraint");
        assert!(deny_name.starts_with("azurepolicy-k8sazurev2noprivilege-"));
        assert_eq!(deny.metadata.labels.unwrap()["managed-by"], "azure-policy-addon");
        let annotations = deny.metadata.annotations.unwrap();
        assert_eq!(annotations["azure-policy-assignment-id"], assignment_id("no-priv-deny"));
        assert_eq!(annotations["azure-policy-definition-id"], BUILTIN);
        assert_eq!(annotations["azure-policy-definition-reference-id"], "");
        assert_eq!(annotations["azure-policy-setdefinition-id"], "");
        assert_eq!(annotations["constraint-installed-by"], "azure-policy-addon");
        assert_eq!(annotations["constraint-url"], url);
        assert_eq!(deny.data["spec"]["enforcementAction"], "deny");
        assert_eq!(
            deny.data["spec"]["match"],
            json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                   "excludedNamespaces": ["kube-system", "gatekeeper-system"]})
        );
        assert_eq!(deny.data["spec"]["parameters"], values);
        let warn = constraint(&client, KIND, &warn_name).await.expect("the warn constraint");
        assert_eq!(warn.data["spec"]["enforcementAction"], "warn");
        assert_eq!(warn.data["spec"]["match"]["source"], "Original");
        let install = state.install(&assignment_id("no-priv-deny"));
        assert_eq!(install.constraint.as_ref().map(|c| c.name.as_str()), Some(deny_name.as_str()));

        // A manual edit is reverted by the next refresh.
        let edit = json!({"spec": {"enforcementAction": "dryrun", "match": {"namespaces": ["only-this"]}}});
        resources::constraints(&client, KIND)
            .patch(&deny_name, &PatchParams::default(), &Patch::Merge(&edit))
            .await
            .unwrap();
        let edited = constraint(&client, KIND, &deny_name).await.unwrap();
        assert_eq!(edited.data["spec"]["enforcementAction"], "dryrun");
        let outcome = cycle.refresh().await.expect("second refresh");
        assert_eq!(outcome.reasons(), 0);
        let reverted = constraint(&client, KIND, &deny_name).await.unwrap();
        assert_eq!(reverted.data["spec"]["enforcementAction"], "deny");
        assert_eq!(reverted.data["spec"]["match"].get("namespaces"), None, "{}", reverted.data["spec"]["match"]);

        // Removing one assignment deletes its constraint only; removing all deletes the template.
        dp.set(vec![assignment("no-priv-deny", url_source(&url), "Deny", values.clone())]);
        let outcome = cycle.refresh().await.unwrap();
        assert_eq!(outcome.deleted, 1);
        assert!(constraint(&client, KIND, &warn_name).await.is_none());
        assert!(constraint(&client, KIND, &deny_name).await.is_some());
        dp.set(vec![]);
        let outcome = cycle.refresh().await.unwrap();
        assert_eq!(outcome.deleted, 2, "the last constraint and the template");
        assert!(constraint(&client, KIND, &deny_name).await.is_none());
        assert!(template(&client, TEMPLATE).await.is_none());

        let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::all(agent);
        match pods.list(&Default::default()).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
            other => panic!("the agent identity must not read pods: {other:?}"),
        }
    });
}

#[test]
fn a_wrongly_typed_parameter_is_an_invalid_constraint() {
    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let url = dp.serve_library("container-no-privilege", 2);
        dp.set(vec![assignment("no-priv-typo", url_source(&url), "Deny", json!({"excludedContainers": "nginx"}))]);
        let (cycle, state) = dp.cycle(&client);
        let outcome = cycle.refresh().await.expect("refresh");
        let found = reasons(&outcome, "no-priv-typo");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, ReasonCode::InvalidConstraint);
        assert!(found[0].1.contains("spec.parameters.excludedContainers"), "{}", found[0].1);
        assert!(found[0].1.contains("must be of type array"), "{}", found[0].1);
        assert!(state.install(&assignment_id("no-priv-typo")).constraint.is_none());
        let name = constraint_name(TEMPLATE, &assignment_id("no-priv-typo"));
        assert!(constraint(&client, KIND, &name).await.is_none());
        clean_up(&dp, &cycle).await;
    });
}

/// A custom template whose Rego does not parse.
const BROKEN_TEMPLATE: &str = r#"apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8scustombroken
spec:
  crd:
    spec:
      names:
        kind: K8sCustomBroken
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8scustombroken
      violation[{"msg": msg}] {
        input.x ==== 1
        msg := "no"
      }
"#;

#[test]
fn a_template_whose_rego_does_not_compile_is_install_failed_and_left_out() {
    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let content = base64::engine::general_purpose::STANDARD.encode(BROKEN_TEMPLATE);
        let mut custom =
            assignment("custom-broken", json!({"sourceType": "Base64Encoded", "content": content}), "deny", json!({}));
        custom["definitionId"] = CUSTOM.into();
        dp.set(vec![custom]);
        let (cycle, _) = dp.cycle(&client);
        let outcome = cycle.refresh().await.expect("refresh");
        let found = reasons(&outcome, "custom-broken");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, ReasonCode::ConstraintTemplateInstallFailed);
        assert!(found[0].1.starts_with("template k8scustombroken: "), "{}", found[0].1);
        assert!(found[0].1.contains("rego"), "the compile error is the message: {}", found[0].1);
        assert!(template(&client, "k8scustombroken").await.is_none(), "a failed first install leaves nothing");
        assert_eq!((outcome.templates, outcome.constraints), (0, 0));
        clean_up(&dp, &cycle).await;
    });
}

#[test]
fn a_second_source_for_an_installed_template_name_conflicts() {
    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let url = dp.serve_library("container-no-privilege", 2);
        let values = json!({"excludedContainers": [], "excludedImages": []});
        let first = assignment("no-priv-first", url_source(&url), "Deny", values.clone());
        dp.set(vec![first.clone()]);
        let (cycle, _) = dp.cycle(&client);
        assert_eq!(cycle.refresh().await.unwrap().reasons(), 0);

        // The same template name from another URL.
        let other = format!("{}/kubernetes/copy/v1/template.yaml", dp.server.uri());
        let text = policy_library::template("container-no-privilege", 2).unwrap();
        dp.files.lock().unwrap().insert("/kubernetes/copy/v1/template.yaml".into(), text.to_string());
        dp.set(vec![first, assignment("no-priv-copy", url_source(&other), "Deny", values)]);
        let outcome = cycle.refresh().await.unwrap();
        assert!(reasons(&outcome, "no-priv-first").is_empty());
        let found = reasons(&outcome, "no-priv-copy");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, ReasonCode::ConstraintTemplateConflicts);
        let copy = constraint_name(TEMPLATE, &assignment_id("no-priv-copy"));
        assert!(constraint(&client, KIND, &copy).await.is_none(), "the conflicting assignment is not installed");
        let installed = template(&client, TEMPLATE).await.unwrap();
        assert_eq!(
            installed.metadata.annotations.unwrap()["constraint-template"],
            url,
            "the installed source keeps working"
        );
        clean_up(&dp, &cycle).await;
    });
}

#[test]
fn the_audit_cycle_reports_components_and_reasons_per_assignment() {
    use policy_agent::current::compliance_cycle::ComplianceCycle;
    use policy_agent::current::gatekeeper_client::GatekeeperClient;

    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let url = dp.serve_library("container-no-privilege", 2);
        let good = assignment("no-priv-audited", url_source(&url), "Deny", json!({"excludedImages": []}));
        let bad = assignment("no-priv-mistyped", url_source(&url), "Deny", json!({"excludedImages": "x"}));
        dp.set(vec![good, bad]);
        let (cycle, state) = dp.cycle(&client);
        cycle.refresh().await.expect("refresh");
        let name = constraint_name(TEMPLATE, &assignment_id("no-priv-audited"));

        let reports = capture_reports(&dp.server).await;
        let gk = gatekeeper_stub(&name, 1).await;
        let dataplane = support::client(&dp.server.uri(), &dp.server.uri(), support::quick_retry(2));
        let metrics = Arc::new(Metrics::default());
        let http = policy_agent::http_client::build(None, Duration::from_secs(5), true).unwrap();
        let gatekeeper = GatekeeperClient::new(http, &gk.uri(), support::quick_retry(2), Some("read-token".into()));
        let reporter =
            policy_agent::reporting::Reporter::new(dataplane.clone(), support::quick_retry(2), 8, metrics.clone());
        let compliance = ComplianceCycle::new(dataplane, gatekeeper, client.clone(), state, reporter, metrics);

        let (report, flushed) = compliance.audit(1, false).await.expect("periodic audit cycle");
        assert_eq!(flushed.acked, std::slice::from_ref(&report.report_id));
        assert!(report.assignments.is_empty() && report.refresh_errors.is_empty());
        let entry = |report: &contracts::dataplane::ComplianceReport, name: &str| {
            report.constraint_assignments.iter().find(|c| c.assignment_id == assignment_id(name)).cloned().unwrap()
        };
        let audited = entry(&report, "no-priv-audited");
        assert_eq!(audited.compliance_state, contracts::dataplane::ComplianceState::NonCompliant);
        assert!(audited.reasons.is_empty(), "{:?}", audited.reasons);
        let components: Vec<(String, String, Option<contracts::dataplane::ViolationSource>)> = audited
            .components
            .iter()
            .map(|c| (c.name.clone(), c.compliance_state.as_str().to_string(), c.source))
            .collect();
        use contracts::dataplane::ViolationSource::{Admission, Audit};
        assert_eq!(
            components,
            [
                ("priv".to_string(), "NonCompliant".to_string(), Some(Audit)),
                ("fine".to_string(), "Compliant".to_string(), None),
                ("denied".to_string(), "NonCompliant".to_string(), Some(Admission)),
            ]
        );
        let mistyped = entry(&report, "no-priv-mistyped");
        assert_eq!(mistyped.compliance_state, contracts::dataplane::ComplianceState::Error);
        assert_eq!(mistyped.reasons[0].code, ReasonCode::InvalidConstraint);
        assert!(mistyped.components.is_empty());
        let posted = reports.lock().unwrap().clone();
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0]["constraintAssignments"].as_array().unwrap().len(), 2);

        // An audit status older than an hour is stale; a triggered cycle asks for a fresh audit.
        let old = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
        let status = json!({"status": {"auditTimestamp": old}});
        resources::constraints(&client, KIND)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
        let (report, _) = compliance.audit(2, true).await.expect("triggered audit cycle");
        let audited = entry(&report, "no-priv-audited");
        assert_eq!(audited.reasons.len(), 1, "{:?}", audited.reasons);
        assert_eq!(audited.reasons[0].code, ReasonCode::ConstraintStatusStale);
        gk.verify().await;
        clean_up(&dp, &cycle).await;
    });
}

#[test]
fn the_agent_in_current_mode_installs_on_trigger_and_a_triggered_audit_is_fresh() {
    use policy_agent::metrics::CycleKind;

    serial(async {
        let client = client().await;
        let dp = Dataplane::start().await;
        let url = dp.serve_library("container-no-privilege", 2);
        dp.set(vec![assignment("no-priv-agent", url_source(&url), "Deny", json!({}))]);
        let reports = capture_reports(&dp.server).await;
        let name = constraint_name(TEMPLATE, &assignment_id("no-priv-agent"));
        let gk = gatekeeper_stub(&name, 1).await;
        let kubeconfig = cluster::shared().await.unwrap().kubeconfig_path().display().to_string();
        let (dataplane, gatekeeper) = (dp.server.uri(), gk.uri());
        let cfg = <policy_agent::config::Config as clap::Parser>::try_parse_from([
            "policy-agent",
            "--generation",
            "current",
            "--dataplane-endpoint",
            &dataplane,
            "--resource-id",
            support::CLUSTER,
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--webhook-url",
            &gatekeeper,
            "--webhook-read-token",
            "read-token",
            "--kubeconfig",
            &kubeconfig,
        ])
        .unwrap();
        let agent = policy_agent::agent::start(cfg).await.expect("agent starts");
        let http = reqwest::Client::new();
        let trigger = |cycle: &'static str| {
            let request = http.post(format!("http://{}/trigger/{cycle}", agent.addr));
            async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
        };

        assert_eq!(trigger("refresh").await["ok"], true);
        let summary = agent.metrics.cycle_stats(CycleKind::Refresh).last_summary.unwrap_or_default();
        assert!(summary.contains("templates=1 constraints=1 deleted=0 reasons=0"), "{summary}");
        assert!(constraint(&client, KIND, &name).await.is_some());

        let outcome = trigger("audit").await;
        assert_eq!(outcome["ok"], true, "{outcome}");
        gk.verify().await; // the triggered audit asked gatekeeper for a fresh one
        let posted = reports.lock().unwrap().clone();
        assert_eq!(posted.len(), 1);
        let entry = &posted[0]["constraintAssignments"][0];
        assert_eq!(entry["assignmentId"], assignment_id("no-priv-agent"));
        assert_eq!(entry["components"].as_array().map(Vec::len), Some(3), "{entry}");

        dp.set(vec![]);
        assert_eq!(trigger("refresh").await["ok"], true);
        assert!(template(&client, TEMPLATE).await.is_none());
    });
}
