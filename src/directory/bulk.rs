//! POST /Bulk: the operations of a BulkRequest, each through the same write as its
//! single-resource endpoint, so validation and durability are identical. Each success is its
//! own commit (RFC 7644 §3.7 bulk is not atomic); a failure leaves the store as that operation
//! found it, and the operations after it still run unless `failOnErrors` is reached.

use std::collections::HashMap;

use serde_json::Value;

use super::{Actor, Directory};
use crate::scim::bulk::{self, Action, BulkRequest, Method, OpResult, Step};
use crate::scim::resource::meta_str;
use crate::scim::ScimError;

/// What one operation did, before it is paired with what the client sent.
struct Ran {
    location: Option<String>,
    version: Option<String>,
    outcome: Result<u16, ScimError>,
    /// The id a successful POST created, for the references to its bulkId.
    created: Option<String>,
}

impl Ran {
    fn refused(e: ScimError) -> Ran {
        Ran {
            location: None,
            version: None,
            outcome: Err(e),
            created: None,
        }
    }
}

impl Directory {
    /// Runs the request and returns its BulkResponse. Results are listed in request order and
    /// only for the operations that ran: after `failOnErrors` failures the rest is not touched.
    pub fn bulk(&self, req: &BulkRequest, actor: &Actor) -> Value {
        let mut created: HashMap<String, String> = HashMap::new();
        let mut results: Vec<(usize, OpResult)> = Vec::new();
        let mut failures = 0;
        for step in bulk::plan(&req.operations) {
            if req.fail_on_errors.is_some_and(|max| failures >= max) {
                break;
            }
            let (i, ran) = match step {
                Step::Refuse(i, e) => (i, Ran::refused(e)),
                Step::Run(i) => match req.operations.get(i).map(|op| &op.action) {
                    Some(Ok(action)) => (i, self.run(action, &created, actor)),
                    // The plan runs only well-formed operations; a refusal covers any other case.
                    Some(Err(e)) => (i, Ran::refused(e.clone())),
                    None => continue,
                },
            };
            let Some(op) = req.operations.get(i) else {
                continue;
            };
            if ran.outcome.is_err() {
                failures += 1;
            }
            if let (Some(bulk_id), Some(id)) = (op.declared_post_id(), ran.created) {
                created.insert(bulk_id.to_string(), id);
            }
            results.push((
                i,
                OpResult {
                    method: op.method.clone(),
                    bulk_id: op.bulk_id.clone(),
                    location: ran.location,
                    version: ran.version,
                    outcome: ran.outcome,
                },
            ));
        }
        results.sort_by_key(|(i, _)| *i);
        let results: Vec<OpResult> = results.into_iter().map(|(_, r)| r).collect();
        bulk::response(&results)
    }

    fn run(&self, action: &Action, created: &HashMap<String, String>, actor: &Actor) -> Ran {
        let (id, data) = match bulk::resolve(action, created) {
            Ok(resolved) => resolved,
            Err(e) => return Ran::refused(e),
        };
        let kind = action.kind;
        let if_match = action.version.as_deref();
        let stored = match (action.method, id.as_deref()) {
            (Method::Post, _) => self.create_stored(kind, &data, actor),
            (Method::Put, Some(id)) => self.replace_stored(kind, id, &data, if_match, actor),
            (Method::Patch, Some(id)) => self.patch_stored(kind, id, &data, if_match, actor),
            (Method::Delete, Some(id)) => {
                self.delete(kind, id, if_match, actor).map(|()| Value::Null)
            }
            // The parser gives every PUT, PATCH and DELETE an id; never a panic if not.
            (_, None) => Err(ScimError::invalid_path("the operation names no resource")),
        };
        let stored_id = stored
            .as_ref()
            .ok()
            .and_then(|doc| doc.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        // A failed POST has no location (RFC 7644 §3.7.3); any other operation names its target.
        let target = match action.method {
            Method::Post => stored_id.clone(),
            _ => id,
        };
        Ran {
            location: target.map(|id| self.location(kind, &id)),
            version: stored
                .as_ref()
                .ok()
                .and_then(|doc| meta_str(doc, "version"))
                .map(str::to_string),
            outcome: stored.map(|_| action.method.success_status()),
            created: stored_id.filter(|_| action.method == Method::Post),
        }
    }
}
