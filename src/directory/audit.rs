//! The audit log: one entry per stored change, written in the change's own transaction, so
//! the log holds exactly the changes that were acknowledged. Answers "who changed this user,
//! when, through which token".

use std::ops::Bound;

use serde_json::{json, Map, Value};

use super::{from_store, DirError, Directory};
use crate::scim::audit::changes;
use crate::scim::{ResourceKind, ScimError};
use crate::store::{audit_key, time_key, ReadTx, WriteTx};

/// At most this many member ids are listed per entry; the counts are always exact.
const MAX_LISTED_MEMBERS: usize = 100;
/// Retention deletes at most this many entries per transaction.
const PURGE_BATCH: usize = 10_000;

/// Who made a change: the token's name (never the token), the server's request id, and the
/// client's own request id when it sent one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actor {
    pub token: String,
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
}

impl Actor {
    /// Changes made by scimd's own commands (import), not through the API.
    pub fn local(what: &str) -> Actor {
        Actor {
            token: format!("local:{what}"),
            ..Actor::default()
        }
    }
}

/// The membership edges a write really changed (not what it asked for).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MemberDelta {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub added_count: u64,
    pub removed_count: u64,
}

impl MemberDelta {
    pub fn add(&mut self, id: &str) {
        self.added_count += 1;
        if self.added.len() < MAX_LISTED_MEMBERS {
            self.added.push(id.to_owned());
        }
    }
    pub fn remove(&mut self, id: &str) {
        self.removed_count += 1;
        if self.removed.len() < MAX_LISTED_MEMBERS {
            self.removed.push(id.to_owned());
        }
    }
    pub fn is_empty(&self) -> bool {
        self.added_count == 0 && self.removed_count == 0
    }
    fn to_json(&self) -> Value {
        json!({
            "added": self.added, "addedCount": self.added_count,
            "removed": self.removed, "removedCount": self.removed_count,
        })
    }
}

/// Which operation an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Replace,
    Patch,
    Delete,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Replace => "replace",
            Op::Patch => "patch",
            Op::Delete => "delete",
        }
    }
}

/// One change, as the writer describes it.
pub(crate) struct Change<'a> {
    pub op: Op,
    pub kind: ResourceKind,
    pub id: &'a str,
    pub old: Option<&'a Value>,
    pub new: Option<&'a Value>,
    /// What changed between `old` and `new`, when the caller computed it before the writer
    /// thread (a create); `None`: computed here.
    pub diff: Option<Map<String, Value>>,
    pub members: Option<&'a MemberDelta>,
    /// A deleted resource's groups: it left them with it.
    pub left_groups: Option<&'a [String]>,
}

/// A filter for [`Directory::audit`].
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only entries about this resource id.
    pub resource: Option<String>,
    /// Only entries made with this token name.
    pub token: Option<String>,
    /// RFC 3339; entries at or after it.
    pub since: Option<String>,
    /// RFC 3339; entries before it.
    pub until: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Directory {
    /// Appends the entry for `change` inside the writer's transaction.
    pub(crate) fn record(
        &self,
        tx: &mut WriteTx<'_>,
        actor: &Actor,
        change: Change<'_>,
    ) -> Result<(), DirError> {
        let time = super::write::now();
        let mut entry = Map::new();
        entry.insert("time".into(), json!(time));
        entry.insert("token".into(), json!(actor.token));
        if !actor.request_id.is_empty() {
            entry.insert("requestId".into(), json!(actor.request_id));
        }
        if let Some(c) = &actor.client_request_id {
            entry.insert("clientRequestId".into(), json!(c));
        }
        if let Some(ip) = &actor.client_ip {
            entry.insert("clientIp".into(), json!(ip));
        }
        entry.insert("operation".into(), json!(change.op.as_str()));
        entry.insert("resourceType".into(), json!(change.kind.name()));
        entry.insert("id".into(), json!(change.id));
        // A delete names what it removed, so the entry is readable without the resource.
        if change.op == Op::Delete {
            let name_attr = match change.kind {
                ResourceKind::User => "userName",
                ResourceKind::Group => "displayName",
            };
            if let Some(n) = change.old.and_then(|o| o.get(name_attr)) {
                entry.insert(name_attr.into(), n.clone());
            }
        } else {
            let diff = match change.diff {
                Some(d) => d,
                None => changes(&self.reg, change.kind, change.old, change.new),
            };
            entry.insert("changes".into(), Value::Object(diff));
        }
        if let Some(left) = change.left_groups.filter(|l| !l.is_empty()) {
            let listed: Vec<&String> = left.iter().take(MAX_LISTED_MEMBERS).collect();
            entry.insert("leftGroups".into(), json!(listed));
            entry.insert("leftGroupsCount".into(), json!(left.len()));
        }
        if let Some(m) = change.members.filter(|m| !m.is_empty()) {
            entry.insert("members".into(), m.to_json());
        }
        tx.append_audit(&audit_key(&time), &Value::Object(entry))?;
        Ok(())
    }

    /// Audit entries matching `q`, newest first.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<Value>, ScimError> {
        let tx = self.store.read().map_err(from_store)?;
        query_audit(&tx, q)
    }

    /// Deletes the entries older than `days` days; returns how many. Works in bounded
    /// transactions so the writer is never held for long.
    pub fn purge_audit(&self, days: u32) -> Result<u64, ScimError> {
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
        let cutoff = crate::scim::value::format_datetime(cutoff);
        let key = time_key(&cutoff).unwrap_or_default();
        let mut total = 0;
        loop {
            let n = self
                .store
                .write({
                    let key = key.clone();
                    move |tx| tx.purge_audit(&key, PURGE_BATCH)
                })
                .map_err(from_store)?;
            total += n;
            if (n as usize) < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Audit entries matching `q` in the snapshot `tx`, newest first. Shared by the server and
/// `scimd audit`, which reads a running server's file through a read-only handle.
pub fn query_audit(tx: &ReadTx, q: &AuditQuery) -> Result<Vec<Value>, ScimError> {
    let bound = |t: &Option<String>, what: &str| -> Result<Option<String>, ScimError> {
        match t {
            None => Ok(None),
            Some(s) => time_key(s).map(Some).ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "{what} \"{s}\" is not an RFC 3339 time (e.g. 2026-11-30T12:00:00Z)"
                ))
            }),
        }
    };
    let since = bound(&q.since, "since")?;
    let until = bound(&q.until, "until")?;
    let lower = since.as_deref().map_or(Bound::Unbounded, Bound::Included);
    let upper = until.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let mut out = Vec::new();
    let field = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    tx.audit_in((lower, upper), true, &mut |_, e| {
        let keep = q.resource.as_ref().is_none_or(|r| concerns(&e, r))
            && q.token
                .as_ref()
                .is_none_or(|t| field(&e, "token").as_ref() == Some(t));
        if keep {
            out.push(e);
        }
        Ok(q.limit == 0 || out.len() < q.limit)
    })
    .map_err(from_store)?;
    Ok(out)
}

/// Whether entry `e` is about resource `r`: its subject, or a member it added or removed, or a
/// group a deleted resource left — so one user's history includes its group changes.
fn concerns(e: &Value, r: &str) -> bool {
    let listed = |v: Option<&Value>| {
        v.and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|x| x.as_str() == Some(r)))
    };
    e.get("id").and_then(Value::as_str) == Some(r)
        || listed(e.get("leftGroups"))
        || listed(e.get("members").and_then(|m| m.get("added")))
        || listed(e.get("members").and_then(|m| m.get("removed")))
}
