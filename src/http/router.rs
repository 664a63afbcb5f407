//! Routing and the request pipeline: authenticate, route, read, call the directory, respond.

use std::sync::Arc;
use std::time::Instant;

use http::request::Parts;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::Value;

use super::access::{self, Refusal};
use super::request::{
    check_content_type, check_head, parse_json, read_body, read_body_limited, BodyLimit, Query,
};
use super::respond::{self, Body};
use crate::auth::{LiveTokens, Principal, Scope, Scopes};
use crate::directory::{Actor, Directory, GroupGet, ListParams};
use crate::metrics::AuthFailure;
use crate::scim::bulk;
use crate::scim::discovery::{self, Capabilities};
use crate::scim::resource::etag_matches;
use crate::scim::{ResourceKind, ScimError};

/// Everything a request needs, shared by all connections.
pub struct App {
    pub dir: Arc<Directory>,
    /// Swapped by a reload; each request checks against the tokens in force when it arrives.
    pub tokens: LiveTokens,
    /// Issues `/oauth/token` tokens and recognises them; a reload replaces its clients.
    pub oauth: crate::oauth::OAuthIssuer,
    /// Where the SCIM endpoints live, e.g. `/scim/v2`; empty for the root.
    pub base_path: String,
    /// Permits for concurrent streamed group reads ([`MAX_GROUP_STREAMS`]).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Request, authentication and write metrics (served by `http::metrics` when configured).
    pub metrics: crate::metrics::Metrics,
    /// Failed authentications per client address (`[auth]`).
    pub throttle: crate::auth::throttle::FailureThrottle,
    /// Per-token rate limits (`requests_per_second` on a token).
    pub rates: crate::auth::rate::RateLimiter,
    /// `[limits]`: head and body sizes, body timeout, bulk payload size.
    pub limits: crate::config::LimitsSettings,
}

impl App {
    /// The body limit of every request but /Bulk.
    pub(super) fn body_limit(&self) -> BodyLimit {
        BodyLimit {
            bytes: self.limits.max_body_bytes,
            timeout: self.limits.body_read_timeout,
        }
    }
}

/// Concurrent `GET /Groups/{id}` member streams.
pub const MAX_GROUP_STREAMS: usize = 32;
/// A client that reads nothing of a member stream for this long is dropped.
const STREAM_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The route a path resolves to, below the base path.
#[derive(Debug, PartialEq)]
pub(super) enum Route {
    Collection(ResourceKind),
    Resource(ResourceKind, String),
    ServiceProviderConfig,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
    /// `/.search` (None: every resource type), `/Users/.search`, `/Groups/.search` (RFC 7644 §3.4.3).
    Search(Option<ResourceKind>),
    Bulk,
    NotFound,
}

fn kind_of(segment: &str) -> Option<ResourceKind> {
    // Resource names are matched without case: scripts written for servers with lowercase
    // endpoints (INTEROP Part B §5.3) still work.
    if segment.eq_ignore_ascii_case("Users") {
        Some(ResourceKind::User)
    } else if segment.eq_ignore_ascii_case("Groups") {
        Some(ResourceKind::Group)
    } else {
        None
    }
}

fn decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub(super) fn route(rest: &str) -> Route {
    // Collapse empty segments: a Tenant URL typed with a trailing slash gives `//Users`.
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [".search"] => Route::Search(None),
        [c, ".search"] if kind_of(c).is_some() => Route::Search(kind_of(c)),
        [c] if kind_of(c).is_some() => kind_of(c).map(Route::Collection).unwrap_or(Route::NotFound),
        [c, id] => match kind_of(c) {
            Some(k) => Route::Resource(k, decode(id)),
            None if c.eq_ignore_ascii_case("ResourceTypes") => {
                Route::ResourceTypes(Some(decode(id)))
            }
            None if c.eq_ignore_ascii_case("Schemas") => Route::Schemas(Some(decode(id))),
            None => Route::NotFound,
        },
        [c] if c.eq_ignore_ascii_case("ServiceProviderConfig") => Route::ServiceProviderConfig,
        [c] if c.eq_ignore_ascii_case("Bulk") => Route::Bulk,
        [c] if c.eq_ignore_ascii_case("ResourceTypes") => Route::ResourceTypes(None),
        [c] if c.eq_ignore_ascii_case("Schemas") => Route::Schemas(None),
        _ => Route::NotFound,
    }
}

