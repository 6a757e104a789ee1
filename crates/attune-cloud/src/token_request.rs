//! The body of `POST /access_token` as an axum extractor: a JSON or form body read into the
//! fields GPII's password grant uses, with the errors GPII answers (the API tests pin them).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use crate::api::AppState;
use crate::error::ApiError;

/// A token request's fields. An empty string counts as missing (GPII's checks do the same);
/// other content types than JSON and forms give no fields, as GPII's body parsers do, so the
/// client is then unauthenticated. `Debug` hides the secret, the key and the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &hidden(&self.client_secret))
            .field("username", &hidden(&self.username))
            .field("password", &hidden(&self.password))
            .finish()
    }
}

fn nonempty(f: &Option<String>) -> Option<&str> {
    f.as_deref().filter(|s| !s.is_empty())
}

fn invalid(description: String) -> ApiError {
    ApiError::OAuth {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description,
    }
}

impl TokenRequest {
    /// `grant_type` as sent (`"undefined"` when missing, as GPII names it).
    pub fn grant_type(&self) -> &str {
        self.grant_type.as_deref().unwrap_or("undefined")
    }

    pub fn client_id(&self) -> Option<&str> {
        nonempty(&self.client_id)
    }

    /// The client secret. Never log it.
    pub fn client_secret(&self) -> Option<&str> {
        nonempty(&self.client_secret)
    }

    /// The key (GPII's grant sends it as the OAuth2 user name). Never log it.
    pub fn username(&self) -> Option<&str> {
        nonempty(&self.username)
    }

    pub fn password(&self) -> Option<&str> {
        nonempty(&self.password)
    }

    fn set(&mut self, name: &str, value: String) {
        let slot = match name {
            "grant_type" => &mut self.grant_type,
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            "username" => &mut self.username,
            "password" => &mut self.password,
            _ => return,
        };
        *slot = Some(value);
    }

    /// Reads a body of the given `Content-Type`.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, ApiError> {
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let mut out = TokenRequest::default();
        if ctype == "application/json" || ctype.ends_with("+json") {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| invalid(format!("The body is not valid JSON: {e}")))?;
            let Value::Object(m) = v else {
                return Err(invalid("The body must be a JSON object".to_owned()));
            };
            for (k, v) in m {
                match v {
                    Value::String(s) => out.set(&k, s),
                    Value::Null => {}
                    other => {
                        if matches!(
                            k.as_str(),
                            "grant_type" | "client_id" | "client_secret" | "username" | "password"
                        ) {
                            return Err(invalid(format!(
                                "Invalid parameter: {k} must be a string, got {other}"
                            )));
                        }
                    }
                }
            }
        } else if ctype == "application/x-www-form-urlencoded" {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| invalid(format!("The form body cannot be read: {e}")))?;
            // The last of repeated fields wins.
            for (k, v) in pairs {
                out.set(&k, v);
            }
        }
        Ok(out)
    }
}

/// Reads the body under the route's limit (413 over it, 408 when it stops arriving), then its
/// fields.
impl FromRequest<std::sync::Arc<AppState>> for TokenRequest {
    type Rejection = ApiError;

    async fn from_request(
        req: Request,
        st: &std::sync::Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let body =
            crate::api::body_bytes(Bytes::from_request(req, st).await).map_err(|e| match e {
                ApiError::TooLarge { .. } => ApiError::TooLarge {
                    limit: st.limits().max_token_bytes,
                },
                other => other,
            })?;
        TokenRequest::parse(&headers, &body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn typed(ctype: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ctype).unwrap());
        h
    }

    #[test]
    fn json_and_form_bodies_give_the_same_fields() {
        let json = TokenRequest::parse(
            &typed("application/json; charset=utf-8"),
            br#"{"grant_type":"password","client_id":"site","client_secret":"s","username":"k","password":"","other":3,"x":null}"#,
        )
        .unwrap();
        let form = TokenRequest::parse(
            &typed("application/x-www-form-urlencoded"),
            b"grant_type=password&client_id=nope&client_id=site&client_secret=s&username=k&password=",
        )
        .unwrap();
        assert_eq!(json, form);
        assert_eq!(json.client_id(), Some("site"));
        assert_eq!(json.password(), None, "an empty password counts as missing");
        assert_eq!(json.grant_type(), "password");
        let shown = format!("{json:?}");
        assert!(
            !shown.contains("\"s\"") && !shown.contains("\"k\""),
            "{shown}"
        );
    }

    #[test]
    fn other_bodies_give_no_fields_and_bad_ones_are_named() {
        let none = TokenRequest::parse(&typed("text/plain"), b"client_id=site").unwrap();
        assert_eq!(none, TokenRequest::default());
        assert_eq!(none.grant_type(), "undefined");
        for (ctype, body, want) in [
            ("application/json", &b"{"[..], "not valid JSON"),
            ("application/json", b"[1]", "must be a JSON object"),
            (
                "application/json",
                br#"{"username":1}"#,
                "username must be a string",
            ),
        ] {
            match TokenRequest::parse(&typed(ctype), body) {
                Err(ApiError::OAuth { description, .. }) => {
                    assert!(description.contains(want), "{description}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
