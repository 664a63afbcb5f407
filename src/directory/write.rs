//! The writes: create, replace (PUT), patch and delete. Each is one store transaction; a refusal
//! returns before anything is written, so the store is left exactly as it was.

use serde_json::Value;
use time::OffsetDateTime;

use super::audit::{Actor, Change, MemberDelta, Op};
use super::deprovision::Pending;
use super::members::{
    apply_changes, changes_from_ops, member_ids, validate_new_members, MemberChange,
};
use super::render::Derive;
use super::{store_kind, DirError, Directory};
use crate::scim::patch::{self, Operation};
use crate::scim::resource::{
    assemble, check_required, etag_matches, meta_str, normalize_body, set_version, touch,
    version_number, writable_part, writable_part_eq,
};
use crate::scim::value::format_datetime;
use crate::scim::{ResourceKind, ScimError};
use crate::store::WriteTx;

/// What a write returns: the resource as stored, rendered.
pub struct Written {
    pub resource: Value,
    pub location: String,
}

/// Largest stored document (a User or Group without its members). Far above any real identity,
/// it keeps one resource from growing without bound through repeated PATCH adds.
pub const MAX_RESOURCE_BYTES: usize = 256 * 1024;

/// Serializes `doc` as the store keeps it and refuses it when it is too large: one
/// serialization serves the size check and the store, and for a create it happens before the
/// writer thread.
fn encode_checked(kind: ResourceKind, doc: &Value) -> Result<Vec<u8>, ScimError> {
    let bytes = WriteTx::encode(store_kind(kind), doc).map_err(super::from_store)?;
    let n = bytes.len();
    if n > MAX_RESOURCE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "the {} would be {n} bytes; a stored resource is limited to {MAX_RESOURCE_BYTES} bytes",
            kind.name()
        )));
    }
    Ok(bytes)
}

pub(crate) fn now() -> String {
    format_datetime(OffsetDateTime::now_utc())
}

/// Finds `members` in a body, whatever its case; `None` when the key is absent.
fn body_members(body: &Value) -> Option<&Value> {
    body.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v)
}

fn user_name(attrs: &serde_json::Map<String, Value>) -> Option<&str> {
    attrs.get("userName").and_then(Value::as_str)
}

/// 409 when `name` belongs to a user other than `me` (case-insensitive, RFC 7643 §4.1.1).
fn check_user_name_free(tx: &WriteTx<'_>, name: &str, me: Option<&str>) -> Result<(), DirError> {
    if let Some(owner) = tx.user_id_by_name(name)? {
        if Some(owner.as_str()) != me {
            return Err(ScimError::uniqueness(format!(
                "userName \"{}\" is already taken by User {owner} (userName is unique, ignoring case)",
                crate::scim::value::truncate(name, 80)
            ))
            .into());
        }
    }
    Ok(())
}

/// One write, checked as far as it can be outside the store, ready to run in the writer's
/// transaction with the guard's slot (see [`Directory::guarded`]). It returns the stored
/// document (`Null` for a delete) and must refuse before it writes anything.
pub(super) type Apply =
    Box<dyn FnOnce(&mut WriteTx<'_>, &mut Pending) -> Result<Value, DirError> + Send>;

/// Which write `save_if_changed` completes, and for whom.
struct Saving<'a> {
    kind: ResourceKind,
    id: &'a str,
    op: Op,
    actor: &'a Actor,
}

/// A resource ready to be inserted.
struct NewResource {
    id: String,
    doc: Value,
    /// `doc` as stored.
    bytes: Vec<u8>,
    /// What the audit entry reports as set: computed before the writer thread.
    diff: serde_json::Map<String, Value>,
    members: Vec<String>,
}

impl Directory {
    /// POST: creates a resource with a server-assigned id (a client-sent `id` is ignored).
    pub fn create(
        &self,
        kind: ResourceKind,
        body: &Value,
        actor: &Actor,
    ) -> Result<Written, ScimError> {
        let doc = self.create_stored(kind, body, actor)?;
        Ok(self.written(kind, doc))
    }

