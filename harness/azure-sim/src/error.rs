//! ARM errors. Every failure the mock reports goes through [`ArmError`], so that clients (the real
//! `az`, the harness, the add-on) always see ARM's `{"error":{"code","message"}}` body with the status
//! code ARM would use. Codes follow the real service where it is documented and are our own,
//! PascalCase and descriptive, where it is not.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error in ARM's shape: HTTP status, PascalCase code and a human message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `Retry-After` seconds (throttling only).
    pub retry_after: Option<u64>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_string(), message: message.into(), retry_after: None }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// `InvalidRequestContent`: ARM's answer to bodies that do not deserialize or have the wrong shape.
    pub fn invalid_content(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    /// A missing resource, worded as ARM words it.
    pub fn resource_not_found(resource_type: &str, name: &str, resource_group: &str) -> Self {
        Self::not_found(
            "ResourceNotFound",
            format!(
                "The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. \
                 For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    pub fn resource_group_not_found(name: &str) -> Self {
        Self::not_found("ResourceGroupNotFound", format!("Resource group '{name}' could not be found."))
    }

    /// 409 for a resource PUT under a namespace the subscription has not registered.
    pub fn missing_registration(namespace: &str) -> Self {
        Self::conflict(
            "MissingSubscriptionRegistration",
            format!(
                "The subscription is not registered to use namespace '{namespace}'. See \
                 https://aka.ms/rps-not-found for how to register subscriptions."
            ),
        )
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body ARM sends with this error.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer authorization_uri=\"adfs\", error=\"invalid_token\""),
            );
        }
        response
    }
}

/// A short JSON type name for error messages.
pub use contracts::policy_parameters::kind_of;

/// Result type of every ARM handler.
pub type ArmResult<T> = Result<T, ArmError>;

/// Errors starting the simulator (not request errors).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("reading or writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid azure-sim state: {source}")]
    CorruptState {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("definition file {path}: {message}")]
    Definition { path: String, message: String },
    #[error("certificates: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown subscription {0}")]
    UnknownSubscription(String),
    #[error("{0}")]
    Arm(#[from] ArmError),
}

impl SimError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
        move |source| SimError::Io { path: path.display().to_string(), source }
    }
}
