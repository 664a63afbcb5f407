//! `POST /Bulk` (RFC 7644 §3.7): a larger body limit than other requests, then the directory.

use std::sync::Arc;

use http::request::Parts;
use http::Response;
use hyper::body::Incoming;

use super::request::{check_content_type, parse_json, read_body_limited, BodyLimit};
use super::respond::{self, Body};
use super::router::blocking;
use crate::directory::{Actor, Directory};
use crate::scim::bulk::BulkRequest;
use crate::scim::ScimError;

/// Reads and runs a BulkRequest. The reply is 200 whatever the operations did: each result
/// carries its own status (RFC 7644 §3.7.3); only a request refused as a whole is an error.
pub(super) async fn post(
    dir: Arc<Directory>,
    parts: &Parts,
    body: &mut Option<Incoming>,
    actor: Actor,
    limit: BodyLimit,
    charge_operations: impl FnOnce(usize),
) -> Result<Response<Body>, ScimError> {
    let incoming = body
        .take()
        .ok_or_else(|| ScimError::internal("the request body was already read"))?;
    let max = limit.bytes;
    let bytes = read_body_limited(incoming, limit)
        .await
        .map_err(|e| match e.status {
            // RFC 7644 §3.7.4: the detail names maxPayloadSize, the limit the client can read.
            413 => ScimError::new(
                413,
                None,
                format!(
                    "the BulkRequest is larger than maxPayloadSize ({max} bytes, see /ServiceProviderConfig): split it into several requests"
                ),
            ),
            _ => e,
        })?;
    check_content_type(&parts.headers)?;
    let req = BulkRequest::parse(&parse_json(&bytes)?)?;
    charge_operations(req.operations.len());
    let reply = blocking(move || dir.bulk(req, &actor)).await?;
    Ok(respond::json(200, &reply))
}
