//! The other SCIM clients' traffic, replayed request by request in the order each client sends it
//! (INTEROP.md Part B): Okta (§2.2 flows and the §2.3 SPEC test), OneLogin (§3.1), Ping (§3.4),
//! JumpCloud (§3.3), authentik (§3.7), the Keycloak plugin (§3.6) and Netskope's own tooling
//! (§1.1, §1.3). Every step reads the stored result back; statuses alone prove nothing.
//!
//! Entra's replay lives in `entra.rs` and generic RFC behaviour in `protocol.rs`; this file only
//! adds what a named client does differently, in that client's shapes and headers.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{ids_of, q, resources, Reply, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

// =============================================================================================
// Helpers

/// A client's fixed header set, sent instead of the harness's `Authorization` + Content-Type.
struct Wire<'a> {
    s: &'a TestServer,
    headers: Vec<(&'static str, String)>,
}

impl<'a> Wire<'a> {
    fn new(s: &'a TestServer, headers: &[(&'static str, &str)]) -> Wire<'a> {
        Wire {
            s,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut req = self.s.client.request(method, self.s.url(path));
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.body(serde_json::to_vec(b).expect("json"));
        }
        Reply::from(req.send().await.expect("request")).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }
}

fn bearer(s: &TestServer) -> String {
    format!("Bearer {}", s.token)
}

fn set<I: IntoIterator<Item = S>, S: ToString>(items: I) -> BTreeSet<String> {
    items.into_iter().map(|s| s.to_string()).collect()
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// A filter with `%20` for spaces and `%22` for quotes, the way Okta encodes it.
fn pct(filter: &str) -> String {
    // `q` encodes a literal '+' as %2B, so every '+' left is a space.
    q(filter).replace('+', "%20")
}

/// The id of a resource a POST just created (201 with a non-empty id).
fn created(r: &Reply) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty(), "201 carries the new id: {}", r.body);
    id
}

/// A PATCH every client here accepts: 204, or 200 with the resource.
fn assert_patched(r: &Reply) {
    match r.status.as_u16() {
        204 => assert!(r.body.is_null(), "204 has no body: {}", r.body),
        200 => assert!(
            r.body["id"].is_string(),
            "200 carries the resource: {}",
            r.body
        ),
        other => panic!("PATCH answered {other}: {}", r.body),
    }
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

fn has_schema(body: &Value, urn: &str) -> bool {
    body["schemas"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s == urn))
}

/// The member ids of a group, read back with a plain GET (members are returned by default).
async fn members(s: &TestServer, gid: &str) -> BTreeSet<String> {
    let r = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    match &r.body["members"] {
        Value::Null => BTreeSet::new(),
        Value::Array(a) => a
            .iter()
            .map(|m| m["value"].as_str().expect("member value").to_string())
            .collect(),
        other => panic!("members is an array: {other}"),
    }
}