    /// [`Directory::create`] for async callers: the checks and the reply run on the caller's
    /// task and only the transaction waits, without a blocking thread. Poll it to the end (see
    /// [`Directory::guarded_async`]).
    pub async fn create_async(
        &self,
        kind: ResourceKind,
        body: &Value,
        actor: &Actor,
    ) -> Result<Written, ScimError> {
        let doc = self
            .guarded_async(self.plan_create(kind, body, actor)?)
            .await?;
        Ok(self.written(kind, doc))
    }

    /// The committed write of [`Directory::create`], as stored: bulk reports it unrendered.
    pub(super) fn create_stored(
        &self,
        kind: ResourceKind,
        body: &Value,
        actor: &Actor,
    ) -> Result<Value, ScimError> {
        self.guarded(self.plan_create(kind, body, actor)?)
    }

    /// [`Directory::create_stored`] up to the transaction.
    pub(super) fn plan_create(
        &self,
        kind: ResourceKind,
        body: &Value,
        actor: &Actor,
    ) -> Result<Apply, ScimError> {
        let new = self.prepare_create(kind, body)?;
        let (me, actor) = (self.clone(), actor.clone());
        Ok(Box::new(move |tx, _| {
            let mut new = new;
            me.insert_new(tx, kind, &mut new, &actor)?;
            Ok(new.doc)
        }))
    }

    /// Creates many resources in one transaction, all or none: for loading a directory (and
    /// the benchmarks) without one fsync per resource. Returns their ids in order; an error
    /// names the position of the body that was refused.
    pub fn import(
        &self,
        kind: ResourceKind,
        bodies: &[Value],
        actor: &Actor,
    ) -> Result<Vec<String>, ScimError> {
        let at = |i: usize, e: ScimError| ScimError {
            detail: format!("resource {} of {}: {}", i + 1, bodies.len(), e.detail),
            ..e
        };
        let mut prepared = Vec::with_capacity(bodies.len());
        for (i, body) in bodies.iter().enumerate() {
            prepared.push(self.prepare_create(kind, body).map_err(|e| at(i, e))?);
        }
        let (me, actor) = (self.clone(), actor.clone());
        let total = bodies.len();
        // All or none: one transaction of its own, which a refusal aborts.
        self.store
            .write_alone(move |tx| {
                let mut prepared = prepared;
                for (i, new) in prepared.iter_mut().enumerate() {
                    me.insert_new(tx, kind, new, &actor).map_err(|e| {
                        DirError(ScimError {
                            detail: format!("resource {} of {total}: {}", i + 1, e.0.detail),
                            ..e.0
                        })
                    })?;
                }
                Ok::<_, DirError>(prepared.into_iter().map(|n| n.id).collect())
            })
            .map_err(|e| e.0)
    }

    /// Everything a create can check before the transaction: the body, required attributes,
    /// the member list's shape, the size; and the new id and stamps.
    fn prepare_create(&self, kind: ResourceKind, body: &Value) -> Result<NewResource, ScimError> {
        let attrs = normalize_body(&self.reg, kind, body)?;
        check_required(&self.reg, kind, &attrs)?;
        let members = match (kind, body_members(body)) {
            (ResourceKind::Group, Some(v)) => member_ids(&self.reg, v)?,
            _ => Vec::new(),
        };
        self.limits.check_members(members.len(), false)?;
        // UUIDv7: time-ordered, so ids give a stable listing order and load fast (STACK.md §4).
        let id = uuid::Uuid::now_v7().to_string();
        let ts = now();
        let mut doc = assemble(&self.reg, kind, &id, &attrs, &ts, &ts);
        set_version(&mut doc, 1);
        let bytes = encode_checked(kind, &doc)?;
        let diff = crate::scim::audit::changes(&self.reg, kind, None, Some(&doc));
        Ok(NewResource {
            id,
            doc,
            bytes,
            diff,
            members,
        })
    }

