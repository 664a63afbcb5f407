//! POST /Bulk (RFC 7644 §3.7) over real HTTP: bulkId references in either order, every method,
//! per-operation failures, failOnErrors, the limits, If-Match per operation, and that the store
//! holds what the BulkResponse reports.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{q, TestServer};

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn bulk(ops: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": ops})
}

fn post_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER], "userName": user_name}})
}

fn post_group(bulk_id: &str, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({"type": "User", "value": m}))
        .collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": name, "members": members}})
}

fn patch_data(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// Sends a BulkRequest that must be answered 200 with a BulkResponse; returns its results.
async fn run(s: &TestServer, body: Value) -> Vec<Value> {
    let r = s.post("/Bulk", body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type(), "application/scim+json");
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]), "{}", r.body);
    r.body["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("Operations is an array: {}", r.body))
        .clone()
}

/// The id at the end of a result's `location`.
fn id_of(result: &Value) -> String {
    result["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .unwrap_or_else(|| panic!("a location: {result}"))
        .to_string()
}

/// Asserts a successful result: its status, and no resource or error body.
fn assert_ok(result: &Value, status: &str) {
    assert_eq!(result["status"], status, "{result}");
    assert!(result.get("response").is_none(), "{result}");
}

/// Asserts a failed result carrying the SCIM Error body, and returns its detail.
fn assert_failed(result: &Value, status: u16, scim_type: Option<&str>) -> String {
    assert_eq!(result["status"], status.to_string(), "{result}");
    let e = &result["response"];
    assert_eq!(
        e["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{result}"
    );
    assert_eq!(e["status"], status.to_string(), "{result}");
    if let Some(t) = scim_type {
        assert_eq!(e["scimType"], t, "{result}");
    }
    let detail = e["detail"].as_str().unwrap_or_default().to_string();
    assert!(!detail.is_empty(), "{result}");
    detail
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn total(s: &TestServer, path: &str) -> u64 {
    let r = s.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["totalResults"].as_u64().expect("totalResults")
}

async fn snapshot(s: &TestServer) -> (Value, Value) {
    (
        s.get("/Users?count=1000").await.body,
        s.get("/Groups?count=1000").await.body,
    )
}

#[tokio::test]
async fn rfc_example_a_group_references_a_user_by_bulk_id_in_either_order() {
    let s = TestServer::start().await;
    let user = post_user("qwerty", "alice");
    let group = post_group("ytrewq", "Tour Guides", &["bulkId:qwerty"]);
    for (round, ops) in [json!([user, group]), json!([group, user])]
        .into_iter()
        .enumerate()
    {
        let mut ops = ops;
        // A fresh userName and displayName per round.
        for op in ops.as_array_mut().expect("ops") {
            if let Some(n) = op["data"].get_mut("userName") {
                *n = json!(format!("alice{round}"));
            }
            if let Some(n) = op["data"].get_mut("displayName") {
                *n = json!(format!("Tour Guides {round}"));
            }
        }
        let results = run(&s, bulk(ops)).await;
        assert_eq!(results.len(), 2, "{results:?}");
        // Results are listed in request order, whatever order they ran in.
        let (u, g) = if round == 0 {
            (&results[0], &results[1])
        } else {
            (&results[1], &results[0])
        };
        for (r, bulk_id, endpoint) in [(u, "qwerty", "/Users/"), (g, "ytrewq", "/Groups/")] {
            assert_ok(r, "201");
            assert_eq!(r["method"], "POST");
            assert_eq!(r["bulkId"], bulk_id);
            assert!(
                r["location"]
                    .as_str()
                    .is_some_and(|l| l.starts_with(&s.base) && l.contains(endpoint)),
                "{r}"
            );
            assert_eq!(r["version"], "W/\"1\"", "{r}");
        }
        let (uid, gid) = (id_of(u), id_of(g));
        let got = s.get(&format!("/Groups/{gid}")).await;
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(member_ids(&got.body), vec![uid.clone()]);
        assert_eq!(got.body["displayName"], format!("Tour Guides {round}"));
        let got = s.get(&format!("/Users/{uid}")).await;
        assert_eq!(got.body["userName"], format!("alice{round}"));
        assert_eq!(got.body["groups"][0]["value"], gid.as_str(), "{}", got.body);
        assert_eq!(
            got.headers.get("etag").and_then(|v| v.to_str().ok()),
            u["version"].as_str()
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn put_patch_and_delete_run_in_one_bulk() {
    let s = TestServer::start().await;
    let kept = s.user("kept@x").await;
    let gone = s.user("gone@x").await;
    let gid = s.group("Staff").await;
    let results = run(
        &s,
        bulk(json!([
            {"method": "PUT", "path": format!("/Users/{kept}"),
             "data": {"schemas": [USER], "userName": "kept@x", "title": "Boss"}},
            {"method": "PATCH", "path": format!("/groups/{gid}"),
             "data": patch_data(json!([{"op": "add", "path": "members",
                                        "value": [{"value": kept}, {"value": "bulkId:new"}]}]))},
            {"method": "DELETE", "path": format!("/Users/{gone}")},
            post_user("new", "new@x"),
            {"method": "PATCH", "path": "/Users/bulkId:new",
             "data": patch_data(json!([{"op": "replace", "path": "displayName", "value": "Newcomer"}]))},
        ])),
    )
    .await;
    assert_eq!(results.len(), 5, "{results:?}");
    assert_ok(&results[0], "200");
    assert_eq!(results[0]["method"], "PUT");
    assert_eq!(results[0]["version"], "W/\"2\"");
    assert_eq!(id_of(&results[0]), kept);
    assert_ok(&results[1], "200");
    assert_eq!(id_of(&results[1]), gid);
    assert_ok(&results[2], "204");
    assert_eq!(id_of(&results[2]), gone);
    assert!(results[2].get("version").is_none(), "{}", results[2]);
    assert_ok(&results[3], "201");
    let new = id_of(&results[3]);
    assert_ok(&results[4], "200");
    assert_eq!(
        id_of(&results[4]),
        new,
        "the path's bulkId became the new id"
    );
    assert_eq!(results[4]["version"], "W/\"2\"");

    // The store says the same.
    assert_eq!(s.get(&format!("/Users/{kept}")).await.body["title"], "Boss");
    s.get(&format!("/Users/{gone}"))
        .await
        .assert_error(404, None);
    let new_user = s.get(&format!("/Users/{new}")).await;
    assert_eq!(new_user.body["displayName"], "Newcomer");
    assert_eq!(new_user.body["userName"], "new@x");
    let group = s.get(&format!("/Groups/{gid}")).await;
    let mut want = vec![kept.clone(), new.clone()];
    want.sort();
    assert_eq!(member_ids(&group.body), want);
    assert_eq!(group.body["meta"]["version"], results[1]["version"]);
    s.stop().await;
}

#[tokio::test]
async fn fail_on_errors_stops_after_that_many_errors_and_reports_only_what_ran() {
    let s = TestServer::start().await;
    let ops = json!([
        post_user("a", "a@x"),
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER]}},
        post_user("c", "c@x"),
        {"method": "DELETE", "path": "/Users/no-such-user"},
        post_user("e", "e@x"),
    ]);
    let mut body = bulk(ops.clone());
    body["failOnErrors"] = json!(1);
    let results = run(&s, body).await;
    assert_eq!(results.len(), 2, "{results:?}");
    assert_ok(&results[0], "201");
    let detail = assert_failed(&results[1], 400, None);
    assert!(detail.contains("userName"), "{detail}");
    assert_eq!(results[1]["bulkId"], "bad");
    assert!(
        results[1].get("location").is_none(),
        "a failed POST has no location"
    );
    assert_eq!(
        total(&s, &format!("/Users?filter={}", q("userName eq \"a@x\""))).await,
        1
    );
    assert_eq!(
        total(&s, &format!("/Users?filter={}", q("userName eq \"c@x\""))).await,
        0
    );

    // failOnErrors 2 lets the first error pass and stops at the second.
    let mut body = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER]}},
        post_user("c", "c@x"),
        {"method": "DELETE", "path": "/Users/no-such-user"},
        post_user("e", "e@x"),
    ]));
    body["failOnErrors"] = json!(2);
    let results = run(&s, body).await;
    assert_eq!(results.len(), 3, "{results:?}");
    assert_ok(&results[1], "201");
    assert_failed(&results[2], 404, None);
    assert_eq!(
        id_of(&results[2]),
        "no-such-user",
        "a failed DELETE names its target"
    );
    assert_eq!(
        total(&s, &format!("/Users?filter={}", q("userName eq \"e@x\""))).await,
        0
    );

    // Without failOnErrors everything runs, failures included.
    let results = run(
        &s,
        bulk(json!([
            {"method": "DELETE", "path": "/Users/no-such-user"},
            post_user("e", "e@x"),
        ])),
    )
    .await;
    assert_failed(&results[0], 404, None);
    assert_ok(&results[1], "201");
    s.stop().await;
}

