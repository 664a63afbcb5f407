//! Moving a directory between servers: export to, and import from, SCIM JSON Lines.
//!
//! The file holds one resource per line, Users first, then Groups, each as canonical JSON (the
//! stored document, compact, keys in schema order). Groups carry their direct members as
//! `members: [{"value": id, "type": "User"|"Group"}]`; `User.groups` is derived from those and
//! left out. Nothing `returned: never` (password) is ever written.
//!
//! Import is all or nothing: every line is checked inside one write transaction and every
//! refusal is collected with its line number; if there is any, the transaction is aborted and
//! the store is left as it was. An admin moving a directory wants all of it or a list of what
//! to fix, not a partial copy whose missing part has to be found afterwards.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::audit::{Actor, Change, Op};
use super::members::{apply_changes, member_ids, MemberChange};
use super::{store_kind, DirError, Directory};
use crate::scim::resource::{assemble, check_required, normalize_body, set_version};
use crate::scim::schema::{Returned, URN_GROUP, URN_USER};
use crate::scim::value::format_datetime;
use crate::scim::{Registry, ResourceKind};
use crate::store::{Kind, ReadTx, StoreError, WriteTx};

use super::write::MAX_RESOURCE_BYTES;

/// How much an export or an import moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transferred {
    pub users: u64,
    pub groups: u64,
    /// Membership edges.
    pub memberships: u64,
    /// Imported resources whose id was kept (a UUID not already in use).
    pub ids_kept: u64,
    /// Imported resources that got a new id.
    pub ids_assigned: u64,
}

/// One refused line of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number in the input.
    pub line: usize,
    pub reason: String,
}

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Some lines were refused; nothing was imported.
    #[error("{} line(s) refused; nothing was imported", .0.len())]
    Rejected(Vec<Rejection>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The directory failed in a way that is not the input's fault (logged with its cause).
    #[error("the import failed: {0}")]
    Failed(String),
}

impl From<DirError> for TransferError {
    // Only storage failures reach here as DirError: refusals are collected as rejections.
    fn from(e: DirError) -> Self {
        TransferError::Failed(e.0.detail)
    }
}

/// Writes every User, then every Group, of one snapshot as JSON Lines.
pub fn export(
    reg: &Registry,
    tx: &ReadTx,
    out: &mut dyn Write,
) -> Result<Transferred, TransferError> {
    let mut counts = Transferred::default();
    let mut failure: Option<std::io::Error> = None;
    for kind in [ResourceKind::User, ResourceKind::Group] {
        tx.scan(store_kind(kind), None, &mut |id, mut doc| {
            strip_never(reg, kind, &mut doc);
            if kind == ResourceKind::Group {
                let members = tx.members(id)?;
                counts.memberships += members.len() as u64;
                if !members.is_empty() {
                    let mut list = Vec::with_capacity(members.len());
                    for mid in members {
                        let ty = if tx.exists(Kind::User, &mid)? {
                            "User"
                        } else {
                            "Group"
                        };
                        list.push(json!({"value": mid, "type": ty}));
                    }
                    if let Value::Object(obj) = &mut doc {
                        let meta = obj.remove("meta");
                        obj.insert("members".into(), Value::Array(list));
                        if let Some(m) = meta {
                            obj.insert("meta".into(), m);
                        }
                    }
                }
                counts.groups += 1;
            } else {
                counts.users += 1;
            }
            let mut line = doc.to_string();
            line.push('\n');
            match out.write_all(line.as_bytes()) {
                Ok(()) => Ok(true),
                Err(e) => {
                    failure = Some(e);
                    Ok(false)
                }
            }
        })?;
        if let Some(e) = failure.take() {
            return Err(e.into());
        }
    }
    out.flush()?;
    Ok(counts)
}

/// Removes core `returned: never` attributes (password), which are never stored today; this
/// keeps any an older version stored out of the file. Declared extension attributes that are
/// never *returned* but are stored (a readWrite PIN) stay: an export is a migration, and
/// dropping them would lose data silently. The file is owner-only.
fn strip_never(reg: &Registry, kind: ResourceKind, doc: &mut Value) {
    let Value::Object(obj) = doc else { return };
    for attr in reg.top_level(kind) {
        if attr.returned == Returned::Never {
            obj.remove(&attr.name);
        }
    }
}

/// A line that parsed and passed the checks that need no store.
struct Parsed {
    line: usize,
    kind: ResourceKind,
    /// The id the line carries, as written; what other lines' `members` refer to.
    source_id: Option<String>,
    attrs: Map<String, Value>,
    members: Vec<String>,
}

