//! Membership edges and what deleting records does to them.

use super::{add_members, group, insert_all, temp_store, user};
use crate::store::{Kind, Store, StoreError};

/// Users u1..u3 and groups g1..g3.
fn populated() -> (tempfile::TempDir, Store) {
    let (dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "one", Some("e1"))),
            (Kind::User, "u2", user("u2", "two", None)),
            (Kind::User, "u3", user("u3", "three", None)),
            (Kind::Group, "g1", group("g1", "G1", Some("ge1"))),
            (Kind::Group, "g2", group("g2", "G2", None)),
            (Kind::Group, "g3", group("g3", "G3", None)),
        ],
    );
    (dir, store)
}

#[test]
fn re_adding_or_re_removing_a_member_commits_nothing() {
    let (_dir, store) = populated();
    assert!(store.write(|w| w.add_member("g1", "u1")).unwrap());
    let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&commits);
    store.observe_batches(move |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    // What IdPs re-send: an add of a member, a remove of a non-member. Neither changes the
    // store, so neither may cost a durable commit.
    assert!(!store.write(|w| w.add_member("g1", "u1")).unwrap());
    assert!(!store.write(|w| w.remove_member("g1", "u2")).unwrap());
    assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(store.write(|w| w.remove_member("g1", "u1")).unwrap());
    assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(store.read().unwrap().members("g1").unwrap().is_empty());
}

#[test]
fn add_member_is_idempotent() {
    let (_dir, store) = populated();
    let added: Vec<bool> = store
        .write(|w| {
            Ok::<_, StoreError>(vec![
                w.add_member("g1", "u1")?,
                w.add_member("g1", "u1")?,
                w.add_member("g1", "u2")?,
            ])
        })
        .unwrap();
    assert_eq!(added, [true, false, true]);
    // And again in a later transaction.
    assert!(!store.write(|w| w.add_member("g1", "u1")).unwrap());
    let r = store.read().unwrap();
    assert_eq!(r.members("g1").unwrap(), ["u1", "u2"]);
    assert_eq!(r.member_count("g1").unwrap(), 2);
    assert_eq!(r.groups_of("u1").unwrap(), ["g1"]);
}

#[test]
fn remove_member_reports_whether_it_was_one() {
    let (_dir, store) = populated();
    add_members(&store, &[("g1", "u1"), ("g2", "u1")]);
    let removed: Vec<bool> = store
        .write(|w| {
            Ok::<_, StoreError>(vec![
                w.remove_member("g1", "u2")?, // never a member
                w.remove_member("g1", "u1")?,
                w.remove_member("g1", "u1")?, // already removed
            ])
        })
        .unwrap();
    assert_eq!(removed, [false, true, false]);
    let r = store.read().unwrap();
    assert!(r.members("g1").unwrap().is_empty());
    assert_eq!(r.groups_of("u1").unwrap(), ["g2"]);
    assert!(store.verify().unwrap().is_healthy());
}

#[test]
fn members_and_groups_are_sorted_and_mirrored() {
    let (_dir, store) = populated();
    add_members(
        &store,
        &[("g2", "u3"), ("g2", "u1"), ("g1", "u1"), ("g3", "g2")],
    );
    let r = store.read().unwrap();
    assert_eq!(r.members("g2").unwrap(), ["u1", "u3"]);
    assert_eq!(r.groups_of("u1").unwrap(), ["g1", "g2"]);
    assert_eq!(r.groups_of("g2").unwrap(), ["g3"]);
    assert_eq!(r.members("g3").unwrap(), ["g2"]);
    assert!(r.members("nope").unwrap().is_empty());
    assert_eq!(r.member_count("nope").unwrap(), 0);
}

