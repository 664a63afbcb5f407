//! RFC 7644 §3.5.2 PATCH rules over real HTTP: what each operation does to the stored resource,
//! and that every refusal carries the scimType the RFC names and leaves the stored resource
//! (and its `meta.lastModified`) exactly as it was, even when valid operations came first.

use serde_json::{json, Value};

use crate::common::{ext_attr, TestServer};
use scimd::config::{ExtensionAttribute, ExtensionSettings};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": list})
}

fn acme_attr(name: &str, ty: &str, multi: bool, mutability: &str) -> ExtensionAttribute {
    ext_attr(name, ty, multi, mutability, "default")
}

/// A server whose User resource also carries a declared extension with an immutable attribute
/// and a simple multi-valued one.
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.extensions = vec![ExtensionSettings {
            urn: ACME.into(),
            resource: "User".into(),
            name: "AcmeUser".into(),
            description: "Acme's attributes".into(),
            attributes: vec![
                acme_attr("badge", "string", false, "immutable"),
                acme_attr("tags", "string", true, "readWrite"),
            ],
        }];
    })
    .await
}

/// Creates the user every test starts from and returns its path.
async fn bjensen(s: &TestServer) -> String {
    let r = s
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT, ACME],
                "userName": "bjensen", "displayName": "Babs",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "b@work", "type": "work", "primary": true},
                           {"value": "b@home", "type": "home"}],
                ENT: {"department": "R&D", "manager": {"value": "m1"}},
                ACME: {"badge": "B1", "tags": ["a", "b"]}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    format!("/Users/{}", r.body["id"].as_str().expect("id"))
}

