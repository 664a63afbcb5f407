//! The `meta.lastModified` indexes: keys, maintenance, range reads, and the upgrade that adds
//! them to a version-1 file.

use std::ops::Bound;

use redb::ReadableDatabase;
use serde_json::{json, Value};

use super::{insert_all, temp_store, user};
use crate::store::{tables, time_key, Kind, Store};

fn stamped(id: &str, name: &str, last_modified: &str) -> Value {
    let mut u = user(id, name, None);
    u["meta"] = json!({"lastModified": last_modified});
    u
}

fn modified_ids(store: &Store, kind: Kind, lower: Bound<&str>, upper: Bound<&str>) -> Vec<String> {
    let mut out = Vec::new();
    store
        .read()
        .unwrap()
        .modified_in(kind, (lower, upper), &mut |_, id| {
            out.push(id.to_owned());
            Ok(true)
        })
        .unwrap();
    out
}

#[test]
fn time_keys_sort_in_time_order_whatever_the_offset_or_precision() {
    let a = time_key("2026-01-01T10:00:00Z").unwrap();
    let b = time_key("2026-01-01T11:30:00.5+01:00").unwrap(); // 10:30:00.5 UTC
    let c = time_key("2026-01-01T10:30:00.500000001Z").unwrap();
    assert_eq!(a, "2026-01-01T10:00:00.000000000Z");
    assert!(a < b && b < c, "{a} {b} {c}");
    assert_eq!(time_key("2026-01-01T10:30:00.500Z").unwrap(), b);
    assert_eq!(time_key("yesterday"), None);
    // Past year 9999 once in UTC: no key (and no panic), so the planner scans instead.
    assert_eq!(time_key("9999-12-31T23:59:59-01:00"), None);
    assert_eq!(time_key("2026-01-01"), None);
}

#[test]
fn the_index_follows_every_write() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", stamped("u1", "a", "2026-01-01T00:00:00Z")),
            (Kind::User, "u2", stamped("u2", "b", "2026-01-02T00:00:00Z")),
            (Kind::User, "u3", user("u3", "c", None)), // no meta: no entry
        ],
    );
    let all = |s: &Store| modified_ids(s, Kind::User, Bound::Unbounded, Bound::Unbounded);
    assert_eq!(all(&store), ["u1", "u2"]);
    let after = time_key("2026-01-01T12:00:00Z").unwrap();
    assert_eq!(
        modified_ids(
            &store,
            Kind::User,
            Bound::Excluded(&after),
            Bound::Unbounded
        ),
        ["u2"]
    );

    // An update moves the entry; a delete removes it.
    store
        .write(|w| {
            w.update(
                Kind::User,
                "u1",
                &stamped("u1", "a", "2026-01-03T00:00:00Z"),
            )?;
            w.delete(Kind::User, "u2").map(|_| ())
        })
        .unwrap();
    assert_eq!(all(&store), ["u1"]);
    assert_eq!(
        modified_ids(
            &store,
            Kind::User,
            Bound::Excluded(&after),
            Bound::Unbounded
        ),
        ["u1"]
    );
    assert!(modified_ids(&store, Kind::Group, Bound::Unbounded, Bound::Unbounded).is_empty());
    assert!(store.verify().unwrap().is_healthy());
}

#[test]
fn user_names_are_read_in_key_order_either_way() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "Carol", None)),
            (Kind::User, "u2", user("u2", "alice", None)),
            (Kind::User, "u3", user("u3", "Alan", None)),
        ],
    );
    let read = |lower: Bound<&str>, upper: Bound<&str>, reverse| {
        let mut out = Vec::new();
        store
            .read()
            .unwrap()
            .user_names_in((lower, upper), reverse, &mut |k, id| {
                out.push(format!("{k}={id}"));
                Ok(true)
            })
            .unwrap();
        out
    };
    assert_eq!(
        read(Bound::Unbounded, Bound::Unbounded, false),
        ["alan=u3", "alice=u2", "carol=u1"]
    );
    assert_eq!(
        read(Bound::Excluded("alan"), Bound::Unbounded, true),
        ["carol=u1", "alice=u2"]
    );
}

#[test]
fn a_version_1_file_is_upgraded_with_its_index_built() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scimd.redb");
    {
        let store = Store::open(&path).unwrap();
        insert_all(
            &store,
            &[
                (Kind::User, "u1", stamped("u1", "a", "2026-01-01T00:00:00Z")),
                (Kind::User, "u2", stamped("u2", "b", "2026-01-02T00:00:00Z")),
            ],
        );
        // Make it look like a file written by a version-1 build: no lastModified tables.
        let txn = store.db.begin_write().unwrap();
        txn.delete_multimap_table(tables::IDX_USER_MODIFIED)
            .unwrap();
        txn.delete_multimap_table(tables::IDX_GROUP_MODIFIED)
            .unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_VERSION_KEY, "1")
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let version = {
        let txn = store.db.begin_read().unwrap();
        let meta = txn.open_table(tables::META).unwrap();
        let v = meta.get(tables::SCHEMA_VERSION_KEY).unwrap().unwrap();
        v.value().to_owned()
    };
    assert_eq!(version, tables::SCHEMA_VERSION.to_string());
    assert_eq!(
        modified_ids(&store, Kind::User, Bound::Unbounded, Bound::Unbounded),
        ["u1", "u2"]
    );
    let report = store.verify().unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
}

#[test]
fn a_missing_index_entry_is_reported() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[(Kind::User, "u1", stamped("u1", "a", "2026-01-01T00:00:00Z"))],
    );
    let txn = store.db.begin_write().unwrap();
    {
        let mut t = txn.open_multimap_table(tables::IDX_USER_MODIFIED).unwrap();
        t.remove_all("2026-01-01T00:00:00.000000000Z").unwrap();
    }
    txn.commit().unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("idx_user_modified"));
}
