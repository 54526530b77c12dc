//! `harness cluster check` and `harness cluster up`.
//!
//! `check` proves the whole control plane works, kube-controller-manager included: it creates a
//! namespace with a ConfigMap and a Deployment, deletes the namespace, and waits until it is really
//! gone (only the namespace controller can finish that).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, PostParams};

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Boot the local cluster, prove it works (including namespace deletion), tear it down, print timings.
    Check {
        /// Which backend to check.
        #[arg(long, default_value = "local")]
        cluster: cluster::Backend,
    },
    /// Start a cluster and keep it running until Ctrl-C; prints the kubeconfig path.
    Up {
        #[arg(long, default_value = "local")]
        cluster: cluster::Backend,
        /// Also print the PIDs of the control-plane processes (one per line, `pid: <n>`).
        #[arg(long)]
        print_pids: bool,
    },
}

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Check { cluster } => check(cluster).await,
        ClusterCommand::Up { cluster, print_pids } => up(cluster, print_pids).await,
    }
}

async fn start(backend: cluster::Backend) -> anyhow::Result<Option<cluster::Cluster>> {
    match cluster::start(cluster::ClusterOptions { backend }).await {
        Ok(c) => Ok(Some(c)),
        Err(err @ cluster::ClusterError::DockerUnavailable(_)) => {
            println!("{err}");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

async fn check(backend: cluster::Backend) -> anyhow::Result<ExitCode> {
    let total = Instant::now();
    eprintln!(
        "cluster check: starting the {backend:?} cluster (the first run builds the control plane: several minutes)"
    );
    let Some(cluster) = start(backend).await? else { return Ok(ExitCode::SUCCESS) };
    let boot = cluster.boot_time();
    eprintln!("cluster check: API server ready at {} in {:.2}s", cluster.server_url(), boot.as_secs_f64());
    let outcome = exercise(&cluster).await;
    cluster.stop().await;
    outcome?;
    println!("cluster check: ok boot={:.2}s total={:.2}s", boot.as_secs_f64(), total.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// Namespace, ConfigMap, Deployment, then namespace deletion to completion.
async fn exercise(cluster: &cluster::Cluster) -> anyhow::Result<()> {
    let client = cluster.client();
    let name = format!("cluster-check-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    namespaces.create(&PostParams::default(), &ns).await.context("create namespace")?;
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "check"}, "data": {"hello": "world"}
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &cm)
        .await
        .context("create configmap")?;
    let deploy: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "check"},
        "spec": {"selector": {"matchLabels": {"app": "check"}},
                 "template": {"metadata": {"labels": {"app": "check"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))?;
    Api::<Deployment>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &deploy)
        .await
        .context("create deployment")?;
    eprintln!("cluster check: created namespace {name} with a ConfigMap and a Deployment");
    namespaces.delete(&name, &DeleteParams::default()).await.context("delete namespace")?;
    if !cluster.finalizes_namespaces() {
        anyhow::bail!(
            "kube-controller-manager is not running, so namespace {name} would stay Terminating; build it with scripts/build-control-plane.sh"
        );
    }
    let deleted = Instant::now();
    let deadline = deleted + Duration::from_secs(60);
    while namespaces.get_opt(&name).await?.is_some() {
        anyhow::ensure!(Instant::now() < deadline, "namespace {name} still exists 60s after deletion");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "cluster check: namespace {name} deleted by kube-controller-manager in {:.2}s",
        deleted.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn up(backend: cluster::Backend, print_pids: bool) -> anyhow::Result<ExitCode> {
    let Some(cluster) = start(backend).await? else { return Ok(ExitCode::SUCCESS) };
    println!("kubeconfig: {}", cluster.kubeconfig_path().display());
    println!("server: {}", cluster.server_url());
    if let Some(audit) = cluster.audit_log_path() {
        println!("audit-log: {}", audit.display());
    }
    if print_pids {
        for pid in cluster.process_ids() {
            println!("pid: {pid}");
        }
    }
    println!("try: kubectl --kubeconfig {} get namespaces", cluster.kubeconfig_path().display());
    println!("ready (Ctrl-C to stop)");
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
    eprintln!("stopping...");
    cluster.stop().await;
    Ok(ExitCode::SUCCESS)
}
