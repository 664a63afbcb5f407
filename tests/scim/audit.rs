//! The audit log: every acknowledged change leaves one entry, written in its own transaction,
//! naming the token, the request and what changed; refused requests leave none.

use std::sync::Arc;

use serde_json::{json, Value};

use scimd::directory::{AuditQuery, Directory};
use scimd::scim::Registry;
use scimd::store::Store;

use crate::common::TestServer;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Stops the server and reads its audit log, oldest first.
async fn audit_of(mut s: TestServer, q: AuditQuery) -> Vec<Value> {
    s.shutdown().await;
    let store = Arc::new(Store::open(&s.store_path).expect("store reopens"));
    let dir = Directory::new(store, Registry::new(), "https://x/scim/v2", 100);
    let mut entries = dir.audit(&q).expect("audit");
    entries.reverse();
    entries
}

#[tokio::test]
async fn each_kind_of_change_leaves_one_entry_with_who_and_what() {
    let s = TestServer::start().await;
    let r = s
        .client
        .post(s.url("/Users"))
        .bearer_auth(&s.token)
        .header("Content-Type", "application/scim+json")
        .header("client-request-id", "entra-req-1")
        .body(json!({"userName": "ann", "active": true, "password": "Secret#1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let uid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gid = s.group("Sales").await;
    let patch = |ops: Value| json!({"schemas": [PATCH], "Operations": ops});
    let r = s
        .patch(
            &format!("/Users/{uid}"),
            patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            patch(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .put(
            &format!("/Users/{uid}"),
            json!({"userName": "ann", "displayName": "Ann", "active": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    // Refused and no-op requests leave nothing.
    assert_eq!(
        s.post("/Users", json!({"userName": "ANN"})).await.status,
        409
    );
    let r = s
        .patch(
            &format!("/Users/{uid}"),
            patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status, 204);
    assert_eq!(s.delete(&format!("/Users/{uid}")).await.status, 204);

    let log = audit_of(s, AuditQuery::default()).await;
    let ops: Vec<(&str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["resourceType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("create", "User"),
            ("create", "Group"),
            ("patch", "User"),
            ("patch", "Group"),
            ("replace", "User"),
            ("delete", "Group"),
            ("delete", "User"),
        ],
        "{log:#?}"
    );
    for e in &log {
        assert_eq!(e["token"], "test");
        assert!(
            e["requestId"].as_str().is_some_and(|r| r.len() == 32),
            "{e}"
        );
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    let create = &log[0];
    assert_eq!(create["clientRequestId"], "entra-req-1");
    assert_eq!(create["id"], uid.as_str());
    assert_eq!(create["changes"]["userName"], "ann");
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains("Secret#1"),
        "a password reached the audit log: {text}"
    );
    assert_eq!(log[2]["changes"], json!({"active": false}));
    assert_eq!(log[3]["members"]["added"], json!([uid]));
    assert_eq!(log[3]["members"]["addedCount"], 1);
    assert_eq!(log[4]["changes"], json!({"displayName": "Ann"}));
    assert_eq!(log[6]["userName"], "ann");
}

#[tokio::test]
async fn bulk_operations_and_filters_by_resource_and_time() {
    let s = TestServer::start().await;
    let a = s.user("a").await;
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "b"}},
                {"method": "PATCH", "path": format!("/Users/{a}"), "data": {"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "Boss"}]}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let only_a = AuditQuery {
        resource: Some(a.clone()),
        ..AuditQuery::default()
    };
    let log = audit_of(s, only_a).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[1]["operation"], "patch");
    assert_eq!(log[1]["changes"]["title"], "Boss");
}

#[tokio::test]
async fn time_bounds_and_retention() {
    let s = TestServer::start().await;
    s.user("old").await;
    let mut s = s;
    s.shutdown().await;
    let store = Arc::new(Store::open(&s.store_path).unwrap());
    let dir = Directory::new(store, Registry::new(), "https://x/scim/v2", 100);
    let all = dir.audit(&AuditQuery::default()).unwrap();
    assert_eq!(all.len(), 1);
    let future = AuditQuery {
        since: Some("2999-01-01T00:00:00Z".into()),
        ..AuditQuery::default()
    };
    assert!(dir.audit(&future).unwrap().is_empty());
    let bad = AuditQuery {
        until: Some("yesterday".into()),
        ..AuditQuery::default()
    };
    assert_eq!(dir.audit(&bad).unwrap_err().status, 400);
    // Retention keeps what is younger than its horizon.
    assert_eq!(dir.purge_audit(1).unwrap(), 0);
    assert_eq!(dir.audit(&AuditQuery::default()).unwrap().len(), 1);
    assert_eq!(dir.purge_audit(0).unwrap(), 1);
    assert!(dir.audit(&AuditQuery::default()).unwrap().is_empty());
}

#[tokio::test]
async fn a_deleted_user_names_the_groups_it_left_and_their_history_shows_it() {
    let s = TestServer::start().await;
    let u = s.user("leaver").await;
    let g = s.group("Team").await;
    let add = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]});
    assert_eq!(s.patch(&format!("/Groups/{g}"), add).await.status, 204);
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    let group_history = AuditQuery {
        resource: Some(g.clone()),
        ..AuditQuery::default()
    };
    let log = audit_of(s, group_history).await;
    let ops: Vec<&str> = log
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "patch", "delete"], "{log:#?}");
    let delete = &log[2];
    assert_eq!(delete["id"], u.as_str());
    assert_eq!(delete["leftGroups"], json!([g]));
    assert_eq!(delete["leftGroupsCount"], 1);
}
