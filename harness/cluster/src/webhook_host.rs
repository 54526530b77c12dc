//! Where the API server reaches webhooks that this process serves, per backend.
//!
//! A webhook the harness starts runs on this machine, but the API server that calls it may not:
//! - **local**: the API server is a child process on loopback, so `127.0.0.1` works;
//! - **kind**: the API server runs in a node container on Docker's `kind` network; the host is that
//!   network's gateway address, so the webhook binds to the gateway and is called there;
//! - **k3s**: the container maps `host.docker.internal` to the host gateway (`--add-host
//!   host.docker.internal:host-gateway`), so the webhook binds to all addresses;
//! - **existing**: only the user knows an address their cluster can reach, so `--webhook-host
//!   HOST[:PORT]` (or `HARNESS_WEBHOOK_HOST`) says it; without one, loopback, which is right for a
//!   cluster on this machine (`harness cluster up`) and nothing else.
//!
//! The choice decides three things together, so they cannot disagree: the URL in the webhook
//! configuration, the address the webhook listens on, and the serving certificate's SANs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::Backend;

/// The environment variable that gives `--webhook-host`.
pub const ENV: &str = "HARNESS_WEBHOOK_HOST";
/// The flag users pass to fix an unreachable webhook (named in error messages).
pub const FLAG: &str = "--webhook-host";

/// The name or address the API server calls webhooks on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl fmt::Display for Host {
    /// As it appears in a URL authority (IPv6 in brackets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// Where webhooks are reached and where they listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookHost {
    /// What the API server calls.
    pub host: Host,
    /// A fixed port (from `HOST:PORT`), else the webhook takes a free one.
    pub port: Option<u16>,
    /// The address the webhook binds to.
    pub bind: IpAddr,
}

/// A `--webhook-host` value that is not `HOST[:PORT]`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {FLAG} {given:?}: {why} (expected HOST[:PORT], e.g. 192.168.1.20, webhooks.example.com:8443 or [fd00::1]:8443)"
)]
pub struct ParseError {
    given: String,
    why: &'static str,
}

impl std::str::FromStr for WebhookHost {
    type Err = ParseError;

    /// `HOST[:PORT]`; an IPv6 address with a port goes in brackets. A loopback address is bound as
    /// given (the API server is on this machine); anything else binds to all addresses, since the
    /// name may resolve to any of this machine's interfaces, or to a forwarder in front of it.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = |why| ParseError { given: s.to_string(), why };
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(|| err("unclosed '['"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| err("junk after ']'"))?),
            };
            (Host::Ip(ip.parse::<IpAddr>().map_err(|_| err("not an IP address in brackets"))?), port)
        } else if let Ok(ip) = s.parse::<IpAddr>() {
            (Host::Ip(ip), None)
        } else {
            let (name, port) = match s.rsplit_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (s, None),
            };
            let host = match name.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) if is_dns_name(name) => Host::Name(name.to_ascii_lowercase()),
                Err(_) => return Err(err("not an IP address or DNS name")),
            };
            (host, port)
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| err("the port is not 1-65535")))
            .transpose()?;
        let bind = match host {
            Host::Ip(ip) if ip.is_loopback() => ip,
            _ => Ipv4Addr::UNSPECIFIED.into(),
        };
        Ok(Self { host, port, bind })
    }
}

/// Letters, digits, hyphens and dots, in labels of 1-63 characters (RFC 1123).
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl fmt::Display for WebhookHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

impl WebhookHost {
    /// Loopback, bound on loopback: the local control plane, and an existing cluster on this machine.
    pub fn loopback() -> Self {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self { host: Host::Ip(ip), port: None, bind: ip }
    }

    /// A Docker network's gateway (kind): the host's own address on that network, so binding to it
    /// exposes the webhook to the containers on it and to nothing else.
    pub fn docker_gateway(gateway: IpAddr) -> Self {
        Self { host: Host::Ip(gateway), port: None, bind: gateway }
    }

    /// `host.docker.internal`, which the k3s container maps to the host gateway; the webhook binds
    /// to all addresses because that gateway is Docker's default bridge, whose address this
    /// process does not look up.
    pub fn docker_host_gateway() -> Self {
        Self {
            host: Host::Name(crate::k3s::HOST_FROM_CONTAINER.into()),
            port: None,
            bind: Ipv4Addr::UNSPECIFIED.into(),
        }
    }

    /// The default for `backend` when the user gave none; kind needs its network's gateway.
    pub fn default_for(backend: Backend, kind_gateway: Option<IpAddr>) -> Self {
        match (backend, kind_gateway) {
            (Backend::Kind, Some(gateway)) => Self::docker_gateway(gateway),
            (Backend::K3s, _) => Self::docker_host_gateway(),
            _ => Self::loopback(),
        }
    }