/// The group ids `User.groups` shows for a user.
async fn groups_of(s: &TestServer, uid: &str) -> BTreeSet<String> {
    let r = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["groups"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| g["value"].as_str().expect("group value").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn total(s: &TestServer, path: &str) -> u64 {
    let r = s.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["totalResults"]
        .as_u64()
        .unwrap_or_else(|| panic!("{path}: totalResults is a number: {}", r.body))
}

// =============================================================================================
// Okta (INTEROP Part B §2)

/// Okta's SCIM client headers (§2.1).
fn okta(s: &TestServer) -> Wire<'_> {
    let auth = bearer(s);
    Wire::new(
        s,
        &[
            ("Authorization", auth.as_str()),
            ("User-Agent", "Okta SCIM Client 1.0.0"),
            ("Accept", "application/scim+json"),
            ("Accept-Charset", "utf-8"),
            ("Content-Type", "application/scim+json; charset=utf-8"),
            ("Accept-Encoding", "gzip,deflate"),
        ],
    )
}

/// §2.2 "Assign user" POST body, with Okta's placeholder password.
fn okta_user_body(login: &str, given: &str, family: &str, external_id: &str) -> Value {
    json!({"schemas": [USER], "userName": login,
           "name": {"givenName": given, "familyName": family},
           "emails": [{"primary": true, "value": login, "type": "work"}],
           "displayName": format!("{given} {family}"), "locale": "en-US", "externalId": external_id,
           "groups": [], "password": "1mz050nq", "active": true})
}

/// §2.2 assign user → update → deactivate → reactivate → import, as Okta sends them.
#[tokio::test]
async fn okta_assign_update_deactivate_reactivate_and_import_users() {
    let s = TestServer::start().await;
    let okta = okta(&s);
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        pct("userName eq \"test.user@okta.local\"")
    );
    assert!(lookup.contains("userName%20eq%20%22test.user%40okta.local%22"));

    // 1. Lookup before create: an empty ListResponse with numbers, not strings.
    let r = okta.get(&lookup).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type(), "application/scim+json");
    assert_eq!(
        r.body,
        json!({"schemas": [LIST], "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": []})
    );

    // 2. Create: 201 with the full resource; the password is accepted and never returned.
    let sent = okta_user_body(
        "test.user@okta.local",
        "Test",
        "User",
        "00ujl29u0le5T6Aj10h7",
    );
    let r = okta.post("/Users", &sent).await;
    let id = created(&r);
    let b = &r.body;
    assert!(has_schema(b, USER), "{b}");
    assert_eq!(b["userName"], "test.user@okta.local");
    assert_eq!(b["name"]["givenName"], "Test");
    assert_eq!(b["name"]["familyName"], "User");
    assert_eq!(b["emails"], sent["emails"]);
    assert_eq!(b["displayName"], "Test User");
    assert_eq!(b["locale"], "en-US");
    assert_eq!(b["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(b["active"], true);
    assert!(
        b.get("password").is_none(),
        "password is never returned: {b}"
    );
    assert!(
        b.get("groups").is_none_or(|g| g == &json!([])),
        "the sent groups:[] is ignored: {b}"
    );
    let path = format!("/Users/{id}");
    let location = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(location, s.url(&path));
    assert_eq!(b["meta"]["location"], location);
    let created_at = b["meta"]["created"].clone();
    assert!(created_at.is_string(), "{b}");

    // The same lookup now links Okta to the id.
    let r = okta.get(&lookup).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![id.clone()]);
    assert!(resources(&r.body)[0].get("password").is_none());

    // 3. Update attributes: GET, modify, PUT the whole object back with id, meta, groups:[].
    let r = okta.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("password").is_none());
    let mut user = r.body;
    user["name"]["givenName"] = json!("Testy");
    user["displayName"] = json!("Testy User");
    user["groups"] = json!([]);
    assert_eq!(user["id"], id.as_str());
    assert!(user["meta"].is_object());
    let r = okta.put(&path, &user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let got = okta.get(&path).await.body;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["name"]["givenName"], "Testy");
    assert_eq!(got["name"]["familyName"], "User");
    assert_eq!(got["displayName"], "Testy User");
    assert_eq!(got["locale"], "en-US");
    assert_eq!(got["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(got["emails"], sent["emails"]);
    assert_eq!(got["active"], true);
    assert_eq!(got["meta"]["created"], created_at, "created never changes");

    // 4. Deactivate: path-less replace with {"active": false}. The user stays readable.
    let deactivate = patch_body(json!([{"op": "replace", "value": {"active": false}}]));
    let r = okta.patch(&path, &deactivate).await;
    assert_patched(&r);
    if r.status == 200 {
        assert_eq!(r.body["active"], false, "{}", r.body);
    }
    let r = okta.get(&path).await;
    assert_eq!(r.status, 200, "a deactivated user is not a 404: {}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["name"]["givenName"], "Testy", "nothing else changed");
    let r = okta.get(&lookup).await;
    assert_eq!(
        r.body["totalResults"], 1,
        "the filter still finds it: {}",
        r.body
    );
    assert_eq!(resources(&r.body)[0]["id"], id.as_str());
    assert_eq!(resources(&r.body)[0]["active"], false);

    // Reactivate: same record, same id.
    let reactivate = patch_body(json!([{"op": "replace", "value": {"active": true}}]));
    assert_patched(&okta.patch(&path, &reactivate).await);
    let got = okta.get(&path).await.body;
    assert_eq!(
        (got["id"].as_str(), got["active"].clone()),
        (Some(id.as_str()), json!(true))
    );
    let r = okta.get(&lookup).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![id.clone()], "no second record");

    // Password sync: the same path-less form (body presumed in §2.2). Accepted, never kept.
    let before = okta.get(&path).await.body;
    let sync = patch_body(json!([{"op": "replace", "value": {"password": "N3w-Okta-pass"}}]));
    let r = okta.patch(&path, &sync).await;
    assert_patched(&r);
    assert!(r.body.get("password").is_none(), "{}", r.body);
    let after = okta.get(&path).await.body;
    assert!(after.get("password").is_none(), "{after}");
    for k in [
        "userName",
        "name",
        "emails",
        "active",
        "externalId",
        "locale",
    ] {
        assert_eq!(after[k], before[k], "{k}");
    }

    // 5. Import: startIndex=1&count=100, then 101, 201 … until totalResults.
    let mut all = set([&id]);
    for i in 0..229 {
        all.insert(s.user(&format!("import.{i:03}@okta.local")).await);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    let mut start = 1u64;
    loop {
        let r = okta
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["totalResults"], 230, "{start}");
        assert_eq!(r.body["startIndex"], start, "startIndex is echoed");
        let page = ids_of(&r.body);
        assert_eq!(r.body["itemsPerPage"], page.len(), "{start}");
        sizes.push(page.len());
        seen.extend(page);
        start += 100;
        if start > 230 {
            break;
        }
    }
    assert_eq!(sizes, vec![100, 100, 30]);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no user on two pages");
    assert_eq!(unique, all, "every user imported exactly once");
    s.stop().await;
}

async fn okta_user(okta: &Wire<'_>, login: &str) -> String {
    created(
        &okta
            .post("/Users", &okta_user_body(login, "Member", login, login))
            .await,
    )
}

/// §2.2 push group → link by displayName → rename with `id` in the value → membership pushes
/// (mixed remove/add, full replace, empty) → delete.
#[tokio::test]
async fn okta_push_group_rename_membership_and_delete() {
    let s = TestServer::start().await;
    let okta = okta(&s);
    let u1 = okta_user(&okta, "m1@okta.local").await;
    let u2 = okta_user(&okta, "m2@okta.local").await;
    let u3 = okta_user(&okta, "m3@okta.local").await;

    // Push group.
    let r = okta
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}),
        )
        .await;
    let gid = created(&r);
    assert_eq!(r.body["displayName"], "Test SCIMv2");
    assert!(
        r.body.get("members").is_none_or(|m| m == &json!([])),
        "{}",
        r.body
    );
    let gpath = format!("/Groups/{gid}");

    // Link without a known id: displayName lookup with %20.
    let lookup = |name: &str| {
        format!(
            "/Groups?filter={}&startIndex=1&count=100",
            pct(&format!("displayName eq \"{name}\""))
        )
    };
    assert!(lookup("Test SCIMv2").contains("displayName%20eq%20%22Test%20SCIMv2%22"));
    let r = okta.get(&lookup("Test SCIMv2")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![gid.clone()]);

    // A membership push: the rename (same name, id inside the value), then the adds.
    let rename = |name: &str| {
        patch_body(json!([{"op": "replace", "value": {"id": gid, "displayName": name}}]))
    };
    assert_patched(&okta.patch(&gpath, &rename("Test SCIMv2")).await);
    let add = patch_body(json!([{"op": "add", "path": "members", "value": [
        {"value": u1, "display": "m1@okta.local"}, {"value": u2, "display": "m2@okta.local"}]}]));
    assert_patched(&okta.patch(&gpath, &add).await);
    assert_eq!(members(&s, &gid).await, set([&u1, &u2]));
    assert_eq!(groups_of(&s, &u1).await, set([&gid]));
    assert_eq!(s.get(&gpath).await.body["displayName"], "Test SCIMv2");

    // Rename: members are kept, the new name is findable, the old one is not.
    assert_patched(&okta.patch(&gpath, &rename("Test SCIMv2 Renamed")).await);
    let got = okta.get(&gpath).await.body;
    assert_eq!(got["displayName"], "Test SCIMv2 Renamed");
    assert_eq!(
        got["id"],
        gid.as_str(),
        "the id in the value changes nothing"
    );
    assert_eq!(
        members(&s, &gid).await,
        set([&u1, &u2]),
        "a rename keeps members"
    );
    assert_eq!(
        ids_of(&okta.get(&lookup("Test SCIMv2 Renamed")).await.body),
        vec![gid.clone()]
    );
    assert_eq!(
        okta.get(&lookup("Test SCIMv2")).await.body["totalResults"],
        0
    );

    // One PATCH mixing a filtered remove and an add with a display sub-attribute.
    let mixed = patch_body(json!([
        {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
        {"op": "add", "path": "members", "value": [{"value": u3, "display": "m3@okta.local"}]}]));
    assert_patched(&okta.patch(&gpath, &mixed).await);
    assert_eq!(members(&s, &gid).await, set([&u2, &u3]));
    assert_eq!(groups_of(&s, &u1).await, BTreeSet::new());
    let u3_groups = s.get(&format!("/Users/{u3}")).await.body["groups"].clone();
    assert_eq!(u3_groups[0]["value"], gid.as_str());
    assert_eq!(u3_groups[0]["display"], "Test SCIMv2 Renamed");

    // A profile push for a member: GET-modify-PUT with groups:[] leaves the membership alone.
    let upath = format!("/Users/{u2}");
    let mut user = okta.get(&upath).await.body;
    assert_eq!(user["groups"][0]["value"], gid.as_str(), "{user}");
    user["title"] = json!("Engineer");
    user["groups"] = json!([]);
    let r = okta.put(&upath, &user).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(okta.get(&upath).await.body["title"], "Engineer");
    assert_eq!(groups_of(&s, &u2).await, set([&gid]), "groups is read-only");
    assert_eq!(members(&s, &gid).await, set([&u2, &u3]));

    // Full push: replace members with the whole list.
    let full = patch_body(json!([{"op": "replace", "path": "members", "value": [
        {"value": u1, "display": "m1@okta.local"}, {"value": u2, "display": "m2@okta.local"}]}]));
    assert_patched(&okta.patch(&gpath, &full).await);
    assert_eq!(members(&s, &gid).await, set([&u1, &u2]));
    assert_eq!(groups_of(&s, &u3).await, BTreeSet::new());

    // Push an empty group: replace with [].
    let empty = patch_body(json!([{"op": "replace", "path": "members", "value": []}]));
    assert_patched(&okta.patch(&gpath, &empty).await);
    assert_eq!(members(&s, &gid).await, BTreeSet::new());
    assert_eq!(groups_of(&s, &u1).await, BTreeSet::new());
    assert_eq!(
        okta.get(&gpath).await.body["displayName"],
        "Test SCIMv2 Renamed"
    );

    // Import groups pages like users.
    let r = okta.get("/Groups?startIndex=1&count=100").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![gid.clone()]);

    // Unlink → delete the group in the target app.
    let r = okta.delete(&gpath).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null());
    okta.get(&gpath).await.assert_error(404, None);
    assert_eq!(
        okta.get(&lookup("Test SCIMv2 Renamed")).await.body["totalResults"],
        0
    );
    assert_eq!(total(&s, "/Users").await, 3, "users stay");
    s.stop().await;
}

