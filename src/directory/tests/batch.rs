//! Refusals inside one group commit: every directory write that refuses (400, 409, 412) must
//! do so before it writes, or the writer would abort its whole batch and the valid writes
//! queued with it would fail. The writer is held while the writes queue, so they share one
//! transaction whatever the threads' timing.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::directory::{Actor, Directory};
use crate::scim::{Registry, ResourceKind, ScimError};
use crate::store::testing::hold_writer;
use crate::store::{Store, StoreError};

fn actor() -> Actor {
    Actor::local("test")
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

type Write = Box<dyn FnOnce(&Directory) -> Result<(), ScimError> + Send>;

/// A directory on a store in a temporary file (kept until the first value is dropped).
fn directory() -> (tempfile::TempDir, Arc<Store>, Directory) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("scimd.redb")).unwrap());
    let dir = Directory::new(
        Arc::clone(&store),
        Registry::new(),
        "https://h/scim/v2",
        100,
    );
    (tmp, store, dir)
}

#[test]
fn refused_writes_do_not_spoil_the_valid_writes_they_share_a_commit_with() {
    let (_tmp, store, dir) = directory();
    let user = |name: &str| json!({"userName": name, "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]});
    let alice = id_of(
        &dir.create(ResourceKind::User, &user("alice"), &actor())
            .unwrap()
            .resource,
    );
    let bob = id_of(
        &dir.create(ResourceKind::User, &user("bob"), &actor())
            .unwrap()
            .resource,
    );
    let group = id_of(
        &dir.create(
            ResourceKind::Group,
            &json!({"displayName": "team", "members": [{"value": alice}]}),
            &actor(),
        )
        .unwrap()
        .resource,
    );
    let missing = "01000000-0000-7000-8000-000000000000".to_string();

    let writes: Vec<(Option<u16>, Write)> = vec![
        (
            None,
            Box::new(move |d| {
                d.create(ResourceKind::User, &user("carol"), &actor())
                    .map(drop)
            }),
        ),
        (Some(400), {
            let missing = missing.clone();
            Box::new(move |d| {
                let body = json!({"displayName": "new", "members": [{"value": missing}]});
                d.create(ResourceKind::Group, &body, &actor()).map(drop)
            })
        }),
        (Some(400), {
            let (group, alice, missing) = (group.clone(), alice.clone(), missing.clone());
            Box::new(move |d| {
                // The remove would write before the add's missing member is found.
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "remove", "path": format!("members[value eq \"{alice}\"]")},
                        {"op": "add", "path": "members", "value": [{"value": missing}]}]});
                d.patch(ResourceKind::Group, &group, &body, false, None, &actor())
                    .map(drop)
            })
        }),
        (Some(409), {
            let bob = bob.clone();
            Box::new(move |d| {
                d.replace(ResourceKind::User, &bob, &user("ALICE"), None, &actor())
                    .map(drop)
            })
        }),
        (Some(412), {
            let bob = bob.clone();
            Box::new(move |d| d.delete(ResourceKind::User, &bob, Some("W/\"99\""), &actor()))
        }),
        (None, {
            let alice = alice.clone();
            Box::new(move |d| {
                let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "title", "value": "Boss"}]});
                d.patch(ResourceKind::User, &alice, &body, true, None, &actor())
                    .map(drop)
            })
        }),
    ];

    // Hold the writer, queue every write behind it, then let go: one batch.
    let (release, holder) = hold_writer(&store);
    let n = writes.len();
    let running: Vec<_> = writes
        .into_iter()
        .map(|(expect, w)| {
            let d = dir.clone();
            (expect, thread::spawn(move || w(&d)))
        })
        .collect();
    while store.queued_writes() < n {
        thread::sleep(Duration::from_millis(1));
    }
    release.send(()).unwrap();
    holder.join().unwrap();

    for (i, (expect, h)) in running.into_iter().enumerate() {
        let got = h.join().unwrap();
        match expect {
            None => assert!(got.is_ok(), "write {i}: {got:?}"),
            Some(status) => {
                let e = got.expect_err("a refusal");
                assert_eq!(e.status, status, "write {i}: {e:?}");
            }
        }
    }
    let r = store.read().unwrap();
    assert!(r.user_id_by_name("carol").unwrap().is_some());
    assert!(
        r.is_member(&group, &alice).unwrap(),
        "the refused PATCH removed nobody"
    );
    assert_eq!(
        r.get(crate::store::Kind::User, &alice).unwrap().unwrap()["title"],
        "Boss"
    );
    assert!(r.exists(crate::store::Kind::User, &bob).unwrap());
    assert_eq!(
        r.get(crate::store::Kind::User, &bob).unwrap().unwrap()["userName"],
        "bob"
    );
}

