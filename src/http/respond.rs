//! Building responses: SCIM JSON bodies, errors, and the headers every response carries.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::scim::ScimError;

pub type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A body fed chunk by chunk from a channel (a large group's member list). When the writer
/// stops early the body simply ends; the status line has long been sent by then.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed `application/scim+json` 200 response.
pub fn json_stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut resp = Response::new(ChannelBody(rx).boxed());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

pub const SCIM_JSON: &str = "application/scim+json";

/// A JSON response with `Content-Type: application/scim+json` (Entra requires it on every response).
pub fn json(status: u16, body: &Value) -> Response<Body> {
    // A User is 0.5–1 KiB of JSON: starting there saves serde_json's doubling from 128 bytes.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    json_bytes(status, bytes)
}

/// [`json`] for a body already serialized (`scim::raw`).
pub fn json_bytes(status: u16, bytes: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// A SCIM Error response. 401 carries `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub fn error(e: &ScimError) -> Response<Body> {
    let mut resp = json(e.status, &e.to_json());
    if e.status == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scimd\""),
        );
    }
    // Held and throttled requests say when to retry, so clients that honour it (Okta,
    // Keycloak) come back instead of giving up.
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `ETag` from `meta.version` (RFC 7644 §3.14), when the resource has one.
pub fn with_etag(mut resp: Response<Body>, version: Option<&str>) -> Response<Body> {
    if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// 304: the client's copy (`If-None-Match`) is current.
pub fn not_modified(version: Option<&str>) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    with_etag(resp, version)
}

pub fn with_location(mut resp: Response<Body>, location: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// 405 with the methods that do work on this endpoint.
pub fn method_not_allowed(
    method: &http::Method,
    path: &str,
    allow: &'static str,
) -> Response<Body> {
    let mut resp = error(&ScimError::new(
        405,
        None,
        format!("{method} is not supported on {path}; use {allow}"),
    ));
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}