async fn stored(s: &TestServer, path: &str) -> Value {
    let r = s.get(path).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// PATCHes `list`, expects 400 with `scim_type`, and checks the stored resource did not change;
/// then the same with a valid operation in front, to prove the request is all or nothing.
async fn refused(s: &TestServer, path: &str, list: Value, scim_type: &str) {
    let before = stored(s, path).await;
    let r = s.patch(path, ops(list.clone())).await;
    r.assert_error(400, Some(scim_type));
    let mut with_good = vec![json!({"op": "replace", "path": "nickName", "value": "CHANGED"})];
    with_good.extend(list.as_array().cloned().unwrap_or_default());
    let r = s.patch(path, ops(Value::Array(with_good))).await;
    r.assert_error(400, Some(scim_type));
    assert_eq!(
        stored(s, path).await,
        before,
        "{list}: refused, yet the stored resource changed"
    );
}

async fn patched(s: &TestServer, path: &str, list: Value) -> Value {
    let r = s.patch(path, ops(list.clone())).await;
    assert_eq!(r.status, 200, "{list}: {}", r.body);
    let now = stored(s, path).await;
    assert_eq!(r.body, now, "the 200 body is the stored resource");
    now
}

#[tokio::test]
async fn no_target_remove_without_path_and_filters_that_match_nothing() {
    let s = server().await;
    let u = bjensen(&s).await;
    // §3.5.2.2: remove without a path.
    refused(&s, &u, json!([{"op": "remove"}]), "noTarget").await;
    refused(
        &s,
        &u,
        json!([{"op": "Remove", "value": {"displayName": "Babs"}}]),
        "noTarget",
    )
    .await;
    // §3.5.2.3: a value filter that matches nothing and cannot create a value.
    for path in [
        r#"emails[value co "zzz"]"#,
        r#"emails[type eq "fax" or type eq "other"]"#,
        r#"emails[not (type pr)]"#,
    ] {
        refused(
            &s,
            &u,
            json!([{"op": "replace", "path": path, "value": {"display": "x"}}]),
            "noTarget",
        )
        .await;
    }
    refused(
        &s,
        &u,
        json!([{"op": "add", "path": r#"emails[value sw "nope"].display"#, "value": "x"}]),
        "noTarget",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn invalid_path_invalid_filter_and_invalid_value() {
    let s = server().await;
    let u = bjensen(&s).await;
    for (list, scim_type) in [
        (
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "name.nosuch", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "title.sub", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": r#"emails[nosuch eq "x"].value"#, "value": "v"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": format!("{ENT}:nosuch"), "value": "v"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": r#"emails[primary gt 1].value"#, "value": "v"}]),
            "invalidFilter",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "name", "value": 7}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "title", "value": ["a", "b"]}]),
            "invalidValue",
        ),
        (json!([{"op": "add", "path": "title"}]), "invalidValue"),
        (
            json!([{"op": "replace", "path": ENT, "value": "not an object"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": [
                {"value": "1", "primary": true}, {"value": "2", "primary": true}]}]),
            "invalidValue",
        ),
    ] {
        refused(&s, &u, list, scim_type).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn mutability_read_only_immutable_and_required() {
    let s = server().await;
    let u = bjensen(&s).await;
    for list in [
        json!([{"op": "replace", "path": "id", "value": "mine"}]),
        json!([{"op": "remove", "path": "meta"}]),
        json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
        json!([{"op": "add", "path": format!("{ENT}:manager.displayName"), "value": "Boss"}]),
        // immutable: set once, then neither changed nor removed (§3.5.2).
        json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": "B2"}]),
        json!([{"op": "remove", "path": format!("{ACME}:badge")}]),
        json!([{"op": "replace", "path": ACME, "value": {"badge": ""}}]),
        json!([{"op": "remove", "path": ACME}]),
        // required: removed or unassigned is mutability (§3.5.2.2).
        json!([{"op": "remove", "path": "userName"}]),
        json!([{"op": "replace", "path": "userName", "value": null}]),
        json!([{"op": "replace", "value": {"userName": ""}}]),
    ] {
        refused(&s, &u, list, "mutability").await;
    }
    // Re-sending an immutable attribute's value is not a change.
    let before = stored(&s, &u).await;
    let after = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": "B1"}]),
    )
    .await;
    assert_eq!(after, before);

    // A group's displayName is required too; its members are untouched by the refusal.
    let member = s.user("member@x").await;
    let g = s.group("Team").await;
    let gpath = format!("/Groups/{g}");
    let r = s
        .patch(
            &gpath,
            ops(json!([{"op": "add", "path": "members", "value": [{"value": member}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let before = stored(&s, &gpath).await;
    let r = s
        .patch(
            &gpath,
            ops(json!([{"op": "remove", "path": "members"}, {"op": "remove", "path": "displayName"}])),
        )
        .await;
    r.assert_error(400, Some("mutability"));
    assert_eq!(stored(&s, &gpath).await, before);
    s.stop().await;
}

#[tokio::test]
async fn add_replace_remove_on_simple_complex_and_multi_valued_attributes() {
    let s = server().await;
    let u = bjensen(&s).await;
    let start = stored(&s, &u).await;

    // §3.5.2.1: a value already there changes nothing, not even meta.lastModified.
    let same = patched(
        &s,
        &u,
        json!([{"op": "add", "path": "emails",
                "value": [{"value": "b@work", "type": "work", "primary": true}]},
               {"op": "Add", "path": format!("{ACME}:tags"), "value": ["a"]}]),
    )
    .await;
    assert_eq!(same, start);

    // Complex: add and replace merge; "" unassigns one sub-attribute only.
    let r = patched(
        &s,
        &u,
        json!([{"op": "add", "path": "name", "value": {"middleName": "J"}},
               {"op": "replace", "path": "name", "value": {"givenName": ""}}]),
    )
    .await;
    assert_eq!(
        r["name"],
        json!({"familyName": "Jensen", "middleName": "J"})
    );

    // Multi-valued: add appends; replace without a filter replaces every value.
    let r = patched(
        &s,
        &u,
        json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": "+1", "type": "work"}]},
               {"op": "add", "path": "phoneNumbers", "value": [{"value": "+2", "type": "mobile"}]}]),
    )
    .await;
    assert_eq!(r["phoneNumbers"].as_array().map(Vec::len), Some(2));
    let r = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": "phoneNumbers", "value": [{"value": "+3", "type": "fax"}]}]),
    )
    .await;
    assert_eq!(r["phoneNumbers"], json!([{"value": "+3", "type": "fax"}]));

    // Filtered remove: only the matches go; the last one going unassigns the attribute.
    let r = patched(
        &s,
        &u,
        json!([{"op": "remove", "path": r#"emails[type eq "home"]"#},
               {"op": "remove", "path": r#"phoneNumbers[type eq "fax"]"#},
               {"op": "remove", "path": r#"emails[type eq "other"]"#}]),
    )
    .await;
    assert_eq!(
        r["emails"],
        json!([{"value": "b@work", "type": "work", "primary": true}])
    );
    assert!(r.get("phoneNumbers").is_none(), "{r}");

    // Simple attributes: replace of an absent one adds it; "" unassigns it.
    let r = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": "title", "value": "Dr"},
               {"op": "replace", "path": "displayName", "value": ""}]),
    )
    .await;
    assert_eq!(r["title"], "Dr");
    assert!(r.get("displayName").is_none(), "{r}");
    s.stop().await;
}

#[tokio::test]
async fn value_filters_with_logic_and_sub_attributes_and_entra_create_on_absent() {
    let s = server().await;
    let u = bjensen(&s).await;
    let r = patched(
        &s,
        &u,
        json!([
            {"op": "replace", "path": r#"emails[type eq "work" and value eq "b@work"].display"#, "value": "W"},
            {"op": "replace", "path": r#"emails[not (type eq "work")].display"#, "value": "H"},
            {"op": "replace", "path": r#"emails[TYPE eq "HOME" or value eq "none"]"#, "value": {"value": "h2@x"}}
        ]),
    )
    .await;
    assert_eq!(
        r["emails"],
        json!([{"value": "b@work", "type": "work", "primary": true, "display": "W"},
               {"value": "h2@x", "type": "home", "display": "H"}])
    );
    // Entra (INTEROP U5): a plain equality filter with no match creates the value.
    let r = patched(
        &s,
        &u,
        json!([{"op": "Add", "path": r#"phoneNumbers[type eq "mobile"].value"#, "value": "+47"},
               {"op": "Replace", "path": r#"addresses[type eq "work"].postalCode"#, "value": "0150"}]),
    )
    .await;
    assert_eq!(
        r["phoneNumbers"],
        json!([{"type": "mobile", "value": "+47"}])
    );
    assert_eq!(
        r["addresses"],
        json!([{"type": "work", "postalCode": "0150"}])
    );
    // A simple multi-valued attribute is filtered on its `value`; remove with a value list
    // removes only those values.
    let r = patched(
        &s,
        &u,
        json!([{"op": "add", "path": format!("{ACME}:tags"), "value": ["c", "d"]},
               {"op": "remove", "path": format!("{ACME}:tags[value eq \"a\"]")},
               {"op": "remove", "path": format!("{ACME}:tags"), "value": ["c"]}]),
    )
    .await;
    assert_eq!(r[ACME]["tags"], json!(["b", "d"]));
    s.stop().await;
}

#[tokio::test]
async fn primary_stays_unique_on_add_replace_and_filtered_paths() {
    let s = server().await;
    let u = bjensen(&s).await;
    let primaries = |r: &Value| -> Vec<String> {
        r["emails"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["primary"] == true)
            .filter_map(|e| e["value"].as_str().map(str::to_string))
            .collect()
    };
    let r = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": r#"emails[type eq "home"].primary"#, "value": "True"}]),
    )
    .await;
    assert_eq!(primaries(&r), ["b@home"]);
    let r = patched(
        &s,
        &u,
        json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "type": "other", "primary": true}]}]),
    )
    .await;
    assert_eq!(primaries(&r), ["n@x"]);
    let r = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": r#"emails[type eq "work"]"#, "value": {"primary": true}}]),
    )
    .await;
    assert_eq!(primaries(&r), ["b@work"]);
    assert_eq!(r["emails"].as_array().map(Vec::len), Some(3));
    refused(
        &s,
        &u,
        json!([{"op": "replace", "path": "emails.primary", "value": true}]),
        "invalidValue",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn extension_paths_whole_urn_attr_and_attr_sub() {
    let s = server().await;
    let u = bjensen(&s).await;
    let r = patched(
        &s,
        &u,
        json!([{"op": "add", "path": ENT, "value": {"costCenter": "C7"}},
               {"op": "replace", "path": format!("{ENT}:department"), "value": "Ops"},
               {"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"}]),
    )
    .await;
    assert_eq!(
        r[ENT],
        json!({"costCenter": "C7", "department": "Ops", "manager": {"value": "m2"}})
    );
    // Entra's bare-string manager replaces the whole reference.
    let r = patched(
        &s,
        &u,
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "m3", "$ref": "../Users/m3"}},
               {"op": "Replace", "path": format!("{ENT}:manager"), "value": "m4"}]),
    )
    .await;
    assert_eq!(r[ENT]["manager"], json!({"value": "m4"}));
    let r = patched(&s, &u, json!([{"op": "remove", "path": ENT}])).await;
    assert!(r.get(ENT).is_none(), "{r}");
    assert!(
        !r["schemas"]
            .as_array()
            .expect("schemas")
            .contains(&json!(ENT)),
        "{r}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_failure_part_way_leaves_users_and_groups_unchanged() {
    let s = server().await;
    let u = bjensen(&s).await;
    // Many valid operations of every kind, then one bad one.
    let valid = json!([
        {"op": "replace", "path": "displayName", "value": "X"},
        {"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": true}]},
        {"op": "remove", "path": "name.givenName"},
        {"op": "replace", "path": format!("{ENT}:department"), "value": "Ops"},
        {"op": "add", "path": format!("{ACME}:tags"), "value": ["z"]},
        {"op": "replace", "value": {"title": "T", "name.familyName": "F"}}
    ]);
    for bad in [
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": r#"emails[value eq "nope" or value eq "nah"]"#, "value": {"display": "d"}}),
        json!({"op": "add", "path": "nosuch", "value": 1}),
        json!({"op": "replace", "path": "active", "value": 3}),
    ] {
        let mut list = valid.as_array().cloned().unwrap_or_default();
        list.push(bad.clone());
        let before = stored(&s, &u).await;
        let r = s.patch(&u, ops(Value::Array(list))).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(stored(&s, &u).await, before, "{bad}: partly applied");
    }

    // A group: member changes and document changes commit together or not at all.
    let m1 = s.user("m1@x").await;
    let m2 = s.user("m2@x").await;
    let g = s.group("Team").await;
    let gpath = format!("/Groups/{g}");
    let r = s
        .patch(
            &gpath,
            ops(json!([{"op": "add", "path": "members", "value": [{"value": m1}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let before = stored(&s, &gpath).await;
    let r = s
        .patch(
            &gpath,
            ops(json!([
                {"op": "add", "path": "members", "value": [{"value": m2}]},
                {"op": "remove", "path": format!("members[value eq \"{m1}\"]")},
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "replace", "path": "externalId", "value": "e1"},
                {"op": "replace", "path": r#"nosuch"#, "value": "x"}
            ])),
        )
        .await;
    r.assert_error(400, Some("invalidPath"));
    assert_eq!(stored(&s, &gpath).await, before);
    s.stop().await;
}
