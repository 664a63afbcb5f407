//! The listener: accept loop, TLS handshake, HTTP/1.1 + h2 on one port, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use arc_swap::ArcSwap;

use super::client_ip::{client_ip, ClientIp, TrustedProxies};
use super::health::{self, Probe};
use super::router::{handle, App};
use crate::config::LimitsSettings;

/// Per-connection state that lives outside the SCIM app: who may forward client addresses
/// (swapped by a reload) and the readiness probe's gate.
pub struct Edge {
    pub proxies: Arc<ArcSwap<TrustedProxies>>,
    pub probe: Probe,
}

/// A client has this long to finish the TLS handshake (or `header_read_timeout`, if shorter).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// While every connection slot is taken, a warning is logged at most this often.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// h2 keep-alive: ping an idle connection this often, and drop it when a ping goes unanswered.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection builders: one per protocol negotiated by ALPN, and one that sniffs (plain HTTP).
struct Builders {
    h1: Builder<TokioExecutor>,
    h2: Builder<TokioExecutor>,
    sniff: Builder<TokioExecutor>,
}

impl Builders {
    fn new(limits: &LimitsSettings) -> Builders {
        // hyper's own head limits answer a bare 431 (h1) or reset the stream (h2); they are set
        // at twice the configured ones, as an outer cap, so a head between the two reaches the
        // router and gets a SCIM error that names the limit (`request::check_head`).
        let outer_bytes = limits.max_header_bytes.saturating_mul(2).max(16 * 1024);
        let outer_list = u32::try_from(outer_bytes).unwrap_or(u32::MAX);
        // hyper runs one h1 timer from the moment a connection waits for a request head until
        // the head is read, so it bounds both an idle keep-alive connection and a slow head:
        // the smaller of the two limits keeps both promises.
        let h1_wait = limits.header_read_timeout.min(limits.idle_timeout);
        let configure = |mut b: Builder<TokioExecutor>| {
            b.http1()
                .timer(TokioTimer::new())
                .header_read_timeout(h1_wait)
                .max_buf_size(outer_bytes)
                .max_headers(limits.max_headers.saturating_mul(2))
                .keep_alive(true);
            b.http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(256)
                .max_header_list_size(outer_list)
                .keep_alive_interval(Some(H2_PING_INTERVAL))
                .keep_alive_timeout(H2_PING_TIMEOUT);
            b
        };
        Builders {
            h1: configure(Builder::new(TokioExecutor::new()).http1_only()),
            h2: configure(Builder::new(TokioExecutor::new()).http2_only()),
            sniff: configure(Builder::new(TokioExecutor::new())),
        }
    }
}

/// Accepts connections until `shutdown` resolves, then stops accepting and drains.
///
/// Over `max_connections`, new connections wait in the kernel's accept queue rather than being
/// accepted and closed: a legitimate client queued behind slow ones is served as soon as a
/// timeout frees a slot, and a flood costs the server no memory or file descriptors.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    edge: Arc<Edge>,
    shutdown: impl Future<Output = ()>,
) {
    let limits = app.limits.clone();
    let header_timeout = limits.header_read_timeout;
    let handshake_timeout = HANDSHAKE_TIMEOUT.min(header_timeout);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let builders = Arc::new(Builders::new(&limits));
    let mut last_full_warning: Option<std::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        if permits.available_permits() == 0 {
            // Once a minute at most: a slowloris attack must not also flood the logs.
            let now = std::time::Instant::now();
            if last_full_warning.is_none_or(|t| now.duration_since(t) >= FULL_WARNING_INTERVAL) {
                last_full_warning = Some(now);
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "every connection slot is taken; new connections wait until one frees \
                     (limits.max_connections)"
                );
            }
        }
        let Some((permit, stream, peer)) =
            accept_next(&listener, &permits, &mut shutdown, "accept failed").await
        else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let edge = edge.clone();
        let builders = builders.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Set by the first request: a connection that has sent none within the header
            // timeout is closed (h2 waits for the client preface with no timeout of its own).
            let seen = Arc::new(AtomicBool::new(false));
            let seen_in_service = seen.clone();
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                seen_in_service.store(true, Ordering::Relaxed);
                // Decided per request: the forwarding headers are per request, and a reload may
                // change the trusted proxies between two requests of one connection.
                let ip = client_ip(peer.ip(), req.headers(), &edge.proxies.load());
                req.extensions_mut().insert(ClientIp(ip));
                let app = app.clone();
                let edge = edge.clone();
                async move {
                    if let Some(resp) = health::respond(&app.dir, &edge.probe, &req).await {
                        return Ok(resp);
                    }
                    handle(app, req).await
                }
            });
            match tls {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    // ALPN already says which protocol follows, so no sniffing read (which has
                    // no timeout) is needed: an idle socket meets the h1 header timeout or the
                    // h2 keep-alive instead of holding a connection slot forever.
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = if h2 { &builders.h2 } else { &builders.h1 };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    serve_watched(
                        watcher.watch(conn.into_owned()),
                        &seen,
                        peer,
                        header_timeout,
                    )
                    .await;
                }
                None => {
                    // Plain HTTP (behind a gateway) may be h1 or h2 with prior knowledge; the
                    // sniff waits for the first bytes, so bound that wait first.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => {
                            tracing::debug!(%peer, "no request within the header timeout");
                            return;
                        }
                    }
                    let conn = builders
                        .sniff
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("no longer accepting connections; draining in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// Drives a connection; drops it (closing the socket) if no request arrived within the header
/// timeout, so silent sockets cannot hold connection slots.
async fn serve_watched<E: std::fmt::Display>(
    conn: impl Future<Output = Result<(), E>>,
    seen: &AtomicBool,
    peer: SocketAddr,
    header_timeout: Duration,
) {
    tokio::pin!(conn);
    let first_request = tokio::time::sleep(header_timeout);
    tokio::pin!(first_request);
    let outcome = tokio::select! {
        r = &mut conn => Some(r),
        _ = &mut first_request => None,
    };
    let outcome = match outcome {
        Some(r) => r,
        None if !seen.load(Ordering::Relaxed) => {
            tracing::debug!(%peer, "no request within the header timeout; closing");
            return;
        }
        None => conn.await,
    };
    if let Err(e) = outcome {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Waits for a connection slot, then for the next connection; `None` once `shutdown` completes
/// or the slots are closed. Shared by the SCIM and the metrics listeners.
pub(super) async fn accept_next<S: Future + Unpin>(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    shutdown: &mut S,
    failed: &str,
) -> Option<(OwnedSemaphorePermit, TcpStream, SocketAddr)> {
    let permit = tokio::select! {
        _ = &mut *shutdown => return None,
        p = permits.clone().acquire_owned() => p.ok()?,
    };
    loop {
        tokio::select! {
            _ = &mut *shutdown => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => return Some((permit, stream, peer)),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "{failed}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}
