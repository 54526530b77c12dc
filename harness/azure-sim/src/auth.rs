//! Authentication as Azure Stack / ADFS does it, which is what lets the real `az` log in offline:
//! an ADFS token endpoint, its OpenID configuration, the per-tenant OpenID configuration current
//! CLIs resolve a non-GUID `--tenant` with, and the cloud metadata document that
//! `az cloud register --endpoint-resource-manager` reads.
//!
//! Tokens are JWT-shaped (the CLI decodes the payload) and signed with HMAC-SHA256 under a key kept
//! in the state, so they stay valid across a restart with `--state-file` and cannot be forged by
//! editing the payload. Which subscriptions a token may touch is looked up from its principal at
//! request time, so granting a principal a new subscription needs no new token.

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::SharedApp;
use crate::error::{ArmError, ArmResult};
use crate::state::{Principal, SimState};

/// The audience tokens are issued for (what `az` asks for as `resource`/`scope`).
pub const AUDIENCE: &str = "https://management.azuresim.local/";
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// The authenticated caller of an ARM or dataplane request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client_id: String,
    /// Lower-case ids of the subscriptions this caller may use.
    pub subscriptions: Vec<String>,
}

impl Caller {
    /// 403 `AuthorizationFailed` unless the caller has access to `subscription`.
    pub fn authorize(&self, subscription: &str, action: &str, scope: &str) -> ArmResult<()> {
        if self.subscriptions.iter().any(|s| s.eq_ignore_ascii_case(subscription)) {
            return Ok(());
        }
        Err(ArmError::forbidden(
            "AuthorizationFailed",
            format!(
                "The client '{id}' with object id '{id}' does not have authorization to perform action \
                 '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, \
                 please refresh your credentials.",
                id = self.client_id
            ),
        ))
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// Random hex good enough for secrets in a local simulator (uuid v4 draws from the OS RNG).
pub fn random_hex() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Mints a signed access (or refresh) token for `principal`.
pub fn mint(state: &SimState, issuer: &str, principal: &Principal, kind: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = B64.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload = json!({
        "aud": AUDIENCE, "iss": issuer, "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME_SECS,
        "oid": principal.client_id, "sub": principal.client_id, "appid": principal.client_id,
        "tid": state.tenant_id, "upn": principal.username, "ver": "1.0", "azsim_kind": kind,
    });
    let body = format!("{header}.{}", B64.encode(payload.to_string()));
    let signature = B64.encode(hmac_sha256(state.signing_key.as_bytes(), body.as_bytes()));
    format!("{body}.{signature}")
}

fn invalid_token(message: &str) -> ArmError {
    ArmError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
}

/// Verifies a token's signature and expiry and returns its payload.
fn verify(state: &SimState, token: &str) -> ArmResult<Value> {
    let malformed = || invalid_token("The access token is invalid.");
    let (body, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let expected = B64.encode(hmac_sha256(state.signing_key.as_bytes(), body.as_bytes()));
    if expected != signature {
        return Err(invalid_token("The access token has an invalid signature."));
    }
    let payload = body.split('.').nth(1).ok_or_else(malformed)?;
    let payload: Value =
        B64.decode(payload).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(malformed)?;
    let exp = payload["exp"].as_i64().unwrap_or(0);
    if exp < chrono::Utc::now().timestamp() {
        return Err(ArmError::new(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    Ok(payload)
}

/// Authenticates an ARM/dataplane request from its `Authorization` header.
pub fn authenticate(state: &SimState, headers: &HeaderMap) -> ArmResult<Caller> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        ArmError::new(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| invalid_token("The 'Authorization' header is not a Bearer token."))?;
    let payload = verify(state, token.trim())?;
    if payload["azsim_kind"] != "access" {
        return Err(invalid_token("A refresh token cannot be used as an access token."));
    }
    let oid = payload["oid"].as_str().unwrap_or_default();
    let principal =
        state.principals.get(oid).ok_or_else(|| invalid_token("The token's principal no longer exists."))?;
    Ok(Caller { client_id: principal.client_id.clone(), subscriptions: principal.subscriptions.clone() })
}

/// The form `az` (ADAL or MSAL) posts to the token endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Finds the principal a token request authenticates, or the OAuth error to answer with (a
/// response, as axum handlers return errors; its size does not matter on this path).
#[allow(clippy::result_large_err)]
fn principal_for(state: &SimState, req: &TokenRequest) -> Result<Principal, Response> {
    let bad_client = || oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.");
    let bad_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "The credentials are invalid.");
    match req.grant_type.as_deref() {
        Some("client_credentials") => {
            let id = req.client_id.as_deref().unwrap_or_default();
            let p = state.principals.get(id).filter(|p| p.username.is_none()).ok_or_else(bad_client)?;
            (Some(p.secret.as_str()) == req.client_secret.as_deref()).then(|| p.clone()).ok_or_else(bad_client)
        }
        Some("password") => {
            let user = req.username.as_deref().unwrap_or_default();
            let p =
                state.principals.values().find(|p| p.username.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(user)));
            let p = p.ok_or_else(bad_grant)?;
            (Some(p.secret.as_str()) == req.password.as_deref()).then(|| p.clone()).ok_or_else(bad_grant)
        }
        Some("refresh_token") => {
            let token = req.refresh_token.as_deref().unwrap_or_default();
            let payload = verify(state, token).map_err(|_| bad_grant())?;
            if payload["azsim_kind"] != "refresh" {
                return Err(bad_grant());
            }
            let oid = payload["oid"].as_str().unwrap_or_default();
            state.principals.get(oid).cloned().ok_or_else(bad_grant)
        }
        other => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("The grant type {other:?} is not supported."),
        )),
    }
}

/// `POST /adfs/oauth2/token`: client_credentials, password and refresh_token grants.
pub async fn token(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(req)) = form else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The request body must be form-encoded.");
    };
    let issuer = format!("{}/adfs", app.request_base(&headers));
    #[allow(clippy::result_large_err)]
    let answer = app.store.read(|state| {
        let principal = principal_for(state, &req)?;
        let access = mint(state, &issuer, &principal, "access");
        let refresh = principal.username.is_some().then(|| mint(state, &issuer, &principal, "refresh"));
        Ok::<_, Response>((access, refresh))
    });
    let (access, refresh) = match answer {
        Ok(tokens) => tokens,
        Err(response) => return response,
    };
    let expires_on = chrono::Utc::now().timestamp() + TOKEN_LIFETIME_SECS;
    let resource = req.resource.clone().or_else(|| req.scope.clone()).unwrap_or_else(|| AUDIENCE.to_string());
    let mut body = json!({
        "token_type": "Bearer", "access_token": access, "expires_in": TOKEN_LIFETIME_SECS,
        "ext_expires_in": TOKEN_LIFETIME_SECS, "expires_on": expires_on.to_string(), "resource": resource,
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    Json(body).into_response()
}

/// An OpenID configuration whose endpoints are our ADFS ones, with the given `issuer`.
fn openid_document(adfs: &str, issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{adfs}/oauth2/token"),
        "authorization_endpoint": format!("{adfs}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{adfs}/oauth2/devicecode"),
        "jwks_uri": format!("{adfs}/discovery/keys"),
        "response_types_supported": ["code", "token"],
        "grant_types_supported": ["client_credentials", "password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    })
}

/// `GET /adfs/.well-known/openid-configuration`: what MSAL reads before asking for a token.
pub async fn openid_configuration(State(app): State<SharedApp>, headers: HeaderMap) -> Json<Value> {
    let adfs = format!("{}/adfs", app.request_base(&headers));
    Json(openid_document(&adfs, &adfs))
}

/// `GET /adfs/{tenant}/v2.0/.well-known/openid-configuration`: how current `az login` resolves a
/// `--tenant` that is not a GUID (`adfs`, a domain) before logging in. It takes the tenant id from
/// the `issuer`'s first path segment (`issuer.split("/")[3]`), as on Entra, where the issuer is
/// `https://login.microsoftonline.com/{tenant-id}/v2.0`, and aborts on anything but 200. We answer
/// for `adfs` (what our cloud metadata names as the tenant) and for the tenant's GUID, in any
/// casing; any other tenant gets Entra's `invalid_tenant` (AADSTS90002).
pub async fn tenant_openid_configuration(
    State(app): State<SharedApp>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let base = app.request_base(&headers);
    let tenant_id = app.store.read(|state| state.tenant_id.clone());
    if !(tenant.eq_ignore_ascii_case("adfs") || tenant.eq_ignore_ascii_case(&tenant_id)) {
        let body = json!({
            "error": "invalid_tenant",
            "error_description": format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. This azure-sim knows the tenants 'adfs' and '{tenant_id}'."
            ),
            "error_codes": [90002],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": uuid::Uuid::new_v4().to_string(),
            "correlation_id": uuid::Uuid::new_v4().to_string(),
            "error_uri": format!("{base}/error?code=90002"),
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    Json(openid_document(&format!("{base}/adfs"), &format!("{base}/{tenant_id}/v2.0"))).into_response()
}

/// `GET /metadata/endpoints`: one document that satisfies both the Azure Stack format (2015-01-01,
/// ADAL-era CLIs) and the cloud-object format current CLIs expect (they crash without `suffixes`).
pub async fn metadata_endpoints(State(app): State<SharedApp>, headers: HeaderMap) -> Json<Value> {
    let base = app.request_base(&headers);
    let authentication = json!({
        "loginEndpoint": format!("{base}/adfs"), "audiences": [AUDIENCE],
        "tenant": "adfs", "identityProvider": "ADFS",
    });
    Json(json!({
        "galleryEndpoint": format!("{base}/gallery/"), "graphEndpoint": format!("{base}/graph/"),
        "portalEndpoint": format!("{base}/portal/"), "authentication": authentication,
        "name": "AzureSim", "resourceManager": format!("{base}/"), "portal": format!("{base}/portal/"),
        "gallery": format!("{base}/gallery/"), "graph": format!("{base}/graph/"),
        "graphAudience": format!("{base}/graph/"), "media": format!("{base}/media/"),
        "suffixes": {
            "storage": "core.azuresim.local", "keyVaultDns": "vault.azuresim.local",
            "acrLoginServer": "azurecr.azuresim.local", "sqlServerHostname": "database.azuresim.local",
        },
    }))
}

/// A fresh service principal with access to `subscriptions`.
pub fn new_principal(state: &mut SimState, subscriptions: Vec<String>) -> Principal {
    let principal =
        Principal { client_id: uuid::Uuid::new_v4().to_string(), secret: random_hex(), username: None, subscriptions };
    state.principals.insert(principal.client_id.clone(), principal.clone());
    principal
}
