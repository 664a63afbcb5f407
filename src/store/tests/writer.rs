//! The writer: operations queued together commit together, a refusal spoils nothing, a full
//! queue refuses at once, and a broken promise or a panic loses the batch but not the writer.
//!
//! Most tests hold the writer inside one operation, queue the others behind it until the
//! queue holds them all, then let go: what was queued is then one batch, whatever the
//! threads' timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{insert_all, user};
use crate::store::testing::hold_writer;
use crate::store::{Ended, Kind, Options, Store, StoreError, WriteTx};

type Op = Box<dyn FnOnce(&mut WriteTx<'_>) -> Result<(), StoreError> + Send>;

/// A store whose writer queue holds `queue` operations, with the sizes of its committed batches.
fn store_with_queue(queue: usize) -> (tempfile::TempDir, Arc<Store>, Arc<Mutex<Vec<usize>>>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        &dir.path().join("scimd.redb"),
        Options {
            write_queue: queue,
            ..Options::default()
        },
    )
    .unwrap();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&batches);
    store.observe_batches(move |b| seen.lock().unwrap().push(b.operations));
    (dir, Arc::new(store), batches)
}

/// Queues `ops` behind the held writer and returns once they all wait in the queue; the
/// handles give each operation's outcome, in order.
fn queue_all(store: &Arc<Store>, ops: Vec<Op>) -> Vec<JoinHandle<Result<(), StoreError>>> {
    let n = ops.len();
    let handles = ops
        .into_iter()
        .map(|op| {
            let s = Arc::clone(store);
            thread::spawn(move || s.write(op))
        })
        .collect();
    while store.queued_writes() < n {
        thread::sleep(Duration::from_millis(1));
    }
    handles
}

fn insert_user(id: &'static str, name: &'static str) -> Op {
    Box::new(move |tx| tx.insert(Kind::User, id, &user(id, name, None)))
}

#[test]
fn operations_queued_together_commit_in_one_transaction() {
    let (_dir, store, batches) = store_with_queue(8);
    let (release, holder) = hold_writer(&store);
    let ids = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"];
    let ops = ids.iter().map(|id| insert_user(id, id)).collect::<Vec<_>>();
    let handles = queue_all(&store, ops);
    release.send(()).unwrap();
    holder.join().unwrap();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    // The holder's batch had nothing to commit (no write), so one commit holds all eight.
    assert_eq!(*batches.lock().unwrap(), [8]);
    let r = store.read().unwrap();
    assert_eq!(r.count(Kind::User).unwrap(), 8);
}

#[test]
fn a_refused_operation_does_not_spoil_its_batch() {
    let (_dir, store, batches) = store_with_queue(3);
    insert_all(
        &store,
        &[(Kind::User, "taken", user("taken", "alice", None))],
    );
    let (release, holder) = hold_writer(&store);
    let handles = queue_all(
        &store,
        vec![
            insert_user("u1", "bob"),
            // Refused by the store's own check, before it writes anything.
            insert_user("u2", "ALICE"),
            insert_user("u3", "carol"),
        ],
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(StoreError::UserNameTaken { .. })),
        "{:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
    // One commit for all three (the refused one included in the batch it did not spoil).
    assert_eq!(batches.lock().unwrap().last(), Some(&3));
    let r = store.read().unwrap();
    assert!(r.exists(Kind::User, "u1").unwrap());
    assert!(!r.exists(Kind::User, "u2").unwrap());
    assert!(r.exists(Kind::User, "u3").unwrap());
}

#[test]
fn a_full_queue_refuses_at_once_and_the_queued_writes_still_commit() {
    let (_dir, store, _) = store_with_queue(1);
    let (release, holder) = hold_writer(&store);
    let handles = queue_all(&store, vec![insert_user("u1", "bob")]);
    let refused = store.write_ended(|tx| tx.insert(Kind::User, "u9", &user("u9", "x", None)));
    assert!(
        matches!(
            refused,
            Ended::Failed {
                value: None,
                error: StoreError::Busy { waiting: 1 }
            }
        ),
        "{refused:?}"
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert!(store.read().unwrap().exists(Kind::User, "u1").unwrap());
    // Busy is momentary: with the queue drained, writes go through again.
    store
        .write(|tx| tx.insert(Kind::User, "u2", &user("u2", "carol", None)))
        .unwrap();
}

#[test]
fn a_refusal_after_a_write_aborts_the_whole_batch_and_the_writer_goes_on() {
    let (_dir, store, batches) = store_with_queue(3);
    let (release, holder) = hold_writer(&store);
    let broken: Op = Box::new(|tx| {
        tx.insert(Kind::User, "half", &user("half", "half", None))?;
        Err(StoreError::NotFound)
    });
    let handles = queue_all(
        &store,
        vec![insert_user("u1", "bob"), broken, insert_user("u3", "carol")],
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // The broken operation gets its own refusal; the others are told nothing was stored.
    assert!(matches!(outcomes[1], Err(StoreError::NotFound)));
    for o in [&outcomes[0], &outcomes[2]] {
        assert!(matches!(o, Err(StoreError::NotCommitted(_))), "{o:?}");
    }
    assert!(batches.lock().unwrap().is_empty());
    let r = store.read().unwrap();
    assert_eq!(r.count(Kind::User).unwrap(), 0);
    drop(r);
    store
        .write(|tx| tx.insert(Kind::User, "u1", &user("u1", "bob", None)))
        .unwrap();
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 1);
}

#[test]
fn a_panicking_operation_loses_its_batch_but_not_the_writer() {
    let (_dir, store, _) = store_with_queue(2);
    let (release, holder) = hold_writer(&store);
    let panics: Op = Box::new(|tx| {
        tx.insert(Kind::User, "p", &user("p", "p", None))?;
        panic!("a bug in an operation");
    });
    let handles = queue_all(&store, vec![insert_user("u1", "bob"), panics]);
    release.send(()).unwrap();
    holder.join().unwrap();
    for h in handles {
        let outcome = h.join().unwrap();
        assert!(
            matches!(outcome, Err(StoreError::NotCommitted(_))),
            "{outcome:?}"
        );
    }
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 0);
    store
        .write(|tx| tx.insert(Kind::User, "u1", &user("u1", "bob", None)))
        .unwrap();
    assert!(store.probe_write().is_ok());
}

