//! `GET /healthz` (the process answers) and `GET /readyz` (the store takes writes), for the
//! gateway and the service manager.
//!
//! Both sit at the root whatever `base_path` is, need no token (probes carry none, and they
//! reveal nothing but up or down), and are answered before the SCIM pipeline, so frequent probes
//! do not flood the request log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::Semaphore;

use super::respond::Body;
use crate::directory::Directory;

/// A readiness probe that cannot begin a write within this long reports the store as busy.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One write probe at a time: probes arrive unauthenticated, so many of them must not each
/// hold a blocking thread waiting for redb's single writer.
pub struct Probe(Arc<Semaphore>);

impl Probe {
    pub fn new() -> Probe {
        Probe(Arc::new(Semaphore::new(1)))
    }
}

/// The response for a health path, or `None` when `req` is for something else.
pub async fn respond<B>(
    dir: &Arc<Directory>,
    probe: &Probe,
    req: &Request<B>,
) -> Option<Response<Body>> {
    let ready = match req.uri().path() {
        "/healthz" => false,
        "/readyz" => true,
        _ => return None,
    };
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not supported here; use GET\n"),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(resp);
    }
    if !ready {
        return Some(text(StatusCode::OK, "ok\n".to_string()));
    }
    Some(match check_store(dir, probe).await {
        Ok(()) => text(StatusCode::OK, "ready\n".to_string()),
        Err(reason) => {
            tracing::warn!(reason, "readiness probe failed");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            )
        }
    })
}

async fn check_store(dir: &Arc<Directory>, probe: &Probe) -> Result<(), String> {
    let attempt = async {
        // The permit travels into the blocking closure: a probe that times out below still
        // holds it until its write attempt ends, so stuck probes cannot pile up threads.
        let permit = probe
            .0
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the server is shutting down".to_string())?;
        let dir = dir.clone();
        let probe_write = move || {
            let _permit = permit;
            dir.probe_write()
        };
        match tokio::task::spawn_blocking(probe_write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the store cannot take writes: {e}")),
            Err(_) => Err("the store check did not complete".to_string()),
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the store did not accept a write within {} s (busy or stuck)",
                PROBE_TIMEOUT.as_secs()
            ))
        })
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // A cached "ok" would hide an outage from the next probe.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