    /// The part of a create inside the write transaction.
    fn insert_new(
        &self,
        tx: &mut WriteTx<'_>,
        kind: ResourceKind,
        new: &mut NewResource,
        actor: &Actor,
    ) -> Result<(), DirError> {
        // A taken userName is refused by the insert itself, before it writes anything and with
        // the same 409 (`from_store`): checking here too would search the index twice on the
        // writer thread. Members are checked before the insert: a refusal must leave the
        // writer's shared transaction untouched.
        validate_new_members(tx, &new.id, &new.members)?;
        tx.insert_encoded(store_kind(kind), &new.id, &new.doc, &new.bytes)?;
        let mut delta = MemberDelta::default();
        if !new.members.is_empty() {
            delta = apply_changes(
                &self.reg,
                tx,
                &new.id,
                &[MemberChange::Add(new.members.clone())],
            )?;
        }
        let change = Change {
            op: Op::Create,
            kind,
            id: &new.id,
            old: None,
            new: Some(&new.doc),
            diff: Some(std::mem::take(&mut new.diff)),
            members: Some(&delta),
            left_groups: None,
        };
        self.record(tx, actor, change)
    }

    /// PUT: replaces the client-writable attributes. Read-only attributes in the body are
    /// ignored. `members` absent keeps the members; `members: []` empties the group.
    /// `active` absent keeps the current state, so a PUT that forgets it never disables anyone.
    pub fn replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Written, ScimError> {
        let doc = self.replace_stored(kind, id, body, if_match, actor)?;
        Ok(self.written(kind, doc))
    }

