//! The HTTP side: TLS (rustls), HTTP/1.1 and h2, authentication, routing, content types.
//! Turns requests into directory calls and results or `ScimError`s into responses.

mod access;
mod bulk;
pub mod client_ip;
mod health;
mod metrics;
mod oauth;
mod reload;
mod request;
mod respond;
mod router;
mod server;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use arc_swap::ArcSwap;

use crate::auth::{LiveTokens, TokenRegistry};
use crate::config::Config;
use crate::directory::Directory;
use crate::store::Store;

pub use reload::{on_reload_finished, on_reload_started, ConfigSource, ReloadReport};
pub use router::App;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot load the TLS certificate or key: {0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server (used by `serve` and by the integration tests).
pub struct Running {
    pub addr: SocketAddr,
    /// The public SCIM base URL.
    pub base_url: String,
    /// Where `/metrics` is served (`[metrics]`); `None` when it is not.
    pub metrics_addr: Option<SocketAddr>,
    /// Kept for the systemd watchdog's health check.
    store: Arc<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    metrics: Option<metrics::MetricsServer>,
    reloader: Arc<reload::Reloader>,
}

impl Running {
    /// Applies a new configuration to the running server (what SIGHUP does after reading the
    /// file): tokens, certificate and trusted proxies change for what comes next; open
    /// connections stay. On `Err` nothing changed. Logs the outcome either way.
    pub fn reload(&self, config: &Config) -> Result<ReloadReport, String> {
        let outcome = self.reloader.apply(config);
        reload::log_outcome(&outcome, self.reloader.app.tokens.current().len());
        outcome
    }

    /// Re-reads `source` and applies it; an unreadable or invalid file changes nothing.
    pub async fn reload_from(&self, source: &ConfigSource) -> Result<ReloadReport, String> {
        on_reload_started();
        tracing::info!("reload requested; reading the configuration");
        let source = source.clone();
        let loaded = tokio::task::spawn_blocking(move || source.load())
            .await
            .unwrap_or_else(|e| Err(format!("reading the configuration failed: {e}")));
        let outcome = match loaded {
            Ok(config) => self.reload(&config),
            Err(problem) => {
                let outcome = Err(problem);
                reload::log_outcome(&outcome, 0);
                outcome
            }
        };
        on_reload_finished();
        outcome
    }

    /// Stops accepting, drains in-flight requests, closes the store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
        if let Some(m) = self.metrics.take() {
            m.stop().await;
        }
    }

    /// Waits until the server stops on its own (it does not, unless stopped).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The SCIM base URL clients should use.
pub fn base_url(config: &Config, addr: SocketAddr) -> String {
    if let Some(u) = &config.server.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let host = match addr.ip() {
        ip if ip.is_unspecified() => hostname().unwrap_or_else(|| "localhost".into()),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    format!(
        "{scheme}://{host}:{}{}",
        addr.port(),
        config.server.base_path.trim_end_matches('/')
    )
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Opens the store, binds the listener and starts serving in the background.
pub async fn start(config: &Config) -> Result<Running, ServeError> {
    let (tls, cert) = match &config.tls {
        Some(t) => {
            let (server_config, live) = crate::tls::live_server_config(&t.cert, &t.key)
                .map_err(|e| ServeError::Tls(e.to_string()))?;
            (Some(TlsAcceptor::from(server_config)), Some(live))
        }
        None => (None, None),
    };
    let cache_bytes = crate::store::mib_to_bytes(config.storage.cache_mib);
    let store = Store::open_with(
        &config.storage.path,
        crate::store::Options {
            cache_bytes,
            write_queue: config.storage.write_queue,
        },
    )?;
    let metrics = crate::metrics::Metrics::new(config.tokens.iter().map(|t| t.name.as_str()));
    store.observe_batches(metrics.commit_observer());
    let store = Arc::new(store);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.server.listen,
        source,
    })?;
    let base_url = base_url(config, addr);
    if config.tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            listen = %addr,
            "serving plain HTTP on a non-loopback address: bearer tokens and directory data cross the network unencrypted. \
             Only do this behind a gateway that terminates TLS; otherwise add a [tls] table to the config"
        );
    }
    // Its own listener, bound before anything is spawned so a taken port fails the start.
    let metrics_server = match &config.metrics {
        Some(m) => Some(
            metrics::MetricsServer::start(m.listen, metrics.registry(Arc::downgrade(&store)))
                .await?,
        ),
        None => None,
    };
    let registry = crate::config::registry(&config.extensions);
    let mut dir = Directory::new(
        store.clone(),
        registry,
        &base_url,
        config.server.max_page_size,
    )
    .with_limits(crate::scim::limits::Limits {
        filter: crate::scim::filter::FilterLimits {
            max_length: config.limits.max_filter_length,
            max_depth: config.limits.max_filter_depth,
        },
        max_patch_operations: config.limits.max_patch_operations,
        max_members_per_request: config.limits.max_members_per_request,
    });
    if let Some(g) = &config.guard {
        let guard = crate::guard::live::Guard::open(g, &config.storage.path, metrics.guard());
        dir = dir.with_guard(Arc::new(guard));
    }
    let dir = Arc::new(dir);
    let base_path = config.server.base_path.trim_end_matches('/').to_string();
    let (retention_stop, stop_rx) = tokio::sync::watch::channel(false);
    let retention = tokio::spawn(audit_retention(
        dir.clone(),
        config.storage.audit_retention_days,
        stop_rx,
    ));
    let control = start_control(config, &dir, &retention_stop);
    let app = Arc::new(App {
        dir,
        tokens: LiveTokens::new(TokenRegistry::new(&config.tokens)),
        oauth: crate::oauth::OAuthIssuer::new(&config.oauth),
        base_path,
        streams: Arc::new(tokio::sync::Semaphore::new(router::MAX_GROUP_STREAMS)),
        metrics,
        throttle: crate::auth::throttle::FailureThrottle::new(config.auth.throttle),
        rates: crate::auth::rate::RateLimiter::new(),
        limits: config.limits.clone(),
    });
    let proxies = Arc::new(ArcSwap::from_pointee(client_ip::TrustedProxies::new(
        config.server.trusted_proxies.clone(),
    )));
    let edge = Arc::new(server::Edge {
        proxies: proxies.clone(),
        probe: health::Probe::new(),
    });
    let reloader = Arc::new(reload::Reloader {
        app: app.clone(),
        proxies,
        cert,
        started: config.clone(),
        applied: std::sync::Mutex::new(config.clone()),
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::run(listener, tls, app, edge, async move {
            let _ = rx.await;
        })
        .await;
        // The task holds the directory (and so the store): it must be gone before `stop`
        // returns, so the store is closed when the caller reopens it. A purge in progress
        // finishes first (it runs on a blocking thread, which an abort would not stop).
        let _ = retention_stop.send(true);
        let _ = retention.await;
        if let Some(c) = control {
            let _ = c.await;
        }
    });
    tracing::info!(%addr, base_url, tls = config.tls.is_some(), "scimd is listening");
    Ok(Running {
        addr,
        base_url,
        metrics_addr: metrics_server.as_ref().map(|m| m.addr),
        store,
        shutdown: Some(tx),
        task,
        metrics: metrics_server,
        reloader,
    })
}