#[test]
fn an_operation_alone_is_undone_by_its_refusal_and_spoils_nothing_else() {
    let (_dir, store, _) = store_with_queue(8);
    let refused = store.write_alone(|tx| {
        tx.insert(Kind::User, "a", &user("a", "a", None))?;
        tx.insert(Kind::User, "b", &user("b", "b", None))?;
        Err::<(), _>(StoreError::InvalidRecord("line 3 is wrong".into()))
    });
    assert!(matches!(refused, Err(StoreError::InvalidRecord(_))));
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 0);
    store
        .write_alone(|tx| tx.insert(Kind::User, "a", &user("a", "a", None)))
        .unwrap();
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 1);
}

#[test]
fn concurrent_writers_all_commit_and_share_commits() {
    let (_dir, store, batches) = store_with_queue(64);
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (s, done) = (Arc::clone(&store), Arc::clone(&done));
            thread::spawn(move || {
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    s.write(move |tx| tx.insert(Kind::User, &id, &user(&id, &id, None)))
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(done.load(Ordering::Relaxed), 400);
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 400);
    let batches = batches.lock().unwrap();
    assert_eq!(batches.iter().sum::<usize>(), 400);
    // No timing claim: only that nothing was counted twice and no batch exceeded the queue.
    assert!(
        batches.iter().all(|&n| (1..=64).contains(&n)),
        "{batches:?}"
    );
}

#[test]
fn a_read_after_an_acknowledged_write_always_sees_it() {
    // Reads share a snapshot until the next commit; a write's answer must never be followed
    // by a read of an older snapshot, whatever the other threads do meanwhile.
    let (_dir, store, _) = store_with_queue(64);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&store);
            thread::spawn(move || {
                for i in 0..150 {
                    let id = format!("r{t}-{i}");
                    let doc = user(&id, &id, None);
                    s.write(move |tx| tx.insert(Kind::User, &id, &doc)).unwrap();
                    let id = format!("r{t}-{i}");
                    let r = s.read().unwrap();
                    assert!(r.exists(Kind::User, &id).unwrap(), "{id} not visible");
                    assert_eq!(
                        r.user_id_by_name(&id).unwrap().as_deref(),
                        Some(id.as_str())
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.read().unwrap().count(Kind::User).unwrap(), 600);
}

#[tokio::test]
async fn an_async_write_is_queued_when_asked_and_commits_even_if_its_caller_goes() {
    let (_dir, store, batches) = store_with_queue(2);
    let (release, holder) = hold_writer(&store);
    let a = store.write_ended_async(|tx| tx.insert(Kind::User, "u1", &user("u1", "bob", None)));
    let b = store.write_ended_async(|tx| tx.insert(Kind::User, "u2", &user("u2", "carol", None)));
    // Queued when called, not when first polled: the queue of two is full now.
    let refused = store
        .write_ended_async(|tx| tx.insert(Kind::User, "u9", &user("u9", "x", None)))
        .await;
    assert!(
        matches!(
            refused,
            Ended::Failed {
                value: None,
                error: StoreError::Busy { waiting: 2 }
            }
        ),
        "{refused:?}"
    );
    // The caller of `b` goes away before its answer: the write is not withdrawn.
    drop(b);
    release.send(()).unwrap();
    holder.join().unwrap();
    assert!(matches!(a.await, Ended::Committed(())));
    let r = store.read().unwrap();
    assert!(r.exists(Kind::User, "u1").unwrap());
    assert!(r.exists(Kind::User, "u2").unwrap());
    assert!(!r.exists(Kind::User, "u9").unwrap());
    // Both queued writes in one commit (the holder wrote nothing, so it committed nothing).
    assert_eq!(*batches.lock().unwrap(), vec![2]);
}
