//! What the metrics read from the store: the commit hook and the membership edge count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::{add_members, group, insert_all, temp_store, user};
use crate::store::testing::hold_writer;
use crate::store::{Batch, Kind, StoreError};

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

/// A write that changes nothing (re-adding a member) commits nothing on its own; in a batch
/// with a real write it rides along. The batch counts it as an operation, not as a change, so
/// a load test can tell writes from no-ops.
#[test]
fn a_batch_counts_the_writes_that_changed_something() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "alice", None)),
            (Kind::User, "u2", user("u2", "bob", None)),
            (Kind::Group, "g1", group("g1", "one", None)),
        ],
    );
    add_members(&store, &[("g1", "u1")]);
    let store = Arc::new(store);
    let seen: Arc<Mutex<Vec<Batch>>> = Arc::default();
    let log = Arc::clone(&seen);
    store.observe_batches(move |b| log.lock().unwrap().push(*b));

    // Alone, a no-op is not committed, so not observed.
    assert!(!store.write(|w| w.add_member("g1", "u1")).unwrap());
    assert!(seen.lock().unwrap().is_empty());

    // Held behind the writer: a no-op, a real add, a refusal and another no-op in one batch.
    let (release, holder) = hold_writer(&store);
    let mut running = Vec::new();
    let writes: Vec<(&str, &str)> = vec![("g1", "u1"), ("g1", "u2"), ("g9", "u2"), ("g1", "u1")];
    for (i, (g, m)) in writes.into_iter().enumerate() {
        let s = Arc::clone(&store);
        running.push(thread::spawn(move || {
            s.write(move |w| {
                if g == "g9" {
                    return Err(StoreError::NotFound);
                }
                w.add_member(g, m)
            })
        }));
        while store.queued_writes() < i + 1 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    release.send(()).unwrap();
    holder.join().unwrap();
    let answers: Vec<_> = running.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(matches!(
        answers.as_slice(),
        [Ok(false), Ok(true), Err(StoreError::NotFound), Ok(false)]
    ));
    let batches = seen.lock().unwrap().clone();
    // The holder's own batch wrote nothing, so it is not observed either.
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!((batches[0].operations, batches[0].changed), (4, 1));
}