    /// [`Directory::replace`] for async callers, as [`Directory::create_async`].
    pub async fn replace_async(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Written, ScimError> {
        let apply = self.plan_replace(kind, id, body, if_match, actor)?;
        let doc = self.guarded_async(apply).await?;
        Ok(self.written(kind, doc))
    }

    pub(super) fn replace_stored(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Value, ScimError> {
        self.guarded(self.plan_replace(kind, id, body, if_match, actor)?)
    }

    /// [`Directory::replace_stored`] up to the transaction.
    pub(super) fn plan_replace(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Apply, ScimError> {
        let mut attrs = normalize_body(&self.reg, kind, body)?;
        check_required(&self.reg, kind, &attrs)?;
        let members = match (kind, body_members(body)) {
            (ResourceKind::Group, Some(v)) => Some(member_ids(&self.reg, v)?),
            _ => None,
        };
        self.limits
            .check_members(members.as_ref().map_or(0, Vec::len), false)?;
        let (me, actor, id, if_match) = self.owned(actor, id, if_match);
        Ok(Box::new(move |tx, pending| {
            let id = id.as_str();
            let old = current(tx, kind, id, if_match.as_deref())?;
            if kind == ResourceKind::User && !attrs.contains_key("active") {
                if let Some(a) = old.get("active") {
                    attrs.insert("active".into(), a.clone());
                }
            }
            if let Some(name) = user_name(&attrs) {
                check_user_name_free(tx, name, Some(id))?;
            }
            me.guard_check(tx, kind, &old, Some(&attrs), pending)?;
            let how = Saving {
                kind,
                id,
                op: Op::Replace,
                actor: &actor,
            };
            let members = members.map(|m| [MemberChange::Set(m)]);
            me.save_if_changed(
                tx,
                how,
                old,
                &attrs,
                members.as_ref().map_or(&[], |m| &m[..]),
            )
        }))
    }

    /// PATCH: applies the operations in order, all or nothing. Returns the resource unless
    /// `render` is false (groups answer 204, so a million-member group is never serialized).
    pub fn patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        render: bool,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<Written>, ScimError> {
        let doc = self.patch_stored(kind, id, body, if_match, actor)?;
        Ok(render.then(|| self.written(kind, doc)))
    }

    /// [`Directory::patch`] for async callers, as [`Directory::create_async`].
    pub async fn patch_async(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        render: bool,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<Written>, ScimError> {
        let apply = self.plan_patch(kind, id, body, if_match, actor)?;
        let doc = self.guarded_async(apply).await?;
        Ok(render.then(|| self.written(kind, doc)))
    }

    pub(super) fn patch_stored(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Value, ScimError> {
        self.guarded(self.plan_patch(kind, id, body, if_match, actor)?)
    }

    /// [`Directory::patch_stored`] up to the transaction.
    pub(super) fn plan_patch(
        &self,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Apply, ScimError> {
        patch::check_operation_count(body, self.limits.max_patch_operations)?;
        let ops = patch::parse_request(&self.reg, kind, body)?;
        let (member_ops, doc_ops): (Vec<Operation>, Vec<Operation>) = ops
            .into_iter()
            .partition(|op| kind == ResourceKind::Group && op.targets(&self.reg, kind, "members"));
        let member_changes = changes_from_ops(&self.reg, &member_ops)?;
        let named = member_changes
            .iter()
            .map(|c| match c {
                MemberChange::Add(ids) | MemberChange::Set(ids) | MemberChange::Remove(ids) => {
                    ids.len()
                }
                MemberChange::RemoveMatching(_) | MemberChange::Clear => 0,
            })
            .sum();
        self.limits.check_members(named, true)?;
        let (me, actor, id, if_match) = self.owned(actor, id, if_match);
        Ok(Box::new(move |tx, pending| {
            let id = id.as_str();
            let old = current(tx, kind, id, if_match.as_deref())?;
            let attrs = patch::applied(&me.reg, kind, writable_part(&old), &doc_ops)?;
            if let Some(name) = user_name(&attrs) {
                if old.get("userName").and_then(Value::as_str) != Some(name) {
                    check_user_name_free(tx, name, Some(id))?;
                }
            }
            me.guard_check(tx, kind, &old, Some(&attrs), pending)?;
            let how = Saving {
                kind,
                id,
                op: Op::Patch,
                actor: &actor,
            };
            me.save_if_changed(tx, how, old, &attrs, &member_changes)
        }))
    }

    /// What a write on an existing resource hands to the writer thread, owned: this directory
    /// (a cheap clone), who asks, the id and the `If-Match` precondition.
    fn owned(
        &self,
        actor: &Actor,
        id: &str,
        if_match: Option<&str>,
    ) -> (Directory, Actor, String, Option<String>) {
        (
            self.clone(),
            actor.clone(),
            id.to_string(),
            if_match.map(str::to_string),
        )
    }

    /// The reply to a committed write: the rendered resource and where it lives.
    ///
    /// The derived attributes are read from a fresh snapshot, so the write lock is not held
    /// while a group's members are listed. The write is already durable: if that read fails,
    /// the stored document (without derived attributes) is the reply, never an error.
    /// Rendering in place leaves `doc` as stored when a read fails, so no copy is kept for that
    /// case (the copy was ≈5% of a PATCH's CPU).
    ///
    /// A new user is in no group, yet its reply still takes the snapshot: without it, 200
    /// sequential creates under callgrind saved ≈5k instructions each in scimd and cost ≈45k
    /// more each in redb's commits (presumably because a live snapshot changes what a commit
    /// does with the pages it frees; not looked into further).
    fn written(&self, kind: ResourceKind, mut doc: Value) -> Written {
        let location = self.location(
            kind,
            doc.get("id").and_then(Value::as_str).unwrap_or_default(),
        );
        let rendered = self
            .store
            .read()
            .map_err(super::from_store)
            .and_then(|tx| self.render_in_place(&tx, kind, &mut doc, Derive::ALL));
        if let Err(e) = rendered {
            tracing::warn!(error = %e, "rendering a committed write failed; replying with the stored document");
        }
        Written {
            resource: crate::scim::projection::Projection::default().apply(&self.reg, kind, doc),
            location,
        }
    }

    /// Applies the member changes and writes the new attributes with a fresh
    /// `meta.lastModified`, unless nothing changed: an update that changes nothing keeps its
    /// timestamp, so incremental readers skip it.
    ///
    /// The new document is built and size-checked before the member changes write anything,
    /// so a refusal here leaves the transaction untouched (the writer's batch depends on it).
    fn save_if_changed(
        &self,
        tx: &mut WriteTx<'_>,
        how: Saving<'_>,
        old: Value,
        attrs: &serde_json::Map<String, Value>,
        member_changes: &[MemberChange],
    ) -> Result<Value, DirError> {
        let Saving {
            kind,
            id,
            op,
            actor,
        } = how;
        let attrs_changed = !writable_part_eq(&old, attrs);
        if !attrs_changed && member_changes.is_empty() {
            return Ok(old);
        }
        let created = meta_str(&old, "created").unwrap_or_default().to_string();
        let mut doc = assemble(&self.reg, kind, id, attrs, &created, &now());
        set_version(&mut doc, version_number(&old) + 1);
        let bytes = encode_checked(kind, &doc)?;
        let delta = apply_changes(&self.reg, tx, id, member_changes)?;
        if !attrs_changed && delta.is_empty() {
            return Ok(old);
        }
        // `old` is this transaction's record (read by `current`; member edges do not touch
        // records), so the store need not read and decode it again.
        tx.update_encoded(store_kind(kind), id, &old, &doc, &bytes)?;
        let change = Change {
            op,
            kind,
            id,
            old: Some(&old),
            new: Some(&doc),
            diff: None,
            members: Some(&delta),
            left_groups: None,
        };
        self.record(tx, actor, change)?;
        Ok(doc)
    }

    /// DELETE: removes the resource, its index entries and every membership edge it has.
    pub fn delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<(), ScimError> {
        self.guarded(self.plan_delete(kind, id, if_match, actor))
            .map(|_| ())
    }

    /// [`Directory::delete`] for async callers, as [`Directory::create_async`].
    pub async fn delete_async(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<(), ScimError> {
        self.guarded_async(self.plan_delete(kind, id, if_match, actor))
            .await
            .map(|_| ())
    }

    /// [`Directory::delete`] up to the transaction (a delete checks everything inside it).
    pub(super) fn plan_delete(
        &self,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Apply {
        let (me, actor, id, if_match) = self.owned(actor, id, if_match);
        Box::new(move |tx, pending| {
            let id = id.as_str();
            let Some(old) = tx.get(store_kind(kind), id)? else {
                return Err(DirError(not_found(kind, id)));
            };
            check_precondition(&old, if_match.as_deref())?;
            me.guard_check(tx, kind, &old, None, pending)?;
            // What the delete takes with it, for the audit entry: the groups it was in
            // and, for a group, how many members it had (counted, not listed).
            let left = tx.groups_of(id)?;
            let had = MemberDelta {
                removed_count: tx.member_count(id)?,
                ..MemberDelta::default()
            };
            tx.delete(store_kind(kind), id)?;
            // The groups it leaves changed too: without a new version a client holding a
            // group's ETag would be told (304) that the deleted member is still there.
            let stamp = now();
            for group in &left {
                if let Some(mut doc) = tx.get(crate::store::Kind::Group, group)? {
                    touch(&mut doc, &stamp);
                    tx.update(crate::store::Kind::Group, group, &doc)?;
                }
            }
            let change = Change {
                op: Op::Delete,
                kind,
                id,
                old: Some(&old),
                new: None,
                diff: None,
                members: Some(&had),
                left_groups: Some(&left),
            };
            me.record(tx, &actor, change)?;
            Ok(Value::Null)
        })
    }
}

/// The stored resource a PUT or PATCH starts from, after its `If-Match` precondition.
fn current(
    tx: &WriteTx<'_>,
    kind: ResourceKind,
    id: &str,
    if_match: Option<&str>,
) -> Result<Value, DirError> {
    let old = tx
        .get(store_kind(kind), id)?
        .ok_or_else(|| not_found(kind, id))?;
    check_precondition(&old, if_match)?;
    Ok(old)
}

/// `If-Match` (RFC 7644 §3.14): the write goes ahead only if the resource is still the version
/// the client read; checked inside the write transaction, so no other write slips in between.
fn check_precondition(old: &Value, if_match: Option<&str>) -> Result<(), ScimError> {
    match if_match {
        Some(h) if !etag_matches(h, meta_str(old, "version")) => Err(ScimError::new(
            412,
            None,
            format!(
                "the resource changed since it was read: If-Match {} does not match its version {}",
                crate::scim::value::truncate(h, 80),
                meta_str(old, "version").unwrap_or("(none)")
            ),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!(
        "{} \"{}\" not found: it does not exist or was deleted",
        kind.name(),
        crate::scim::value::truncate(id, 80)
    ))
}
