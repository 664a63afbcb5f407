//! [`WriteTx`]: the writable view inside [`Store::write`](super::Store::write).
//!
//! Every mutation checks everything that can refuse it (existence, userName uniqueness, record
//! shape) before it writes anything. A refused operation therefore leaves the transaction as it
//! was, so a caller batching many operations in one commit can report the refusal and still
//! commit the rest.

use redb::{MultimapTable, ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use serde_json::Value;

use super::record::{encode, user_name_as_given, IndexKeys};
use super::tables;
use super::{query, Kind, StoreError};

/// Index entries and membership of one record, inside one write transaction.
///
/// It opens all tables once, when the transaction begins, so a batch of thousands of operations
/// does not reopen them per call; redb closes them when this value is dropped, which
/// [`Store::write`](super::Store::write) does before committing.
pub struct WriteTx<'a> {
    users: Table<'a, &'static str, &'static [u8]>,
    groups: Table<'a, &'static str, &'static [u8]>,
    user_name: Table<'a, &'static str, &'static str>,
    user_external_id: MultimapTable<'a, &'static str, &'static str>,
    group_external_id: MultimapTable<'a, &'static str, &'static str>,
    group_display_name: MultimapTable<'a, &'static str, &'static str>,
    user_modified: MultimapTable<'a, &'static str, &'static str>,
    group_modified: MultimapTable<'a, &'static str, &'static str>,
    group_members: MultimapTable<'a, &'static str, &'static str>,
    member_groups: MultimapTable<'a, &'static str, &'static str>,
    audit: Table<'a, &'static str, &'static [u8]>,
    /// How many mutations this transaction has made. The writer compares it across an operation
    /// that refused: a refusal after a write would leave half an operation in the batch.
    writes: u64,
}

impl<'a> WriteTx<'a> {
    /// Opens every table of `txn` for writing.
    pub(super) fn open(txn: &'a WriteTransaction) -> Result<WriteTx<'a>, StoreError> {
        Ok(WriteTx {
            users: txn.open_table(tables::USERS)?,
            groups: txn.open_table(tables::GROUPS)?,
            user_name: txn.open_table(tables::IDX_USER_NAME)?,
            user_external_id: txn.open_multimap_table(tables::IDX_USER_EXTERNAL_ID)?,
            group_external_id: txn.open_multimap_table(tables::IDX_GROUP_EXTERNAL_ID)?,
            group_display_name: txn.open_multimap_table(tables::IDX_GROUP_DISPLAY_NAME)?,
            user_modified: txn.open_multimap_table(tables::IDX_USER_MODIFIED)?,
            group_modified: txn.open_multimap_table(tables::IDX_GROUP_MODIFIED)?,
            group_members: txn.open_multimap_table(tables::GROUP_MEMBERS)?,
            member_groups: txn.open_multimap_table(tables::MEMBER_GROUPS)?,
            audit: txn.open_table(tables::AUDIT)?,
            writes: 0,
        })
    }

    /// How many mutations this transaction has made so far: an operation that refuses must
    /// leave it unchanged (see the writer).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn records(&self, kind: Kind) -> &Table<'a, &'static str, &'static [u8]> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    fn external_ids(&self, kind: Kind) -> &MultimapTable<'a, &'static str, &'static str> {
        match kind {
            Kind::User => &self.user_external_id,
            Kind::Group => &self.group_external_id,
        }
    }

    // ---- reads of the transaction's own, uncommitted state; same meaning as on ReadTx ----

