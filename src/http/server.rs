//! The listener: accept loop, TLS handshake, HTTP/1.1 + h2 on one port, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use arc_swap::ArcSwap;

use super::client_ip::{client_ip, ClientIp, TrustedProxies};
use super::health::{self, Probe};
use super::respond::Body;
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
/// A connection idle for `idle_timeout` gets this long to finish its graceful shutdown.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The idle watchdog looks every `idle_timeout / 4`, but not more often than this.
const MIN_IDLE_TICK: Duration = Duration::from_millis(250);
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
    let idle_timeout = limits.idle_timeout;
    // The server's shutdown, seen by every connection; and a channel whose senders are the live
    // connections, so the drain ends when the last one drops its clone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (live_tx, mut live_rx) = mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let builders = Arc::new(Builders::new(&limits));
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        if permits.available_permits() == 0 {
            // Once a minute at most: a slowloris attack must not also flood the logs.
            let now = Instant::now();
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
        let live = live_tx.clone();
        let mut stop = stop_rx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Held until the connection is gone: the drain waits for every clone to drop.
            let _live = live;
            let activity = Arc::new(Activity::new());
            let in_service = activity.clone();
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let handling = in_service.begin();
                // Decided per request: the forwarding headers are per request, and a reload may
                // change the trusted proxies between two requests of one connection.
                let ip = client_ip(peer.ip(), req.headers(), &edge.proxies.load());
                req.extensions_mut().insert(ClientIp(ip));
                let app = app.clone();
                let edge = edge.clone();
                let activity = in_service.clone();
                async move {
                    let resp = match health::respond(&app.dir, &edge.probe, &req).await {
                        Some(resp) => resp,
                        None => handle(app, req).await?,
                    };
                    drop(handling);
                    Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, activity }))
                }
            });
            let watch = Watch {
                activity: &activity,
                peer,
                header_timeout,
                idle_timeout,
            };
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
                    // ALPN already says which protocol follows, so no sniffing is needed.
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = if h2 { &builders.h2 } else { &builders.h1 };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    watch
                        .serve(conn, |c| c.graceful_shutdown(), &mut stop)
                        .await;
                }
                None => {
                    // Plain HTTP (behind a gateway) may be h1 or h2 with prior knowledge. The
                    // sniff reads up to the 24-byte h2 preface with no timeout of its own; the
                    // watch's first-request deadline bounds it like any silent connection.
                    let conn = builders
                        .sniff
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    watch
                        .serve(conn, |c| c.graceful_shutdown(), &mut stop)
                        .await;
                }
            }
        });
    }
    drop(listener);
    tracing::info!("no longer accepting connections; draining in-flight requests");
    let _ = stop_tx.send(true);
    drop(live_tx);
    if tokio::time::timeout(DRAIN_TIMEOUT, live_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing them");
    }
}

/// What a connection has been doing, as the idle watchdog needs to know it: how many requests
/// are in the service (never idle), and when anything last happened (a request began or was
/// answered, a response body frame was sent).
struct Activity {
    opened: Instant,
    seen: AtomicBool,
    handling: AtomicUsize,
    /// Milliseconds after `opened`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            seen: AtomicBool::new(false),
            handling: AtomicUsize::new(0),
            last: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Handling {
        self.seen.store(true, Ordering::Relaxed);
        self.handling.fetch_add(1, Ordering::Relaxed);
        self.touch();
        Handling(self.clone())
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long nothing has happened, or `None` while a request is in the service.
    fn idle_for(&self) -> Option<Duration> {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.opened + Duration::from_millis(self.last.load(Ordering::Relaxed));
        Some(last.elapsed())
    }
}

/// One request in the service; dropped when its response is ready or the request is abandoned
/// (an h2 stream reset drops the service future).
struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that counts as activity while it is being sent. A client that stops reading
/// (h2 flow control, a full TCP window) stops the frames, so a stalled response goes idle too
/// rather than pinning the connection open.
struct Tracked {
    inner: Body,
    activity: Arc<Activity>,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if polled.is_ready() {
            self.activity.touch();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.touch();
    }
}

/// The limits one connection is held to while it is served.
struct Watch<'a> {
    activity: &'a Activity,
    peer: SocketAddr,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Watch<'_> {
    /// Drives a connection until it ends, closing it when it breaks a promise: no request within
    /// the header timeout (silent sockets, a stalled TLS-less sniff or h2 preface) drops it at
    /// once; idle for `idle_timeout` with no request in the service starts a graceful shutdown
    /// (h2 GOAWAY, h1 close), and a connection still open `IDLE_CLOSE_GRACE` later is dropped.
    /// The server's own shutdown starts a graceful shutdown too, then waits as long as the
    /// server's drain does. hyper's h1 timer covers idle h1, but h2 keep-alive pings are
    /// answered by any live peer, so without this an h2 connection would hold its slot forever.
    async fn serve<C, E>(
        &self,
        mut conn: Pin<&mut C>,
        shutdown: impl Fn(Pin<&mut C>),
        stop: &mut watch::Receiver<bool>,
    ) where
        C: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let peer = self.peer;
        let first_request = tokio::time::sleep(self.header_timeout);
        tokio::pin!(first_request);
        let mut first_pending = true;
        let mut tick = tokio::time::interval((self.idle_timeout / 4).max(MIN_IDLE_TICK));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let give_up = tokio::time::sleep(Duration::MAX);
        tokio::pin!(give_up);
        let mut closing = false;
        let mut stopping = false;
        let outcome = loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = &mut first_request, if first_pending => {
                    first_pending = false;
                    if !self.activity.seen.load(Ordering::Relaxed) {
                        tracing::debug!(%peer, "no request within the header timeout; closing");
                        return;
                    }
                }
                _ = stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    if !closing {
                        closing = true;
                        shutdown(conn.as_mut());
                    }
                    // The server's drain bounds this now, not the idle grace.
                    give_up.as_mut().reset(tokio::time::Instant::now() + DRAIN_TIMEOUT * 2);
                }
                _ = tick.tick(), if !closing => {
                    let idle = self.activity.seen.load(Ordering::Relaxed)
                        && self.activity.idle_for().is_some_and(|d| d >= self.idle_timeout);
                    if idle {
                        tracing::debug!(%peer, "idle for idle_timeout; closing gracefully");
                        closing = true;
                        shutdown(conn.as_mut());
                        give_up
                            .as_mut()
                            .reset(tokio::time::Instant::now() + IDLE_CLOSE_GRACE);
                    }
                }
                _ = &mut give_up => {
                    tracing::debug!(%peer, "still open after a graceful shutdown; closing");
                    return;
                }
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
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
