//! `scimd import`: SCIM JSON Lines into the store, checked whole first, then written in chunks.
//!
//! A directory of a million users cannot be one redb transaction: its dirty pages stay in
//! memory until the commit, so memory would grow with the file (gigabytes at 1M). The import
//! therefore streams the file twice:
//!
//! 1. **The check** parses every line and checks it against the schema, against the lines
//!    before it (ids, userNames) and against one read snapshot of the store (userNames, ids,
//!    group members, which may name a line anywhere in the file). Every refusal is collected
//!    with its line number; if there is any, nothing is written.
//! 2. **The write** reads the lines again and commits them in transactions of [`IMPORT_CHUNK`]
//!    resources, then the group memberships (in chunks of as many edges). A file of at most
//!    that many resources and edges is one transaction. Parsing runs on its own thread, one
//!    chunk ahead of the transaction writing the one before.
//!
//! The store is held exclusively while the import runs (the server is stopped), so what the
//! check accepted is still true when it is written. Writing can still stop part-way for what
//! the check cannot foresee (a full disk, an I/O error, the file changed in between); then the
//! chunks committed before stay and the error says how much was written.
//!
//! What the check remembers is bounded by the file's ids, userNames and memberships, not its
//! documents: a 128-bit digest per id and per userName, and every group's member list (a group
//! may name a member on a later line). The write remembers the ids it had to reassign.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Rejection, TransferError, Transferred};
use crate::directory::audit::{Actor, Change, Op};
use crate::directory::members::{apply_changes, member_ids, MemberChange};
use crate::directory::write::MAX_RESOURCE_BYTES;
use crate::directory::{store_kind, Directory};
use crate::scim::resource::{assemble, check_required, normalize_body, set_version};
use crate::scim::schema::{URN_GROUP, URN_USER};
use crate::scim::value::format_datetime;
use crate::scim::{Registry, ResourceKind};
use crate::store::{Kind, ReadTx, StoreError, WriteTx};

/// Resources (or membership edges) per write transaction. 10,000 keeps a transaction's dirty
/// pages to some tens of MiB while its commit (one fsync) is paid once per 10,000 records.
const IMPORT_CHUNK: usize = 10_000;

/// A line that parsed and passed the checks that need no store.
struct Parsed {
    kind: ResourceKind,
    /// The id the line carries, as written; what other lines' `members` refer to.
    source_id: Option<String>,
    attrs: Map<String, Value>,
    members: Vec<String>,
}

/// A group whose members are added once every resource is in.
struct GroupMembers {
    line: usize,
    source_id: Option<String>,
    members: Vec<String>,
}

/// What the check hands to the write.
struct Checked {
    /// Lines whose id cannot be kept (not a canonical UUID, or in use in the store).
    reassigned: HashSet<usize>,
    groups: Vec<GroupMembers>,
}

/// One step of a write transaction.
enum Work {
    Create {
        line: usize,
        kind: ResourceKind,
        id: String,
        doc: Value,
        kept: bool,
    },
    Members {
        line: usize,
        group_id: String,
        ids: Vec<String>,
    },
}

impl Work {
    fn weight(&self) -> usize {
        match self {
            Work::Create { .. } => 1,
            Work::Members { ids, .. } => ids.len().max(1),
        }
    }
}

impl Directory {
    /// Imports JSON Lines (see the module documentation): the input `open` returns is read
    /// twice, once to check every line, once to write them in chunks of 10,000 resources.
    ///
    /// Server-assigned `meta` is ignored: imported resources are created now, at version 1.
    /// A line's `id` is kept when it is a canonical UUID not in use in the store (ids are
    /// global across Users and Groups), else a new one is assigned; group `members` may name
    /// ids of lines in the same file, in any order, or of resources already in the store.
    pub fn import_lines<R, F>(self: &Arc<Self>, open: F) -> Result<Transferred, TransferError>
    where
        R: BufRead + Send,
        F: Fn() -> std::io::Result<R>,
    {
        self.import_in_chunks(open, IMPORT_CHUNK)
    }

    /// [`Directory::import_lines`] with `chunk` resources (or edges) per transaction.
    pub fn import_in_chunks<R, F>(
        self: &Arc<Self>,
        open: F,
        chunk: usize,
    ) -> Result<Transferred, TransferError>
    where
        R: BufRead + Send,
        F: Fn() -> std::io::Result<R>,
    {
        let reading =
            |e: std::io::Error| TransferError::Failed(format!("cannot read the file: {e}"));
        let checked = self.check(open().map_err(reading)?)?;
        self.write_checked(open().map_err(reading)?, checked, chunk.max(1))
    }

