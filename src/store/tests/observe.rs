//! What the metrics read from the store: the commit hook and the membership edge count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{add_members, group, insert_all, temp_store, user};
use crate::store::{Kind, StoreError};

#[test]
fn commit_observer_sees_commits_but_not_aborts() {
    let (_dir, mut store) = temp_store();
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = commits.clone();
    store.observe_commits(move |_elapsed| {
        seen.fetch_add(1, Ordering::Relaxed);
    });
    insert_all(&store, &[(Kind::User, "u1", user("u1", "alice", None))]);
    assert_eq!(commits.load(Ordering::Relaxed), 1);
    // A refused write aborts: nothing was made durable, so nothing is observed.
    let refused = store.write(|w| {
        w.insert(Kind::User, "u2", &user("u2", "ALICE", None))?;
        Ok::<_, StoreError>(())
    });
    assert!(matches!(refused, Err(StoreError::UserNameTaken { .. })));
    assert_eq!(commits.load(Ordering::Relaxed), 1);
}

#[test]
fn membership_count_counts_every_edge_once() {
    let (_dir, store) = temp_store();
    assert_eq!(store.read().unwrap().membership_count().unwrap(), 0);
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "alice", None)),
            (Kind::User, "u2", user("u2", "bob", None)),
            (Kind::Group, "g1", group("g1", "one", None)),
            (Kind::Group, "g2", group("g2", "two", None)),
        ],
    );
    add_members(
        &store,
        &[("g1", "u1"), ("g1", "u2"), ("g2", "u1"), ("g2", "g1")],
    );
    let r = store.read().unwrap();
    assert_eq!(r.membership_count().unwrap(), 4);
    assert_eq!(r.count(Kind::User).unwrap(), 2);
    assert_eq!(r.count(Kind::Group).unwrap(), 2);
}