/// The six fields the SPEC test requires to be non-empty on a user (§2.3 #1, #2).
fn assert_spec_user_fields(u: &Value) {
    for (what, v) in [
        ("id", &u["id"]),
        ("name.familyName", &u["name"]["familyName"]),
        ("name.givenName", &u["name"]["givenName"]),
        ("userName", &u["userName"]),
        ("active", &u["active"]),
        ("emails[0].value", &u["emails"][0]["value"]),
    ] {
        assert!(non_empty(v), "{what} is not empty: {u}");
    }
}

/// §2.3: Okta's Runscope SPEC test, step by step with its headers and assertions.
#[tokio::test]
async fn okta_spec_test_steps_1_to_12() {
    let s = TestServer::start().await;
    // Precondition: users already exist, with names and emails; and one group for #10.
    for (given, family) in [("Existing", "User"), ("Second", "Person")] {
        let login = format!(
            "{}.{}@atko.com",
            given.to_lowercase(),
            family.to_lowercase()
        );
        created(
            &s.post(
                "/Users",
                json!({"schemas": [USER], "userName": login,
                    "name": {"givenName": given, "familyName": family},
                    "emails": [{"primary": true, "value": login, "type": "work"}], "active": true}),
            )
            .await,
        );
    }
    s.group("Everyone").await;

    let auth = bearer(&s);
    let gets = Wire::new(
        &s,
        &[
            ("Authorization", auth.as_str()),
            ("Accept", "application/scim+json"),
            ("Accept-Charset", "utf-8"),
            ("Content-Type", "application/scim+json; charset=utf-8"),
            ("User-Agent", "OKTA SCIM Integration"),
        ],
    );
    let posts = Wire::new(
        &s,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/scim+json; charset=utf-8"),
        ],
    );
    let unauthenticated = Wire::new(
        &s,
        &[
            ("Accept", "application/scim+json"),
            ("Accept-Charset", "utf-8"),
            ("Content-Type", "application/scim+json; charset=utf-8"),
            ("User-Agent", "OKTA SCIM Integration"),
        ],
    );
    let (given, family) = ("Runscope417", "Qwertyuiop802");
    let email = format!("{given}{family}@atko.com");

    // #1
    let r = gets.get("/Users?count=1&startIndex=1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(has_schema(&r.body, LIST), "{}", r.body);
    for k in ["itemsPerPage", "startIndex", "totalResults"] {
        assert!(r.body[k].is_number(), "{k} is a number: {}", r.body);
    }
    assert_eq!(resources(&r.body).len(), 1, "count=1 is honoured");
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["totalResults"], 2);
    let first = &resources(&r.body)[0];
    assert_spec_user_fields(first);
    let isv_user_id = first["id"].as_str().expect("id").to_string();

    // #2
    let r = gets.get(&format!("/Users/{isv_user_id}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_spec_user_fields(&r.body);
    assert_eq!(r.body["id"], isv_user_id.as_str());

    // #3: written unencoded in the test; the URL parser encodes spaces and quotes on send.
    let r = gets
        .get("/Users?filter=userName eq \"abcdefgh@atko.com\"")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(has_schema(&r.body, LIST));
    assert_eq!(r.body["totalResults"], 0);

    // #4
    let r = gets.get("/Users/010101001010101011001010101011").await;
    r.assert_error(404, None);
    assert!(has_schema(&r.body, ERROR));

    // #5
    let by_email = format!("/Users?filter=userName eq \"{email}\"");
    let r = gets.get(&by_email).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(has_schema(&r.body, LIST));
    assert_eq!(r.body["totalResults"], 0);

    // #6
    let new_user = json!({"schemas": [USER], "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{given} {family}"), "active": true});
    let r = posts.post("/Users", &new_user).await;
    let id_user_one = created(&r);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["givenName"], given);
    assert_eq!(r.body["name"]["familyName"], family);
    assert!(has_schema(&r.body, USER), "{}", r.body);
    assert_eq!(r.body["userName"], email.as_str());

    // #7
    let r = gets.get(&format!("/Users/{id_user_one}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["userName"], email.as_str());
    assert_eq!(r.body["name"]["givenName"], given);
    assert_eq!(r.body["name"]["familyName"], family);

    // #8
    posts
        .post("/Users", &new_user)
        .await
        .assert_error(409, Some("uniqueness"));
    assert_eq!(
        total(&s, "/Users").await,
        3,
        "the duplicate created nothing"
    );

    // #9: the test only asserts 200; RFC 7643 userName is caseExact=false, so it matches.
    let r = gets
        .get(&format!(
            "/Users?filter=userName eq \"{}\"",
            email.to_uppercase()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![id_user_one.clone()]);

    // #10 (no timing assertion): with totalResults ≥ 1, Resources is an array.
    let r = gets.get("/Groups").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["totalResults"].as_u64().is_some_and(|n| n >= 1),
        "{}",
        r.body
    );
    assert!(r.body["Resources"].is_array(), "{}", r.body);

    // #11: no Authorization header.
    let r = unauthenticated.get(&by_email).await;
    r.assert_error(401, None);
    assert_eq!(r.body["status"], "401");
    assert!(has_schema(&r.body, ERROR));

    // #12
    let r = gets.get("/Users/00919288221112222").await;
    r.assert_error(404, None);
    assert_eq!(r.body["status"], "404");
    assert!(has_schema(&r.body, ERROR));
    s.stop().await;
}

// =============================================================================================
// OneLogin (INTEROP Part B §3.1)

/// OneLogin's observed headers: bearer, SCIM JSON, and an empty User-Agent.
fn onelogin(s: &TestServer) -> Wire<'_> {
    let auth = bearer(s);
    Wire::new(
        s,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/scim+json"),
            ("User-Agent", ""),
        ],
    )
}