    fn check<R: BufRead>(&self, input: R) -> Result<Checked, TransferError> {
        let rtx = self.store.read()?;
        let mut rejected = Vec::new();
        // Digests of the ids and lower-cased userNames seen, with the line that claimed each
        // (and, for ids, whether that line passed). 128 bits: a collision among millions of
        // names is too unlikely to matter, and 16 bytes are much less than the name.
        let mut ids: HashMap<u128, (usize, bool)> = HashMap::new();
        let mut names: HashMap<u128, usize> = HashMap::new();
        let mut reassigned = HashSet::new();
        let mut groups = Vec::new();
        // The size check assembles the document as the write will; a kept id is a canonical
        // UUID and an assigned one is too, so the nil UUID has the length of either.
        let size_id = uuid::Uuid::nil().to_string();
        let ts = format_datetime(OffsetDateTime::now_utc());
        let mut lines = Lines::new(input);
        while let Some((line, text)) = lines.next_line()? {
            let reject = |rejected: &mut Vec<Rejection>, reason: String| {
                rejected.push(Rejection { line, reason })
            };
            let p = match text.and_then(|t| parse_line(&self.reg, t)) {
                Ok(p) => p,
                Err(reason) => {
                    reject(&mut rejected, reason);
                    continue;
                }
            };
            let id_key = p.source_id.as_deref().map(digest);
            if let (Some(src), Some(key)) = (p.source_id.as_deref(), id_key) {
                if let Some((first, _)) = ids.get(&key) {
                    reject(
                        &mut rejected,
                        format!("id {src:?} is already used by line {first}; ids must be unique"),
                    );
                    continue;
                }
                ids.insert(key, (line, false));
            }
            let mut doc = assemble(&self.reg, p.kind, &size_id, &p.attrs, &ts, &ts);
            set_version(&mut doc, 1);
            let size = doc.to_string().len();
            if size > MAX_RESOURCE_BYTES {
                reject(
                    &mut rejected,
                    format!("the resource is {size} bytes; the limit is {MAX_RESOURCE_BYTES}"),
                );
                continue;
            }
            let name = match p.kind {
                ResourceKind::User => p.attrs.get("userName").and_then(Value::as_str),
                ResourceKind::Group => None,
            };
            if let Some(name) = name {
                let key = digest(&name.to_lowercase());
                let owner = match names.get(&key) {
                    Some(first) => Some(format!("the User on line {first}")),
                    None => rtx
                        .user_id_by_name(name)?
                        .map(|id| format!("User {id} in the store")),
                };
                if let Some(owner) = owner {
                    reject(
                        &mut rejected,
                        format!(
                            "userName {name:?} is already taken by {owner} (userName is \
                             unique, ignoring case)"
                        ),
                    );
                    continue;
                }
                names.insert(key, line);
            }
            if let (Some(src), Some(key)) = (p.source_id.as_deref(), id_key) {
                if !canonical_uuid(src) || id_in_store(&rtx, src)? {
                    reassigned.insert(line);
                }
                ids.insert(key, (line, true));
            }
            if !p.members.is_empty() {
                groups.push(GroupMembers {
                    line,
                    source_id: p.source_id,
                    members: p.members,
                });
            }
        }

        // Members last, so a group may name a resource on any line, before or after it.
        for g in &groups {
            let mut bad = Vec::new();
            for m in &g.members {
                if g.source_id.as_deref() == Some(m.as_str()) {
                    bad.push(format!("group {m} cannot be a member of itself"));
                    continue;
                }
                match ids.get(&digest(m)) {
                    Some((_, true)) => {}
                    Some((line, false)) => bad.push(format!(
                        "member {m:?} is the resource on line {line}, which was refused"
                    )),
                    None if id_in_store(&rtx, m)? => {}
                    None => bad.push(format!(
                        "member {m:?} is neither the id of a resource in this file nor of one in the store"
                    )),
                }
            }
            if !bad.is_empty() {
                rejected.push(Rejection {
                    line: g.line,
                    reason: bad.join("; "),
                });
            }
        }
        if rejected.is_empty() {
            Ok(Checked { reassigned, groups })
        } else {
            rejected.sort_by_key(|r| r.line);
            Err(TransferError::Rejected(rejected))
        }
    }

