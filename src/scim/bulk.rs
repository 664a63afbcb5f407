//! The Bulk request (RFC 7644 §3.7): reading a BulkRequest, the `bulkId:` references between its
//! operations, and the BulkResponse. The order operations run in lives in `bulk/order.rs`.

mod order;

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::ResourceKind;
use super::value::truncate;

pub use order::{plan, Step};

pub const URN_BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const URN_BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Operations one BulkRequest may carry (published as `bulk.maxOperations`). Each operation is
/// its own durable commit, so this bounds how long one request holds its connection.
pub const MAX_OPERATIONS: usize = 1000;

/// Largest BulkRequest body (published as `bulk.maxPayloadSize`), above the 1 MiB of a single
/// request: a bulk carries many resources.
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// RFC 7644 §3.7.2 spells the reference prefix exactly so; a value that merely resembles it
/// (another case) stays data.
const REF_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    fn parse(s: &str) -> Option<Method> {
        [Method::Post, Method::Put, Method::Patch, Method::Delete]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The status a success reports. PATCH is 200 even on a group, whose own endpoint answers
    /// 204: the RFC §3.7.3 example reports 200, and a bulk result carries no body either way.
    pub fn success_status(self) -> u16 {
        match self {
            Method::Post => 201,
            Method::Put | Method::Patch => 200,
            Method::Delete => 204,
        }
    }
}

/// A well-formed operation, ready to run once its references are resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub method: Method,
    pub kind: ResourceKind,
    /// The resource of a PUT, PATCH or DELETE; may be a `bulkId:` reference until resolved.
    pub id: Option<String>,
    /// `If-Match` for this operation (RFC 7644 §3.7: "version").
    pub version: Option<String>,
    /// The body of the equivalent single request; `Null` for DELETE.
    pub data: Value,
    /// The bulkIds referenced in `id` and `data`, each once, in the order first seen.
    pub refs: Vec<String>,
}

/// One entry of `Operations`. What the response echoes is kept even when the entry is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// As the client sent it (canonical case when it is a known method).
    pub method: Option<String>,
    pub bulk_id: Option<String>,
    pub action: Result<Action, ScimError>,
}

impl Operation {
    /// The bulkId a POST declares: only these can be referenced, since only a POST creates an id.
    pub fn declared_post_id(&self) -> Option<&str> {
        match self.method.as_deref() {
            Some("POST") => self.bulk_id.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many failed operations (RFC 7644 §3.7); `None`: run them all.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<Operation>,
}

fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

impl BulkRequest {
    /// Reads a BulkRequest. A malformed body, too many operations or a bulkId used twice
    /// refuse the whole request; a malformed operation is refused alone, in its result.
    pub fn parse(body: &Value) -> Result<BulkRequest, ScimError> {
        let Value::Object(o) = body else {
            return Err(ScimError::invalid_syntax(format!(
                "a /Bulk body is a JSON object with \"schemas\": [\"{URN_BULK_REQUEST}\"] and \"Operations\""
            )));
        };
        check_schemas(o)?;
        let Some(Value::Array(ops)) = field(o, "Operations") else {
            return Err(ScimError::invalid_syntax(
                "the BulkRequest has no \"Operations\" array",
            ));
        };
        if ops.len() > MAX_OPERATIONS {
            // RFC 7644 §3.7.4: over maxOperations is 413, and the detail names the limit.
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "the BulkRequest has {} operations; maxOperations is {MAX_OPERATIONS} (see /ServiceProviderConfig): split it into several requests",
                    ops.len()
                ),
            ));
        }
        let fail_on_errors = fail_on_errors(o)?;
        let operations: Vec<Operation> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| read_operation(i, op))
            .collect();
        check_unique_bulk_ids(&operations)?;
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }
}

/// Another message (a User, a PatchOp) posted to /Bulk by mistake is refused, not half-read;
/// a body without `schemas` is read by its `Operations`, as PATCH bodies are.
fn check_schemas(o: &Map<String, Value>) -> Result<(), ScimError> {
    let Some(schemas) = field(o, "schemas") else {
        return Ok(());
    };
    let listed = match schemas {
        Value::Array(items) => items.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(URN_BULK_REQUEST))
        }),
        Value::String(s) => s.eq_ignore_ascii_case(URN_BULK_REQUEST),
        _ => false,
    };
    if listed {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!(
            "\"schemas\" must be [\"{URN_BULK_REQUEST}\"]; got {}",
            truncate(&schemas.to_string(), 200)
        )))
    }
}