/// The client's own id for the request, when it sends one (Entra: `client-request-id`), kept
/// short and printable because it lands in the audit log.
fn client_request_id(parts: &Parts) -> Option<String> {
    ["client-request-id", "x-request-id", "x-correlation-id"]
        .iter()
        .find_map(|h| parts.headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().filter(|c| !c.is_control()).take(128).collect())
}

/// Who is calling and what they may do. Logs name the token, never the secret.
fn authenticate(app: &App, parts: &Parts) -> Result<Principal, Refusal> {
    let headers = &parts.headers;
    let presented = if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v.to_str().unwrap_or_default().trim();
        match v.split_once(' ') {
            Some((scheme, tok)) if scheme.eq_ignore_ascii_case("Bearer") => tok.trim().to_string(),
            _ => {
                return Err(Refusal::new(
                    AuthFailure::Malformed,
                    ScimError::new(
                        401,
                        None,
                        "the Authorization header must be \"Bearer <token>\"",
                    ),
                ));
            }
        }
    } else if let Some(v) = headers.get("netskope-api-token") {
        // Netskope's tooling sends its token in this header instead (INTEROP Part B §1.1).
        v.to_str().unwrap_or_default().trim().to_string()
    } else {
        return Err(Refusal::new(
            AuthFailure::MissingHeader,
            ScimError::new(
                401,
                None,
                "authentication required: send \"Authorization: Bearer <token>\" with a token issued by `scimd token issue`",
            ),
        ));
    };
    let configured = app.tokens.authenticate(&presented);
    // Not a configured token: perhaps one `/oauth/token` issued. Its expiry is the issuer's
    // business (an expired one is not found), so the principal carries none.
    let issued = || {
        app.oauth.verify(&presented).map(|g| Principal {
            name: format!("oauth:{}", g.client_id),
            scopes: g
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .fold(Scopes::none(), Scopes::with),
            expires_at: None,
            rate_limit: None,
        })
    };
    configured.or_else(issued).ok_or_else(|| {
        Refusal::new(
            AuthFailure::UnknownToken,
            ScimError::new(401, None, "the bearer token is not valid"),
        )
    })
}

/// Handles one request; never fails (every failure is a SCIM Error response).
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut who: Option<String> = None;
    // Set by the accept loop: the peer, or the client a trusted proxy forwarded for.
    let client_ip = req
        .extensions()
        .get::<super::client_ip::ClientIp>()
        .map_or_else(|| "-".to_string(), |c| c.0.to_string());
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let resp = match dispatch(&app, &parts, &mut body, &mut who, &request_id, &client_ip).await {
        Ok(r) => r,
        Err(e) => respond::error(&e),
    };
    if let Some(unread) = body {
        // Answering before the body is read makes HTTP/2 reset the stream, and some clients
        // (curl) then report a framing error instead of our response. Drain it, bounded.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read_body(unread)).await;
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    super::metrics::observe(&app, &method, &path, status, who.as_deref(), elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let who = who.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(request_id, token = %who, client_ip, %method, path, status, latency_ms, "request failed");
    } else {
        tracing::info!(request_id, token = %who, client_ip, %method, path, status, latency_ms, "request");
    }
    Ok(resp)
}