    fn write_checked<R: BufRead + Send>(
        self: &Arc<Self>,
        input: R,
        checked: Checked,
        chunk: usize,
    ) -> Result<Transferred, TransferError> {
        let (tx, rx) = sync_channel(1);
        std::thread::scope(|scope| {
            let reg = &self.reg;
            scope.spawn(move || {
                if let Err(e) = prepare(reg, input, checked, chunk, &tx) {
                    // The writer stops at the first error; if it already has, nobody listens.
                    let _ = tx.send(Err(e));
                }
            });
            self.commit_batches(rx, chunk)
        })
    }

    /// Commits each batch the preparing thread sends, in order; stops at the first failure.
    fn commit_batches(
        self: &Arc<Self>,
        batches: Receiver<Result<Vec<Work>, TransferError>>,
        chunk: usize,
    ) -> Result<Transferred, TransferError> {
        let mut total = Transferred::default();
        for batch in batches {
            let dir = Arc::clone(self);
            // A transaction of its own: a line refused after earlier lines of the chunk were
            // written aborts the chunk, not a batch of other writes.
            let outcome =
                batch.and_then(|work| self.store.write_alone(move |tx| dir.apply(tx, work)));
            match outcome {
                Ok(c) => total.add(&c),
                // Dropping `batches` on return stops the preparing thread.
                Err(e) if total == Transferred::default() => return Err(e),
                Err(e) => {
                    let reason = match e {
                        TransferError::Rejected(lines) => lines
                            .iter()
                            .map(|r| format!("line {}: {}", r.line, r.reason))
                            .collect::<Vec<_>>()
                            .join("; "),
                        e => e.to_string(),
                    };
                    return Err(TransferError::Interrupted {
                        imported: total,
                        chunk,
                        reason,
                    });
                }
            }
        }
        Ok(total)
    }

