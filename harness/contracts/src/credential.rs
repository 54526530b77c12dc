//! The credential on endpoints that must not be open beyond loopback (`docs/contracts.md` §10):
//! azure-sim's `/admin/...` and the webhook's `/v1/audit` and `/v1/denials`. They hand out
//! subscriptions with owner credentials, approve features, inject faults, and return cluster
//! objects and decisions, so once a listener is reachable from other hosts (k3s and kind bind
//! `0.0.0.0`) a caller must present the server's token:
//!
//! ```text
//! Authorization: Bearer <token>
//! ```
//!
//! A server bound to a loopback address only needs no token unless one was configured. Otherwise it
//! takes the configured token or generates one and prints it at startup; a request without it gets
//! `401` with `WWW-Authenticate: Bearer realm="aks-policy-harness"`.

use std::net::IpAddr;

/// The `WWW-Authenticate` value of a `401`.
pub const CHALLENGE: &str = "Bearer realm=\"aks-policy-harness\"";

/// Whether a listener on `ip` needs a credential even when none was configured: anything but a
/// loopback address (`0.0.0.0` and `::` included, since they accept connections from every interface).
pub fn required_for(ip: IpAddr) -> bool {
    !ip.is_loopback()
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("this endpoint needs `Authorization: Bearer <token>`; the token is printed when the server starts")]
    Missing,
    #[error("the bearer token does not match this server's token")]
    Wrong,
}

/// Checks an `Authorization` header value against `expected`, in time independent of where the two
/// first differ.
pub fn authorize(header: Option<&str>, expected: &str) -> Result<(), CredentialError> {
    let presented = header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(CredentialError::Missing)?;
    let same_length = presented.len() == expected.len();
    let differences = presented.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same_length && differences == 0 { Ok(()) } else { Err(CredentialError::Wrong) }
}

/// The `Authorization` header value that carries `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listeners_need_no_credential_and_the_rest_do() {
        assert!(!required_for("127.0.0.1".parse().unwrap()));
        assert!(!required_for("127.0.0.2".parse().unwrap()));
        assert!(!required_for("::1".parse().unwrap()));
        assert!(required_for("0.0.0.0".parse().unwrap()));
        assert!(required_for("::".parse().unwrap()));
        assert!(required_for("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert_eq!(authorize(Some(&bearer("s3cret")), "s3cret"), Ok(()));
        assert_eq!(authorize(None, "s3cret"), Err(CredentialError::Missing));
        assert_eq!(authorize(Some("Basic czNjcmV0"), "s3cret"), Err(CredentialError::Missing));
        assert_eq!(authorize(Some("Bearer s3cre"), "s3cret"), Err(CredentialError::Wrong));
        assert_eq!(authorize(Some("Bearer s3cretX"), "s3cret"), Err(CredentialError::Wrong));
        assert_eq!(authorize(Some("Bearer S3cret"), "s3cret"), Err(CredentialError::Wrong));
    }
}