async fn dispatch(
    app: &Arc<App>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    who: &mut Option<String>,
    request_id: &str,
    client_ip: &str,
) -> Result<Response<Body>, ScimError> {
    let path = parts.uri.path().to_string();
    if path == super::oauth::TOKEN_PATH {
        check_head(
            &parts.uri,
            &parts.headers,
            app.limits.max_header_bytes,
            app.limits.max_headers,
        )?;
        // Client secrets are guessed like tokens: the same per-address throttle applies.
        if let Some(refused) = super::oauth::throttled(app, access::client_addr(parts)) {
            return Ok(refused);
        }
        return Ok(super::oauth::token(app, parts, body, who, client_ip).await);
    }
    let rest = match path.strip_prefix(app.base_path.as_str()) {
        Some(r) if r.is_empty() || r.starts_with('/') => r.to_string(),
        _ => {
            return Err(ScimError::not_found(format!(
                "no SCIM endpoint at {path}; the base URL is {}",
                app.dir.base_url()
            )))
        }
    };
    // Before authentication: an oversized head is refused whoever sends it.
    check_head(
        &parts.uri,
        &parts.headers,
        app.limits.max_header_bytes,
        app.limits.max_headers,
    )?;
    let addr = access::client_addr(parts);
    if let Some(refused) = access::throttled(app, addr) {
        return Ok(refused);
    }
    let principal = match authenticate(app, parts).and_then(access::check_expiry) {
        Ok(p) => p,
        Err(refusal) => {
            *who = refusal.token.clone();
            return Ok(access::refuse(app, refusal, addr));
        }
    };
    *who = Some(principal.name.clone());
    if let Some(refused) = access::rate_limited(app, &principal) {
        return Ok(refused);
    }
    let route = route(&rest);
    if let Err(refusal) = access::authorize(&principal, &route, &parts.method, &path) {
        return Ok(access::refuse(app, refusal, addr));
    }
    let actor = Actor {
        token: principal.name.clone(),
        request_id: request_id.to_string(),
        client_request_id: client_request_id(parts),
        client_ip: (client_ip != "-").then(|| client_ip.to_string()),
    };
    let method = parts.method.clone();
    let query = Query::parse(parts.uri.query());
    let dir = app.dir.clone();
    let full_path = path.clone();

    match route {
        Route::NotFound => Err(ScimError::not_found(format!("no SCIM endpoint at {path}"))),
        Route::Search(kind) => {
            if method != Method::POST {
                return Ok(respond::method_not_allowed(&method, &full_path, "POST"));
            }
            let body = json_body(app.body_limit(), parts, body).await?;
            let params = ListParams::from_search(&body)?;
            let list = blocking(move || match kind {
                Some(k) => dir.list(k, &params),
                None => dir.search_all(&params),
            })
            .await?;
            Ok(respond::json(200, &list))
        }
        Route::Bulk => {
            if method != Method::POST {
                return Ok(respond::method_not_allowed(&method, &full_path, "POST"));
            }
            let limit = BodyLimit {
                bytes: app.limits.max_bulk_body_bytes,
                timeout: app.limits.body_read_timeout,
            };
            // A rate-limited token pays one request per operation (the first was charged on
            // arrival).
            let charge = |operations: usize| {
                if let Some(rate) = principal.rate_limit {
                    let extra = u32::try_from(operations.saturating_sub(1)).unwrap_or(u32::MAX);
                    app.rates
                        .debit(&principal.name, rate, extra, std::time::Instant::now());
                }
            };
            super::bulk::post(dir, parts, body, actor, limit, charge).await
        }
        Route::ServiceProviderConfig => {
            only_get(&method, &full_path)?;
            let caps = Capabilities {
                max_results: dir.max_page(),
                max_bulk_operations: bulk::MAX_OPERATIONS,
                max_payload_size: app.limits.max_bulk_body_bytes,
            };
            let loc = format!("{}/ServiceProviderConfig", dir.base_url());
            Ok(respond::json(
                200,
                &discovery::service_provider_config(&caps, &loc),
            ))
        }
        Route::ResourceTypes(id) => {
            only_get(&method, &full_path)?;
            let all = discovery::resource_types(dir.registry(), dir.base_url());
            one_or_list(all, id, "ResourceType")
        }
        Route::Schemas(id) => {
            only_get(&method, &full_path)?;
            let all = discovery::schemas(dir.registry(), dir.base_url());
            one_or_list(all, id, "Schema")
        }
        Route::Collection(kind) => match method {
            Method::GET => {
                let params = ListParams {
                    filter: query.get("filter").map(str::to_string),
                    start_index: query.int("startIndex")?,
                    count: query.int("count")?,
                    attributes: query.get("attributes").map(str::to_string),
                    excluded_attributes: query.get("excludedAttributes").map(str::to_string),
                    sort_by: query.get("sortBy").map(str::to_string),
                    sort_order: query.get("sortOrder").map(str::to_string),
                    cursor: query.get("cursor").map(str::to_string),
                };
                // Point lookups run inline: the blocking pool's hand-off costs more than the
                // read (benches/load, docs/PERFORMANCE.md).
                let listing = dir.prepare_list(kind, &params)?;
                if !listing.is_point() {
                    let list = blocking(move || dir.run_list(&listing)).await?;
                    return Ok(respond::json(200, &list));
                }
                match dir.point_list_json(&listing)? {
                    Some(bytes) => Ok(respond::json_bytes(200, bytes)),
                    None => Ok(respond::json(200, &dir.run_list(&listing)?)),
                }
            }
            Method::POST => {
                let body = json_body(app.body_limit(), parts, body).await?;
                // A user's reply is one record and its groups, rendered inline; a new group's
                // may list thousands of members, so it is rendered on the blocking pool.
                let w = if kind == ResourceKind::User {
                    spawned(async move { dir.create_async(kind, &body, &actor).await }).await?
                } else {
                    blocking(move || dir.create(kind, &body, &actor)).await?
                };
                Ok(written(respond::json(201, &w.resource), &w))
            }
            _ => Ok(respond::method_not_allowed(
                &method,
                &full_path,
                "GET, POST",
            )),
        },
        Route::Resource(kind, id) => {
            let target = Target {
                kind,
                id,
                actor,
                body_limit: app.body_limit(),
            };
            resource(dir, app.streams.clone(), parts, body, target).await
        }
    }
}

