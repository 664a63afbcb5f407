//! Regressions for what review found: idempotent writes keep their timestamp, never-returned
//! attributes stay hidden, stray URN keys are not stored, member filters are checked, resources
//! have a size limit, and the store file is private.

use serde_json::{json, Value};

use crate::common::{ext_attr, q, TestServer};
use scimd::config::ExtensionSettings;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

#[tokio::test]
async fn repeating_a_put_or_a_member_replace_changes_nothing() {
    let s = TestServer::start().await;
    let u = s.user("u@x").await;
    let gid = s.group("g").await;
    let body = json!({"displayName": "g", "members": [{"value": u}]});
    let first = s.put(&format!("/Groups/{gid}"), body.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let stamp = first.body["meta"]["lastModified"].clone();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = s.put(&format!("/Groups/{gid}"), body).await;
    assert_eq!(
        again.body["meta"]["lastModified"], stamp,
        "an identical PUT is not a change"
    );
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            patch(json!([{"op": "replace", "path": "members", "value": [{"value": u}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        s.get(&format!("/Groups/{gid}")).await.body["meta"]["lastModified"],
        stamp
    );
    s.stop().await;
}

#[tokio::test]
async fn never_returned_attributes_are_hidden_from_writes_and_filters() {
    const X: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let s = TestServer::start_with(|c| {
        c.extensions = vec![ExtensionSettings {
            urn: X.into(),
            resource: "User".into(),
            name: "Acme".into(),
            description: String::new(),
            attributes: vec![
                ext_attr("pin", "string", false, "readWrite", "never"),
                ext_attr("note", "string", false, "readWrite", "request"),
            ],
        }];
    })
    .await;
    let r = s
        .post(
            "/Users",
            json!({"userName": "p@x", X: {"pin": "1234", "note": "n"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body.get(X).is_none(),
        "neither never nor request attributes in the POST reply: {}",
        r.body
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    let asked = s
        .get(&format!("/Users/{id}?attributes={X}:note"))
        .await
        .body;
    assert_eq!(asked[X]["note"], "n");
    s.get(&format!(
        "/Users?filter={}",
        q(&format!("{X}:pin sw \"1\""))
    ))
    .await
    .assert_error(400, Some("invalidFilter"));
    s.get(&format!("/Users?filter={}", q("password pr")))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.stop().await;
}

#[tokio::test]
async fn unknown_keys_under_a_known_schema_are_ignored_not_stored() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/Users",
            json!({"userName": "k@x",
            format!("{ENT}:manager.value"): "zzz",
            format!("{ENT}:nosuch"): {"a": 1},
            format!("{ENT}:department"): "Ops"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[ENT], json!({"department": "Ops"}));
    let schemas = r.body["schemas"].as_array().expect("schemas");
    assert_eq!(schemas.len(), 2, "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn member_filters_name_value_or_type_only() {
    let s = TestServer::start().await;
    let u = s.user("alice@x").await;
    let gid = s.group("g").await;
    let path = format!("/Groups/{gid}");
    assert_eq!(
        s.patch(
            &path,
            patch(json!([{"op": "add", "path": "members", "value": [{"value": u}]}]))
        )
        .await
        .status,
        204
    );
    for f in [
        "members[display eq \"alice@x\"]",
        "members[nosuch eq \"x\"]",
    ] {
        s.patch(&path, patch(json!([{"op": "remove", "path": f}])))
            .await
            .assert_error(400, Some("invalidPath"));
    }
    assert_eq!(
        s.patch(
            &path,
            patch(json!([{"op": "remove", "path": "members[type eq \"User\"]"}]))
        )
        .await
        .status,
        204
    );
    assert_eq!(s.get(&path).await.body["members"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn a_resource_cannot_grow_past_the_size_limit() {
    let s = TestServer::start().await;
    let id = s.user("big@x").await;
    let emails: Vec<Value> = (0..6000)
        .map(|i| json!({"value": format!("alias{i}@example.com"), "type": "other"}))
        .collect();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            patch(json!([{"op": "add", "path": "emails", "value": emails}])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("limited")),
        "{}",
        r.body
    );
    assert!(s
        .get(&format!("/Users/{id}"))
        .await
        .body
        .get("emails")
        .is_none());
    s.stop().await;
}

#[cfg(unix)]
#[test]
fn the_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.redb");
    drop(scimd::store::Store::open(&path).expect("open"));
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}
