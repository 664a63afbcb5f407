//! `POST …/.search` (RFC 7644 §3.4.3): the same query as GET, carried in a SearchRequest body.

use serde_json::json;

use crate::common::{ids_of, TestServer};

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[tokio::test]
async fn search_on_a_resource_type_answers_like_get() {
    let s = TestServer::start().await;
    for n in 0..4 {
        let r = s
            .post(
                "/Users",
                json!({"userName": format!("smith{n}@x"), "displayName": format!("Smith {n}")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    s.user("jones@x").await;
    let r = s
        .post("/Users/.search", json!({"schemas": [SEARCH], "attributes": ["displayName"], "filter": "userName sw \"smith\"", "startIndex": 2, "count": 2}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let first = &r.body["Resources"][0];
    assert!(
        first.get("displayName").is_some() && first.get("userName").is_none(),
        "{first}"
    );
    let get = s
        .get("/Users?filter=userName+sw+%22smith%22&startIndex=2&count=2")
        .await;
    assert_eq!(ids_of(&r.body), ids_of(&get.body));
    // Wrong shapes are SCIM errors; GET on .search is not a search.
    s.post("/Users/.search", json!({"filter": 3}))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.post("/Users/.search", json!({"count": "many"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post("/Groups/.search", json!({"filter": "displayName eq"}))
        .await
        .assert_error(400, Some("invalidFilter"));
    let r = s.get("/Users/.search").await;
    r.assert_error(405, None);
    s.stop().await;
}

#[tokio::test]
async fn search_at_the_root_pages_across_users_then_groups() {
    let s = TestServer::start().await;
    let mut users = Vec::new();
    for n in 0..3 {
        let r = s
            .post(
                "/Users",
                json!({"userName": format!("u{n}@x"), "displayName": format!("Team {n}")}),
            )
            .await;
        users.push(r.body["id"].as_str().expect("id").to_string());
    }
    let g1 = s.group("Team A").await;
    let g2 = s.group("Team B").await;
    let body = |start: i64, count: i64| json!({"schemas": [SEARCH], "filter": "displayName sw \"team\"", "startIndex": start, "count": count});
    let r = s.post("/.search", body(3, 2)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(ids_of(&r.body), vec![users[2].clone(), g1.clone()]);
    let r = s.post("/.search", body(5, 10)).await;
    assert_eq!(ids_of(&r.body), vec![g2.clone()]);
    // A filter only Users understand selects no Groups rather than failing.
    let r = s
        .post("/.search", json!({"filter": "userName eq \"u1@x\""}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![users[1].clone()]);
    s.post("/.search", json!({"filter": "nosuch eq \"x\""}))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.stop().await;
}

#[tokio::test]
async fn root_search_attributes_that_one_type_lacks_return_only_its_id() {
    let s = TestServer::start().await;
    s.user("ann@x").await;
    s.group("Sales").await;
    let r = s
        .post(
            "/.search",
            json!({"schemas": [SEARCH], "attributes": ["userName"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.body["Resources"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["userName"], "ann@x");
    let group = &all[1];
    assert!(group["id"].is_string(), "{group}");
    assert!(
        group.get("displayName").is_none(),
        "a Group has no userName to return: {group}"
    );
    // A type-specific list with only unknown names does the same.
    let r = s.get("/Groups?attributes=nosuch").await;
    assert!(
        r.body["Resources"][0].get("displayName").is_none(),
        "{}",
        r.body
    );
}
