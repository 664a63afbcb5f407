//! The HTTP side: TLS (rustls), HTTP/1.1 and h2, authentication, routing, content types.
//! Turns requests into directory calls and results or `ScimError`s into responses.

mod bulk;
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

use crate::auth::TokenRegistry;
use crate::config::Config;
use crate::directory::Directory;
use crate::store::Store;

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
    /// Kept for the systemd watchdog's health check.
    store: Arc<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, drains in-flight requests, closes the store.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
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
    let tls = match &config.tls {
        Some(t) => Some(TlsAcceptor::from(
            crate::tls::server_config(&t.cert, &t.key)
                .map_err(|e| ServeError::Tls(e.to_string()))?,
        )),
        None => None,
    };
    let store = Arc::new(Store::open(&config.storage.path)?);
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
    let registry = crate::config::registry(&config.extensions);
    let dir = Arc::new(Directory::new(
        store.clone(),
        registry,
        &base_url,
        config.server.max_page_size,
    ));
    let base_path = config.server.base_path.trim_end_matches('/').to_string();
    let app = Arc::new(App {
        dir,
        tokens: TokenRegistry::new(&config.tokens),
        base_path,
        streams: Arc::new(tokio::sync::Semaphore::new(router::MAX_GROUP_STREAMS)),
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, tls, app, async move {
        let _ = rx.await;
    }));
    tracing::info!(%addr, base_url, tls = config.tls.is_some(), "scimd is listening");
    Ok(Running {
        addr,
        base_url,
        store,
        shutdown: Some(tx),
        task,
    })
}

/// Runs the server until SIGTERM or SIGINT, then drains and exits. `on_ready` runs once the
/// store is open and the listener is bound.
pub async fn serve(config: Config, on_ready: impl FnOnce()) -> Result<(), ServeError> {
    let running = start(&config).await?;
    on_ready();
    crate::systemd::ready();
    // The watchdog pings only while a read transaction can begin on the blocking pool.
    let store = running.store.clone();
    let watchdog =
        crate::systemd::spawn_watchdog(move || store.read().map(drop).map_err(|e| e.to_string()));
    shutdown_signal().await;
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