/// The resource a request names, and who asks.
struct Target {
    kind: ResourceKind,
    id: String,
    actor: Actor,
    body_limit: BodyLimit,
}

/// One resource: GET (with `If-None-Match`), PUT, PATCH, DELETE (with `If-Match`).
async fn resource(
    dir: Arc<Directory>,
    streams: Arc<tokio::sync::Semaphore>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    target: Target,
) -> Result<Response<Body>, ScimError> {
    let Target {
        kind,
        id,
        actor,
        body_limit,
    } = target;
    let if_match = header(parts, http::header::IF_MATCH);
    let if_none_match = header(parts, http::header::IF_NONE_MATCH);
    let full_path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    match parts.method.clone() {
        Method::GET => {
            let attrs = query.get("attributes").map(str::to_string);
            let excl = query.get("excludedAttributes").map(str::to_string);
            if kind == ResourceKind::Group {
                return get_group(dir, streams, id, attrs, excl, if_none_match).await;
            }
            // One record and its group list: read inline, like a point lookup.
            let (resp, version) =
                match dir.get_json(kind, &id, attrs.as_deref(), excl.as_deref())? {
                    Some((bytes, version)) => (respond::json_bytes(200, bytes), version),
                    None => {
                        let (v, version) = dir.get(kind, &id, attrs.as_deref(), excl.as_deref())?;
                        (respond::json(200, &v), version)
                    }
                };
            Ok(versioned(
                resp,
                version.as_deref(),
                if_none_match.as_deref(),
            ))
        }
        Method::PUT => {
            let body = json_body(body_limit, parts, body).await?;
            // A group's reply may render thousands of members: that stays off the workers.
            let w = if kind == ResourceKind::User {
                spawned(async move {
                    dir.replace_async(kind, &id, &body, if_match.as_deref(), &actor)
                        .await
                })
                .await?
            } else {
                blocking(move || dir.replace(kind, &id, &body, if_match.as_deref(), &actor)).await?
            };
            Ok(written(respond::json(200, &w.resource), &w))
        }
        Method::PATCH => {
            let body = json_body(body_limit, parts, body).await?;
            // Users answer 200 with the resource (Entra's documented form); groups answer 204,
            // so a PATCH on a huge group never serializes its member list.
            let render = kind == ResourceKind::User;
            let w = spawned(async move {
                dir.patch_async(kind, &id, &body, render, if_match.as_deref(), &actor)
                    .await
            })
            .await?;
            Ok(match w {
                Some(w) => written(respond::json(200, &w.resource), &w),
                None => respond::no_content(),
            })
        }
        Method::DELETE => {
            spawned(async move {
                dir.delete_async(kind, &id, if_match.as_deref(), &actor)
                    .await
            })
            .await?;
            Ok(respond::no_content())
        }
        method => Ok(respond::method_not_allowed(
            &method,
            &full_path,
            "GET, PUT, PATCH, DELETE",
        )),
    }
}

/// A write's reply headers: `Location` and the new version as `ETag`.
fn written(resp: Response<Body>, w: &crate::directory::Written) -> Response<Body> {
    let version = w
        .resource
        .get("meta")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str);
    respond::with_etag(respond::with_location(resp, &w.location), version)
}

