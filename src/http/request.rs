//! Reading requests: body size limit, media types, JSON, and query parameters.

use bytes::Bytes;
use http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::scim::ScimError;

/// Largest accepted request body, except on /Bulk (`scim::bulk::MAX_PAYLOAD_BYTES`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A body has this long to arrive in full: a client trickling bytes cannot hold a request open.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] with 413.
pub async fn read_body(body: Incoming) -> Result<Bytes, ScimError> {
    read_body_within(body, MAX_BODY_BYTES).await
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body_within(body: Incoming, limit: usize) -> Result<Bytes, ScimError> {
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, limit).collect());
    let Ok(outcome) = read.await else {
        return Err(ScimError::new(
            408,
            None,
            format!(
                "the request body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
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
                format!("the request body is larger than {limit} bytes"),
            ))
        }
        Err(e) => Err(ScimError::new(
            400,
            None,
            format!("the request body could not be read: {e}"),
        )),
    }
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