#[test]
fn is_member_answers_from_either_side() {
    let (_dir, store) = populated();
    // g1 is big and u1 is in few groups; g2 is small and "busy" is in many groups, so both
    // branches of the shorter-side walk are taken.
    let many: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
    store
        .write(move |w| {
            for m in &many {
                w.add_member("g1", m)?;
            }
            w.add_member("g1", "u1")?;
            w.add_member("g2", "busy")?;
            w.add_member("g3", "aaa")?;
            w.add_member("a-big", "m00")?;
            w.add_member("a-big", "m01")?;
            for i in 0..50 {
                w.add_member(&format!("x{i:02}"), "busy")?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let r = store.read().unwrap();
    let cases = [
        ("g1", "u1", true),
        ("g1", "m00", true),
        ("g1", "m49", true),
        ("g1", "u2", false),
        ("g1", "zzz", false),
        ("g2", "busy", true),
        ("x07", "busy", true),
        ("g2", "u1", false),
        ("g3", "busy", false),
        // The walked side holds only values past the one sought.
        ("g1", "busy", false), // equal counts: walks g1's members, all after "busy"
        ("g2", "aaa", false),  // walks g2's members: "busy" is after "aaa"
        ("a-big", "u1", false), // walks u1's groups: "g1" is after "a-big"
        ("nope", "nobody", false),
    ];
    for (g, m, expected) in cases {
        assert_eq!(r.is_member(g, m).unwrap(), expected, "{g} ∋ {m}");
    }
}

#[test]
fn clear_members_removes_both_directions_of_one_group() {
    let (_dir, store) = populated();
    add_members(
        &store,
        &[("g1", "u1"), ("g1", "u2"), ("g1", "g2"), ("g2", "u1")],
    );
    assert_eq!(store.write(|w| w.clear_members("g1")).unwrap(), 3);
    assert_eq!(store.write(|w| w.clear_members("g1")).unwrap(), 0);
    let r = store.read().unwrap();
    assert!(r.members("g1").unwrap().is_empty());
    assert_eq!(r.groups_of("u1").unwrap(), ["g2"]);
    assert!(r.groups_of("u2").unwrap().is_empty());
    assert!(r.groups_of("g2").unwrap().is_empty());
    assert_eq!(r.members("g2").unwrap(), ["u1"]); // another group is untouched
    assert!(store.verify().unwrap().is_healthy());
}

#[test]
fn deleting_a_user_cleans_its_indexes_and_memberships() {
    let (_dir, store) = populated();
    add_members(&store, &[("g1", "u1"), ("g2", "u1"), ("g2", "u2")]);
    assert!(store.write(|w| w.delete(Kind::User, "u1")).unwrap());
    assert!(!store.write(|w| w.delete(Kind::User, "u1")).unwrap());
    let r = store.read().unwrap();
    assert_eq!(r.get(Kind::User, "u1").unwrap(), None);
    assert_eq!(r.user_id_by_name("one").unwrap(), None);
    assert!(r.ids_by_external_id(Kind::User, "e1").unwrap().is_empty());
    assert!(r.groups_of("u1").unwrap().is_empty());
    assert!(r.members("g1").unwrap().is_empty());
    assert_eq!(r.members("g2").unwrap(), ["u2"]);
    assert_eq!(r.count(Kind::User).unwrap(), 2);
    let report = store.verify().unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
}

#[test]
fn deleting_a_nested_group_cleans_both_of_its_roles() {
    let (_dir, store) = populated();
    // g2 is a member of g1 and has members of its own.
    add_members(
        &store,
        &[
            ("g1", "g2"),
            ("g1", "u1"),
            ("g2", "u2"),
            ("g2", "u3"),
            ("g3", "u2"),
        ],
    );
    assert!(store.write(|w| w.delete(Kind::Group, "g2")).unwrap());
    let r = store.read().unwrap();
    assert_eq!(r.members("g1").unwrap(), ["u1"]);
    assert!(r.groups_of("g2").unwrap().is_empty());
    assert!(r.members("g2").unwrap().is_empty());
    assert_eq!(r.groups_of("u2").unwrap(), ["g3"]);
    assert!(r.groups_of("u3").unwrap().is_empty());
    assert!(r.group_ids_by_display_name("g2").unwrap().is_empty());
    let report = store.verify().unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
    assert_eq!(report.memberships, 2);
}

#[test]
fn deleting_a_group_with_its_ids_indexed_cleans_the_indexes() {
    let (_dir, store) = populated();
    assert!(store.write(|w| w.delete(Kind::Group, "g1")).unwrap());
    let r = store.read().unwrap();
    assert!(r.ids_by_external_id(Kind::Group, "ge1").unwrap().is_empty());
    assert!(r.group_ids_by_display_name("G1").unwrap().is_empty());
    assert!(!r.exists(Kind::Group, "g1").unwrap());
}
