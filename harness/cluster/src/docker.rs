//! The little of the Docker engine API the Docker backends need, spoken over its unix socket.
//!
//! Three requests: `GET /_ping`, to skip a backend in milliseconds when no engine runs;
//! `GET /networks/{name}`, for the gateway address containers on that network reach the host on
//! (kind's API server calls the add-on's webhook there); and `DELETE /containers/{id}`, to remove
//! the k3s container from an exit hook, where no async runtime is left. Raw HTTP/1.0 requests keep
//! a Docker client library out of default builds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the engine may take to answer one request.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The Docker socket path from `DOCKER_HOST` (unix only) or the default.
pub fn socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// `GET path` on the engine at `socket`; the whole reply (status line, headers, body).
async fn get(socket: &Path, path: &str) -> Result<String, String> {
    let attempt = async {
        let mut stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("no Docker engine at {}: {e}", socket.display()))?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
            .await
            .map_err(|e| format!("Docker engine did not accept a request: {e}"))?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.map_err(|e| format!("Docker engine did not answer: {e}"))?;
        Ok(reply)
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("Docker engine did not answer {path} within {TIMEOUT:?}")))
}

/// Probes the Docker engine at [`socket`]. `Err` carries the reason it is unusable.
pub async fn probe() -> Result<(), String> {
    probe_at(&socket()).await
}

/// Probes the Docker engine at `socket`.
pub async fn probe_at(socket: &Path) -> Result<(), String> {
    let reply = get(socket, "/_ping").await?;
    if reply.ends_with("OK") { Ok(()) } else { Err("Docker engine answered /_ping without OK".to_string()) }
}

/// The IPv4 gateway of the Docker network `name` (kind's network is `kind`).
pub async fn network_gateway(name: &str) -> Result<IpAddr, String> {
    let reply = get(&socket(), &format!("/networks/{name}")).await?;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((reply.as_str(), ""));
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(format!("Docker network {name:?}: {status}"));
    }
    gateway_of(body).ok_or_else(|| format!("Docker network {name:?} has no IPv4 gateway"))
}

/// Removes container `id` and its anonymous volumes, blocking (for exit hooks).
pub fn remove_container_blocking(id: &str) -> Result<(), String> {
    remove_container_at(&socket(), id)
}

fn remove_container_at(socket: &Path, id: &str) -> Result<(), String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("no Docker engine at {}: {e}", socket.display()))?;
    // Removing a running container stops it first: allow for its stop timeout.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    stream
        .write_all(format!("DELETE /containers/{id}?force=true&v=true HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .map_err(|e| format!("Docker engine did not accept a request: {e}"))?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).map_err(|e| format!("Docker engine did not answer: {e}"))?;
    let status = reply.lines().next().unwrap_or_default();
    // 204: removed; 404: already gone.
    match status.split_whitespace().nth(1) {
        Some("204" | "404") => Ok(()),
        _ => Err(format!("removing container {id}: {status}")),
    }
}

/// The command that removes container `id` from outside this process (a [`crate::reaper::Reaper`]):
/// the `docker` CLI on `PATH`, if there is one.
pub fn remove_command(id: &str) -> Option<Vec<std::ffi::OsString>> {
    let docker = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("docker"))
        .find(|p| p.is_file())?;
    Some(vec![docker.into(), "rm".into(), "--force".into(), "--volumes".into(), id.into()])
}

/// The first IPv4 `IPAM.Config[].Gateway` of a `GET /networks/{name}` body.
pub fn gateway_of(network_json: &str) -> Option<IpAddr> {
    let network: serde_json::Value = serde_json::from_str(network_json).ok()?;
    network["IPAM"]["Config"]
        .as_array()?
        .iter()
        .filter_map(|c| c["Gateway"].as_str()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv4_gateway_is_read_from_the_network() {
        // The shape of `GET /networks/kind` on a dual-stack kind network (IPv6 listed first).
        let body = r#"{"Name":"kind","Driver":"bridge","IPAM":{"Driver":"default","Config":[
            {"Subnet":"fc00:f853:ccd:e793::/64","Gateway":"fc00:f853:ccd:e793::1"},
            {"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]}}"#;
        assert_eq!(gateway_of(body), Some("172.18.0.1".parse().unwrap()));
        assert_eq!(gateway_of(r#"{"IPAM":{"Config":[{"Subnet":"10.0.0.0/8"}]}}"#), None);
        assert_eq!(gateway_of("not json"), None);
    }

    #[test]
    fn a_container_is_removed_with_force_and_volumes_and_gone_is_fine() {
        use std::io::{Read as _, Write as _};
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let engine = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for status in ["204 No Content", "404 Not Found", "500 Internal Server Error"] {
                let (mut stream, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                requests.push(String::from_utf8(head).unwrap().lines().next().unwrap().to_string());
                stream.write_all(format!("HTTP/1.0 {status}\r\n\r\n").as_bytes()).unwrap();
            }
            requests
        });
        assert_eq!(remove_container_at(&socket, "abc123"), Ok(()));
        assert_eq!(remove_container_at(&socket, "abc123"), Ok(()), "already gone");
        let err = remove_container_at(&socket, "abc123").unwrap_err();
        assert_eq!(err, "removing container abc123: HTTP/1.0 500 Internal Server Error");
        let requests = engine.join().unwrap();
        assert_eq!(requests[0], "DELETE /containers/abc123?force=true&v=true HTTP/1.0");
    }

    #[tokio::test]
    async fn a_missing_engine_is_a_reason_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let err = probe_at(&dir.path().join("docker.sock")).await.unwrap_err();
        assert!(err.starts_with("no Docker engine at "), "{err}");
    }
}