    /// The host part as text, without brackets (what goes into a certificate or a log line).
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }

    /// The address this machine's own processes (the add-on's agent, the harness) call the webhook
    /// on: the bound address, or loopback when bound to all of them.
    pub fn local_ip(&self) -> IpAddr {
        if self.bind.is_unspecified() { Ipv4Addr::LOCALHOST.into() } else { self.bind }
    }

    /// `bind:port` for the webhook's `--listen` (port 0: any free one).
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        (self.bind, self.port.unwrap_or(0)).into()
    }

    /// The URL the API server calls, given the port the webhook really listens on.
    pub fn url(&self, port: u16, path: &str) -> String {
        format!("https://{}:{}{path}", self.host, self.port.unwrap_or(port))
    }

    /// The serving certificate's subject alternative names: the host the API server calls (an IP
    /// SAN or a DNS SAN), plus what local callers use ([`Self::local_ip`], `127.0.0.1`, `localhost`).
    pub fn sans(&self) -> (Vec<String>, Vec<IpAddr>) {
        let mut names = Vec::new();
        let mut ips = Vec::new();
        match &self.host {
            Host::Ip(ip) => ips.push(*ip),
            Host::Name(name) => names.push(name.clone()),
        }
        for ip in [self.local_ip(), Ipv4Addr::LOCALHOST.into()] {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        if !names.iter().any(|n| n == "localhost") {
            names.push("localhost".into());
        }
        (names, ips)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> WebhookHost {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_loopback_address_is_called_and_bound_as_given() {
        let h = parse("127.0.0.2");
        assert_eq!((h.host.clone(), h.port), (Host::Ip("127.0.0.2".parse().unwrap()), None));
        assert_eq!(h.bind, "127.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(h.listen_addr().to_string(), "127.0.0.2:0");
        assert_eq!(h.url(40123, "/v1/admit"), "https://127.0.0.2:40123/v1/admit");
        assert_eq!(h.local_ip().to_string(), "127.0.0.2");
    }

    #[test]
    fn a_remote_address_with_a_port_binds_everywhere_on_that_port() {
        let h = parse("192.168.1.20:8443");
        assert_eq!(h.port, Some(8443));
        assert!(h.bind.is_unspecified());
        assert_eq!(h.listen_addr().to_string(), "0.0.0.0:8443");
        // The fixed port wins over the one the webhook reports.
        assert_eq!(h.url(40123, "/v1/admit"), "https://192.168.1.20:8443/v1/admit");
        assert_eq!(h.local_ip().to_string(), "127.0.0.1");
        assert_eq!(h.to_string(), "192.168.1.20:8443");
    }

    #[test]
    fn names_and_ipv6_addresses_parse() {
        let h = parse("Webhooks.Example.com:9443");
        assert_eq!((h.host.clone(), h.port), (Host::Name("webhooks.example.com".into()), Some(9443)));
        let h = parse("[fd00::1]:8443");
        assert_eq!(h.host, Host::Ip("fd00::1".parse().unwrap()));
        assert_eq!(h.url(1, "/x"), "https://[fd00::1]:8443/x");
        let h = parse("::1");
        assert_eq!((h.port, h.bind), (None, "::1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn bad_values_name_the_flag_and_the_problem() {
        for (bad, why) in [
            ("", "not an IP address or DNS name"),
            ("host:0", "the port is not 1-65535"),
            ("host:https", "the port is not 1-65535"),
            ("under_score", "not an IP address or DNS name"),
            ("[fd00::1", "unclosed '['"),
        ] {
            let err = bad.parse::<WebhookHost>().unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {FLAG} {bad:?}: {why}")), "{bad}: {err}");
        }
    }

    #[test]
    fn the_certificate_names_follow_the_host() {
        // An IP host is an IP SAN; a name is a DNS SAN; local callers are always covered.
        let (names, ips) = parse("127.0.0.2").sans();
        assert_eq!(names, ["localhost"]);
        assert_eq!(ips, ["127.0.0.2".parse::<IpAddr>().unwrap(), "127.0.0.1".parse().unwrap()]);
        let (names, ips) = parse("webhooks.example.com").sans();
        assert_eq!(names, ["webhooks.example.com", "localhost"]);
        assert_eq!(ips, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let (_, ips) = WebhookHost::docker_gateway("172.18.0.1".parse().unwrap()).sans();
        assert_eq!(ips, ["172.18.0.1".parse::<IpAddr>().unwrap(), "127.0.0.1".parse().unwrap()]);
    }

    #[test]
    fn each_backend_has_its_default() {
        let gateway: IpAddr = "172.18.0.1".parse().unwrap();
        let local = WebhookHost::default_for(Backend::Local, None);
        assert_eq!((local.host_text(), local.bind.to_string()), ("127.0.0.1".into(), "127.0.0.1".into()));
        let existing = WebhookHost::default_for(Backend::Existing, None);
        assert_eq!(existing, local);
        let kind = WebhookHost::default_for(Backend::Kind, Some(gateway));
        assert_eq!((kind.host, kind.bind), (Host::Ip(gateway), gateway));
        let k3s = WebhookHost::default_for(Backend::K3s, None);
        assert_eq!(k3s.host_text(), "host.docker.internal");
        assert!(k3s.bind.is_unspecified());
    }
}
