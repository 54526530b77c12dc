//! `harness cluster check` and `harness cluster up`, and [`ClusterChoice`]: how every command
//! that runs on a cluster takes `--cluster` and `--webhook-host`.
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

/// Which cluster a command runs on, and where that cluster's API server reaches the add-on's
/// webhook. Flattened into `harness run`, `harness up` and `harness cluster …`.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterChoice {
    /// Which Kubernetes to run against: local (a control plane of child processes), k3s or kind
    /// (in Docker), or existing (whatever KUBECONFIG points at).
    #[arg(long, default_value = "local")]
    pub cluster: cluster::Backend,
    /// HOST[:PORT] the cluster's API server calls the add-on's webhook on; the webhook listens on
    /// it (a loopback address) or on all addresses (anything else), on PORT if given. Default:
    /// 127.0.0.1 for local and existing, the kind network's gateway for kind,
    /// host.docker.internal for k3s.
    #[arg(long, env = cluster::webhook_host::ENV, value_name = "HOST[:PORT]")]
    pub webhook_host: Option<cluster::WebhookHost>,
}

impl ClusterChoice {
    /// Whether the backend can run here: `Ok(Some(line))` is the one-line skip to print (no
    /// Docker, no kind); `Err` a backend that cannot work as asked (k3s not built in).
    pub async fn skip(&self) -> anyhow::Result<Option<String>> {
        match cluster::preflight(self.cluster).await {
            Ok(()) => Ok(None),
            Err(err) if err.is_skip() => Ok(Some(err.to_string())),
            Err(err) => Err(err.into()),
        }
    }

    /// Makes this the choice of the process's shared clusters (scenarios, the sandbox).
    pub fn apply(&self) -> anyhow::Result<()> {
        cluster::use_backend(self.cluster)?;
        cluster::use_webhook_host(self.webhook_host.clone());
        Ok(())
    }

    fn options(&self) -> cluster::ClusterOptions {
        cluster::ClusterOptions { backend: self.cluster, webhook_host: self.webhook_host.clone() }
    }
}

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Boot a cluster, prove it works (including namespace deletion), tear it down, print timings.
    Check {
        #[command(flatten)]
        choice: ClusterChoice,
    },
    /// Start a cluster and keep it running until Ctrl-C; prints the kubeconfig path.
    Up {
        #[command(flatten)]
        choice: ClusterChoice,
        /// Also print the PIDs of the control-plane processes (one per line, `pid: <n>`).
        #[arg(long)]
        print_pids: bool,
    },
}

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ClusterCommand::Check { choice } => check(choice).await,
        ClusterCommand::Up { choice, print_pids } => up(choice, print_pids).await,
    }
}

/// Starts the chosen cluster; `None` after printing the skip line when it cannot run here.
async fn start(choice: &ClusterChoice) -> anyhow::Result<Option<cluster::Cluster>> {
    if let Some(skip) = choice.skip().await? {
        println!("{skip}");
        return Ok(None);
    }
    match cluster::start(choice.options()).await {
        Ok(c) => Ok(Some(c)),
        Err(err) if err.is_skip() => {
            println!("{err}");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

async fn check(choice: ClusterChoice) -> anyhow::Result<ExitCode> {
    let total = Instant::now();
    let backend = choice.cluster;
    if let Some(skip) = choice.skip().await? {
        println!("{skip}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "cluster check: starting the {backend} cluster (the first local run builds the control plane: several minutes)"
    );
    let Some(cluster) = start(&choice).await? else { return Ok(ExitCode::SUCCESS) };
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

async fn up(choice: ClusterChoice, print_pids: bool) -> anyhow::Result<ExitCode> {
    let Some(cluster) = start(&choice).await? else { return Ok(ExitCode::SUCCESS) };
    println!("kubeconfig: {}", cluster.kubeconfig_path().display());
    println!("server: {}", cluster.server_url());
    println!("webhook-host: {}", cluster.webhook());
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
