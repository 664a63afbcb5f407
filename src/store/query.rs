//! Read helpers shared by [`ReadTx`](super::ReadTx) (read-only tables of a snapshot) and
//! [`WriteTx`](super::WriteTx) (the writable tables of the open transaction), written once over
//! redb's `Readable*` traits so both see exactly the same logic.

use std::ops::Bound;

use redb::{ReadableMultimapTable, ReadableTable};
use serde_json::Value;

use super::record::decode;
use super::{Kind, StoreError};

/// Any readable primary table: id → JSON bytes.
pub(super) trait Records: ReadableTable<&'static str, &'static [u8]> {}
impl<T: ReadableTable<&'static str, &'static [u8]>> Records for T {}

/// Any readable unique index: key → id.
pub(super) trait Unique: ReadableTable<&'static str, &'static str> {}
impl<T: ReadableTable<&'static str, &'static str>> Unique for T {}

/// Any readable multimap of strings: key → sorted set of ids.
pub(super) trait Multi: ReadableMultimapTable<&'static str, &'static str> {}
impl<T: ReadableMultimapTable<&'static str, &'static str>> Multi for T {}

/// The decoded record `id`, if present.
pub(super) fn get(t: &impl Records, kind: Kind, id: &str) -> Result<Option<Value>, StoreError> {
    match t.get(id)? {
        Some(bytes) => decode(kind, id, bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// The top-level member `name` of record `id`, if both exist, without decoding the rest.
pub(super) fn get_member(
    t: &impl Records,
    kind: Kind,
    id: &str,
    name: &str,
) -> Result<Option<Value>, StoreError> {
    match t.get(id)? {
        Some(bytes) => super::record::decode_member(kind, id, bytes.value(), name),
        None => Ok(None),
    }
}

/// Whether record `id` is present, without decoding it.
pub(super) fn exists(t: &impl Records, id: &str) -> Result<bool, StoreError> {
    Ok(t.get(id)?.is_some())
}

/// The id a unique index maps `key` to.
pub(super) fn unique(t: &impl Unique, key: &str) -> Result<Option<String>, StoreError> {
    Ok(t.get(key)?.map(|id| id.value().to_owned()))
}

/// All values under `key`, in ascending (byte) order as redb keeps them.
pub(super) fn values(t: &impl Multi, key: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for v in t.get(key)? {
        out.push(v?.value().to_owned());
    }
    Ok(out)
}

/// How many values are under `key`; O(1): redb keeps the count with the value set.
pub(super) fn value_count(t: &impl Multi, key: &str) -> Result<u64, StoreError> {
    Ok(t.get(key)?.len())
}

/// Whether `value` is under `key`. redb has no point lookup inside a value set, so this walks
/// the (sorted) set and stops at the first value not below `value`.
pub(super) fn contains(t: &impl Multi, key: &str, value: &str) -> Result<bool, StoreError> {
    for v in t.get(key)? {
        let v = v?;
        match v.value().cmp(value) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(true),
            std::cmp::Ordering::Greater => return Ok(false),
        }
    }
    Ok(false)
}

/// Whether `member_id` is a direct member of `group_id`.
///
/// The edge is in both mirror tables, so this walks whichever side is shorter: a user's group
/// list rather than a million-member group, or a small group rather than a user in thousands.
pub(super) fn is_member(
    group_members: &impl Multi,
    member_groups: &impl Multi,
    group_id: &str,
    member_id: &str,
) -> Result<bool, StoreError> {
    if value_count(group_members, group_id)? <= value_count(member_groups, member_id)? {
        contains(group_members, group_id, member_id)
    } else {
        contains(member_groups, member_id, group_id)
    }
}

/// Visits records with ids in `range`, in id order or reversed; stops when `f` returns
/// `Ok(false)`.
pub(super) fn scan(
    t: &impl Records,
    kind: Kind,
    range: (Bound<&str>, Bound<&str>),
    reverse: bool,
    f: &mut dyn FnMut(&str, Value) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut visit = |entry: Result<_, redb::StorageError>| -> Result<bool, StoreError> {
        let (id, bytes): (redb::AccessGuard<&str>, redb::AccessGuard<&[u8]>) = entry?;
        let id = id.value();
        f(id, decode(kind, id, bytes.value())?)
    };
    let entries = t.range::<&str>(range)?;
    if reverse {
        for entry in entries.rev() {
            if !visit(entry)? {
                break;
            }
        }
    } else {
        for entry in entries {
            if !visit(entry)? {
                break;
            }
        }
    }
    Ok(())
}

/// Visits the entries of a unique index with keys in `(lower, upper)`, in key order (reversed
/// when `reverse`); stops when `f` returns `Ok(false)`.
pub(super) fn unique_range(
    t: &impl Unique,
    (lower, upper): (Bound<&str>, Bound<&str>),
    reverse: bool,
    f: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let range = t.range::<&str>((lower, upper))?;
    let mut visit = |entry: Result<_, redb::StorageError>| -> Result<bool, StoreError> {
        let (k, v): (redb::AccessGuard<&str>, redb::AccessGuard<&str>) = entry?;
        f(k.value(), v.value())
    };
    if reverse {
        for entry in range.rev() {
            if !visit(entry)? {
                break;
            }
        }
    } else {
        for entry in range {
            if !visit(entry)? {
                break;
            }
        }
    }
    Ok(())
}

/// Visits every (key, id) pair of a multimap index with keys in `(lower, upper)`, in key order
/// then id order; stops when `f` returns `Ok(false)`.
pub(super) fn multi_range(
    t: &impl Multi,
    (lower, upper): (Bound<&str>, Bound<&str>),
    f: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    for entry in t.range::<&str>((lower, upper))? {
        let (key, ids) = entry?;
        for id in ids {
            if !f(key.value(), id?.value())? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// As [`scan`], but visits ids only: nothing is decoded.
pub(super) fn scan_ids(
    t: &impl Records,
    range: (Bound<&str>, Bound<&str>),
    reverse: bool,
    f: &mut dyn FnMut(&str) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let entries = t.range::<&str>(range)?;
    if reverse {
        for entry in entries.rev() {
            if !f(entry?.0.value())? {
                break;
            }
        }
    } else {
        for entry in entries {
            if !f(entry?.0.value())? {
                break;
            }
        }
    }
    Ok(())
}