    /// The record `id` of `kind`, if it exists.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Value>, StoreError> {
        query::get(self.records(kind), kind, id)
    }

    /// The top-level member `name` of record `id` of `kind`, without decoding the rest.
    pub fn get_member(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError> {
        query::get_member(self.records(kind), kind, id, name)
    }

    /// Whether record `id` of `kind` exists.
    pub fn exists(&self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        query::exists(self.records(kind), id)
    }

    /// The id of the user whose userName equals `user_name` case-insensitively.
    pub fn user_id_by_name(&self, user_name: &str) -> Result<Option<String>, StoreError> {
        query::unique(&self.user_name, &user_name.to_lowercase())
    }

    /// The ids of the records of `kind` whose externalId equals `external_id` exactly, sorted.
    pub fn ids_by_external_id(
        &self,
        kind: Kind,
        external_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        query::values(self.external_ids(kind), external_id)
    }

    /// The ids of the groups whose displayName equals `display_name` case-insensitively, sorted.
    pub fn group_ids_by_display_name(&self, display_name: &str) -> Result<Vec<String>, StoreError> {
        query::values(&self.group_display_name, &display_name.to_lowercase())
    }

    /// How many records of `kind` exist; O(1).
    pub fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        Ok(self.records(kind).len()?)
    }

    /// The direct member ids of `group_id`, sorted.
    pub fn members(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        query::values(&self.group_members, group_id)
    }

    /// Whether `member_id` is a direct member of `group_id`.
    pub fn is_member(&self, group_id: &str, member_id: &str) -> Result<bool, StoreError> {
        query::is_member(
            &self.group_members,
            &self.member_groups,
            group_id,
            member_id,
        )
    }

    /// How many direct members `group_id` has; O(1).
    pub fn member_count(&self, group_id: &str) -> Result<u64, StoreError> {
        query::value_count(&self.group_members, group_id)
    }

    /// The ids of the groups `member_id` is a direct member of, sorted.
    pub fn groups_of(&self, member_id: &str) -> Result<Vec<String>, StoreError> {
        query::values(&self.member_groups, member_id)
    }

    // ---- records ----

    /// Serializes a record exactly as [`WriteTx::insert`] and [`WriteTx::update`] store it, for
    /// [`WriteTx::insert_encoded`] and [`WriteTx::update_encoded`].
    pub fn encode(kind: Kind, doc: &Value) -> Result<Vec<u8>, StoreError> {
        encode(kind, doc)
    }

    /// Stores a new record and all its index entries.
    ///
    /// Refuses with [`StoreError::AlreadyExists`] if `id` is taken, and with
    /// [`StoreError::UserNameTaken`] if another user holds the userName case-insensitively.
    pub fn insert(&mut self, kind: Kind, id: &str, doc: &Value) -> Result<(), StoreError> {
        let bytes = encode(kind, doc)?;
        self.insert_encoded(kind, id, doc, &bytes)
    }

    /// [`WriteTx::insert`] with `doc` already serialized by [`WriteTx::encode`]: a caller that
    /// serialized it outside the writer (to check its size) does not pay for it twice, nor on
    /// the writer thread.
    pub fn insert_encoded(
        &mut self,
        kind: Kind,
        id: &str,
        doc: &Value,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let keys = IndexKeys::of(kind, doc)?;
        if self.exists(kind, id)? {
            return Err(StoreError::AlreadyExists);
        }
        self.check_user_name_free(keys.user_name.as_deref(), id, doc)?;

        let records = match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        };
        self.writes += 1;
        records.insert(id, bytes)?;
        self.move_index_entries(kind, id, &IndexKeys::default(), &keys)
    }

    /// Replaces record `id` and moves only the index entries whose keys changed.
    ///
    /// Refuses with [`StoreError::NotFound`] if `id` is absent, and with
    /// [`StoreError::UserNameTaken`] if the new userName belongs to another user; changing only
    /// the case of a user's own name is allowed.
    pub fn update(&mut self, kind: Kind, id: &str, doc: &Value) -> Result<(), StoreError> {
        let new_keys = IndexKeys::of(kind, doc)?;
        let bytes = encode(kind, doc)?;
        let old = self.get(kind, id)?.ok_or(StoreError::NotFound)?;
        self.replace_record(kind, id, &old, new_keys, doc, &bytes)
    }

    /// [`WriteTx::update`] for a caller that already holds `old`, the record as this
    /// transaction stores it now, and `bytes`, `doc` serialized by [`WriteTx::encode`]: a PATCH
    /// has read and decoded the record once already, and the writer thread need not do it
    /// again. `old` must be the current record: its index keys are the ones moved.
    pub fn update_encoded(
        &mut self,
        kind: Kind,
        id: &str,
        old: &Value,
        doc: &Value,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let new_keys = IndexKeys::of(kind, doc)?;
        self.replace_record(kind, id, old, new_keys, doc, bytes)
    }

    fn replace_record(
        &mut self,
        kind: Kind,
        id: &str,
        old: &Value,
        new_keys: IndexKeys,
        doc: &Value,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let old_keys = IndexKeys::of(kind, old)
            .map_err(|e| StoreError::Corrupt(format!("stored {kind} {id:?}: {e}")))?;
        // A user keeping its userName (a deactivation, most updates) already holds that index
        // entry: looking it up again would cost a b-tree search on the writer thread.
        if new_keys.user_name != old_keys.user_name {
            self.check_user_name_free(new_keys.user_name.as_deref(), id, doc)?;
        }

        let records = match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        };
        self.writes += 1;
        records.insert(id, bytes)?;
        self.move_index_entries(kind, id, &old_keys, &new_keys)
    }

    /// Deletes record `id` with its index entries and every membership edge in which it is the
    /// group or the member, in both mirror tables. Returns `false` if it did not exist.
    ///
    /// A stored record that no longer decodes is refused with [`StoreError::Corrupt`]: without
    /// its keys its index entries could not be found, and `db verify` names it instead.
    pub fn delete(&mut self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        let Some(old) = self.get(kind, id)? else {
            return Ok(false);
        };
        // A record whose keys cannot be derived would leave its index entries behind; refuse
        // rather than guess, and let `db verify` name it.
        let old_keys = IndexKeys::of(kind, &old)
            .map_err(|e| StoreError::Corrupt(format!("stored {kind} {id:?}: {e}")))?;
        let records = match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        };
        self.writes += 1;
        records.remove(id)?;
        self.move_index_entries(kind, id, &old_keys, &IndexKeys::default())?;
        // Both directions for either kind: ids are globally unique, and a group can be a member
        // as well as have members.
        self.clear_members(id)?;
        for group in self.member_groups.remove_all(id)? {
            self.group_members.remove(group?.value(), id)?;
        }
        Ok(true)
    }

    /// Refuses if `key` (an already lower-cased userName) is held by a user other than `id`.
    fn check_user_name_free(
        &self,
        key: Option<&str>,
        id: &str,
        doc: &Value,
    ) -> Result<(), StoreError> {
        let Some(key) = key else { return Ok(()) };
        match query::unique(&self.user_name, key)? {
            Some(existing_id) if existing_id != id => Err(StoreError::UserNameTaken {
                user_name: user_name_as_given(doc),
                existing_id,
            }),
            _ => Ok(()),
        }
    }

    /// Removes the entries of `old` that `new` does not have and adds those it newly has.
    /// Unchanged keys are not touched, so an update that leaves the names alone writes only the
    /// record.
    fn move_index_entries(
        &mut self,
        kind: Kind,
        id: &str,
        old: &IndexKeys,
        new: &IndexKeys,
    ) -> Result<(), StoreError> {
        if old.user_name != new.user_name {
            if let Some(k) = &old.user_name {
                // Only our own entry: if the index names someone else, the index is wrong, but
                // removing their entry would make things worse.
                if query::unique(&self.user_name, k)?.as_deref() == Some(id) {
                    self.user_name.remove(k.as_str())?;
                }
            }
            if let Some(k) = &new.user_name {
                self.user_name.insert(k.as_str(), id)?;
            }
        }
        let external_ids = match kind {
            Kind::User => &mut self.user_external_id,
            Kind::Group => &mut self.group_external_id,
        };
        move_multi(external_ids, id, &old.external_id, &new.external_id)?;
        let modified = match kind {
            Kind::User => &mut self.user_modified,
            Kind::Group => &mut self.group_modified,
        };
        move_multi(modified, id, &old.modified, &new.modified)?;
        move_multi(
            &mut self.group_display_name,
            id,
            &old.display_name,
            &new.display_name,
        )
    }

    /// Adds the index entries of every record that version 1 of the layout did not index
    /// (`meta.lastModified`). Idempotent: existing entries are kept.
    pub(super) fn backfill_modified(&mut self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kind in [Kind::User, Kind::Group] {
            let mut pending = Vec::new();
            for entry in self.records(kind).iter()? {
                let (id, bytes) = entry?;
                let doc = super::record::decode(kind, id.value(), bytes.value())?;
                if let Some(key) = IndexKeys::of(kind, &doc)?.modified {
                    pending.push((key, id.value().to_owned()));
                }
            }
            let table = match kind {
                Kind::User => &mut self.user_modified,
                Kind::Group => &mut self.group_modified,
            };
            for (key, id) in pending {
                table.insert(key.as_str(), id.as_str())?;
                n += 1;
            }
        }
        Ok(n)
    }

    // ---- audit log ----

    /// Appends an audit entry under `key` (see [`audit_key`](super::audit_key)), in this
    /// transaction: the entry commits with the change it describes, or not at all.
    pub fn append_audit(&mut self, key: &str, entry: &Value) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(entry).map_err(|e| {
            StoreError::InvalidRecord(format!("cannot serialize an audit entry: {e}"))
        })?;
        self.writes += 1;
        self.audit.insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Deletes up to `limit` audit entries with keys below `before`, oldest first; returns how
    /// many. Bounded, so retention never holds the writer for long.
    pub fn purge_audit(&mut self, before: &str, limit: usize) -> Result<u64, StoreError> {
        let mut doomed = Vec::new();
        for entry in self.audit.range::<&str>(..before)? {
            if doomed.len() >= limit {
                break;
            }
            doomed.push(entry?.0.value().to_owned());
        }
        if !doomed.is_empty() {
            self.writes += 1;
        }
        for k in &doomed {
            self.audit.remove(k.as_str())?;
        }
        Ok(doomed.len() as u64)
    }

    // ---- membership ----

    /// Makes `member_id` a direct member of `group_id`. Returns `true` if it was not one before.
    ///
    /// Two multimap inserts, O(log n) whatever the group's size; the member list is never read.
    /// The caller checks that both ids exist.
    pub fn add_member(&mut self, group_id: &str, member_id: &str) -> Result<bool, StoreError> {
        // Looked up first: redb rewrites a large group's value tree even for a value it holds,
        // and counting that as a write would make a batch of re-adds (IdPs re-send them) pay a
        // durable commit that changes nothing.
        if self.is_member(group_id, member_id)? {
            return Ok(false);
        }
        self.writes += 1;
        self.group_members.insert(group_id, member_id)?;
        self.member_groups.insert(member_id, group_id)?;
        Ok(true)
    }

    /// Removes `member_id` from `group_id`. Returns `true` if it was a member.
    pub fn remove_member(&mut self, group_id: &str, member_id: &str) -> Result<bool, StoreError> {
        if !self.is_member(group_id, member_id)? {
            return Ok(false);
        }
        self.writes += 1;
        self.group_members.remove(group_id, member_id)?;
        self.member_groups.remove(member_id, group_id)?;
        Ok(true)
    }

    /// Removes every member of `group_id` (both directions) and returns how many there were.
    /// It walks the member set once.
    pub fn clear_members(&mut self, group_id: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        // Counted even when the group had no members: remove_all may touch the table anyway.
        self.writes += 1;
        for member in self.group_members.remove_all(group_id)? {
            self.member_groups.remove(member?.value(), group_id)?;
            n += 1;
        }
        Ok(n)
    }
}

/// Moves `id` from key `old` to key `new` in a multimap index, if the key changed.
fn move_multi(
    t: &mut MultimapTable<'_, &'static str, &'static str>,
    id: &str,
    old: &Option<String>,
    new: &Option<String>,
) -> Result<(), StoreError> {
    if old == new {
        return Ok(());
    }
    if let Some(k) = old {
        t.remove(k.as_str(), id)?;
    }
    if let Some(k) = new {
        t.insert(k.as_str(), id)?;
    }
    Ok(())
}