#[tokio::test]
async fn an_unknown_bulk_id_fails_its_operation_with_409_and_the_rest_applies() {
    let s = TestServer::start().await;
    let results = run(
        &s,
        bulk(json!([
            post_group("g", "Ghosts", &["bulkId:ghost"]),
            post_user("u", "real@x"),
            // A reference to a POST that failed: nothing to point at.
            {"method": "POST", "path": "/Users", "bulkId": "broken", "data": {"schemas": [USER]}},
            post_group("h", "Haunted", &["bulkId:broken"]),
        ])),
    )
    .await;
    let detail = assert_failed(&results[0], 409, Some("invalidValue"));
    assert!(detail.contains("\"ghost\""), "{detail}");
    assert!(results[0].get("location").is_none(), "{}", results[0]);
    assert_ok(&results[1], "201");
    assert_failed(&results[2], 400, None);
    let detail = assert_failed(&results[3], 409, Some("invalidValue"));
    assert!(
        detail.contains("\"broken\"") && detail.contains("failed"),
        "{detail}"
    );
    assert_eq!(total(&s, "/Groups").await, 0);
    assert_eq!(total(&s, "/Users").await, 1);
    s.stop().await;
}

#[tokio::test]
async fn a_circular_reference_pair_is_409_and_creates_nothing_of_it() {
    let s = TestServer::start().await;
    let results = run(
        &s,
        bulk(json!([
            post_group("a", "A", &["bulkId:b"]),
            post_group("b", "B", &["bulkId:a"]),
            post_user("u", "bystander@x"),
        ])),
    )
    .await;
    assert_eq!(results.len(), 3);
    for (r, cycle) in [
        (&results[0], "\"a\" references \"b\" references \"a\""),
        (&results[1], "\"b\" references \"a\" references \"b\""),
    ] {
        let detail = assert_failed(r, 409, Some("invalidValue"));
        assert!(
            detail.contains("circular") && detail.contains(cycle),
            "{detail}"
        );
    }
    assert_ok(&results[2], "201");
    assert_eq!(total(&s, "/Groups").await, 0);
    assert_eq!(total(&s, "/Users").await, 1);
    s.stop().await;
}