/// A OneLogin SCIM JSON template rendered for one user: SCIM 1.x-era URNs in `schemas` and as
/// body keys, `emails` as one object.
fn onelogin_user(family: &str, department: &str, email: &str, active: bool) -> Value {
    json!({"schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
           "userName": "onelogin-test-user01",
           "externalId": "170958201",
           "name": {"givenName": "One", "familyName": family},
           "displayName": format!("One {family}"),
           "emails": {"value": email, "type": "work", "primary": true},
           "active": active,
           "urn:scim:schemas:core:2.0": {"title": "Engineer"},
           "urn:scim:schemas:extension:enterprise:2.0": {"department": department, "employeeNumber": "E-17"}})
}

/// §3.1: entitlement refresh, lookup, create, PUT updates with a trailing `?`, membership by
/// PATCH, deprovision — all with an empty User-Agent.
#[tokio::test]
async fn onelogin_provisioning_with_legacy_urns_trailing_separators_and_empty_user_agent() {
    let s = TestServer::start().await;
    let ol = onelogin(&s);
    let gid = s.group("Engineering").await;

    // Refresh entitlements: OneLogin lists the groups.
    let r = ol.get("/Groups?").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![gid.clone()]);
    assert_eq!(resources(&r.body)[0]["displayName"], "Engineering");

    // Lookup: `+` for spaces, trailing `&`.
    let lookup = "/Users?filter=userName+eq+%22onelogin-test-user01%22&";
    let r = ol.get(lookup).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);

    // Create.
    let r = ol
        .post(
            "/Users",
            &onelogin_user("Login", "Engineering", "one@example.com", true),
        )
        .await;
    let id = created(&r);
    let path = format!("/Users/{id}");
    let got = ol.get(&format!("{path}?")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let b = &got.body;
    assert_eq!(b["userName"], "onelogin-test-user01");
    assert_eq!(
        b["emails"],
        json!([{"value": "one@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(
        b["title"], "Engineer",
        "core attributes under the legacy core URN key"
    );
    assert_eq!(b[ENT]["department"], "Engineering");
    assert_eq!(b[ENT]["employeeNumber"], "E-17");
    assert!(has_schema(b, USER) && has_schema(b, ENT), "{b}");
    for legacy in [
        "urn:scim:schemas:core:2.0",
        "urn:scim:schemas:extension:enterprise:2.0",
    ] {
        assert!(
            b.get(legacy).is_none(),
            "{legacy} is not echoed as a key: {b}"
        );
        assert!(
            !has_schema(b, legacy),
            "{legacy} is not echoed in schemas: {b}"
        );
    }
    let r = ol.get(lookup).await;
    assert_eq!(ids_of(&r.body), vec![id.clone()]);

    // Update with PUT and a trailing `?`.
    let r = ol
        .put(
            &format!("{path}?"),
            &onelogin_user("Updated", "Sales", "one.updated@example.com", true),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = ol.get(&path).await.body;
    assert_eq!(b["id"], id.as_str());
    assert_eq!(b["name"]["familyName"], "Updated");
    assert_eq!(b["displayName"], "One Updated");
    assert_eq!(
        b["emails"],
        json!([{"value": "one.updated@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(b[ENT]["department"], "Sales");
    assert_eq!(b["title"], "Engineer");
    assert_eq!(b["active"], true);

    // "Set Groups" rule: membership by PATCH /Groups/{id}.
    let gpath = format!("/Groups/{gid}");
    let r = ol
        .patch(
            &gpath,
            &patch_body(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, set([&id]));
    let r = ol.get(&format!("{gpath}?")).await;
    assert_eq!(r.body["members"][0]["value"], id.as_str(), "{}", r.body);
    let r = ol
        .patch(
            &gpath,
            &patch_body(json!([{"op": "remove", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, BTreeSet::new());

    // Deprovision as suspend: PUT active:false; still found by the lookup.
    let r = ol
        .put(
            &format!("{path}?"),
            &onelogin_user("Updated", "Sales", "one.updated@example.com", false),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ol.get(&path).await.body["active"], false);
    let r = ol.get(lookup).await;
    assert_eq!(resources(&r.body)[0]["active"], false, "{}", r.body);
    // …or as delete.
    assert_eq!(ol.delete(&path).await.status, 204);
    ol.get(&path).await.assert_error(404, None);
    assert_eq!(ol.get(lookup).await.body["totalResults"], 0);
    s.stop().await;
}

// =============================================================================================
// Ping Identity (INTEROP Part B §3.4)

/// §3.4: PingOne's `username Eq "%s"` and PingFederate's `emails eq` lookups, PUT for every
/// user update (PF does not PATCH users), then disable and delete.
#[tokio::test]
async fn ping_lookups_in_any_case_and_on_emails_then_put_updates() {
    let s = TestServer::start().await;
    let lookup = |f: &str| format!("/Users?filter={}", q(f));
    assert_eq!(
        total(&s, &lookup("username Eq \"pat.ping@example.com\"")).await,
        0
    );

    let body = |family: &str, work: &str, active: bool| {
        json!({"schemas": [USER], "userName": "pat.ping@example.com", "externalId": "ping-7f3a",
               "name": {"givenName": "Pat", "familyName": family}, "displayName": format!("Pat {family}"),
               "emails": [{"value": work, "type": "work", "primary": true},
                          {"value": "pat.home@example.net", "type": "home"}],
               "title": "Analyst", "active": active})
    };
    let id = created(
        &s.post("/Users", body("Ping", "pat.ping@example.com", true))
            .await,
    );
    let other = created(
        &s.post(
            "/Users",
            json!({"schemas": [USER], "userName": "other@example.com",
                                 "emails": [{"value": "other@example.com", "type": "work"}]}),
        )
        .await,
    );

    // Attribute names and operators in any case.
    for f in [
        "username Eq \"pat.ping@example.com\"",
        "USERNAME EQ \"pat.ping@example.com\"",
        "userName eq \"PAT.PING@EXAMPLE.COM\"",
    ] {
        let r = s.get(&lookup(f)).await;
        assert_eq!(r.status, 200, "{f}: {}", r.body);
        assert_eq!(ids_of(&r.body), vec![id.clone()], "{f}");
    }
    // `emails eq` on the multi-valued attribute: any of its values, without case.
    for (f, want) in [
        ("emails eq \"pat.ping@example.com\"", &id),
        ("emails eq \"pat.home@example.net\"", &id),
        ("Emails Eq \"PAT.PING@example.com\"", &id),
        ("emails eq \"other@example.com\"", &other),
    ] {
        let r = s.get(&lookup(f)).await;
        assert_eq!(r.status, 200, "{f}: {}", r.body);
        assert_eq!(ids_of(&r.body), vec![want.clone()], "{f}");
    }
    assert_eq!(
        total(&s, &lookup("emails eq \"nobody@example.com\"")).await,
        0
    );

    // Update: PUT the whole user.
    let path = format!("/Users/{id}");
    let r = s
        .put(&path, body("Pinged", "pat.new@example.com", true))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(got["name"]["familyName"], "Pinged");
    assert_eq!(got["displayName"], "Pat Pinged");
    assert_eq!(got["emails"][0]["value"], "pat.new@example.com");
    assert_eq!(got["emails"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        total(&s, &lookup("emails eq \"pat.ping@example.com\"")).await,
        0
    );
    assert_eq!(
        ids_of(
            &s.get(&lookup("emails eq \"pat.new@example.com\""))
                .await
                .body
        ),
        vec![id.clone()]
    );

    // Remove action "Disable": PUT active:false. Then "Delete".
    let r = s
        .put(&path, body("Pinged", "pat.new@example.com", false))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get(&path).await.body["active"], false);
    assert_eq!(s.delete(&path).await.status, 204);
    s.get(&path).await.assert_error(404, None);
    assert_eq!(
        total(&s, &lookup("username Eq \"pat.ping@example.com\"")).await,
        0
    );
    s.stop().await;
}

/// §3.4: PingFederate finds a group by listing every group page by page and matching the name
/// itself, then PATCHes its membership.
#[tokio::test]
async fn ping_lists_all_groups_by_paging_and_matches_client_side() {
    let s = TestServer::start().await;
    let mut by_name = std::collections::BTreeMap::new();
    for i in 0..25 {
        let name = format!("ping-group-{i:02}");
        by_name.insert(name.clone(), s.group(&name).await);
    }
    let uid = s.user("pf.member@example.com").await;

    let mut listed: Vec<(String, String)> = Vec::new();
    let mut sizes = Vec::new();
    let mut start = 1u64;
    loop {
        let r = s.get(&format!("/Groups?startIndex={start}&count=10")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["totalResults"], 25, "{}", r.body);
        assert_eq!(r.body["startIndex"], start);
        let page = resources(&r.body);
        assert_eq!(r.body["itemsPerPage"], page.len());
        sizes.push(page.len());
        for g in page {
            listed.push((
                g["displayName"].as_str().expect("displayName").to_string(),
                g["id"].as_str().expect("id").to_string(),
            ));
        }
        start += 10;
        if start > 25 {
            break;
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    let ids: BTreeSet<String> = listed.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), listed.len(), "no group on two pages");
    assert_eq!(
        ids,
        by_name.values().cloned().collect::<BTreeSet<_>>(),
        "no group skipped"
    );

    // The client-side match, then a membership PATCH on what it found.
    let found: Vec<&String> = listed
        .iter()
        .filter(|(name, _)| name == "ping-group-17")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(found, vec![&by_name["ping-group-17"]]);
    let gid = found[0].clone();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, set([&uid]));
    assert_eq!(groups_of(&s, &uid).await, set([&gid]), "only that group");
    s.stop().await;
}

// =============================================================================================
// JumpCloud (INTEROP Part B §3.3)

/// §3.3: "Test Connection" creates a user (admin-supplied fresh email) and a group, then
/// DELETEs both.
#[tokio::test]
async fn jumpcloud_test_connection_creates_then_deletes_a_user_and_a_group() {
    let s = TestServer::start().await;
    let user = json!({"schemas": [USER], "userName": "jc-test@example.com",
                      "name": {"givenName": "JumpCloud", "familyName": "Test"},
                      "emails": [{"value": "jc-test@example.com", "type": "work", "primary": true}],
                      "active": true});
    let uid = created(&s.post("/Users", user.clone()).await);
    let gid = created(
        &s.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "JumpCloud Test Group"}),
        )
        .await,
    );
    assert_eq!(s.get(&format!("/Users/{uid}")).await.status, 200);
    assert_eq!(s.get(&format!("/Groups/{gid}")).await.status, 200);

    for path in [format!("/Users/{uid}"), format!("/Groups/{gid}")] {
        let r = s.delete(&path).await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
        assert!(r.body.is_null());
        s.get(&path).await.assert_error(404, None);
    }
    assert_eq!(total(&s, "/Users").await, 0);
    assert_eq!(total(&s, "/Groups").await, 0);
    assert_eq!(
        total(
            &s,
            &format!("/Users?filter={}", q("userName eq \"jc-test@example.com\""))
        )
        .await,
        0
    );
    // The next Test Connection may reuse the same email.
    created(&s.post("/Users", user).await);
    s.stop().await;
}

/// §3.3: JumpCloud re-sends member adds (must be idempotent) and uses the Azure-style member
/// PATCH (`value:[{value:uid}]`, no filter in the path).
#[tokio::test]
async fn jumpcloud_repeated_member_adds_are_idempotent_and_azure_style_patches_work() {
    let s = TestServer::start().await;
    let u1 = s.user("jc1@example.com").await;
    let u2 = s.user("jc2@example.com").await;
    let gid = s.group("jc-bound-group").await;
    let gpath = format!("/Groups/{gid}");

    let add = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": u1}]}]));
    for attempt in 1..=3 {
        let r = s.patch(&gpath, add.clone()).await;
        assert_patched(&r);
        let got = s.get(&gpath).await.body;
        assert_eq!(
            got["members"].as_array().map(Vec::len),
            Some(1),
            "attempt {attempt}: {got}"
        );
        assert_eq!(got["members"][0]["value"], u1.as_str());
    }
    let u1_groups = s.get(&format!("/Users/{u1}")).await.body["groups"].clone();
    assert_eq!(u1_groups.as_array().map(Vec::len), Some(1), "{u1_groups}");
    assert_eq!(
        total(
            &s,
            &format!(
                "/Groups?filter={}",
                q(&format!("members.value eq \"{u1}\""))
            )
        )
        .await,
        1
    );

    // Azure-style add and remove.
    let r = s
        .patch(
            &gpath,
            patch_body(
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u2}]}]),
            ),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, set([&u1, &u2]));
    let remove = patch_body(
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": u1}]}]),
    );
    assert_patched(&s.patch(&gpath, remove.clone()).await);
    assert_eq!(
        members(&s, &gid).await,
        set([&u2]),
        "only the listed member goes"
    );
    // Repeated removes are as harmless as repeated adds.
    assert_patched(&s.patch(&gpath, remove).await);
    assert_eq!(members(&s, &gid).await, set([&u2]));
    assert_eq!(groups_of(&s, &u1).await, BTreeSet::new());
    s.stop().await;
}

// =============================================================================================
// authentik (INTEROP Part B §3.7; goauthentik/authentik providers/scim/clients)

/// authentik's default user mapping: `familyName` is a single space when the name has none,
/// emails type "other"; `id` is set on PUT.
fn authentik_user(username: &str, name: &str, email: &str, uid: &str, active: bool) -> Value {
    let (given, family, formatted) = match name.split_once(' ') {
        Some((g, f)) => (g.to_string(), f.to_string(), name.to_string()),
        None => (name.to_string(), " ".to_string(), format!("{name} ")),
    };
    let emails = if email.is_empty() {
        json!([])
    } else {
        json!([{"value": email, "type": "other", "primary": true}])
    };
    json!({"schemas": [USER], "userName": username,
           "name": {"formatted": formatted, "givenName": given, "familyName": family},
           "displayName": name, "active": active, "emails": emails, "externalId": uid})
}

/// Sends `ops` the way authentik's `_patch_chunked` does: `bulk.maxOperations` per request.
async fn authentik_patch_chunked(s: &TestServer, gid: &str, ops: &[Value], chunk: usize) -> usize {
    let mut requests = 0;
    for part in ops.chunks(chunk) {
        assert!(part.len() <= chunk);
        let r = s
            .patch(&format!("/Groups/{gid}"), patch_body(json!(part)))
            .await;
        assert_patched(&r);
        requests += 1;
    }
    requests
}

/// authentik's `patch_compare_users`: GET the group, diff its `members` with what should be
/// there, then one add/remove op per member.
fn authentik_member_ops(current: &Value, should: &[&String]) -> Vec<Value> {
    let have: Vec<String> = current["members"]
        .as_array()
        .expect("authentik needs members in GET /Groups/{id}")
        .iter()
        .map(|m| m["value"].as_str().expect("value").to_string())
        .collect();
    let mut ops = Vec::new();
    for u in should {
        if !have.contains(u) {
            ops.push(json!({"op": "add", "path": "members", "value": [{"value": u}]}));
        }
    }
    for u in &have {
        if !should.contains(&u) {
            ops.push(json!({"op": "remove", "path": "members", "value": [{"value": u}]}));
        }
    }
    ops
}

/// §3.7: SPC first, then users (POST/PUT/DELETE), group create + chunked member adds, path-less
/// whole-group replace, GET-and-diff member sync, discovery, and 409 recovery by filter.
#[tokio::test]
async fn authentik_reads_spc_then_syncs_users_and_groups_in_chunks() {
    let s = TestServer::start().await;

    // The client is built from ServiceProviderConfig.
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.status, 200, "{}", spc.body);
    assert_eq!(
        spc.body["patch"]["supported"], true,
        "else authentik PUTs groups"
    );
    assert_eq!(
        spc.body["filter"]["supported"], true,
        "else no 409 recovery"
    );
    // What authentik's pydantic ServiceProviderConfiguration needs, or it falls back to
    // "nothing supported" (PUT for groups, no recovery, no chunking).
    for k in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(spc.body[k]["supported"].is_boolean(), "{k}: {}", spc.body);
    }
    assert!(spc.body["bulk"]["maxPayloadSize"].is_u64(), "{}", spc.body);
    assert!(spc.body["authenticationSchemes"].is_array(), "{}", spc.body);
    let chunk = spc.body["bulk"]["maxOperations"]
        .as_u64()
        .filter(|n| *n > 0)
        .unwrap_or_else(|| panic!("bulk.maxOperations is a positive integer: {}", spc.body))
        as usize;

    // Users.
    let mut uids = Vec::new();
    for i in 0..6 {
        let r = s
            .post(
                "/Users",
                authentik_user(
                    &format!("ak-user-{i}"),
                    &format!("Ak User{i}"),
                    &format!("ak{i}@example.com"),
                    &format!("uid-{i:04}"),
                    true,
                ),
            )
            .await;
        uids.push(created(&r));
    }
    // A one-word name: familyName is " " and there is no email.
    let r = s
        .post(
            "/Users",
            authentik_user("service", "Service", "", "uid-svc", true),
        )
        .await;
    let svc = created(&r);
    let got = s.get(&format!("/Users/{svc}")).await.body;
    assert_eq!(got["name"]["givenName"], "Service");
    assert_eq!(got["externalId"], "uid-svc");

    // Update: PUT with the id in the body.
    let upath = format!("/Users/{}", uids[0]);
    let mut body = authentik_user(
        "ak-user-0",
        "Ak Renamed",
        "ak0@example.org",
        "uid-0000",
        true,
    );
    body["id"] = json!(uids[0]);
    let r = s.put(&upath, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&upath).await.body;
    assert_eq!(got["id"], uids[0].as_str());
    assert_eq!(got["displayName"], "Ak Renamed");
    assert_eq!(got["name"]["familyName"], "Renamed");
    assert_eq!(
        got["emails"],
        json!([{"value": "ak0@example.org", "type": "other", "primary": true}])
    );

    // Group create (no members in the body when PATCH is supported), then chunked adds.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "authentik Admins", "externalId": "pk-1"}),
        )
        .await;
    let gid = created(&r);
    let gpath = format!("/Groups/{gid}");
    let adds: Vec<Value> = uids[..5]
        .iter()
        .map(|u| json!({"op": "add", "path": "members", "value": [{"value": u}]}))
        .collect();
    let requests = authentik_patch_chunked(&s, &gid, &adds, chunk).await;
    assert_eq!(requests, adds.len().div_ceil(chunk));
    assert_eq!(members(&s, &gid).await, set(&uids[..5]));

    // Update: path-less replace of the whole group (schemas, id, externalId inside the value).
    let r = s
        .patch(
            &gpath,
            patch_body(json!([{"op": "replace", "value": {
                "schemas": [GROUP], "id": gid, "displayName": "authentik Administrators",
                "externalId": "pk-1"}}])),
        )
        .await;
    assert_patched(&r);
    let current = s.get(&gpath).await.body;
    assert_eq!(current["displayName"], "authentik Administrators");
    // pydanticscim's Group: displayName required, member type exactly "User" or "Group".
    for m in current["members"].as_array().expect("members") {
        assert_eq!(m["type"], "User", "{m}");
        assert!(m["value"].is_string(), "{m}");
    }
    assert_eq!(current["externalId"], "pk-1");
    assert_eq!(
        members(&s, &gid).await,
        set(&uids[..5]),
        "the replace kept members"
    );

    // patch_compare_users: should be uids[2..6]; remove 0 and 1, add 5 — one request.
    let should: Vec<&String> = uids[2..6].iter().collect();
    let ops = authentik_member_ops(&current, &should);
    assert_eq!(ops.len(), 3, "{ops:?}");
    authentik_patch_chunked(&s, &gid, &ops, chunk).await;
    assert_eq!(members(&s, &gid).await, set(&uids[2..6]));
    assert_eq!(groups_of(&s, &uids[0]).await, BTreeSet::new());
    assert_eq!(groups_of(&s, &uids[5]).await, set([&gid]));
    // In sync now: the diff is empty.
    assert!(authentik_member_ops(&s.get(&gpath).await.body, &should).is_empty());

    // An empty group must show `members: []`: authentik adds nothing when it is missing.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "authentik Empty", "externalId": "pk-2"}),
        )
        .await;
    let empty = created(&r);
    let current = s.get(&format!("/Groups/{empty}")).await.body;
    assert_eq!(current["members"], json!([]), "{current}");
    let ops = authentik_member_ops(&current, &[&svc]);
    authentik_patch_chunked(&s, &empty, &ops, chunk).await;
    assert_eq!(members(&s, &empty).await, set([&svc]));

    // Discovery: GET /Groups, then /Groups?startIndex=n (no count) until totalResults.
    let mut seen: Vec<String> = Vec::new();
    let mut res = s.get("/Groups").await.body;
    let expected = res["totalResults"].as_u64().expect("totalResults") as usize;
    loop {
        seen.extend(ids_of(&res));
        if seen.len() >= expected || resources(&res).is_empty() {
            break;
        }
        res = s
            .get(&format!("/Groups?startIndex={}", seen.len() + 1))
            .await
            .body;
    }
    assert_eq!(seen, vec![gid.clone(), empty.clone()]);

    // 409 on a user that already exists; recovery by userName (unquoted, as authentik sends).
    let r = s
        .post(
            "/Users",
            authentik_user("ak-user-3", "Ak User3", "ak3@example.com", "uid-0003", true),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    let r = s
        .get(&format!(
            "/Users?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", "userName eq ak-user-3")
                .finish()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![uids[3].clone()]);
    // Group recovery query after a 409: displayName eq "x", urlencoded.
    let r = s
        .get(&format!(
            "/Groups?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", "displayName eq \"authentik Administrators\"")
                .finish()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![gid.clone()]);

    // Delete users: they leave the group.
    for u in &uids[2..4] {
        let r = s.delete(&format!("/Users/{u}")).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    assert_eq!(members(&s, &gid).await, set(&uids[4..6]));
    s.stop().await;
}

/// §3.7: `discover()` pages with `startIndex` only; the server's page size decides the rest.
#[tokio::test]
async fn authentik_discovery_pages_without_count() {
    // A small page size, so a client that sends no `count` still gets several pages.
    let s = TestServer::start_with(|c| c.server.max_page_size = 10).await;
    let mut all = BTreeSet::new();
    for i in 0..25 {
        let r = s
            .call(
                Method::POST,
                "/Groups",
                Some(json!({"schemas": [GROUP], "displayName": format!("ak-{i:02}")})),
            )
            .await;
        all.insert(created(&r));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut requests = 0;
    let mut res = s.call(Method::GET, "/Groups", None).await;
    let expected = res.body["totalResults"].as_u64().expect("totalResults") as usize;
    assert_eq!(expected, 25);
    loop {
        requests += 1;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["totalResults"], 25);
        assert!(
            !resources(&res.body).is_empty(),
            "an empty page would loop forever"
        );
        seen.extend(ids_of(&res.body));
        if seen.len() >= expected {
            break;
        }
        res = s
            .call(
                Method::GET,
                &format!("/Groups?startIndex={}", seen.len() + 1),
                None,
            )
            .await;
    }
    assert_eq!(requests, 3);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no group twice");
    assert_eq!(unique, all, "every group discovered");
    s.stop().await;
}

// =============================================================================================
// Keycloak outbound SCIM plugin (INTEROP Part B §3.6; pelotech/keycloak-scim)

/// `UserAdapter.toSCIM`: `id` is the remote id the plugin believes in, `externalId` the Keycloak
/// id, `meta.location` relative.
fn keycloak_user(remote_id: &str, kc_id: &str, username: &str, first: &str, last: &str) -> Value {
    json!({"schemas": [USER], "id": remote_id, "externalId": kc_id, "userName": username,
           "displayName": format!("{first} {last}"), "name": {"givenName": first, "familyName": last},
           "emails": [{"value": format!("{username}@kc.example"), "type": "work", "primary": true}],
           "active": true, "roles": [], "meta": {"location": format!("Users/{remote_id}")}})
}

/// §3.6: client-sent ids, relative `$ref`s, the full-update PATCH, remove-all, delta PATCHes,
/// PUT user, DELETE user.
#[tokio::test]
async fn keycloak_plugin_ids_refs_full_and_delta_membership() {
    let s = TestServer::start().await;
    let mut uids = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let sent_id = format!("kc-remote-{i}");
        let r = s
            .post(
                "/Users",
                keycloak_user(&sent_id, &format!("kc-uuid-{i}"), name, "First", name),
            )
            .await;
        let id = created(&r);
        assert_ne!(id, sent_id, "the server assigns its own id");
        assert_eq!(r.body["externalId"], format!("kc-uuid-{i}"));
        s.get(&format!("/Users/{sent_id}"))
            .await
            .assert_error(404, None);
        uids.push(id);
    }
    let (u1, u2, u3) = (&uids[0], &uids[1], &uids[2]);

    // Group POST with a client-sent id, externalId and a relative $ref.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "id": "kc-group-remote", "externalId": "kc-group-uuid",
                   "displayName": "kc-devs",
                   "members": [{"value": u1, "$ref": format!("Users/{u1}")}],
                   "meta": {"location": "Groups/kc-group-remote"}}),
        )
        .await;
    let gid = created(&r);
    assert_ne!(gid, "kc-group-remote");
    s.get("/Groups/kc-group-remote")
        .await
        .assert_error(404, None);
    // A stale mapping: the plugin re-POSTs with an id the server already uses. Still a new group;
    // the existing one is untouched.
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "id": gid, "externalId": "kc-group-uuid-9", "displayName": "kc-stale"}),
        )
        .await;
    let other = created(&r);
    assert_ne!(other, gid);
    assert_eq!(
        s.get(&format!("/Groups/{gid}")).await.body["displayName"],
        "kc-devs"
    );
    assert_eq!(s.delete(&format!("/Groups/{other}")).await.status, 204);
    let got = s.get(&format!("/Groups/{gid}")).await.body;
    assert_eq!(got["externalId"], "kc-group-uuid");
    assert_eq!(got["displayName"], "kc-devs");
    assert_eq!(got["members"][0]["value"], u1.as_str());
    assert!(
        got["members"][0]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with(&format!("/Users/{u1}"))),
        "$ref points at the member: {got}"
    );
    assert_eq!(groups_of(&s, u1).await, set([&gid]));
    let gpath = format!("/Groups/{gid}");

    // Full update: replace members + replace displayName + replace externalId in one request.
    let r = s
        .patch(
            &gpath,
            patch_body(json!([
                {"op": "replace", "path": "members", "value": [
                    {"value": u2, "$ref": format!("Users/{u2}")}, {"value": u3, "$ref": format!("Users/{u3}")}]},
                {"op": "replace", "path": "displayName", "value": "kc-developers"},
                {"op": "replace", "path": "externalId", "value": "kc-group-uuid-2"}])),
        )
        .await;
    assert_patched(&r);
    let got = s.get(&gpath).await.body;
    assert_eq!(got["displayName"], "kc-developers");
    assert_eq!(got["externalId"], "kc-group-uuid-2");
    assert_eq!(members(&s, &gid).await, set([u2, u3]));
    assert_eq!(groups_of(&s, u1).await, BTreeSet::new());

    // Empty group: remove path "members" with no value clears them all.
    let r = s
        .patch(
            &gpath,
            patch_body(json!([
                {"op": "remove", "path": "members"},
                {"op": "replace", "path": "displayName", "value": "kc-developers"},
                {"op": "replace", "path": "externalId", "value": "kc-group-uuid-2"}])),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, BTreeSet::new());
    assert_eq!(groups_of(&s, u2).await, BTreeSet::new());
    assert_eq!(s.get(&gpath).await.body["displayName"], "kc-developers");

    // Delta: one member per request.
    for u in [u1, u2] {
        let r = s
            .patch(
                &gpath,
                patch_body(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
            )
            .await;
        assert_patched(&r);
    }
    assert_eq!(members(&s, &gid).await, set([u1, u2]));
    let r = s
        .patch(
            &gpath,
            patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{u1}\"]")}])),
        )
        .await;
    assert_patched(&r);
    assert_eq!(members(&s, &gid).await, set([u2]));

    // PUT user (the default update): id and relative meta in the body.
    let upath = format!("/Users/{u2}");
    let r = s
        .put(
            &upath,
            keycloak_user(u2, "kc-uuid-1", "bob", "Robert", "Builder"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&upath).await.body;
    assert_eq!(got["id"], u2.as_str());
    assert_eq!(got["name"]["givenName"], "Robert");
    assert_eq!(got["displayName"], "Robert Builder");
    assert_eq!(got["externalId"], "kc-uuid-1");
    assert_eq!(
        groups_of(&s, u2).await,
        set([&gid]),
        "a PUT keeps memberships"
    );

    // The opt-in user PATCH (`user-patchOp`): active as a string, userName, displayName.
    let r = s
        .patch(
            &upath,
            patch_body(json!([
                {"op": "replace", "path": "active", "value": "false"},
                {"op": "replace", "path": "userName", "value": "bob"},
                {"op": "replace", "path": "displayName", "value": "Bob B"}])),
        )
        .await;
    assert_patched(&r);
    let got = s.get(&upath).await.body;
    assert_eq!(got["active"], false);
    assert_eq!(got["displayName"], "Bob B");

    // Deprovision (default mode): DELETE; the group loses the member.
    let r = s.delete(&upath).await;
    assert_eq!(r.status, 204, "{}", r.body);
    s.get(&upath).await.assert_error(404, None);
    assert_eq!(members(&s, &gid).await, BTreeSet::new());
    s.stop().await;
}

