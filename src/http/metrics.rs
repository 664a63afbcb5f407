//! The `/metrics` side of HTTP: how a SCIM request is labelled, and the separate plain-HTTP
//! listener that serves the scrape.
//!
//! The scrape endpoint has no authentication (Prometheus scrapers rarely carry bearer tokens,
//! and the data is operational, not directory data), which is why it never shares the SCIM port:
//! an admin binds it to loopback or a management network and firewalls it like any exporter.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::router::{route, App, Route};
use super::ServeError;
use crate::metrics::RequestSample;
use crate::scim::ResourceKind;

/// Scrapers are few; more concurrent connections than this wait in the accept queue.
const MAX_CONNECTIONS: usize = 16;
/// A connection has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A scrape in flight at shutdown gets this long before its connection is dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Records one finished SCIM request in `app.metrics`.
///
/// `token` is the configured name of the token that authenticated it (`None`: it was refused
/// before or at authentication). Labels come from the route, not the raw path, so ids and typos
/// never become label values.
pub(super) fn observe(
    app: &App,
    method: &Method,
    path: &str,
    status: u16,
    token: Option<&str>,
    elapsed: Duration,
) {
    let (resource, changes) = classify(&app.base_path, path);
    let method_label = method_label(method);
    let writes = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    app.metrics.request(&RequestSample {
        resource,
        method: method_label,
        status,
        token,
        successful_write: changes && writes && (200..300).contains(&status),
        elapsed,
    });
}

/// The resource-type label of `path`, and whether a write method there changes the directory
/// (a search is a POST that only reads).
fn classify(base_path: &str, path: &str) -> (&'static str, bool) {
    let Some(rest) = path
        .strip_prefix(base_path)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return ("other", false);
    };
    let kind = |k: ResourceKind| match k {
        ResourceKind::User => "Users",
        ResourceKind::Group => "Groups",
    };
    match route(rest) {
        Route::Collection(k) | Route::Resource(k, _) => (kind(k), true),
        Route::Search(Some(k)) => (kind(k), false),
        Route::Bulk => ("Bulk", true),
        Route::ServiceProviderConfig | Route::ResourceTypes(_) | Route::Schemas(_) => {
            ("discovery", false)
        }
        Route::Search(None) | Route::NotFound => ("other", false),
    }
}

/// Methods outside this set (hyper accepts any token as a method) share one label, so a client
/// cannot create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The running metrics listener.
pub(super) struct MetricsServer {
    pub(super) addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `listen` and serves `registry` on it in the background.
    pub(super) async fn start(
        listen: SocketAddr,
        registry: Registry,
    ) -> Result<MetricsServer, ServeError> {
        let bind_error = |source| ServeError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                listen = %addr,
                "serving /metrics (plain HTTP, no authentication) on a non-loopback address: \
                 anyone who can reach it sees request counts, token names and directory sizes. \
                 Bind it to loopback or a management network, or firewall the port"
            );
        }
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, Arc::new(registry), rx));
        tracing::info!(%addr, "serving /metrics");
        Ok(MetricsServer {
            addr,
            shutdown: tx,
            task,
        })
    }

    /// Stops accepting, lets in-flight scrapes finish briefly, then drops every connection.
    pub(super) async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

async fn run(listener: TcpListener, registry: Arc<Registry>, mut shutdown: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Owning the connection tasks lets shutdown end them all: an idle keep-alive connection
    // from a scraper would otherwise outlive the server.
    let mut connections = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    while let Some((permit, stream, peer)) =
        super::server::accept_next(&listener, &permits, &mut shutdown, "metrics: accept failed")
            .await
    {
        // Reap finished connections so the set does not grow with every scrape.
        while connections.try_join_next().is_some() {}
        let registry = registry.clone();
        let service = service_fn(move |req| scrape(registry.clone(), req));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            let _permit = permit;
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "metrics: connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    connections.shutdown().await;
}

/// Answers `GET /metrics` (and `HEAD`); anything else is 404 or 405.
async fn scrape(
    registry: Arc<Registry>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        ));
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }
    // Encoding reads the store's counts from one snapshot: O(1) table lengths, microseconds,
    // so it runs on the async worker like the SCIM handlers' index lookups.
    match crate::metrics::encode(&registry) {
        Ok(text) => {
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            let headers = resp.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot encode /metrics");
            Ok(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be encoded; see the server log\n",
            ))
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_route() {
        let b = "/scim/v2";
        assert_eq!(classify(b, "/scim/v2/Users"), ("Users", true));
        assert_eq!(classify(b, "/scim/v2/users/abc"), ("Users", true));
        assert_eq!(classify(b, "/scim/v2/Groups/x"), ("Groups", true));
        assert_eq!(classify(b, "/scim/v2/Groups/.search"), ("Groups", false));
        assert_eq!(classify(b, "/scim/v2/.search"), ("other", false));
        assert_eq!(classify(b, "/scim/v2/Bulk"), ("Bulk", true));
        assert_eq!(classify(b, "/scim/v2/Schemas/urn:x"), ("discovery", false));
        assert_eq!(
            classify(b, "/scim/v2/ServiceProviderConfig"),
            ("discovery", false)
        );
        assert_eq!(classify(b, "/scim/v2/ResourceTypes"), ("discovery", false));
        assert_eq!(classify(b, "/scim/v2/Nope"), ("other", false));
        assert_eq!(classify(b, "/scim/v2x/Users"), ("other", false));
        assert_eq!(classify(b, "/metrics"), ("other", false));
        assert_eq!(classify("", "/Users"), ("Users", true));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }
}