#[tokio::test]
async fn bad_operations_are_reported_one_by_one_while_the_others_apply() {
    let s = TestServer::start().await;
    let results = run(
        &s,
        bulk(json!([
            {"method": "GET", "path": "/Users"},
            {"method": "POST", "path": "/Users", "data": {"schemas": [USER], "userName": "nobulkid@x"}},
            {"method": "DELETE", "path": "/Things/1"},
            {"method": "POST", "path": "/Users/123", "bulkId": "p", "data": {"userName": "p@x"}},
            {"method": "PATCH", "path": "/Users/x"},
            post_user("ok", "ok@x"),
            "not an object",
            {"method": "PUT", "path": "/Users/bulkId:ok", "data": {"schemas": [USER], "userName": "ok@x", "nickName": "Okay"}},
        ])),
    )
    .await;
    assert_eq!(results.len(), 8, "{results:?}");
    let expect = [
        (400, "invalidValue", "\"GET\""),
        (400, "invalidValue", "bulkId"),
        (400, "invalidPath", "/Things/1"),
        (400, "invalidPath", "POST goes to /Users"),
        (400, "invalidSyntax", "\"data\""),
    ];
    for (i, (status, t, needle)) in expect.iter().enumerate() {
        let detail = assert_failed(&results[i], *status, Some(t));
        assert!(detail.contains(needle), "{i}: {detail}");
    }
    assert_eq!(results[0]["method"], "GET", "the method is echoed as sent");
    assert_ok(&results[5], "201");
    assert_failed(&results[6], 400, Some("invalidSyntax"));
    assert_ok(&results[7], "200");
    let id = id_of(&results[5]);
    assert_eq!(id_of(&results[7]), id);
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.body["nickName"],
        "Okay"
    );
    assert_eq!(total(&s, "/Users").await, 1, "only ok@x was created");
    s.stop().await;
}

