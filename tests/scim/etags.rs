//! ETags (RFC 7644 §3.14): `meta.version` and the `ETag` header change with every stored
//! change; `If-Match` guards PUT/PATCH/DELETE (412), `If-None-Match` answers GET with 304.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

async fn call_with(
    s: &TestServer,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = s
        .client
        .request(method, s.url(path))
        .bearer_auth(&s.token)
        .header(header.0, header.1);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/scim+json")
            .body(b.to_string());
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn versions_change_with_every_write_and_guard_writes() {
    let s = TestServer::start().await;
    let r = s.post("/Users", json!({"userName": "e@x"})).await;
    let id = r.body["id"].as_str().expect("id").to_string();
    let v1 = r.body["meta"]["version"]
        .as_str()
        .expect("version")
        .to_string();
    assert_eq!(
        r.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(v1.as_str())
    );
    let path = format!("/Users/{id}");
    let got = s.get(&path).await;
    assert_eq!(
        got.headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(v1.as_str())
    );

    // If-None-Match with the current version: 304, no body.
    let r = call_with(&s, Method::GET, &path, ("If-None-Match", &v1), None).await;
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.expect("body").is_empty());

    // A PATCH moves the version; an identical one does not.
    let p = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "T"}]});
    let r = call_with(&s, Method::PATCH, &path, ("If-Match", &v1), Some(p.clone())).await;
    assert_eq!(r.status(), 200);
    let v2 = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_string();
    assert_ne!(v1, v2);
    let again = s.patch(&path, p.clone()).await;
    assert_eq!(again.body["meta"]["version"], v2.as_str());

    // A stale If-Match is refused with 412 on PATCH, PUT and DELETE, and nothing changes.
    let r = call_with(
        &s,
        Method::PATCH,
        &path,
        ("If-Match", &v1),
        Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "X"}]})),
    )
    .await;
    assert_eq!(r.status(), 412);
    let r = call_with(
        &s,
        Method::PUT,
        &path,
        ("If-Match", &v1),
        Some(json!({"userName": "e@x"})),
    )
    .await;
    assert_eq!(r.status(), 412);
    let r = call_with(&s, Method::DELETE, &path, ("If-Match", &v1), None).await;
    assert_eq!(r.status(), 412);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["status"], "412");
    let now = s.get(&path).await;
    assert_eq!(now.body["title"], "T");
    assert_eq!(now.body["meta"]["version"], v2.as_str());
    // The current version, a list containing it, and * all pass.
    let r = call_with(
        &s,
        Method::PUT,
        &path,
        ("If-Match", &format!("W/\"999\", {v2}")),
        Some(json!({"userName": "e@x", "title": "U"})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call_with(&s, Method::DELETE, &path, ("If-Match", "*"), None).await;
    assert_eq!(r.status(), 204);
    s.stop().await;
}

#[tokio::test]
async fn membership_changes_move_a_groups_version() {
    let s = TestServer::start().await;
    let u = s.user("m@x").await;
    let r = s.post("/Groups", json!({"displayName": "g"})).await;
    let gid = r.body["id"].as_str().expect("id").to_string();
    let v1 = r.body["meta"]["version"].clone();
    let p = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": u}]}]});
    assert_eq!(s.patch(&format!("/Groups/{gid}"), p).await.status, 204);
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_ne!(got.body["meta"]["version"], v1);
    assert_eq!(
        got.headers.get("etag").and_then(|v| v.to_str().ok()),
        got.body["meta"]["version"].as_str()
    );
    s.stop().await;
}

#[tokio::test]
async fn deleting_a_member_gives_its_groups_a_new_version() {
    let s = TestServer::start().await;
    let user = s.user("leaver@x").await;
    let stays = s.user("stays@x").await;
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "G", "members": [{"value": user}, {"value": stays}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let gid = r.body["id"].as_str().expect("id").to_string();
    let gpath = format!("/Groups/{gid}");
    let before = s.get(&gpath).await;
    let v1 = before.body["meta"]["version"]
        .as_str()
        .expect("version")
        .to_string();
    let modified1 = before.body["meta"]["lastModified"].clone();

    assert_eq!(s.delete(&format!("/Users/{user}")).await.status, 204);

    // The old ETag no longer matches: the client gets the group without the deleted member.
    let r = call_with(&s, Method::GET, &gpath, ("If-None-Match", &v1), None).await;
    assert_eq!(r.status(), 200);
    let after = s.get(&gpath).await;
    assert_ne!(after.body["meta"]["version"].as_str(), Some(v1.as_str()));
    assert_ne!(after.body["meta"]["lastModified"], modified1);
    let members: Vec<&str> = after.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert_eq!(members, [stays.as_str()]);
    // The group's new version is the one an If-Match must now name.
    let r = call_with(&s, Method::DELETE, &gpath, ("If-Match", &v1), None).await;
    assert_eq!(r.status(), 412);
}