// =============================================================================================
// Netskope's own tooling (INTEROP Part B §1.1, §1.3)

/// The Netskope SDK's headers: the token in `Netskope-Api-Token`, no Authorization.
fn netskope<'a>(s: &'a TestServer, token: &str) -> Wire<'a> {
    Wire::new(
        s,
        &[
            ("Netskope-Api-Token", token),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
    )
}

/// §1.3: group PATCH with the lowercase path enum (`displayname`, `externalid`, `members`),
/// user PATCH on `active`, PUT with `members:[]` to clear — authenticated by Netskope-Api-Token.
#[tokio::test]
async fn netskope_tooling_token_header_and_lowercase_group_paths() {
    let s = TestServer::start().await;
    let token = s.token.clone();
    let nsk = netskope(&s, &token);

    let mut uids = Vec::new();
    for login in ["ns1@example.com", "ns2@example.com"] {
        let r = nsk
            .post(
                "/Users",
                &json!({"schemas": [USER], "userName": login, "active": true,
                        "emails": [{"value": login, "primary": true}], "displayName": login,
                        "name": {"givenName": "Net", "familyName": "Skope"}}),
            )
            .await;
        uids.push(created(&r));
    }
    let (u1, u2) = (&uids[0], &uids[1]);
    let gid = created(
        &nsk.post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "old_group_name"}),
        )
        .await,
    );
    let r = nsk
        .get(&format!(
            "/Groups?filter={}",
            q("displayName eq \"old_group_name\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids_of(&r.body), vec![gid.clone()]);
    let gpath = format!("/Groups/{gid}");

    // One op per attribute, lowercase paths, in one request ("multipleOperations").
    let r = nsk
        .patch(
            &gpath,
            &patch_body(json!([
                {"op": "replace", "path": "displayname", "value": "new_group_name"},
                {"op": "replace", "path": "externalid", "value": "nsk-ext-1"},
                {"op": "replace", "path": "members", "value": [{"value": u1}, {"value": u2}]}])),
        )
        .await;
    assert_patched(&r);
    let got = nsk.get(&gpath).await.body;
    assert_eq!(got["displayName"], "new_group_name");
    assert_eq!(got["externalId"], "nsk-ext-1");
    assert!(
        got.get("displayname").is_none() && got.get("externalid").is_none(),
        "{got}"
    );
    let r = nsk.get(&format!("{gpath}?attributes=members")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed: BTreeSet<String> = r.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["value"].as_str().expect("value").to_string())
        .collect();
    assert_eq!(listed, set([u1, u2]));

    // One op per request, as in the docs' single examples.
    for (path, value) in [
        ("displayname", json!("renamed_again")),
        ("members", json!([{"value": u2}])),
    ] {
        let r = nsk
            .patch(
                &gpath,
                &patch_body(json!([{"op": "replace", "path": path, "value": value}])),
            )
            .await;
        assert_patched(&r);
    }
    assert_eq!(members(&s, &gid).await, set([u2]));
    assert_eq!(s.get(&gpath).await.body["displayName"], "renamed_again");
    assert_eq!(s.get(&gpath).await.body["externalId"], "nsk-ext-1");

    // User PATCH: path-scoped active and lowercase externalid.
    let upath = format!("/Users/{u1}");
    let r = nsk
        .patch(
            &upath,
            &patch_body(json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "externalid", "value": "nsk-user-1"}])),
        )
        .await;
    assert_patched(&r);
    let got = s.get(&upath).await.body;
    assert_eq!(got["active"], false);
    assert_eq!(got["externalId"], "nsk-user-1");

    // PUT the group with members:[] clears it.
    let r = nsk
        .put(
            &gpath,
            &json!({"schemas": [GROUP], "displayName": "renamed_again", "members": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(members(&s, &gid).await, BTreeSet::new());

    // A wrong token in the same header is a 401 and changes nothing.
    let wrong = netskope(&s, "not-the-token");
    let r = wrong
        .patch(
            &gpath,
            &patch_body(json!([{"op": "replace", "path": "displayname", "value": "hijacked"}])),
        )
        .await;
    r.assert_error(401, None);
    assert_eq!(s.get(&gpath).await.body["displayName"], "renamed_again");

    // Delete both with the Netskope header.
    for path in [upath, gpath] {
        assert_eq!(nsk.delete(&path).await.status, 204, "{path}");
        nsk.get(&path).await.assert_error(404, None);
    }
    s.stop().await;
}

/// §1.3: Netskope's community scripts read membership with `GET /Groups/{id}?attributes=members`
/// and print each member's `display`. `/Schemas` declares `members.display` (readOnly,
/// returned by default), so a member should carry it: the member's displayName (or userName).
#[tokio::test]
async fn netskope_scripts_read_member_display_with_attributes_members() {
    let s = TestServer::start().await;
    let token = s.token.clone();
    let nsk = netskope(&s, &token);
    let uid = created(
        &nsk.post(
            "/Users",
            &json!({"schemas": [USER], "userName": "disp@example.com", "displayName": "Dee Isplay",
                    "emails": [{"value": "disp@example.com", "primary": true}], "active": true}),
        )
        .await,
    );
    let gid = created(
        &nsk.post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "nsk-display", "members": [{"value": uid}]}),
        )
        .await,
    );
    let r = nsk.get(&format!("/Groups/{gid}?attributes=members")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"][0]["value"], uid.as_str(), "{}", r.body);
    let display = r.body["members"][0]["display"].as_str().unwrap_or_default();
    assert!(
        display == "Dee Isplay" || display == "disp@example.com",
        "a member carries its display name: {}",
        r.body
    );
    s.stop().await;
}