#[test]
fn a_full_write_queue_and_a_failed_batch_are_retryable_503s() {
    let busy = crate::directory::from_store(StoreError::Busy { waiting: 256 });
    assert_eq!((busy.status, busy.retry_after), (503, Some(1)));
    assert!(
        busy.detail.contains("256 writes are already waiting"),
        "{}",
        busy.detail
    );
    let lost = crate::directory::from_store(StoreError::NotCommitted("disk full".into()));
    assert_eq!((lost.status, lost.retry_after), (503, Some(5)));
    assert!(
        lost.detail.contains("nothing was changed"),
        "{}",
        lost.detail
    );
    // The cause is logged by the writer, not shown to the client.
    assert!(!lost.detail.contains("disk full"));
}

/// Writes planned before the writer thread and queued in one batch on the same record: each
/// must apply to the state the one before it left, exactly as one commit each would, or an
/// earlier write of the batch would be lost. (A variant that applied each PATCH to the record
/// as it was when planned fails here.)
#[test]
fn writes_to_one_record_in_one_batch_each_see_the_one_before() {
    let (_tmp, store, dir) = directory();
    let user_schema = "urn:ietf:params:scim:schemas:core:2.0:User";
    let alice = id_of(
        &dir.create(
            ResourceKind::User,
            &json!({"userName": "alice", "schemas": [user_schema]}),
            &actor(),
        )
        .unwrap()
        .resource,
    );
    let replace = |path: &str, value: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": path, "value": value}]})
    };
    // All are planned now, while alice is at version 1.
    let user = ResourceKind::User;
    let plans = vec![
        dir.plan_patch(user, &alice, &replace("title", "Boss"), None, &actor())
            .unwrap(),
        dir.plan_patch(user, &alice, &replace("displayName", "A"), None, &actor())
            .unwrap(),
        // Version 1 when planned, version 3 when it runs.
        dir.plan_patch(
            user,
            &alice,
            &replace("nickName", "Al"),
            Some("W/\"1\""),
            &actor(),
        )
        .unwrap(),
        // Replaces every writable attribute: nothing either PATCH set may survive it.
        dir.plan_replace(
            user,
            &alice,
            &json!({"userName": "alice", "schemas": [user_schema], "title": "Chief"}),
            None,
            &actor(),
        )
        .unwrap(),
    ];
    let (release, holder) = hold_writer(&store);
    let mut running = Vec::new();
    for (i, apply) in plans.into_iter().enumerate() {
        let d = dir.clone();
        running.push(thread::spawn(move || d.guarded(apply)));
        // Queued in this order: each waits until the previous one is in the queue.
        while store.queued_writes() < i + 1 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    release.send(()).unwrap();
    holder.join().unwrap();
    let got: Vec<_> = running.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got[0].as_ref().unwrap()["title"], "Boss");
    let second = got[1].as_ref().unwrap();
    assert_eq!(
        (&second["title"], &second["displayName"]),
        (&json!("Boss"), &json!("A")),
        "the second PATCH kept the first one's change"
    );
    assert_eq!(second["meta"]["version"], "W/\"3\"");
    assert_eq!(got[2].as_ref().unwrap_err().status, 412);
    let put = got[3].as_ref().unwrap();
    assert_eq!(put["title"], "Chief");
    assert!(put.get("displayName").is_none(), "{put}");
    assert_eq!(put["meta"]["version"], "W/\"4\"");

    let stored = store
        .read()
        .unwrap()
        .get(crate::store::Kind::User, &alice)
        .unwrap()
        .unwrap();
    assert_eq!(&stored, put);
    // The audit entries describe each write against the state it really changed.
    let q = crate::directory::AuditQuery {
        resource: Some(alice.clone()),
        ..Default::default()
    };
    let entries = dir.audit(&q).unwrap();
    let changed: Vec<Vec<&str>> = entries
        .iter()
        .map(|e| {
            let mut keys: Vec<&str> = e["changes"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            keys
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            vec!["displayName", "title"],
            vec!["displayName"],
            vec!["title"],
            vec!["userName"],
        ],
        "{entries:#?}"
    );
}
