//! [`ReadTx`]: a read-only MVCC snapshot.

use std::ops::Bound;
use std::sync::Arc;

use redb::{ReadOnlyMultimapTable, ReadOnlyTable, ReadTransaction};
use serde_json::Value;

use super::tables::{self, MultiDef};
use super::{query, Kind, StoreError};

/// A consistent, read-only view of the store as of [`Store::read`](super::Store::read).
///
/// Keep it short-lived: while it is open redb cannot reuse the pages it sees, so the file grows.
/// Tables are opened per call, which costs one small lookup and keeps a plain `get` from paying
/// for tables it does not touch. The snapshot may be shared with other reads of the same
/// commit (see `Store::read`).
pub struct ReadTx {
    pub(super) txn: Arc<ReadTransaction>,
}

impl ReadTx {
    fn records(
        &self,
        kind: Kind,
    ) -> Result<ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        Ok(self.txn.open_table(tables::records(kind))?)
    }

    fn multi(
        &self,
        def: MultiDef,
    ) -> Result<ReadOnlyMultimapTable<&'static str, &'static str>, StoreError> {
        Ok(self.txn.open_multimap_table(def)?)
    }

    /// The record `id` of `kind`, if it exists.
    pub fn get(&self, kind: Kind, id: &str) -> Result<Option<Value>, StoreError> {
        query::get(&self.records(kind)?, kind, id)
    }

    /// Hands the stored JSON of record `id` of `kind` to `f` without decoding it (for
    /// `scim::raw`); `None` when there is no such record.
    pub fn with_raw<R>(
        &self,
        kind: Kind,
        id: &str,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StoreError> {
        Ok(self.records(kind)?.get(id)?.map(|bytes| f(bytes.value())))
    }

    /// The top-level member `name` of record `id` of `kind`, without decoding the rest.
    pub fn get_member(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
    ) -> Result<Option<Value>, StoreError> {
        query::get_member(&self.records(kind)?, kind, id, name)
    }

    /// Whether record `id` of `kind` exists.
    pub fn exists(&self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        query::exists(&self.records(kind)?, id)
    }

    /// The id of the user whose userName equals `user_name` case-insensitively.
    pub fn user_id_by_name(&self, user_name: &str) -> Result<Option<String>, StoreError> {
        let t = self.txn.open_table(tables::IDX_USER_NAME)?;
        query::unique(&t, &user_name.to_lowercase())
    }

    /// The ids of the records of `kind` whose externalId equals `external_id` exactly, sorted.
    pub fn ids_by_external_id(
        &self,
        kind: Kind,
        external_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        query::values(&self.multi(tables::external_ids(kind))?, external_id)
    }

    /// The ids of the groups whose displayName equals `display_name` case-insensitively, sorted.
    pub fn group_ids_by_display_name(&self, display_name: &str) -> Result<Vec<String>, StoreError> {
        let t = self.multi(tables::IDX_GROUP_DISPLAY_NAME)?;
        query::values(&t, &display_name.to_lowercase())
    }

    /// Visits the ids of `kind` in `range`, in order or reversed, without reading the records.
    pub fn ids_in(
        &self,
        kind: Kind,
        range: (Bound<&str>, Bound<&str>),
        reverse: bool,
        f: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        query::scan_ids(&self.records(kind)?, range, reverse, f)
    }

    /// Visits `(lower(userName), id)` pairs with keys in `range`, in key order or reversed; the
    /// callback returns `Ok(false)` to stop. Serves `sw` filters and pages sorted by userName.
    pub fn user_names_in(
        &self,
        range: (Bound<&str>, Bound<&str>),
        reverse: bool,
        f: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(tables::IDX_USER_NAME)?;
        query::unique_range(&t, range, reverse, f)
    }

    /// Visits `(time key, id)` pairs of the records of `kind` whose `meta.lastModified`
    /// [`time_key`](super::time_key) is in `range`, oldest first; `Ok(false)` stops.
    pub fn modified_in(
        &self,
        kind: Kind,
        range: (Bound<&str>, Bound<&str>),
        f: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        query::multi_range(&self.multi(tables::modified(kind))?, range, f)
    }

    /// Visits audit entries with keys in `range`, oldest first or newest first; `Ok(false)`
    /// stops. An entry that does not decode is reported as a `StoreError::Corrupt`.
    pub fn audit_in(
        &self,
        range: (Bound<&str>, Bound<&str>),
        newest_first: bool,
        f: &mut dyn FnMut(&str, Value) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(tables::AUDIT)?;
        let mut visit = |k: &str, bytes: &[u8]| -> Result<bool, StoreError> {
            let v = serde_json::from_slice(bytes).map_err(|e| {
                StoreError::Corrupt(format!("audit entry {k:?} is not valid JSON: {e}"))
            })?;
            f(k, v)
        };
        let entries = t.range::<&str>(range)?;
        if newest_first {
            for e in entries.rev() {
                let (k, v) = e?;
                if !visit(k.value(), v.value())? {
                    break;
                }
            }
        } else {
            for e in entries {
                let (k, v) = e?;
                if !visit(k.value(), v.value())? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// How many audit entries there are; O(1).
    pub fn audit_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        Ok(self.txn.open_table(tables::AUDIT)?.len()?)
    }

    /// How many records of `kind` exist; O(1).
    pub fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        Ok(self.records(kind)?.len()?)
    }

    /// Visits records in id order starting strictly after `after` (`None` = from the start);
    /// the callback returns `Ok(false)` to stop, and an error from it is returned as is.
    pub fn scan(
        &self,
        kind: Kind,
        after: Option<&str>,
        f: &mut dyn FnMut(&str, Value) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        query::scan(
            &self.records(kind)?,
            kind,
            (lower, Bound::Unbounded),
            false,
            f,
        )
    }

    /// Visits records with ids in `range`, in id order or reversed; `Ok(false)` stops.
    pub fn scan_range(
        &self,
        kind: Kind,
        range: (Bound<&str>, Bound<&str>),
        reverse: bool,
        f: &mut dyn FnMut(&str, Value) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        query::scan(&self.records(kind)?, kind, range, reverse, f)
    }

    /// The direct member ids of `group_id`, sorted.
    pub fn members(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
        query::values(&self.multi(tables::GROUP_MEMBERS)?, group_id)
    }

    /// Visits the direct member ids of `group_id` in order without collecting them, so a group
    /// of any size can be written out in constant memory; the callback returns `Ok(false)` to stop.
    pub fn for_each_member(
        &self,
        group_id: &str,
        f: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.multi(tables::GROUP_MEMBERS)?;
        for v in t.get(group_id)? {
            if !f(v?.value())? {
                break;
            }
        }
        Ok(())
    }

    /// Whether `member_id` is a direct member of `group_id`.
    pub fn is_member(&self, group_id: &str, member_id: &str) -> Result<bool, StoreError> {
        let gm = self.multi(tables::GROUP_MEMBERS)?;
        let mg = self.multi(tables::MEMBER_GROUPS)?;
        query::is_member(&gm, &mg, group_id, member_id)
    }

    /// How many direct members `group_id` has; O(1).
    pub fn member_count(&self, group_id: &str) -> Result<u64, StoreError> {
        query::value_count(&self.multi(tables::GROUP_MEMBERS)?, group_id)
    }

    /// How many direct membership edges (group → member) exist in all; O(1).
    pub fn membership_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        Ok(self.multi(tables::GROUP_MEMBERS)?.len()?)
    }

    /// The ids of the groups `member_id` is a direct member of, sorted.
    pub fn groups_of(&self, member_id: &str) -> Result<Vec<String>, StoreError> {
        query::values(&self.multi(tables::MEMBER_GROUPS)?, member_id)
    }
}
