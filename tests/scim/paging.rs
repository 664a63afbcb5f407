//! Sorting (RFC 7644 §3.4.2.3) and cursor paging (RFC 9865) over HTTP.

use serde_json::{json, Value};

use crate::common::{ids_of, q, resources, TestServer};

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Creates users from (userName, familyName) pairs; returns their ids in creation order.
async fn users(s: &TestServer, specs: &[(&str, Option<&str>)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (user_name, family) in specs {
        let mut body = json!({"userName": user_name});
        if let Some(f) = family {
            body["name"] = json!({"familyName": f});
        }
        let r = s.post("/Users", body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    ids
}

fn names(body: &Value) -> Vec<String> {
    resources(body)
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `nextCursor` from the first page to the last; returns every page's body.
async fn walk(s: &TestServer, path_and_query: &str) -> Vec<Value> {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = s
            .get(&format!("{path_and_query}{sep}cursor={cursor}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.get("startIndex").is_none(), "{}", r.body);
        let next = r.body["nextCursor"].as_str().map(str::to_string);
        pages.push(r.body);
        match next {
            Some(n) => cursor = n,
            None => return pages,
        }
        assert!(pages.len() < 100, "the walk does not end");
    }
}

#[tokio::test]
async fn sort_by_user_name_either_way_with_and_without_a_filter() {
    let s = TestServer::start().await;
    users(
        &s,
        &[
            ("carol", None),
            ("Alice", None),
            ("bob", None),
            ("alan", None),
            ("Bea", None),
        ],
    )
    .await;
    let r = s.get("/Users?sortBy=userName").await;
    assert_eq!(names(&r.body), ["alan", "Alice", "Bea", "bob", "carol"]);
    let r = s.get("/Users?sortBy=USERNAME&sortOrder=Descending").await;
    assert_eq!(names(&r.body), ["carol", "bob", "Bea", "Alice", "alan"]);
    // An index plan (sw) and a scan plan (co) give the same sorted answer.
    let r = s
        .get(&format!(
            "/Users?sortBy=userName&filter={}",
            q("userName sw \"b\"")
        ))
        .await;
    assert_eq!(names(&r.body), ["Bea", "bob"]);
    let r = s
        .get(&format!(
            "/Users?sortBy=userName&sortOrder=descending&filter={}",
            q("userName co \"a\"")
        ))
        .await;
    assert_eq!(names(&r.body), ["carol", "Bea", "Alice", "alan"]);
    // Index paging over a sorted list is stable.
    let r = s.get("/Users?sortBy=userName&startIndex=2&count=2").await;
    assert_eq!(names(&r.body), ["Alice", "Bea"]);
    assert_eq!(r.body["totalResults"], 5);
    // .search takes the same parameters.
    let r = s
        .post("/Users/.search", json!({"schemas": [SEARCH], "sortBy": "userName", "sortOrder": "descending", "count": 2}))
        .await;
    assert_eq!(names(&r.body), ["carol", "bob"]);
}

#[tokio::test]
async fn missing_values_sort_last_ascending_and_first_descending() {
    let s = TestServer::start().await;
    users(
        &s,
        &[
            ("u1", Some("Young")),
            ("u2", None),
            ("u3", Some("adams")),
            ("u4", Some("Miller")),
        ],
    )
    .await;
    let r = s.get("/Users?sortBy=name.familyName").await;
    assert_eq!(names(&r.body), ["u3", "u4", "u1", "u2"]);
    let r = s
        .get("/Users?sortBy=name.familyName&sortOrder=descending")
        .await;
    assert_eq!(names(&r.body), ["u2", "u1", "u4", "u3"]);
    // Multi-valued: the primary value decides, else the first.
    s.patch(
        &format!("/Users/{}", ids_of(&s.get(&format!("/Users?filter={}", q("userName eq \"u1\""))).await.body)[0]),
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "emails", "value": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}]}),
    )
    .await;
    let r = s.get("/Users?sortBy=emails&filter=emails+pr").await;
    assert_eq!(names(&r.body), ["u1"]);
    // Sorting by meta.lastModified is chronological.
    let r = s
        .get("/Users?sortBy=meta.lastModified&sortOrder=descending")
        .await;
    assert_eq!(names(&r.body)[0], "u1", "the last modified comes first");
}

#[tokio::test]
async fn bad_sort_parameters_are_explained() {
    let s = TestServer::start().await;
    s.user("a").await;
    for bad in [
        "/Users?sortBy=nosuch",
        "/Users?sortBy=userName&sortOrder=sideways",
        "/Users?sortBy=password",
    ] {
        let r = s.get(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn a_cursor_walk_visits_every_user_once_in_order() {
    let s = TestServer::start().await;
    let specs: Vec<(String, Option<&str>)> =
        (0..23).map(|i| (format!("user{i:02}"), None)).collect();
    let specs: Vec<(&str, Option<&str>)> = specs.iter().map(|(n, f)| (n.as_str(), *f)).collect();
    let mut ids = users(&s, &specs).await;
    ids.sort();

    let pages = walk(&s, "/Users?count=10").await;
    assert_eq!(pages.len(), 3);
    let seen: Vec<String> = pages.iter().flat_map(ids_of).collect();
    assert_eq!(seen, ids, "id order, every user once");
    for p in &pages {
        assert_eq!(p["totalResults"], 23);
    }
    assert!(
        pages[0].get("previousCursor").is_none(),
        "no previous page before the first"
    );
    assert_eq!(pages[2]["itemsPerPage"], 3);

    // previousCursor from the second page gives the first page back.
    let prev = pages[1]["previousCursor"]
        .as_str()
        .expect("page 2 has a previous page");
    let back = s.get(&format!("/Users?count=10&cursor={prev}")).await;
    assert_eq!(ids_of(&back.body), ids_of(&pages[0]));
    assert!(back.body.get("previousCursor").is_none(), "{}", back.body);
    assert!(back.body["nextCursor"].is_string());

    // Sorted walks, descending, through the userName index.
    let pages = walk(&s, "/Users?count=7&sortBy=userName&sortOrder=descending").await;
    let seen: Vec<String> = pages.iter().flat_map(names).collect();
    let mut expected: Vec<String> = specs.iter().map(|(n, _)| n.to_string()).collect();
    expected.reverse();
    assert_eq!(seen, expected);

    // A filtered scan walk (no index helps `co`) gives the same set as one big page.
    let f = q("userName co \"1\"");
    let pages = walk(&s, &format!("/Users?count=4&filter={f}")).await;
    let seen: Vec<String> = pages.iter().flat_map(ids_of).collect();
    let all = s.get(&format!("/Users?filter={f}")).await;
    assert_eq!(seen, ids_of(&all.body));
}

#[tokio::test]
async fn a_walk_resumes_after_its_last_user_when_users_change_between_pages() {
    let s = TestServer::start().await;
    let specs: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    let specs: Vec<(&str, Option<&str>)> = specs.iter().map(|n| (n.as_str(), None)).collect();
    let ids = users(&s, &specs).await;
    let first = s.get("/Users?count=3&cursor=").await;
    assert_eq!(ids_of(&first.body), ids[..3]);
    // The last user of page one goes away, a new one arrives: nothing is skipped or repeated.
    assert_eq!(s.delete(&format!("/Users/{}", ids[2])).await.status, 204);
    let late = s.user("late").await;
    let next = first.body["nextCursor"].as_str().unwrap();
    let second = s.get(&format!("/Users?count=3&cursor={next}")).await;
    assert_eq!(ids_of(&second.body), ids[3..6]);
    let last = s
        .get(&format!(
            "/Users?count=3&cursor={}",
            second.body["nextCursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ids_of(&last.body), [late]);
    assert!(last.body.get("nextCursor").is_none());
}

#[tokio::test]
async fn cursors_belong_to_their_query() {
    let s = TestServer::start().await;
    for i in 0..4 {
        s.user(&format!("c{i}")).await;
    }
    let first = s.get("/Users?count=2&cursor=&sortBy=userName").await;
    let next = first.body["nextCursor"].as_str().unwrap().to_string();
    // Same cursor, other query: refused.
    let r = s.get(&format!("/Users?count=2&cursor={next}")).await;
    r.assert_error(400, Some("invalidCursor"));
    let r = s
        .get(&format!("/Groups?count=2&cursor={next}&sortBy=userName"))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    for garbage in ["abc", "%00", "eyJ2IjoxfQ"] {
        let r = s
            .get(&format!("/Users?cursor={garbage}&sortBy=userName"))
            .await;
        r.assert_error(400, Some("invalidCursor"));
    }
    let r = s
        .get(&format!(
            "/Users?cursor={next}&sortBy=userName&startIndex=1"
        ))
        .await;
    r.assert_error(400, Some("invalidValue"));
    // The same cursor with its own query works, and a .search body can carry it.
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH], "sortBy": "userName", "count": 2, "cursor": next}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(names(&r.body), ["c2", "c3"]);
    // The root search pages by index only, and says so.
    let r = s
        .post("/.search", json!({"schemas": [SEARCH], "cursor": ""}))
        .await;
    r.assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn cursor_paging_and_sorting_are_advertised() {
    let s = TestServer::start().await;
    let spc = s.get("/ServiceProviderConfig").await.body;
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["pagination"]["cursor"], true);
    assert_eq!(spc["pagination"]["index"], true);
    assert_eq!(spc["pagination"]["defaultPaginationMethod"], "index");
    assert!(spc["pagination"]["maxPageSize"]
        .as_u64()
        .is_some_and(|n| n > 0));
}

#[tokio::test]
async fn a_previous_page_that_emptied_gives_the_first_page() {
    let s = TestServer::start().await;
    let specs: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
    let specs: Vec<(&str, Option<&str>)> = specs.iter().map(|n| (n.as_str(), None)).collect();
    let ids = users(&s, &specs).await;
    let first = s.get("/Users?count=2&cursor=").await;
    let next = first.body["nextCursor"].as_str().unwrap().to_string();
    let second = s.get(&format!("/Users?count=2&cursor={next}")).await;
    assert_eq!(ids_of(&second.body), ids[2..]);
    for id in &ids[..2] {
        assert_eq!(s.delete(&format!("/Users/{id}")).await.status, 204);
    }
    let prev = second.body["previousCursor"].as_str().unwrap();
    let back = s.get(&format!("/Users?count=2&cursor={prev}")).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(ids_of(&back.body), ids[2..]);
    assert!(back.body.get("previousCursor").is_none(), "{}", back.body);
}

#[tokio::test]
async fn edge_filters_and_sorts_from_review() {
    let s = TestServer::start().await;
    let alice = s.user("alice").await;
    let g = s.group("G").await;
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": alice}]}]});
    assert_eq!(s.patch(&format!("/Groups/{g}"), add).await.status, 204);
    // A timestamp past year 9999 once in UTC: an answer, not a crash.
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("meta.lastModified gt \"9999-12-31T23:59:59-01:00\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    // members.display is rendered for the filter, so it can match.
    for f in [
        "members[display eq \"alice\"]",
        "members.display eq \"alice\"",
    ] {
        let r = s.get(&format!("/Groups?filter={}", q(f))).await;
        assert_eq!(ids_of(&r.body), std::slice::from_ref(&g), "{f}: {}", r.body);
    }
    // Sorting by a derived attribute is refused, not silently ignored.
    s.get("/Groups?sortBy=members.value")
        .await
        .assert_error(400, Some("invalidValue"));
    s.get("/Users?sortBy=groups")
        .await
        .assert_error(400, Some("invalidValue"));
    // A page past the end returns at once, empty, with the total.
    let r = s.get("/Users?startIndex=2000000000&count=10").await;
    assert_eq!(r.body["totalResults"], 1);
    assert!(resources(&r.body).is_empty());
}