fn fail_on_errors(o: &Map<String, Value>) -> Result<Option<usize>, ScimError> {
    let Some(v) = field(o, "failOnErrors") else {
        return Ok(None);
    };
    v.as_u64()
        .filter(|n| *n >= 1)
        .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "\"failOnErrors\" must be a positive integer (how many failed operations end the request); got {}",
                truncate(&v.to_string(), 80)
            ))
        })
}

fn check_unique_bulk_ids(ops: &[Operation]) -> Result<(), ScimError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(id) = op.bulk_id.as_deref() {
            if let Some(first) = seen.insert(id, i) {
                return Err(ScimError::invalid_value(format!(
                    "bulkId \"{}\" is used by Operations[{first}] and Operations[{i}]; a bulkId must be unique within a request",
                    truncate(id, 80)
                )));
            }
        }
    }
    Ok(())
}

fn read_operation(i: usize, op: &Value) -> Operation {
    let Value::Object(o) = op else {
        return Operation {
            method: None,
            bulk_id: None,
            action: Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] must be an object with \"method\", \"path\" and (except for DELETE) \"data\""
            ))),
        };
    };
    let sent_method = field(o, "method").and_then(Value::as_str);
    let method = sent_method.and_then(Method::parse);
    let bulk_id = field(o, "bulkId")
        .and_then(Value::as_str)
        .map(str::to_string);
    Operation {
        method: method
            .map(|m| m.as_str().to_string())
            .or_else(|| sent_method.map(str::to_string)),
        bulk_id,
        action: read_action(i, o, method),
    }
}

fn read_action(
    i: usize,
    o: &Map<String, Value>,
    method: Option<Method>,
) -> Result<Action, ScimError> {
    let Some(method) = method else {
        return Err(match field(o, "method") {
            None => ScimError::invalid_syntax(format!(
                "Operations[{i}] has no \"method\"; use POST, PUT, PATCH or DELETE"
            )),
            Some(m) => ScimError::invalid_value(format!(
                "Operations[{i}].method {} is not one of POST, PUT, PATCH, DELETE",
                truncate(&m.to_string(), 40)
            )),
        });
    };
    match field(o, "bulkId") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None if method != Method::Post => {}
        None => {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}] is a POST without \"bulkId\": a POST needs one (RFC 7644 §3.7) so its result can be told apart"
            )))
        }
        Some(v) => {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}].bulkId must be a non-empty string; got {}",
                truncate(&v.to_string(), 80)
            )))
        }
    }
    let (kind, id) = read_path(i, o, method)?;
    let version = match field(o, "version") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}].version must be a string (an ETag such as W/\"3\"); got {}",
                truncate(&v.to_string(), 80)
            )))
        }
    };
    let data = match (method, field(o, "data")) {
        (Method::Delete, _) => Value::Null,
        (_, Some(d @ Value::Object(_))) => d.clone(),
        (_, None) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] ({}) has no \"data\": it carries the body of the request",
                method.as_str()
            )))
        }
        (_, Some(_)) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].data must be a JSON object: the body of the {} request",
                method.as_str()
            )))
        }
    };
    let mut refs = Vec::new();
    if let Some(r) = id.as_deref().and_then(reference) {
        refs.push(r.to_string());
    }
    collect_refs(&data, &mut refs);
    Ok(Action {
        method,
        kind,
        id,
        version,
        data,
        refs,
    })
}

