//! The test PKI every part of the harness shares: the API server's serving and client certificates,
//! the webhook's serving certificate and azure-sim's HTTPS certificate all come from here.
//!
//! Keys are ECDSA P-256 (rcgen's default); everything is signed with ring, the only rustls crypto
//! provider in the graph. Certificates are valid for ten years so that a long-lived sandbox
//! (`harness up`) never expires under a user.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// Errors from certificate generation. rcgen's errors are rare (bad names), so one variant suffices.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed for {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
}

type Result<T> = std::result::Result<T, PkiError>;

/// Installs ring as the process-wide rustls provider. Call it first thing in every `main`: if a
/// dependency ever pulls in aws-lc-rs too, rustls would otherwise panic on its first config builder.
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A fresh 128-bit secret as 32 lowercase hex digits, from ring's system random source: the bearer
/// tokens of `contracts::credential` (azure-sim's admin token, the webhook's read token).
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .expect("the system random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A certificate with its private key, both PEM-encoded.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed certificate authority that issues leaf certificates.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

fn gen_err(what: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Generate { what: what.to_string(), source }
}

fn params_named(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params
}

impl Ca {
    /// Creates a new CA whose subject CN is `common_name`.
    pub fn new(common_name: &str) -> Result<Self> {
        let mut params = params_named(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(gen_err(common_name))?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(gen_err(common_name))?;
        Ok(Self { issuer })
    }

    /// The CA certificate, PEM-encoded (what goes into a caBundle or a client's trust store).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Issues a serving certificate for the given DNS names and IP addresses. Go clients (the API
    /// server calling a webhook) refuse CN-only certificates, so loopback needs an IP SAN.
    pub fn issue_server(&self, dns_names: &[&str], ips: &[IpAddr]) -> Result<CertifiedKey> {
        let cn = dns_names.first().copied().unwrap_or("localhost");
        let mut params = params_named(cn);
        params.subject_alt_names = dns_names
            .iter()
            .map(|d| SanType::DnsName((*d).try_into().expect("valid DNS name")))
            .chain(ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        self.sign(params, cn)
    }

    /// Issues a client certificate. Kubernetes reads the user from CN and the groups from O.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<CertifiedKey> {
        let mut params = params_named(user);
        for group in groups {
            params.distinguished_name.push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        self.sign(params, user)
    }

    fn sign(&self, params: CertificateParams, what: &str) -> Result<CertifiedKey> {
        let key = KeyPair::generate().map_err(gen_err(what))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err(what))?;
        Ok(CertifiedKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// A fresh ECDSA P-256 key pair as (PKCS#8 private key PEM, SubjectPublicKeyInfo PEM): the API
/// server's service-account signing key and the verification key it is given separately.
pub fn generate_key_pair_pem() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(gen_err("service-account key"))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_32_hex_digits_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn issues_server_and_client_certificates() {
        let ca = Ca::new("test-ca").unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let server = ca.issue_server(&["localhost"], &["127.0.0.1".parse().unwrap()]).unwrap();
        assert!(server.key_pem.contains("PRIVATE KEY"));
        let client = ca.issue_client("admin", &["system:masters"]).unwrap();
        assert_ne!(client.cert_pem, server.cert_pem);
    }
}
