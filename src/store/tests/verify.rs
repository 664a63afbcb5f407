//! `verify` on healthy stores and on stores corrupted by hand through raw redb writes.

use redb::WriteTransaction;

use super::{add_members, group, insert_all, temp_store, user};
use crate::store::{tables, Kind, Store};

/// Users u1 (alice, e1), u2 (bob); groups g1 (Team, ge1), g2 (Sub); g1 ∋ u1, g2; g2 ∋ u2.
fn healthy() -> (tempfile::TempDir, Store) {
    let (dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "Alice", Some("e1"))),
            (Kind::User, "u2", user("u2", "bob", None)),
            (Kind::Group, "g1", group("g1", "Team", Some("ge1"))),
            (Kind::Group, "g2", group("g2", "Sub", None)),
        ],
    );
    add_members(&store, &[("g1", "u1"), ("g1", "g2"), ("g2", "u2")]);
    (dir, store)
}

/// Writes straight to the redb tables, bypassing the store's bookkeeping.
fn corrupt(store: &Store, f: impl FnOnce(&WriteTransaction)) {
    let txn = store.db.begin_write().unwrap();
    f(&txn);
    txn.commit().unwrap();
}

#[test]
fn a_healthy_store_verifies_with_counts() {
    let (_dir, store) = healthy();
    let report = store.verify().unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
    assert!(report.problems.is_empty());
    assert_eq!((report.users, report.groups), (2, 2));
    // userName ×2, user externalId ×1, group externalId ×1, displayName ×2
    assert_eq!(report.index_entries, 6);
    assert_eq!(report.memberships, 3);
}

#[test]
fn verify_reports_each_kind_of_damage() {
    type Damage = fn(&WriteTransaction);
    // (what is broken, the damage, a fragment the report must contain)
    let cases: [(&str, Damage, &str); 10] = [
        (
            "dangling userName entry",
            |t| {
                let mut ix = t.open_table(tables::IDX_USER_NAME).unwrap();
                ix.insert("ghost", "u9").unwrap();
            },
            "idx_user_name \"ghost\" points at user \"u9\", which does not exist",
        ),
        (
            "missing userName entry",
            |t| {
                let mut ix = t.open_table(tables::IDX_USER_NAME).unwrap();
                ix.remove("alice").unwrap();
            },
            "userName key \"alice\" is missing from idx_user_name",
        ),
        (
            "userName entry with a stale key",
            |t| {
                let mut ix = t.open_table(tables::IDX_USER_NAME).unwrap();
                ix.insert("alicia", "u1").unwrap();
            },
            "whose userName key is Some(\"alice\")",
        ),
        (
            "two users share a userName",
            |t| {
                let mut users = t.open_table(tables::USERS).unwrap();
                let doc = serde_json::to_vec(&user("u2", "ALICE", None)).unwrap();
                users.insert("u2", doc.as_slice()).unwrap();
            },
            "share the userName key \"alice\"",
        ),
        (
            "missing externalId entry",
            |t| {
                let mut ix = t.open_multimap_table(tables::IDX_USER_EXTERNAL_ID).unwrap();
                ix.remove("e1", "u1").unwrap();
            },
            "externalId \"e1\" is missing from idx_user_external_id",
        ),
        (
            "dangling displayName entry",
            |t| {
                let mut ix = t
                    .open_multimap_table(tables::IDX_GROUP_DISPLAY_NAME)
                    .unwrap();
                ix.insert("team", "g9").unwrap();
            },
            "idx_group_display_name \"team\" points at Group \"g9\", which does not exist",
        ),
        (
            "member_groups lacks a mirror",
            |t| {
                let mut mg = t.open_multimap_table(tables::MEMBER_GROUPS).unwrap();
                mg.remove("u1", "g1").unwrap();
            },
            "group_members \"g1\" → \"u1\" has no member_groups mirror",
        ),
        (
            "group_members lacks a mirror",
            |t| {
                let mut mg = t.open_multimap_table(tables::MEMBER_GROUPS).unwrap();
                mg.insert("u2", "g1").unwrap();
            },
            "member_groups \"u2\" → \"g1\" has no group_members mirror",
        ),
        (
            "membership endpoint does not exist",
            |t| {
                let mut gm = t.open_multimap_table(tables::GROUP_MEMBERS).unwrap();
                gm.insert("g1", "u9").unwrap();
                let mut mg = t.open_multimap_table(tables::MEMBER_GROUPS).unwrap();
                mg.insert("u9", "g1").unwrap();
            },
            "group \"g1\" has member \"u9\", which does not exist",
        ),
        (
            "undecodable record",
            |t| {
                let mut groups = t.open_table(tables::GROUPS).unwrap();
                groups.insert("g2", b"{not json".as_slice()).unwrap();
            },
            "Group record \"g2\" is not valid JSON",
        ),
    ];
    for (what, damage, expected) in cases {
        let (_dir, store) = healthy();
        assert!(
            store.verify().unwrap().is_healthy(),
            "{what}: healthy before"
        );
        corrupt(&store, damage);
        let report = store.verify().unwrap();
        assert!(!report.is_healthy(), "{what}: not detected");
        assert_eq!(report.problem_count, report.problems.len() as u64, "{what}");
        assert!(
            report.problems.iter().any(|p| p.contains(expected)),
            "{what}: expected {expected:?} in {:#?}",
            report.problems
        );
    }
}

#[test]
fn a_deleted_group_left_in_an_edge_is_a_dangling_endpoint() {
    let (_dir, store) = healthy();
    corrupt(&store, |t| {
        t.open_table(tables::GROUPS).unwrap().remove("g2").unwrap();
        let mut ix = t
            .open_multimap_table(tables::IDX_GROUP_DISPLAY_NAME)
            .unwrap();
        ix.remove("sub", "g2").unwrap();
    });
    let report = store.verify().unwrap();
    let problems = report.problems.join("\n");
    assert!(
        problems.contains("group \"g1\" has member \"g2\", which does not exist"),
        "{problems}"
    );
    assert!(
        problems.contains("group \"g2\" does not exist but has 1 member(s)"),
        "{problems}"
    );
}