/// With `[guard]`: the control socket `scimd guard` talks to, stopped with the server. A socket
/// that cannot be bound is logged; the server runs on, and the guard can still be released by
/// stopping it and removing its state file (see docs/GUARD.md).
fn start_control(
    config: &Config,
    dir: &Arc<Directory>,
    stop: &tokio::sync::watch::Sender<bool>,
) -> Option<JoinHandle<()>> {
    config.guard.as_ref()?;
    #[cfg(unix)]
    {
        let path = crate::guard::live::control_socket(&config.storage.path);
        match crate::control::bind(&path) {
            Ok(listener) => Some(tokio::spawn(crate::control::serve(
                listener,
                path,
                dir.clone(),
                stop.subscribe(),
            ))),
            Err(e) => {
                tracing::error!(error = %e, socket = %path.display(), "cannot listen on the guard's control socket; `scimd guard` will not reach this server");
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, stop);
        None
    }
}

/// Deletes audit entries past their retention at start and then daily. A failure is logged and
/// retried the next day: the log growing a little longer never stops provisioning.
async fn audit_retention(
    dir: Arc<Directory>,
    days: u32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if days == 0 {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || d.purge_audit(days)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(deleted = n, days, "audit entries past retention deleted"),
            Ok(Err(e)) => tracing::warn!(error = %e, "audit retention failed; retrying tomorrow"),
            Err(e) => tracing::warn!(error = %e, "audit retention task failed"),
        }
    }
}

/// Runs the server until SIGTERM or SIGINT, then drains and exits; SIGHUP reloads the
/// configuration from `source`. `on_ready` runs once the store is open and the listener is bound.
pub async fn serve(
    config: Config,
    source: ConfigSource,
    on_ready: impl FnOnce(),
) -> Result<(), ServeError> {
    // Before anything else: SIGHUP's default action ends the process, so a reload sent while
    // the store opens must already find the handler in place.
    let mut hangups = hangup_signals();
    let running = start(&config).await?;
    on_ready();
    crate::systemd::ready();
    // The watchdog pings only while a read transaction can begin on the blocking pool.
    let store = running.store.clone();
    let watchdog =
        crate::systemd::spawn_watchdog(move || store.read().map(drop).map_err(|e| e.to_string()));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = hangups.recv() => {
                // Refusals are logged inside; the server runs on with the old configuration.
                let _ = running.reload_from(&source).await;
            }
        }
    }
    tracing::info!("shutdown requested");
    crate::systemd::stopping();
    // The watchdog keeps pinging through the drain, then lets go of its handle on the store.
    running.stop().await;
    if let Some(w) = watchdog {
        w.abort();
        let _ = w.await;
    }
    tracing::info!("stopped; the store is closed");
    Ok(())
}

/// SIGHUP, one message per signal; a channel (rather than the `Signal` itself) so that the
/// non-Unix build compiles the same loop with a channel that never yields.
fn hangup_signals() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut s) => {
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    // A full channel means a reload is already pending: it will read the newest
                    // file, so this signal needs no reload of its own.
                    let _ = tx.try_send(());
                }
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload needs a restart");
            drop(tx);
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
