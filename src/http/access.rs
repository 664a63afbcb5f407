//! The steps around authentication: refusing throttled addresses before any token is looked
//! at, refusing expired tokens, rate limits, and scopes; logging and counting each refusal.
//!
//! Order, per request: throttle (429) → authenticate (401) → expiry (401) → rate limit (429)
//! → scope (403). Only authentication failures (401) count toward the throttle: a scope refusal
//! comes from someone holding a valid secret, who is not guessing.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::IpAddr;
use std::time::Instant;

use http::request::Parts;
use http::{header, HeaderValue, Method, Response};

use super::respond::{self, Body};
use super::router::{App, Route};
use crate::auth::rate::retry_after_secs;
use crate::auth::{rfc3339, Principal, Scope};
use crate::metrics::AuthFailure;
use crate::scim::ScimError;

/// An authentication or authorization refusal, before it becomes a response.
#[derive(Debug)]
pub(super) struct Refusal {
    pub reason: AuthFailure,
    /// The token's configured name, when the credential was recognised.
    pub token: Option<String>,
    pub error: ScimError,
    /// The `WWW-Authenticate` value, when it says more than the default (RFC 6750 §3).
    pub challenge: Option<String>,
}

impl Refusal {
    pub fn new(reason: AuthFailure, error: ScimError) -> Self {
        Refusal {
            reason,
            token: None,
            error,
            challenge: None,
        }
    }
}

/// The client's address as the accept loop determined it (honouring trusted proxies).
pub(super) fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<super::client_ip::ClientIp>()
        .map(|c| c.0)
}

/// The seconds `addr` must wait when it is blocked for failed authentications (counted and
/// logged here); `None` when it may go on. Nothing about tokens is checked.
pub(super) fn throttle_wait(app: &App, addr: Option<IpAddr>) -> Option<u64> {
    let wait = app.throttle.blocked(addr?, Instant::now())?;
    app.metrics.auth_failure(AuthFailure::Throttled);
    let secs = retry_after_secs(wait);
    // Debug, not warn: a blocked address may send thousands; the block itself was logged.
    tracing::debug!(client_ip = ?addr, retry_after = secs, "request from a throttled address");
    Some(secs)
}

/// Why a blocked address is refused, for the SCIM and the OAuth answer alike.
pub(super) fn throttled_detail(secs: u64, credential: &str) -> String {
    format!(
        "too many failed authentications from this address; retry after {secs} second{} \
         (a request with a valid {credential} is refused too until then)",
        plural(secs)
    )
}

/// A SCIM 429 when `addr` is blocked for failed authentications.
pub(super) fn throttled(app: &App, addr: Option<IpAddr>) -> Option<Response<Body>> {
    let secs = throttle_wait(app, addr)?;
    let error = ScimError::new(429, None, throttled_detail(secs, "token"));
    Some(respond::error(&error.retry_after(secs)))
}

/// Refuses an expired credential.
pub(super) fn check_expiry(principal: Principal) -> Result<Principal, Refusal> {
    match principal.expires_at {
        Some(at) if principal.expired(time::OffsetDateTime::now_utc()) => {
            let when = rfc3339(at);
            Err(Refusal {
                reason: AuthFailure::ExpiredToken,
                error: ScimError::new(
                    401,
                    None,
                    format!(
                        "the bearer token {:?} expired at {when}; ask for a new one \
                         (`scimd token issue`)",
                        principal.name
                    ),
                ),
                challenge: Some(format!(
                    "Bearer realm=\"scimd\", error=\"invalid_token\", \
                     error_description=\"the token expired at {when}\""
                )),
                token: Some(principal.name),
            })
        }
        _ => Ok(principal),
    }
}

/// 429 when the token's own rate limit (opt-in) is exceeded.
pub(super) fn rate_limited(app: &App, principal: &Principal) -> Option<Response<Body>> {
    let limit = principal.rate_limit?;
    let wait = app
        .rates
        .check(&principal.name, limit, Instant::now())
        .err()?;
    let secs = retry_after_secs(wait);
    tracing::debug!(token = %principal.name, retry_after = secs, "token over its rate limit");
    let error = ScimError::new(
        429,
        None,
        format!(
            "the token {:?} is limited to {} request{} per second (burst {}); retry after \
             {secs} second{}",
            principal.name,
            limit.per_second,
            plural(u64::from(limit.per_second)),
            limit.burst,
            plural(secs)
        ),
    );
    Some(respond::error(&error.retry_after(secs)))
}

