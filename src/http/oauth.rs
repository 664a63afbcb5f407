//! `POST /oauth/token`: the OAuth 2.0 token endpoint for the client credentials grant
//! (RFC 6749 §4.4), with `client_secret_basic` and `client_secret_post` client authentication.
//!
//! It sits at the root whatever `base_path` is, needs no bearer token (it is where one is
//! obtained), and answers in OAuth's JSON shape (`error`, `error_description`, RFC 6749 §5.2)
//! rather than as a SCIM Error: the caller is an OAuth client library, not a SCIM client.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::json;

use super::request::{read_body_limited, BodyLimit};
use super::respond::Body;
use super::router::App;
use crate::metrics::AuthFailure;
use crate::oauth::IssueError;

/// Where the token endpoint is served.
pub const TOKEN_PATH: &str = "/oauth/token";

/// A token request is a handful of short form fields; anything larger is not one.
const MAX_FORM_BYTES: usize = 8 * 1024;

/// Sent with a 401 so a client that used (or should use) HTTP Basic knows the realm.
const BASIC_CHALLENGE: &str = "Basic realm=\"scimd\", charset=\"UTF-8\"";

/// An OAuth error response (RFC 6749 §5.2).
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Add `WWW-Authenticate: Basic` (401 after HTTP Basic or no client authentication).
    challenge: bool,
}

fn refuse(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
        challenge: false,
    }
}

fn invalid_request(description: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The credentials a request authenticates its client with.
struct Credentials {
    client_id: String,
    secret: String,
    basic: bool,
}

/// Answers a request for [`TOKEN_PATH`]; `who` becomes `oauth:<client_id>` when a token is
/// issued.
pub(super) async fn token(
    app: &App,
    parts: &Parts,
    body: &mut Option<Incoming>,
    who: &mut Option<String>,
    client_ip: &str,
) -> Response<Body> {
    if parts.method != Method::POST {
        let mut resp = reply(&refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            format!(
                "{} is not supported on {TOKEN_PATH}; use POST",
                parts.method
            ),
        ));
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    match issue(app, parts, body, who, client_ip).await {
        Ok(resp) => resp,
        Err(refusal) => reply(&refusal),
    }
}

async fn issue(
    app: &App,
    parts: &Parts,
    body: &mut Option<Incoming>,
    who: &mut Option<String>,
    client_ip: &str,
) -> Result<Response<Body>, Refusal> {
    let form = read_form(parts, body, app.limits.body_read_timeout).await?;
    let credentials = credentials(parts, &form).inspect_err(|r| {
        if r.status == StatusCode::UNAUTHORIZED {
            failed(
                app,
                form.get("client_id"),
                r.description.as_str(),
                client_ip,
            );
        }
    })?;
    match form.get("grant_type") {
        None => {
            return Err(invalid_request(
                "grant_type is missing; send grant_type=client_credentials",
            ))
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type {:?} is not supported; only client_credentials is",
                    printable(other)
                ),
            ))
        }
    }
    let issued = app
        .oauth
        .issue(
            &credentials.client_id,
            &credentials.secret,
            form.get("scope"),
        )
        .map_err(|e| match e {
            IssueError::InvalidClient(reason) => {
                failed(app, Some(&credentials.client_id), reason, client_ip);
                Refusal {
                    challenge: credentials.basic,
                    ..refuse(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "client authentication failed: unknown client or wrong secret",
                    )
                }
            }
            IssueError::InvalidScope(scope) => refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("scope {scope:?} is not granted to this client"),
            ),
            IssueError::Random(e) => {
                tracing::error!(error = %e, "cannot generate an access token");
                refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "the server could not generate a token; retry shortly",
                )
            }
        })?;
    *who = Some(format!("oauth:{}", credentials.client_id));
    tracing::info!(
        client_id = %credentials.client_id,
        scope = %issued.scopes.join(" "),
        expires_in = issued.expires_in.as_secs(),
        client_ip,
        "OAuth access token issued"
    );
    Ok(json(
        StatusCode::OK,
        &json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in.as_secs(),
            "scope": issued.scopes.join(" "),
        }),
    ))
}

