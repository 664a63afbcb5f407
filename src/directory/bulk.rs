//! POST /Bulk: the operations of a BulkRequest, each through the same checks and the same
//! in-transaction write as its single-resource endpoint. The whole request is one job for the
//! store's writer: its operations run in order in one transaction and commit together, so a
//! thousand-operation request costs one fsync rather than a thousand. A refused operation
//! writes nothing, so the others still commit (RFC 7644 §3.7 bulk is not atomic, and this is
//! no less than that); the operations after it still run unless `failOnErrors` is reached.

use std::collections::HashMap;

use serde_json::Value;

use super::deprovision::Pending;
use super::{from_store, Actor, DirError, Directory};
use crate::scim::bulk::{self, Action, BulkRequest, Method, OpResult, Step};
use crate::scim::resource::meta_str;
use crate::scim::ScimError;
use crate::store::{Ended, WriteTx};

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

/// What each operation owes the deprovisioning guard, and whether it succeeded.
type Owed = Vec<(Pending, bool)>;

impl Directory {
    /// Runs the request and returns its BulkResponse. Results are listed in request order and
    /// only for the operations that ran: after `failOnErrors` failures the rest is not touched.
    /// An error means nothing of the request was stored (the transaction did not commit).
    pub fn bulk(&self, req: BulkRequest, actor: &Actor) -> Result<Value, ScimError> {
        let (me, actor) = (self.clone(), actor.clone());
        let ended = self.store.write_ended(move |tx| {
            let mut owed = Owed::new();
            match me.bulk_in(tx, &req, &actor, &mut owed) {
                Ok(results) => Ok((results, owed)),
                Err(e) => Err((e, owed)),
            }
        });
        match ended {
            Ended::Committed((results, owed)) => {
                for (pending, ok) in owed {
                    self.guard_settle(pending, ok);
                }
                Ok(bulk::response(&results))
            }
            Ended::Refused((e, owed)) => {
                for (pending, _) in owed {
                    self.guard_settle(pending, false);
                }
                Err(e.0)
            }
            Ended::Failed { value, error } => {
                for (pending, _) in value.map(|(_, owed)| owed).unwrap_or_default() {
                    self.guard_settle(pending, false);
                }
                Err(from_store(error))
            }
        }
    }

    /// The operations, in the writer's transaction.
    fn bulk_in(
        &self,
        tx: &mut WriteTx<'_>,
        req: &BulkRequest,
        actor: &Actor,
        owed: &mut Owed,
    ) -> Result<Vec<OpResult>, DirError> {
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
                    Some(Ok(action)) => (i, self.run(tx, action, &created, actor, owed)?),
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
        Ok(results.into_iter().map(|(_, r)| r).collect())
    }

    /// One operation. `Err` only when it refused after writing, which would leave half of it
    /// in the transaction: the writer then aborts the whole request.
    fn run(
        &self,
        tx: &mut WriteTx<'_>,
        action: &Action,
        created: &HashMap<String, String>,
        actor: &Actor,
        owed: &mut Owed,
    ) -> Result<Ran, DirError> {
        let (id, data) = match bulk::resolve(action, created) {
            Ok(resolved) => resolved,
            Err(e) => return Ok(Ran::refused(e)),
        };
        let kind = action.kind;
        let if_match = action.version.as_deref();
        let planned = match (action.method, id.as_deref()) {
            (Method::Post, _) => self.plan_create(kind, &data, actor),
            (Method::Put, Some(id)) => self.plan_replace(kind, id, &data, if_match, actor),
            (Method::Patch, Some(id)) => self.plan_patch(kind, id, &data, if_match, actor),
            (Method::Delete, Some(id)) => Ok(self.plan_delete(kind, id, if_match, actor)),
            // The parser gives every PUT, PATCH and DELETE an id; never a panic if not.
            (_, None) => Err(ScimError::invalid_path("the operation names no resource")),
        };
        let before = tx.writes();
        let mut pending = Pending::default();
        let stored = planned.and_then(|apply| apply(tx, &mut pending).map_err(|e| e.0));
        owed.push((pending, stored.is_ok()));
        if stored.is_err() && tx.writes() != before {
            return Err(DirError(ScimError::internal(
                "a bulk operation refused after it had begun writing; nothing of this request was stored",
            )));
        }
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
        Ok(Ran {
            location: target.map(|id| self.location(kind, &id)),
            version: stored
                .as_ref()
                .ok()
                .and_then(|doc| meta_str(doc, "version"))
                .map(str::to_string),
            outcome: stored.map(|_| action.method.success_status()),
            created: stored_id.filter(|_| action.method == Method::Post),
        })
    }
}