/// `path` is relative to the service root and names an endpoint the way the router does:
/// resource names without case, empty segments ignored.
fn read_path(
    i: usize,
    o: &Map<String, Value>,
    method: Method,
) -> Result<(ResourceKind, Option<String>), ScimError> {
    let Some(Value::String(path)) = field(o, "path") else {
        return Err(ScimError::invalid_path(format!(
            "Operations[{i}] has no \"path\" string; use /Users or /Groups for POST, /Users/{{id}} or /Groups/{{id}} otherwise"
        )));
    };
    let shown = truncate(path, 120);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (kind, id) = match segments.as_slice() {
        [c] => (endpoint(c), None),
        [c, id] => (endpoint(c), Some((*id).to_string())),
        _ => (None, None),
    };
    let Some(kind) = kind else {
        return Err(ScimError::invalid_path(format!(
            "Operations[{i}].path \"{shown}\" is not /Users, /Groups, /Users/{{id}} or /Groups/{{id}}"
        )));
    };
    match (method, id) {
        (Method::Post, None) => Ok((kind, None)),
        (Method::Post, Some(_)) => Err(ScimError::invalid_path(format!(
            "Operations[{i}].path \"{shown}\": a POST goes to /{} (the collection), not to one resource",
            kind.endpoint()
        ))),
        (_, Some(id)) => Ok((kind, Some(id))),
        (m, None) => Err(ScimError::invalid_path(format!(
            "Operations[{i}].path \"{shown}\": a {} names one resource, /{}/{{id}}",
            m.as_str(),
            kind.endpoint()
        ))),
    }
}

fn endpoint(segment: &str) -> Option<ResourceKind> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.endpoint().eq_ignore_ascii_case(segment))
}

/// The bulkId a string refers to, when the whole string is a `bulkId:` reference.
fn reference(s: &str) -> Option<&str> {
    s.strip_prefix(REF_PREFIX)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(r) = reference(s) {
                if !out.iter().any(|x| x == r) {
                    out.push(r.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// The operation with every `bulkId:` reference replaced by the id its POST created.
/// `created` maps each bulkId whose POST succeeded to the new id; a reference to any other
/// bulkId fails with 409, as RFC 7644 §3.7.3's example does for a POST that failed.
pub fn resolve(
    action: &Action,
    created: &HashMap<String, String>,
) -> Result<(Option<String>, Value), ScimError> {
    if let Some(missing) = action.refs.iter().find(|r| !created.contains_key(*r)) {
        return Err(unresolved(missing));
    }
    let id = action.id.as_deref().map(|id| match reference(id) {
        Some(r) => created.get(r).cloned().unwrap_or_else(|| id.to_string()),
        None => id.to_string(),
    });
    Ok((id, substitute(&action.data, created)))
}

fn substitute(v: &Value, created: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => match reference(s).and_then(|r| created.get(r)) {
            Some(id) => Value::String(id.clone()),
            None => v.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|x| substitute(x, created)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, created)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// 409 with `invalidValue`: the status and scimType RFC 7644 §3.7.3 shows for a reference
/// whose POST did not create anything.
pub fn conflict(detail: impl Into<String>) -> ScimError {
    ScimError::new(409, Some(super::ScimType::InvalidValue), detail)
}

fn unresolved(bulk_id: &str) -> ScimError {
    conflict(format!(
        "bulkId \"{}\" names no created resource: the POST that declares it failed, so this operation cannot refer to it",
        truncate(bulk_id, 80)
    ))
}

/// The result of one operation, as the BulkResponse reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpResult {
    pub method: Option<String>,
    pub bulk_id: Option<String>,
    pub location: Option<String>,
    pub version: Option<String>,
    /// `Ok(status)` of a success, or the refusal, reported with its SCIM Error body.
    pub outcome: Result<u16, ScimError>,
}

/// The BulkResponse. Successes carry no resource (RFC 7644 §3.7.3 lets the server omit it):
/// `location` and `version` tell the client what it needs, and the reply stays small.
pub fn response(results: &[OpResult]) -> Value {
    let ops: Vec<Value> = results.iter().map(result_json).collect();
    json!({"schemas": [URN_BULK_RESPONSE], "Operations": ops})
}

fn result_json(r: &OpResult) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<&String>| {
        if let Some(v) = v {
            o.insert(k.into(), Value::String(v.clone()));
        }
    };
    put("method", r.method.as_ref());
    put("bulkId", r.bulk_id.as_ref());
    put("version", r.version.as_ref());
    put("location", r.location.as_ref());
    match &r.outcome {
        Ok(status) => {
            // A string, as in the RFC §3.7.3 examples and the SCIM Error body.
            o.insert("status".into(), Value::String(status.to_string()));
        }
        Err(e) => {
            o.insert("status".into(), Value::String(e.status.to_string()));
            o.insert("response".into(), e.to_json());
        }
    }
    Value::Object(o)
}

#[cfg(test)]
#[path = "tests/bulk.rs"]
mod tests;
