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

/// Per-connection state that lives outside the SCIM app: who may forward client addresses
/// (swapped by a reload) and the readiness probe's gate.
pub struct Edge {
    pub proxies: Arc<ArcSwap<TrustedProxies>>,
    pub probe: Probe,
}

/// A client has this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// And this long to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// In-flight requests get this long to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections beyond this wait in the kernel's accept queue instead of exhausting memory.
const MAX_CONNECTIONS: usize = 4096;

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
    fn new() -> Builders {
        let configure = |mut b: Builder<TokioExecutor>| {
            b.http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true);
            // h2 caps header lists at 16 KiB by default and answers a bare 431; a long filter
            // in the URL should reach the router and get a SCIM error, as over HTTP/1.1.
            b.http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(256)
                .max_header_list_size(64 * 1024)
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
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    edge: Arc<Edge>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let builders = Arc::new(Builders::new());
    tokio::pin!(shutdown);
    while let Some((permit, stream, peer)) =
        accept_next(&listener, &permits, &mut shutdown, "accept failed").await
    {
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
                        HANDSHAKE_TIMEOUT,
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
                    serve_watched(watcher.watch(conn.into_owned()), &seen, peer).await;
                }
                None => {
                    // Plain HTTP (behind a gateway) may be h1 or h2 with prior knowledge; the
                    // sniff waits for the first bytes, so bound that wait first.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await {
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
) {
    tokio::pin!(conn);
    let first_request = tokio::time::sleep(HEADER_READ_TIMEOUT);
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