/// Whether a resource is a User or a Group: by its core schema URN, else `meta.resourceType`.
fn kind_of(body: &Value) -> Option<ResourceKind> {
    let schemas = body.get("schemas").and_then(Value::as_array);
    for s in schemas.into_iter().flatten().filter_map(Value::as_str) {
        if s.eq_ignore_ascii_case(URN_USER) {
            return Some(ResourceKind::User);
        }
        if s.eq_ignore_ascii_case(URN_GROUP) {
            return Some(ResourceKind::Group);
        }
    }
    match body
        .get("meta")
        .and_then(|m| m.get("resourceType"))
        .and_then(Value::as_str)
    {
        Some(t) if t.eq_ignore_ascii_case("User") => Some(ResourceKind::User),
        Some(t) if t.eq_ignore_ascii_case("Group") => Some(ResourceKind::Group),
        _ => None,
    }
}

fn parse_line(reg: &Registry, line: usize, text: &str) -> Result<Parsed, String> {
    let body: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if !body.is_object() {
        return Err("not a JSON object".into());
    }
    let kind = kind_of(&body).ok_or_else(|| {
        format!("neither a User nor a Group: \"schemas\" names neither {URN_USER} nor {URN_GROUP}")
    })?;
    let attrs = normalize_body(reg, kind, &body).map_err(|e| e.detail)?;
    check_required(reg, kind, &attrs).map_err(|e| e.detail)?;
    let members = match (kind, body_members(&body)) {
        (ResourceKind::Group, Some(v)) => member_ids(reg, v).map_err(|e| e.detail)?,
        _ => Vec::new(),
    };
    let source_id = body.get("id").and_then(Value::as_str).map(str::to_string);
    Ok(Parsed {
        line,
        kind,
        source_id,
        attrs,
        members,
    })
}

/// `members` in a body, whatever its case.
fn body_members(body: &Value) -> Option<&Value> {
    body.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v)
}

/// `id` if it is a UUID in canonical form (lower-case, hyphenated), as scimd assigns them.
fn canonical_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

fn id_in_use(tx: &WriteTx<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exists(Kind::User, id)? || tx.exists(Kind::Group, id)?)
}

