//! Every error the API answers, and the one place that turns each into GPII's wire shape.
//!
//! GPII's cloud answers errors in three shapes, depending on which of its layers failed
//! (GPII/universal `kettle` request handlers, `oauth2orize`, `passport`):
//! 1. `{"isError":true,"message":…,"errorCode"?:…}` — flow manager and preferences server;
//! 2. `{"error":…,"error_description":…}` — the OAuth2 token endpoint;
//! 3. the plain text `Unauthorized` — client authentication that finds no credentials at all.
//!
//! Attune's additions (429, 503, 413) use shape 1, with `Retry-After` where waiting helps.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::metrics::Failure;
use crate::store::StoreError;

/// GPII's message when a PUT body fails schema validation (two spaces and all).
pub const VALIDATION_MESSAGE: &str = "Your request was invalid.  See the errors for details.";

/// An API error. Handlers return `Result<_, ApiError>`; [`IntoResponse`] decides status and body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Shape 1 with 401 `Unauthorized`: missing, unknown, expired or foreign token.
    #[error("unauthorized")]
    Unauthorized,
    /// Shape 1, any status, optional GPII error code (`GPII_ERR_READONLY`, …).
    #[error("{status}: {message}")]
    Gpii {
        status: StatusCode,
        message: String,
        error_code: Option<&'static str>,
    },
    /// Shape 1 with 400 and GPII's `errors[]` of validation failures.
    #[error("invalid request body ({} errors)", errors.len())]
    Validation { errors: Vec<Value> },
    /// Shape 2: an OAuth2 token-endpoint error (`invalid_request`, `unsupported_grant_type`,
    /// `server_error` …).
    #[error("{status} {error}: {description}")]
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// Shape 3: no client credentials in the token request at all.
    #[error("no client credentials")]
    PlainUnauthorized,
    /// 429: too many failed token requests from this client or address.
    #[error("too many failed attempts; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// 503: the server sheds load or the store is down.
    #[error("unavailable: {message}")]
    Unavailable { message: String, retry_after: u64 },
    /// 413: the body is larger than the route accepts.
    #[error("body too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    /// 503: the store failed (what failed is logged where this was made, never answered).
    #[error("the store is unavailable")]
    Store,
}

impl ApiError {
    /// Shape 1 with a status and message and no error code.
    pub fn gpii(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Gpii {
            status,
            message: message.into(),
            error_code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::gpii(StatusCode::BAD_REQUEST, message)
    }

    /// OAuth's `server_error` with description `Unauthorized`, status 401: what GPII answers
    /// for a wrong client secret, an IP outside the allow-list, or an unknown key.
    pub fn oauth_unauthorized() -> Self {
        ApiError::OAuth {
            status: StatusCode::UNAUTHORIZED,
            error: "server_error",
            description: "Unauthorized".to_owned(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::PlainUnauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Gpii { status, .. } | ApiError::OAuth { status, .. } => *status,
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } | ApiError::Store => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// An admin action the API runs for a caller (`DELETE /{key}`): a key gone meanwhile is an
/// unknown key (401); a store that cannot do it says 501; anything else is the store's 503.
impl From<crate::admin::AdminError> for ApiError {
    fn from(e: crate::admin::AdminError) -> Self {
        match e {
            crate::admin::AdminError::Store(StoreError::Missing { .. }) => ApiError::Unauthorized,
            crate::admin::AdminError::Store(StoreError::Unsupported { what }) => ApiError::gpii(
                StatusCode::NOT_IMPLEMENTED,
                format!("This cloud does not support {what} yet"),
            ),
            crate::admin::AdminError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "admin action failed");
                ApiError::Store
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The details stay in the log; the client learns only that it should retry.
        tracing::error!(error = %e, "store failure");
        ApiError::Store
    }
}

fn shape1(message: &str, extra: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    let mut m = Map::new();
    m.insert("isError".to_owned(), Value::Bool(true));
    m.insert("message".to_owned(), Value::from(message));
    for (k, v) in extra {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut retry_after = None;
        let failure = match &self {
            ApiError::RateLimited { .. } => Some(Failure::RateLimited),
            ApiError::Store => Some(Failure::Store),
            _ => None,
        };
        let body = match self {
            ApiError::PlainUnauthorized => {
                return (
                    status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Unauthorized",
                )
                    .into_response();
            }
            ApiError::Unauthorized => shape1("Unauthorized", []),
            ApiError::Gpii {
                message,
                error_code,
                ..
            } => shape1(&message, error_code.map(|c| ("errorCode", Value::from(c)))),
            ApiError::Validation { errors } => shape1(
                VALIDATION_MESSAGE,
                [
                    ("isValid", Value::Bool(false)),
                    ("errors", Value::Array(errors)),
                ],
            ),
            ApiError::OAuth {
                error, description, ..
            } => json!({"error": error, "error_description": description}),
            ApiError::RateLimited { retry_after: s } => {
                retry_after = Some(s);
                shape1(
                    &format!("Too many failed attempts; retry after {s} seconds"),
                    [],
                )
            }
            ApiError::Unavailable {
                message,
                retry_after: s,
            } => {
                retry_after = Some(s);
                shape1(&message, [])
            }
            ApiError::TooLarge { limit } => shape1(
                &format!("The request body is larger than this route accepts ({limit} bytes)"),
                [],
            ),
            ApiError::Store => {
                retry_after = Some(5);
                shape1("The store is unavailable; try again later", [])
            }
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(f) = failure {
            resp.extensions_mut().insert(f);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::AdminError;

    #[test]
    fn an_admin_action_for_a_caller_answers_by_what_failed() {
        let status = |e: AdminError| ApiError::from(e).into_response().status();
        let missing = StoreError::Missing {
            what: "gpiiKey",
            id: "0badf00d".to_owned(),
        };
        assert_eq!(status(missing.into()), StatusCode::UNAUTHORIZED);
        let unsupported = StoreError::Unsupported {
            what: "forgetting a key",
        };
        assert_eq!(status(unsupported.into()), StatusCode::NOT_IMPLEMENTED);
        let down = StoreError::Unavailable("down".to_owned());
        assert_eq!(status(down.into()), StatusCode::SERVICE_UNAVAILABLE);
        let usage = AdminError::Usage("--reason: too long".to_owned());
        assert_eq!(status(usage), StatusCode::SERVICE_UNAVAILABLE);
    }
}
