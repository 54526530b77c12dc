//! `harness bench admission|audit --gatekeeper`: the Gatekeeper v3 engine ([`PolicyClient`]) with ten
//! Pod and Service templates of our policy library and the synthetic cluster of
//! [`policy_engine::workload`] synced into `data.inventory`. Same summary lines as the 2019 engine's
//! benchmarks, so the figures compare directly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use policy_engine::gatekeeper_v3::{Constraint, ConstraintTemplate, PolicyClient, Review, enforcement_point};
use policy_engine::workload;

use super::bench::{peak_rss_mib, time_admissions};

/// The ten library folders benchmarked: eight Pod templates, two Service templates.
const TEMPLATES: [&str; 10] = [
    "container-no-privilege/v2",
    "block-host-namespace/v3",
    "container-allowed-images/v2",
    "container-resource-limits/v3",
    "read-only-root-filesystem/v3",
    "allowed-users-groups/v3",
    "container-no-privilege-escalation/v4",
    "host-network-ports/v4",
    "load-balancer-no-public-ips/v1",
    "service-allowed-ports/v1",
];

/// `harness/policy-library/templates` of the source tree this binary was built from.
fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates")
}

/// The ten templates with their `constraint.yaml`, plus `objects` synced objects, prepared.
fn loaded_client(objects: usize) -> anyhow::Result<PolicyClient> {
    let mut client = PolicyClient::new();
    let root = templates_dir();
    for folder in TEMPLATES {
        let dir = root.join(folder);
        let template = ConstraintTemplate::from_file(&dir.join("template.yaml"))?;
        client.add_template(template).with_context(|| format!("compiling {folder}"))?;
        for constraint in Constraint::from_file(&dir.join("constraint.yaml"))? {
            client.add_constraint(constraint)?;
        }
    }
    let start = Instant::now();
    let inventory = client.inventory_mut();
    for i in 0..objects {
        let (_, _, name, object) = workload::object(i);
        inventory.upsert(object, &name)?;
    }
    let synced = start.elapsed();
    client.prepare();
    println!(
        "synced {} objects in {:.3}s, prepared in {:.3}s; {} constraints",
        client.inventory().len(),
        synced.as_secs_f64(),
        (start.elapsed() - synced).as_secs_f64(),
        client.constraints().count()
    );
    Ok(client)
}

pub fn admission(objects: usize, requests: usize) -> anyhow::Result<()> {
    let client = loaded_client(objects)?;
    time_admissions(objects, requests, "/request/kind/kind", |review| {
        let review = Review::from_any(review, "bench")?;
        let violations = client.review(&review, enforcement_point::WEBHOOK)?;
        Ok(violations.iter().any(|v| v.enforcement_action == "deny"))
    })
}

pub fn audit(objects: usize) -> anyhow::Result<()> {
    let client = loaded_client(objects)?;
    let start = Instant::now();
    let violations = client.audit()?;
    let seconds = start.elapsed().as_secs_f64();
    println!("violations={} rss_mib={}", violations.len(), peak_rss_mib());
    println!(
        "audit: objects={} policies={} seconds={seconds:.3}",
        client.inventory().len(),
        client.constraints().count()
    );
    Ok(())
}
