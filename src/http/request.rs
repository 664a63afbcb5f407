//! Reading requests: body size limit, media types, JSON, and query parameters.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::scim::ScimError;

/// Largest accepted request body, except on /Bulk (`scim::bulk::MAX_PAYLOAD_BYTES`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body has this long to arrive in full, unless `[limits] body_read_timeout` says otherwise.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a body is read, and for how long (`[limits] max_body_bytes`, `body_read_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: usize,
    pub timeout: Duration,
}

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit {
            bytes: MAX_BODY_BYTES,
            timeout: BODY_READ_TIMEOUT,
        }
    }
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read_body(body: Incoming) -> Result<Bytes, ScimError> {
    read_body_limited(body, BodyLimit::default()).await
}

/// Reads the whole body within `limit`: more bytes is 413, a body still arriving after the
/// timeout is 408 (a client trickling bytes cannot hold a request open).
pub async fn read_body_limited(body: Incoming, limit: BodyLimit) -> Result<Bytes, ScimError> {
    let BodyLimit {
        bytes: limit,
        timeout,
    } = limit;
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    let Ok(outcome) = read.await else {
        return Err(ScimError::new(
            408,
            None,
            format!(
                "the request body did not arrive within {} s (body_read_timeout)",
                timeout.as_secs_f64()
            ),
        ));
    };
    match outcome {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ScimError::new(
                413,
                None,
                format!("the request body is larger than {limit} bytes (max_body_bytes)"),
            ))
        }
        Err(e) => Err(ScimError::new(
            400,
            None,
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// Refuses a request head over `[limits] max_header_bytes` or `max_headers` with a SCIM 431.
/// Its size is the request target plus each header line (name, value, and 4 bytes for `: `
/// and CRLF), close to what HTTP/1.1 puts on the wire; hyper's own caps sit above these (see
/// `server.rs`), so a head between the two gets this error rather than a bare 431.
pub fn check_head(
    uri: &http::Uri,
    headers: &HeaderMap,
    max_bytes: usize,
    max_headers: usize,
) -> Result<(), ScimError> {
    let count = headers.len();
    if count > max_headers {
        return Err(ScimError::new(
            431,
            None,
            format!("the request has {count} headers; the limit is {max_headers} (max_headers)"),
        ));
    }
    let target = uri
        .path_and_query()
        .map_or(uri.path().len(), |p| p.as_str().len());
    let size = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .fold(target, usize::saturating_add);
    if size > max_bytes {
        return Err(ScimError::new(
            431,
            None,
            format!(
                "the request line and headers are {size} bytes; the limit is {max_bytes} \
                 (max_header_bytes): shorten the URL (a long filter belongs in POST /.search) \
                 or the headers"
            ),
        ));
    }
    Ok(())
}

/// Accepts `application/scim+json` and `application/json` (any parameters, e.g. charset),
/// any `+json` type, and a missing Content-Type; refuses the rest with 415.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ScimError::new(
        415,
        None,
        format!(
            "Content-Type \"{ct}\" is not accepted; send application/scim+json or application/json"
        ),
    ))
}

/// Parses a JSON body; the detail says where the JSON breaks.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object was expected",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// Query parameters, decoded (`+` and `%20` are spaces), names matched case-insensitively.
/// Unknown parameters (Entra's `aadOptscim062020` flag) are ignored.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter; a non-number is a 400 that names the parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ScimError> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ScimError::invalid_value(format!(
                    "query parameter {name}=\"{v}\" must be an integer"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_plus_and_percent_and_ignores_case() {
        let q = Query::parse(Some(
            "filter=userName+eq+%22a%20b%22&StartIndex=2&&count=x&",
        ));
        assert_eq!(q.get("filter"), Some("userName eq \"a b\""));
        assert_eq!(q.int("startIndex").unwrap(), Some(2));
        assert!(q.int("count").is_err());
        assert_eq!(q.get("aadOptscim062020"), None);
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        for ok in [
            "application/scim+json",
            "application/json; charset=utf-8",
            "Application/SCIM+JSON;charset=UTF-8",
        ] {
            h.insert(header::CONTENT_TYPE, ok.parse().unwrap());
            assert!(check_content_type(&h).is_ok(), "{ok}");
        }
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(check_content_type(&h).unwrap_err().status, 415);
    }
}