/// Logs and counts a failed client authentication: the client id as sent (made printable and
/// short), the reason and the address, never the secret.
fn failed(app: &App, client_id: Option<&str>, reason: &str, client_ip: &str) {
    app.metrics.auth_failure(AuthFailure::OAuthClient);
    if let Ok(addr) = client_ip.parse::<std::net::IpAddr>() {
        if let Some(wait) = app.throttle.failed(addr, std::time::Instant::now()) {
            tracing::warn!(
                client_ip,
                block_seconds = wait.as_secs(),
                "blocking the address after repeated failed OAuth client authentications"
            );
        }
    }
    tracing::warn!(
        client_id = %client_id.map(printable).unwrap_or_else(|| "-".into()),
        reason,
        client_ip,
        "OAuth client authentication failed"
    );
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// The form fields, each at most once (RFC 6749 §3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_form(
    parts: &Parts,
    body: &mut Option<Incoming>,
    timeout: std::time::Duration,
) -> Result<Form, Refusal> {
    let incoming = body
        .take()
        .ok_or_else(|| invalid_request("the request body was already read"))?;
    let bytes = read_body_limited(
        incoming,
        BodyLimit {
            bytes: MAX_FORM_BYTES,
            timeout,
        },
    )
    .await
    .map_err(|e| refuse(status_of(e.status), "invalid_request", e.detail))?;
    let essence = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(invalid_request(
            "the body must be application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        ));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(&bytes) {
        // Unknown parameters (e.g. Entra's `resource`) are ignored, as RFC 6749 §3.2 requires;
        // a repeated known one is ambiguous and refused.
        if fields.iter().any(|(seen, _)| *seen == k) {
            if ["grant_type", "scope", "client_id", "client_secret"].contains(&k.as_ref()) {
                return Err(invalid_request(format!("{k} is sent more than once")));
            }
            continue;
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    Ok(Form(fields))
}

fn status_of(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The client's credentials from exactly one of HTTP Basic (`client_secret_basic`) or the
/// form (`client_secret_post`).
fn credentials(parts: &Parts, form: &Form) -> Result<Credentials, Refusal> {
    let unauthorized = |description: &str, basic: bool| Refusal {
        challenge: basic,
        ..refuse(StatusCode::UNAUTHORIZED, "invalid_client", description)
    };
    let posted_secret = form.get("client_secret");
    let Some(authorization) = parts.headers.get(header::AUTHORIZATION) else {
        return match (form.get("client_id"), posted_secret) {
            (Some(id), Some(secret)) => Ok(Credentials {
                client_id: id.to_string(),
                secret: secret.to_string(),
                basic: false,
            }),
            (None, Some(_)) => Err(invalid_request("client_secret is sent without client_id")),
            // No client authentication at all: invite Basic (RFC 6749 §5.2).
            _ => Err(unauthorized(
                "client authentication is required: HTTP Basic with the client id and secret, \
                 or client_id and client_secret in the form",
                true,
            )),
        };
    };
    let value = authorization.to_str().unwrap_or_default().trim();
    let encoded =
        match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("Basic") => rest.trim(),
            _ => return Err(unauthorized(
                "the Authorization header must be \"Basic <base64 of client_id:client_secret>\"",
                true,
            )),
        };
    if posted_secret.is_some() {
        return Err(invalid_request(
            "the client authenticates twice (HTTP Basic and client_secret in the form); use one",
        ));
    }
    let (client_id, secret) = decode_basic(encoded).ok_or_else(|| {
        unauthorized(
            "the Basic credentials are not base64 of \"client_id:client_secret\"",
            true,
        )
    })?;
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid_request(
            "client_id in the form differs from the one in HTTP Basic",
        ));
    }
    Ok(Credentials {
        client_id,
        secret,
        basic: true,
    })
}

/// `base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1) into id and secret.
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// A 429 in OAuth's shape when `addr` is blocked for failed authentications (of tokens or
/// client secrets alike): an OAuth client library reads `error`, not a SCIM Error.
/// `temporarily_unavailable` is the registered code closest to "not now" (RFC 6749 §4.1.2.1);
/// RFC 6749 defines no error for a throttled token request.
pub(super) fn throttled(app: &App, addr: Option<std::net::IpAddr>) -> Option<Response<Body>> {
    let secs = super::access::throttle_wait(app, addr)?;
    let mut resp = reply(&refuse(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        super::access::throttled_detail(secs, "client secret"),
    ));
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Some(resp)
}

fn reply(r: &Refusal) -> Response<Body> {
    let mut resp = json(
        r.status,
        &json!({ "error": r.error, "error_description": r.description }),
    );
    if r.challenge {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_CHALLENGE),
        );
    }
    resp
}

/// A JSON response that no cache may keep (RFC 6749 §5.1: it may carry a token).
fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(
            decode_basic(&b64("entra:s3cret")),
            Some(("entra".into(), "s3cret".into()))
        );
        assert_eq!(
            decode_basic(&b64("my+id:a%3Ab%2Bc=d")),
            Some(("my id".into(), "a:b+c=d".into()))
        );
        // Only the first colon separates; an encoded one stays in the id.
        assert_eq!(
            decode_basic(&b64("a%3Ab:c:d")),
            Some(("a:b".into(), "c:d".into()))
        );
        assert_eq!(decode_basic(&b64("no-colon")), None);
        assert_eq!(decode_basic("!!not base64!!"), None);
        assert_eq!(decode_basic(&b64("a:%FF")), None);
    }
}