    /// One write transaction of an import. The check has already refused what it can; what
    /// the store still refuses here aborts this transaction.
    fn apply(&self, tx: &mut WriteTx<'_>, work: Vec<Work>) -> Result<Transferred, TransferError> {
        let mut counts = Transferred::default();
        let actor = Actor::local("import");
        let refused =
            |line: usize, reason: String| TransferError::Rejected(vec![Rejection { line, reason }]);
        for w in work {
            match w {
                Work::Create {
                    line,
                    kind,
                    id,
                    doc,
                    kept,
                } => {
                    match tx.insert(store_kind(kind), &id, &doc) {
                        Ok(()) => {}
                        Err(StoreError::UserNameTaken {
                            user_name,
                            existing_id,
                        }) => {
                            return Err(refused(
                                line,
                                format!("userName {user_name:?} is already taken by {existing_id}"),
                            ))
                        }
                        Err(StoreError::InvalidRecord(why)) => return Err(refused(line, why)),
                        Err(e) => return Err(e.into()),
                    }
                    let change = Change {
                        op: Op::Create,
                        kind,
                        id: &id,
                        old: None,
                        new: Some(&doc),
                        diff: None,
                        members: None,
                        left_groups: None,
                    };
                    self.record(tx, &actor, change)?;
                    if kept {
                        counts.ids_kept += 1;
                    } else {
                        counts.ids_assigned += 1;
                    }
                    match kind {
                        ResourceKind::User => counts.users += 1,
                        ResourceKind::Group => counts.groups += 1,
                    }
                }
                Work::Members {
                    line,
                    group_id,
                    ids,
                } => {
                    let changes = [MemberChange::Add(ids)];
                    match apply_changes(&self.reg, tx, &group_id, &changes) {
                        Ok(delta) => {
                            if let [MemberChange::Add(ids)] = &changes {
                                counts.memberships += ids.len() as u64;
                            }
                            let change = Change {
                                op: Op::Patch,
                                kind: ResourceKind::Group,
                                id: &group_id,
                                old: None,
                                new: None,
                                diff: None,
                                members: Some(&delta),
                                left_groups: None,
                            };
                            self.record(tx, &actor, change)?;
                        }
                        Err(e) if e.0.status < 500 => return Err(refused(line, e.0.detail)),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(counts)
    }
}

impl Transferred {
    fn add(&mut self, other: &Transferred) {
        self.users += other.users;
        self.groups += other.groups;
        self.memberships += other.memberships;
        self.ids_kept += other.ids_kept;
        self.ids_assigned += other.ids_assigned;
    }
}

/// The write's reading side: turns the lines into batches of [`Work`] of about `chunk` weight,
/// resources first, then memberships. Runs on its own thread.
fn prepare<R: BufRead>(
    reg: &Registry,
    input: R,
    checked: Checked,
    chunk: usize,
    out: &SyncSender<Result<Vec<Work>, TransferError>>,
) -> Result<(), TransferError> {
    let changed = |line: usize, why: &str| {
        TransferError::Failed(format!(
            "line {line} {why} on the second reading; was the file changed during the import?"
        ))
    };
    let Checked { reassigned, groups } = checked;
    let with_members: HashSet<usize> = groups.iter().map(|g| g.line).collect();
    // Source ids that got a new id, and the ids of member-holding groups by line.
    let mut new_ids: HashMap<String, String> = HashMap::new();
    let mut group_ids: HashMap<usize, String> = HashMap::new();
    let mut batch = Batch::new(chunk, out);
    let mut lines = Lines::new(input);
    while let Some((line, text)) = lines.next_line()? {
        let p = text
            .and_then(|t| parse_line(reg, t))
            .map_err(|_| changed(line, "was refused"))?;
        let kept = p.source_id.is_some() && !reassigned.contains(&line);
        let id = match (&p.source_id, kept) {
            (Some(src), true) => src.clone(),
            _ => uuid::Uuid::now_v7().to_string(),
        };
        if let (Some(src), false) = (&p.source_id, kept) {
            new_ids.insert(src.clone(), id.clone());
        }
        if with_members.contains(&line) {
            group_ids.insert(line, id.clone());
        }
        // Each resource is stamped when it is prepared, not all with one import time: a
        // million records under one meta.lastModified key make that index key a million
        // values long, which whatever walks one key's values (`db verify`) pays per record.
        let ts = format_datetime(OffsetDateTime::now_utc());
        let mut doc = assemble(reg, p.kind, &id, &p.attrs, &ts, &ts);
        set_version(&mut doc, 1);
        if !batch.push(Work::Create {
            line,
            kind: p.kind,
            id,
            doc,
            kept,
        }) {
            return Ok(());
        }
    }
    for g in groups {
        let group_id = group_ids
            .remove(&g.line)
            .ok_or_else(|| changed(g.line, "was missing"))?;
        let mut ids: Vec<String> = g
            .members
            .into_iter()
            .map(|m| new_ids.get(&m).cloned().unwrap_or(m))
            .collect();
        // A member listed twice is one edge.
        ids.sort();
        ids.dedup();
        for part in ids.chunks(chunk) {
            let work = Work::Members {
                line: g.line,
                group_id: group_id.clone(),
                ids: part.to_vec(),
            };
            if !batch.push(work) {
                return Ok(());
            }
        }
    }
    batch.flush();
    Ok(())
}

/// Work collected until it weighs a chunk, then sent to the writer.
struct Batch<'a> {
    chunk: usize,
    work: Vec<Work>,
    weight: usize,
    out: &'a SyncSender<Result<Vec<Work>, TransferError>>,
}

impl<'a> Batch<'a> {
    fn new(chunk: usize, out: &'a SyncSender<Result<Vec<Work>, TransferError>>) -> Batch<'a> {
        Batch {
            chunk,
            work: Vec::new(),
            weight: 0,
            out,
        }
    }

    /// Adds `w`; false when the writer has stopped listening (it failed).
    fn push(&mut self, w: Work) -> bool {
        self.weight += w.weight();
        self.work.push(w);
        self.weight < self.chunk || self.flush()
    }

    fn flush(&mut self) -> bool {
        self.weight = 0;
        let work = std::mem::take(&mut self.work);
        work.is_empty() || self.out.send(Ok(work)).is_ok()
    }
}

/// A line's number, and its text or why it is not text.
type Line<'a> = (usize, Result<&'a str, String>);

/// The lines of the input, numbered from 1, blank ones skipped; one that is not UTF-8 is
/// refused by its number rather than failing the whole file.
struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    fn new(input: R) -> Lines<R> {
        Lines {
            input,
            buf: Vec::new(),
            number: 0,
        }
    }

    fn next_line(&mut self) -> Result<Option<Line<'_>>, TransferError> {
        loop {
            self.buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| TransferError::Failed(format!("cannot read the file: {e}")))?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(&self.buf)
                .map(|t| t.trim_end_matches(['\n', '\r']))
                .map_err(|e| format!("not UTF-8: {e}"));
            return Ok(Some((self.number, text)));
        }
    }
}

fn digest(text: &str) -> u128 {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(16)
        .fold(0, |acc, b| (acc << 8) | u128::from(*b))
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

fn parse_line(reg: &Registry, text: &str) -> Result<Parsed, String> {
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

fn id_in_store(tx: &ReadTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exists(Kind::User, id)? || tx.exists(Kind::Group, id)?)
}