/// The scope a request needs: `write` for anything that changes data, `read` otherwise.
/// `POST /.search` is a read (RFC 7644 §3.4.3); methods an endpoint does not support need
/// only `read`, so they are still answered 405 rather than 403.
pub(super) fn required_scope(route: &Route, method: &Method) -> Scope {
    let writes = match route {
        Route::Collection(_) => method == Method::POST,
        Route::Resource(..) => {
            matches!(*method, Method::PUT | Method::PATCH | Method::DELETE)
        }
        Route::Bulk => method == Method::POST,
        _ => false,
    };
    if writes {
        Scope::Write
    } else {
        Scope::Read
    }
}

/// Refuses a request the principal's scopes do not cover.
pub(super) fn authorize(
    principal: &Principal,
    route: &Route,
    method: &Method,
    path: &str,
) -> Result<(), Refusal> {
    let needed = required_scope(route, method);
    if principal.scopes.contains(needed) {
        return Ok(());
    }
    Err(Refusal {
        reason: AuthFailure::InsufficientScope,
        token: Some(principal.name.clone()),
        error: ScimError::new(
            403,
            None,
            format!(
                "the token {:?} has scope \"{}\"; {method} {path} needs scope \"{needed}\"",
                principal.name, principal.scopes
            ),
        ),
        challenge: Some(format!(
            "Bearer realm=\"scimd\", error=\"insufficient_scope\", scope=\"{needed}\""
        )),
    })
}

/// Logs, counts and answers a refusal; a 401 also counts toward `addr`'s throttle.
pub(super) fn refuse(app: &App, refusal: Refusal, addr: Option<IpAddr>) -> Response<Body> {
    let Refusal {
        reason,
        token,
        error,
        challenge,
    } = refusal;
    app.metrics.auth_failure(reason);
    let token = token.as_deref().unwrap_or("-");
    let client_ip = addr.map_or_else(|| "-".to_string(), |a| a.to_string());
    // Never the presented secret: the reason and the configured name say enough.
    tracing::warn!(
        reason = reason.label(),
        token,
        client_ip,
        status = error.status,
        detail = error.detail,
        "refused authentication"
    );
    if error.status == 401 {
        if let Some(addr) = addr {
            if let Some(block) = app.throttle.failed(addr, Instant::now()) {
                tracing::warn!(
                    client_ip,
                    block_seconds = block.as_secs(),
                    "too many failed authentications: refusing this address until the block ends"
                );
            }
        }
    }
    let mut resp = respond::error(&error);
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scopes;
    use crate::scim::ResourceKind;

    #[test]
    fn writes_need_write_and_everything_else_read() {
        let user = || Route::Resource(ResourceKind::User, "1".into());
        let users = || Route::Collection(ResourceKind::User);
        for (route, method, scope) in [
            (users(), Method::GET, Scope::Read),
            (users(), Method::POST, Scope::Write),
            (user(), Method::GET, Scope::Read),
            (user(), Method::PUT, Scope::Write),
            (user(), Method::PATCH, Scope::Write),
            (user(), Method::DELETE, Scope::Write),
            (Route::Bulk, Method::POST, Scope::Write),
            (Route::Search(None), Method::POST, Scope::Read),
            (
                Route::Search(Some(ResourceKind::Group)),
                Method::POST,
                Scope::Read,
            ),
            (Route::ServiceProviderConfig, Method::GET, Scope::Read),
            // Unsupported: answered 405 for any token.
            (Route::ServiceProviderConfig, Method::DELETE, Scope::Read),
            (users(), Method::DELETE, Scope::Read),
        ] {
            assert_eq!(required_scope(&route, &method), scope, "{method} {route:?}");
        }
    }

    #[test]
    fn a_read_token_is_refused_a_write_naming_the_scope() {
        let p = Principal {
            name: "audit".into(),
            scopes: Scopes::none().with(Scope::Read),
            expires_at: None,
            rate_limit: None,
        };
        let users = Route::Collection(ResourceKind::User);
        assert!(authorize(&p, &users, &Method::GET, "/Users").is_ok());
        let r = authorize(&p, &users, &Method::POST, "/Users").unwrap_err();
        assert_eq!(r.error.status, 403);
        assert!(r.error.detail.contains("needs scope \"write\""), "{r:?}");
        assert_eq!(r.token.as_deref(), Some("audit"));
    }

    #[test]
    fn an_expired_token_is_refused_with_when() {
        let p = Principal {
            name: "old".into(),
            scopes: Scopes::all(),
            expires_at: Some(time::macros::datetime!(2020-01-01 00:00 UTC)),
            rate_limit: None,
        };
        let r = check_expiry(p.clone()).unwrap_err();
        assert_eq!(r.error.status, 401);
        assert!(r.error.detail.contains("expired at 2020-01-01T00:00:00Z"));
        assert!(r.challenge.unwrap().contains("error=\"invalid_token\""));
        let later = Principal {
            expires_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(1)),
            ..p
        };
        assert!(check_expiry(later).is_ok());
    }
}