#[tokio::test]
async fn requests_refused_as_a_whole_change_nothing() {
    let s = TestServer::start().await;
    s.user("there@x").await;
    let before = snapshot(&s).await;

    // Too many operations: 413 naming the limit (RFC 7644 §3.7.4).
    let ops: Vec<Value> = (0..1001)
        .map(|i| post_user(&format!("b{i}"), &format!("u{i}@x")))
        .collect();
    let r = s.post("/Bulk", bulk(Value::Array(ops))).await;
    r.assert_error(413, None);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("1001") && detail.contains("maxOperations is 1000"),
        "{detail}"
    );

    // Larger than maxPayloadSize: 413 naming it.
    let big = "x".repeat(4 * 1024 * 1024);
    let mut body = bulk(json!([post_user("b", "big@x")]));
    body["padding"] = json!(big);
    let r = s.post("/Bulk", body).await;
    r.assert_error(413, None);
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("maxPayloadSize (4194304 bytes")),
        "{}",
        r.body
    );

    // Not a BulkRequest.
    for body in [
        json!({"schemas": [USER], "userName": "x@x"}),
        json!([post_user("b", "x@x")]),
        json!({"schemas": [BULK_REQUEST]}),
        json!({"schemas": [BULK_REQUEST], "Operations": "all of them"}),
    ] {
        s.post("/Bulk", body)
            .await
            .assert_error(400, Some("invalidSyntax"));
    }
    let r = s
        .client
        .post(s.url("/Bulk"))
        .bearer_auth(&s.token)
        .header("Content-Type", "application/scim+json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    crate::common::Reply::from(r)
        .await
        .assert_error(400, Some("invalidSyntax"));

    // A bulkId twice, or a bad failOnErrors: 400, nothing runs.
    let r = s
        .post(
            "/Bulk",
            bulk(json!([post_user("dup", "d1@x"), post_user("dup", "d2@x")])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("\"dup\"")),
        "{}",
        r.body
    );
    let mut body = bulk(json!([post_user("f", "f@x")]));
    body["failOnErrors"] = json!(-1);
    s.post("/Bulk", body)
        .await
        .assert_error(400, Some("invalidValue"));

    // Only POST.
    let r = s.call(Method::GET, "/Bulk", None).await;
    r.assert_error(405, None);
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    assert_eq!(snapshot(&s).await, before);
    s.stop().await;
}

#[tokio::test]
async fn a_bulk_may_be_larger_than_a_single_request() {
    let s = TestServer::start().await;
    // 1.5 MiB: above the 1 MiB of other requests, within maxPayloadSize.
    let mut body = bulk(json!([post_user("b", "roomy@x")]));
    body["padding"] = json!("x".repeat(1536 * 1024));
    let results = run(&s, body).await;
    assert_ok(&results[0], "201");
    s.stop().await;
}

#[tokio::test]
async fn version_is_an_if_match_for_each_operation() {
    let s = TestServer::start().await;
    let r = s.post("/Users", json!({"userName": "v@x"})).await;
    let id = r.body["id"].as_str().expect("id").to_string();
    let v1 = r.body["meta"]["version"]
        .as_str()
        .expect("version")
        .to_string();
    let path = format!("/Users/{id}");
    let results = run(
        &s,
        bulk(json!([
            {"method": "PATCH", "path": path, "version": v1,
             "data": patch_data(json!([{"op": "replace", "path": "title", "value": "T"}]))},
            // v1 is stale now.
            {"method": "PUT", "path": path, "version": v1,
             "data": {"userName": "v@x", "title": "lost"}},
            {"method": "DELETE", "path": path, "version": v1},
        ])),
    )
    .await;
    assert_ok(&results[0], "200");
    let v2 = results[0]["version"].as_str().expect("version").to_string();
    assert_ne!(v1, v2);
    for r in &results[1..] {
        let detail = assert_failed(r, 412, None);
        assert!(detail.contains("If-Match"), "{detail}");
        assert_eq!(id_of(r), id);
    }
    let got = s.get(&path).await;
    assert_eq!(got.body["title"], "T");
    assert_eq!(got.body["meta"]["version"], v2.as_str());

    // The current version passes.
    let results = run(
        &s,
        bulk(json!([{"method": "DELETE", "path": path, "version": v2}])),
    )
    .await;
    assert_ok(&results[0], "204");
    s.get(&path).await.assert_error(404, None);
    s.stop().await;
}

#[tokio::test]
async fn service_provider_config_advertises_bulk_with_its_limits() {
    let s = TestServer::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.status, 200);
    assert_eq!(
        spc.body["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 4194304})
    );
    s.stop().await;
}