fn header(parts: &Parts, name: http::header::HeaderName) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// GET of one group: the member list is streamed from the index in chunks, so a group of a
/// million members costs a chunk of memory, not the whole list.
async fn get_group(
    dir: Arc<Directory>,
    streams: Arc<tokio::sync::Semaphore>,
    id: String,
    attrs: Option<String>,
    excl: Option<String>,
    if_none_match: Option<String>,
) -> Result<Response<Body>, ScimError> {
    let got = blocking(move || dir.get_group(&id, attrs.as_deref(), excl.as_deref())).await?;
    let stream = match got {
        GroupGet::Whole(v, version) => {
            let resp = respond::json(200, &v);
            return Ok(versioned(
                resp,
                version.as_deref(),
                if_none_match.as_deref(),
            ));
        }
        GroupGet::Stream(s) => s,
    };
    let version = stream.version().map(str::to_string);
    if let Some(h) = &if_none_match {
        if etag_matches(h, version.as_deref()) {
            return Ok(respond::not_modified(version.as_deref()));
        }
    }
    // Each stream holds a blocking thread and a read snapshot until its client has read it all:
    // bound how many run at once, and how long one may wait on a client that stops reading.
    let permit = streams.try_acquire_owned().map_err(|_| {
        ScimError::new(
            503,
            None,
            "too many large group reads are in progress; retry shortly",
        )
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let result = stream.write(&mut |chunk| {
            let send =
                tokio::time::timeout(STREAM_SEND_TIMEOUT, tx.send(bytes::Bytes::from(chunk)));
            matches!(handle.block_on(send), Ok(Ok(())))
        });
        if let Err(e) = result {
            // The status line is already sent; the body ends short, so the client sees invalid
            // JSON rather than a member list silently cut off.
            tracing::error!(error = %e, "streaming a group's members failed");
        }
    });
    Ok(respond::with_etag(
        respond::json_stream(rx),
        version.as_deref(),
    ))
}

/// A GET reply with its `ETag`, or 304 when `If-None-Match` names the current version.
fn versioned(
    resp: Response<Body>,
    version: Option<&str>,
    if_none_match: Option<&str>,
) -> Response<Body> {
    match if_none_match {
        Some(h) if etag_matches(h, version) => respond::not_modified(version),
        _ => respond::with_etag(resp, version),
    }
}

fn only_get(method: &Method, path: &str) -> Result<(), ScimError> {
    if method == Method::GET {
        Ok(())
    } else {
        Err(ScimError::new(
            405,
            None,
            format!("{method} is not supported on {path}; it is read-only (GET)"),
        ))
    }
}

fn one_or_list(
    all: Vec<Value>,
    id: Option<String>,
    what: &str,
) -> Result<Response<Body>, ScimError> {
    match id {
        None => {
            let n = all.len() as u64;
            Ok(respond::json(200, &discovery::list_response(all, n, 1)))
        }
        Some(id) => all
            .into_iter()
            .find(|v| {
                v.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|i| i.eq_ignore_ascii_case(&id))
            })
            .map(|v| respond::json(200, &v))
            .ok_or_else(|| ScimError::not_found(format!("{what} \"{id}\" not found"))),
    }
}

async fn json_body(
    limit: BodyLimit,
    parts: &Parts,
    body: &mut Option<Incoming>,
) -> Result<Value, ScimError> {
    let incoming = body
        .take()
        .ok_or_else(|| ScimError::internal("the request body was already read"))?;
    let bytes = read_body_limited(incoming, limit).await?;
    check_content_type(&parts.headers)?;
    parse_json(&bytes)
}

/// Runs a write on a task of its own and waits for it: the task runs to the end even if the
/// client goes away, so whatever the write owes after its commit (the guard's count) is
/// settled, and a panic becomes the same 500 as in [`blocking`].
pub(super) async fn spawned<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, ScimError>> + Send + 'static,
) -> Result<T, ScimError> {
    tokio::spawn(f).await.map_err(task_failed)?
}

/// Runs a directory call (blocking redb work) off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    tokio::task::spawn_blocking(f).await.map_err(task_failed)?
}

fn task_failed(e: tokio::task::JoinError) -> ScimError {
    tracing::error!(error = %e, "directory task failed");
    ScimError::outcome_unknown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/Users"), Route::Collection(ResourceKind::User));
        assert_eq!(route("//users/"), Route::Collection(ResourceKind::User));
        assert_eq!(
            route("/Groups/a%20b"),
            Route::Resource(ResourceKind::Group, "a b".into())
        );
        assert_eq!(
            route("/ServiceProviderConfig"),
            Route::ServiceProviderConfig
        );
        assert_eq!(
            route("/Schemas/urn:x"),
            Route::Schemas(Some("urn:x".into()))
        );
        assert_eq!(route("/Users/1/x"), Route::NotFound);
        assert_eq!(route("/.search"), Route::Search(None));
        assert_eq!(route("/bulk"), Route::Bulk);
        assert_eq!(
            route("/Groups/.search"),
            Route::Search(Some(ResourceKind::Group))
        );
        assert_eq!(route(""), Route::NotFound);
    }
}