impl Directory {
    /// Imports JSON Lines (see the module documentation) in one transaction, all or nothing.
    ///
    /// Server-assigned `meta` is ignored: imported resources are created now, at version 1.
    /// A line's `id` is kept when it is a canonical UUID not in use in the store (ids are
    /// global across Users and Groups), else a new one is assigned; group `members` may name
    /// ids of lines in the same file, in any order, or of resources already in the store.
    pub fn import_lines(&self, input: &str) -> Result<Transferred, TransferError> {
        let mut rejected: Vec<Rejection> = Vec::new();
        let mut parsed = Vec::new();
        for (i, text) in input.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            match parse_line(&self.reg, i + 1, text) {
                Ok(p) => parsed.push(p),
                Err(reason) => rejected.push(Rejection {
                    line: i + 1,
                    reason,
                }),
            }
        }
        let me = self.clone();
        // A transaction of its own: a rejected line aborts everything the import wrote.
        let outcome = self.store.write_alone(move |tx| {
            let counts = me.insert_parsed(tx, &parsed, &mut rejected)?;
            if rejected.is_empty() {
                Ok(counts)
            } else {
                Err(TransferError::Rejected(rejected))
            }
        });
        match outcome {
            Err(TransferError::Rejected(mut rejected)) => {
                rejected.sort_by_key(|r| r.line);
                Err(TransferError::Rejected(rejected))
            }
            other => other,
        }
    }

    fn insert_parsed(
        &self,
        tx: &mut WriteTx<'_>,
        parsed: &[Parsed],
        rejected: &mut Vec<Rejection>,
    ) -> Result<Transferred, TransferError> {
        let mut counts = Transferred::default();
        let ts = format_datetime(OffsetDateTime::now_utc());
        // The id each line's source id now has, and the line that claimed each source id.
        let mut new_ids: HashMap<&str, String> = HashMap::new();
        let mut claimed: HashMap<&str, usize> = HashMap::new();
        let mut failed: HashMap<&str, usize> = HashMap::new();
        // Ids assigned on this run, with the line that got each: they are the store's after it.
        let mut inserted: Vec<(usize, String)> = Vec::new();

        for p in parsed {
            let reject = |rejected: &mut Vec<Rejection>, reason: String| {
                rejected.push(Rejection {
                    line: p.line,
                    reason,
                })
            };
            if let Some(src) = p.source_id.as_deref() {
                if let Some(first) = claimed.insert(src, p.line) {
                    claimed.insert(src, first);
                    reject(
                        rejected,
                        format!("id {src:?} is already used by line {first}; ids must be unique"),
                    );
                    continue;
                }
            }
            let keep = match p.source_id.as_deref() {
                Some(src) if canonical_uuid(src) => !id_in_use(tx, src)?,
                _ => false,
            };
            let id = match (&p.source_id, keep) {
                (Some(src), true) => src.clone(),
                _ => uuid::Uuid::now_v7().to_string(),
            };
            let mut doc = assemble(&self.reg, p.kind, &id, &p.attrs, &ts, &ts);
            set_version(&mut doc, 1);
            let size = doc.to_string().len();
            if size > MAX_RESOURCE_BYTES {
                reject(
                    rejected,
                    format!("the resource is {size} bytes; the limit is {MAX_RESOURCE_BYTES}"),
                );
                if let Some(src) = p.source_id.as_deref() {
                    failed.insert(src, p.line);
                }
                continue;
            }
            match tx.insert(store_kind(p.kind), &id, &doc) {
                Ok(()) => {}
                Err(StoreError::UserNameTaken {
                    user_name,
                    existing_id,
                }) => {
                    let owner = inserted
                        .iter()
                        .find(|(_, i)| *i == existing_id)
                        .map(|(line, _)| format!("the User on line {line}"))
                        .unwrap_or_else(|| format!("User {existing_id} in the store"));
                    reject(
                        rejected,
                        format!(
                            "userName {user_name:?} is already taken by {owner} (userName is \
                             unique, ignoring case)"
                        ),
                    );
                    if let Some(src) = p.source_id.as_deref() {
                        failed.insert(src, p.line);
                    }
                    continue;
                }
                Err(StoreError::InvalidRecord(why)) => {
                    reject(rejected, why);
                    if let Some(src) = p.source_id.as_deref() {
                        failed.insert(src, p.line);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let change = Change {
                op: Op::Create,
                kind: p.kind,
                id: &id,
                old: None,
                new: Some(&doc),
                members: None,
                left_groups: None,
            };
            self.record(tx, &Actor::local("import"), change)
                .map_err(TransferError::from)?;
            if keep {
                counts.ids_kept += 1;
            } else {
                counts.ids_assigned += 1;
            }
            match p.kind {
                ResourceKind::User => counts.users += 1,
                ResourceKind::Group => counts.groups += 1,
            }
            if let Some(src) = p.source_id.as_deref() {
                new_ids.insert(src, id.clone());
            }
            inserted.push((p.line, id));
        }

        // Members second, so a group may name a resource on any line, before or after it.
        for p in parsed.iter().filter(|p| !p.members.is_empty()) {
            let Some(group_id) = p
                .source_id
                .as_deref()
                .and_then(|s| new_ids.get(s))
                .cloned()
                .or_else(|| {
                    // A group without a source id: the id it got, by its line.
                    inserted
                        .iter()
                        .find(|(line, _)| *line == p.line)
                        .map(|(_, id)| id.clone())
                })
            else {
                continue; // the group itself was refused; already reported
            };
            let mut ids = Vec::with_capacity(p.members.len());
            let mut bad = Vec::new();
            for m in &p.members {
                if let Some(id) = new_ids.get(m.as_str()) {
                    ids.push(id.clone());
                } else if let Some(line) = failed.get(m.as_str()) {
                    bad.push(format!(
                        "member {m:?} is the resource on line {line}, which was refused"
                    ));
                } else if !id_in_use(tx, m)? {
                    bad.push(format!(
                        "member {m:?} is neither the id of a resource in this file nor of one in the store"
                    ));
                } else {
                    ids.push(m.clone());
                }
            }
            // A member listed twice is one edge.
            ids.sort();
            ids.dedup();
            if !bad.is_empty() {
                rejected.push(Rejection {
                    line: p.line,
                    reason: bad.join("; "),
                });
                continue;
            }
            match apply_changes(&self.reg, tx, &group_id, &[MemberChange::Add(ids.clone())]) {
                Ok(delta) => {
                    counts.memberships += ids.len() as u64;
                    let change = Change {
                        op: Op::Patch,
                        kind: ResourceKind::Group,
                        id: &group_id,
                        old: None,
                        new: None,
                        members: Some(&delta),
                        left_groups: None,
                    };
                    self.record(tx, &Actor::local("import"), change)
                        .map_err(TransferError::from)?;
                }
                Err(e) if e.0.status < 500 => rejected.push(Rejection {
                    line: p.line,
                    reason: e.0.detail,
                }),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(counts)
    }
}
