//! The `gatekeeper` process as the add-on lifecycle starts it, against the real local API server
//! (`cluster::shared()`): it installs the CRDs, writes its bound address to `--addr-file`, becomes
//! ready, and serves the read routes; on a loopback listener without `--read-token` they are open.

use std::time::{Duration, Instant};

use clap::Parser;
use gatekeeper::cli::{Cli, run};
use gatekeeper::crds::config_crd::CONFIG_CRD_NAME;
use gatekeeper::crds::template_crd::CRD_NAME;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn the_process_installs_its_crds_writes_its_address_and_becomes_ready() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = cluster::shared().await.expect("local cluster");
        pki::install_ring_provider();
        let ca = pki::Ca::new("gatekeeper-process-test-ca").unwrap();
        let server = ca.issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()]).unwrap();
        let dir = cluster.run_dir().join("gatekeeper-process-test");
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key, addr_file) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("addr"));
        std::fs::write(&cert, &server.cert_pem).unwrap();
        std::fs::write(&key, &server.key_pem).unwrap();

        let cli = Cli::try_parse_from([
            "gatekeeper".into(),
            format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
            format!("--tls-cert-file={}", cert.display()),
            format!("--tls-key-file={}", key.display()),
            format!("--addr-file={}", addr_file.display()),
            "--audit-interval=1h".into(),
        ])
        .unwrap();
        let process = tokio::spawn(run(cli));

        let start = Instant::now();
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                break text.trim().to_string();
            }
            assert!(!process.is_finished(), "the process stopped before writing its address");
            assert!(start.elapsed() < WAIT, "no address file after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
        for name in [CRD_NAME, CONFIG_CRD_NAME] {
            assert!(crds.get_opt(name).await.unwrap().is_some(), "CRD {name} not installed");
        }

        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()])
            .build()
            .unwrap();
        let port = addr.rsplit(':').next().unwrap();
        let get = |path: &str| http.get(format!("https://localhost:{port}{path}")).send();
        loop {
            if get("/readyz").await.unwrap().status() == 200 {
                break;
            }
            assert!(start.elapsed() < WAIT, "/readyz never answered 200");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The first audit runs at start; the read routes need no token on loopback.
        loop {
            let status = get("/v1/audit").await.unwrap().status();
            if status == 200 {
                break;
            }
            assert_eq!(status, 503);
            assert!(start.elapsed() < WAIT, "the first audit never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(get("/v1/denials").await.unwrap().status(), 200);

        process.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
