//! Microsoft Entra ID's provisioning traffic, replayed request by request (INTEROP.md Part A §7:
//! U0–U11, G1–G7) with the exact bodies Entra sends, each checked by reading the result back.

use serde_json::{json, Value};

use crate::common::{q, resources, TestServer};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// U3, the current documented create body, exactly as Entra sends it.
async fn post_u3(s: &TestServer) -> crate::common::Reply {
    s.post("/Users", json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
             "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
             "userName":"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
             "active":true,
             "emails":[{"primary":true,"type":"work","value":"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
             "meta":{"resourceType":"User"},
             "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
             "roles":[]})).await
}

async fn create_u3(s: &TestServer) -> String {
    let r = post_u3(s).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn u0_test_connection_probe_gets_an_empty_list() {
    let s = TestServer::start().await;
    for path in [
        "/Users?filter=userName+eq+%22cf4d78e8-cc4f-4d5d-b8b9-183561c0104a%22".to_string(),
        "/Users?filter=userName%20eq%20%22cf4d78e8-cc4f-4d5d-b8b9-183561c0104a%22".to_string(),
        format!(
            "/Groups?excludedAttributes=members&filter={}",
            q("displayName eq \"8f1c4a2e-0c53-4a47-9d63-2f7e5d9b7a11\"")
        ),
        // The feature flag an admin may append to the Tenant URL is ignored.
        "/Users?aadOptscim062020&filter=userName+eq+%22x%22".to_string(),
    ] {
        let r = s.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.content_type(), "application/scim+json");
        assert_eq!(
            r.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:ListResponse"
        );
        assert_eq!(r.body["totalResults"], 0);
        assert_eq!(r.body["Resources"], json!([]));
        assert_eq!(r.body["startIndex"], 1);
    }
    s.stop().await;
}

#[tokio::test]
async fn u1_u2_u3_u4_create_then_match_by_every_entra_filter() {
    let s = TestServer::start().await;
    // U2: zero results before the create.
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"non-existent user\"")
        ))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["totalResults"].clone()),
        (200, json!(0))
    );

    // U3: create.
    let r = post_u3(&s).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.body["userName"],
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    );
    assert_eq!(r.body["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert!(r.body["meta"]["created"].is_string() && r.body["meta"]["lastModified"].is_string());
    let location = r
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    assert_eq!(location, s.url(&format!("/Users/{id}")));
    assert_eq!(r.body["meta"]["location"], location);

    // U1 and its variants: one hit each.
    for filter in [
        "userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"".to_string(),
        "userName eq \"TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE\"".to_string(),
        "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"".to_string(),
        "externalId eq 0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef".to_string(),
        "emails[type eq \"work\"].value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"".to_string(),
        "emails.value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"".to_string(),
        format!("id eq \"{id}\""),
    ] {
        let r = s.get(&format!("/Users?filter={}", q(&filter))).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], 1, "{filter}: {}", r.body);
        assert_eq!(resources(&r.body)[0]["id"], id.as_str(), "{filter}");
        assert_eq!(resources(&r.body)[0]["active"], true);
    }

    // U4: get by id; unknown id is a SCIM 404.
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["emails"][0]["primary"], true);
    assert_eq!(r.body["name"]["formatted"], "givenName familyName");
    s.get("/Users/5d48a0a8e9f04aa38008")
        .await
        .assert_error(404, None);

    // Duplicate userName in any case: 409 uniqueness, nothing created.
    let r = s
        .post(
            "/Users",
            json!({"userName": "test_user_00AA00AA-bb11-cc22-dd33-44ee44ee44ee"}),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    s.stop().await;
}

#[tokio::test]
async fn u3_legacy_create_body_with_nulls_typo_urn_and_string_manager() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/Users",
            json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
             "externalId":"jyoung","userName":"jyoung@testuser.com","active":true,"addresses":null,"displayName":"Joy Young",
             "emails":[{"type":"work","value":"jyoung@Contoso.com","primary":true}],"meta":{"resourceType":"User"},
             "name":{"familyName":"Young","givenName":"Joy"},"phoneNumbers":null,"preferredLanguage":null,"title":null,
             "department":null,"manager":null}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id");
    let got = s.get(&format!("/Users/{id}")).await.body;
    assert_eq!(
        got["emails"][0]["value"], "jyoung@Contoso.com",
        "stored exactly as sent"
    );
    for absent in [
        "addresses",
        "phoneNumbers",
        "title",
        "manager",
        "department",
        "meta.x",
    ] {
        assert!(got.get(absent).is_none(), "{absent}: {got}");
    }
    // Enterprise extension with manager as a bare string, and as an object.
    let r = s
        .post("/Users", json!({"userName": "e1", ENT: {"manager": "123456", "employeeNumber": "701984", "department": "Tour Operations"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[ENT]["manager"]["value"], "123456");
    assert!(r.body["schemas"]
        .as_array()
        .expect("schemas")
        .contains(&json!(ENT)));
    let r = s
        .post("/Users", json!({"userName": "e2", ENT: {"manager": {"value": "26118915", "$ref": "../Users/26118915", "displayName": "John Smith"}}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[ENT]["manager"]["value"], "26118915");
    s.stop().await;
}

#[tokio::test]
async fn u5_u6_u7_updates() {
    let s = TestServer::start().await;
    let id = create_u3(&s).await;
    let path = format!("/Users/{id}");

    // U5: multi-valued sub-attribute through a filter, plus a complex sub-attribute.
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
            {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(
        got["emails"],
        json!([{"value":"updatedEmail@microsoft.com","type":"work","primary":true}])
    );
    assert_eq!(got["name"]["familyName"], "updatedFamilyName");
    assert_eq!(got["name"]["givenName"], "givenName");

    // Create-on-absent for the other typed paths Entra maps.
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"},
            {"op":"Add","path":"phoneNumbers[type eq \"fax\"].value","value":"+1 555 0101"},
            {"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"},
            {"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Microsoft Way"},
            {"op":"Add","path":"emails[type eq \"other\"].Value","value":"alias@contoso.com"},
            {"op":"Add","path":"addresses[type eq \"other\"].Formatted","value":"Building 4"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(
        got["phoneNumbers"],
        json!([{"type":"mobile","value":"+1 555 0100"},{"type":"fax","value":"+1 555 0101"}])
    );
    assert_eq!(
        got["addresses"],
        json!([{"type":"work","postalCode":"98052","streetAddress":"1 Microsoft Way"},{"type":"other","formatted":"Building 4"}])
    );
    assert_eq!(
        got["emails"][1],
        json!({"type":"other","value":"alias@contoso.com"})
    );

    // Remove with the old value attached clears it (never sets it).
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Remove","path":"emails[type eq \"other\"].value","value":"alias@contoso.com"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.get(&path).await.body["emails"].as_array().map(Vec::len),
        Some(1)
    );

    // U6: single-valued, including userName; Add on a single-valued attribute sets it.
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
            {"op":"Add","path":"nickName","value":"Babs"},
            {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"5B50642D-79FC-4410-9E90-4C077CDD1A59@testuser.com\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"")
        ))
        .await;
    assert_eq!(
        r.body["totalResults"], 0,
        "the old userName no longer matches"
    );
    let got = s.get(&path).await.body;
    assert_eq!(got["nickName"], "Babs");
    assert_eq!(got[ENT]["department"], "Sales");

    // Renaming onto another user's userName is a 409 and changes nothing.
    let other = s.user("taken@testuser.com").await;
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Replace","path":"displayName","value":"should not stick"},
            {"op":"Replace","path":"userName","value":"TAKEN@testuser.com"}]}),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    assert!(s.get(&path).await.body.get("displayName").is_none());
    assert_ne!(other, id);

    // U7: path-less replace with dotted keys and a full extension URN key (aadOptscim062020).
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"replace","path":"emails[type eq \"work\"].value","value":"TestMhvaes@test.microsoft.com"},
            {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(got["displayName"], "Bjfe");
    assert_eq!(got["name"]["givenName"], "Kkom");
    assert_eq!(got["name"]["familyName"], "Unua");
    assert_eq!(got[ENT]["employeeNumber"], "Aklq");
    assert_eq!(got["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    assert!(
        got.get("name.givenName").is_none()
            && got
                .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")
                .is_none()
    );
    // The same shape with op "add" (scimitar #123).
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"add","value":{"title":"Engineer","name.formatted":"Kkom Unua"}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(
        (got["title"].as_str(), got["name"]["formatted"].as_str()),
        (Some("Engineer"), Some("Kkom Unua"))
    );
    s.stop().await;
}

#[tokio::test]
async fn u8_disable_in_every_variant_and_stay_visible() {
    let s = TestServer::start().await;
    let id = create_u3(&s).await;
    let path = format!("/Users/{id}");
    let filter = format!(
        "/Users?filter={}",
        q("userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"")
    );
    let variants = [
        json!({"Operations":[{"op":"Replace","path":"active","value":false}],"schemas":[PATCH_OP]}),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"Replace","path":"active","value":"False"}]}),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"active","value":false}]}),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"active","value":"false"}]}),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":false}}]}),
    ];
    for v in variants {
        // Re-enable first with Entra's string form, then disable with the variant.
        let r = s.patch(&path, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Replace","path":"active","value":"True"}]})).await;
        assert_eq!(
            (r.status.as_u16(), r.body["active"].clone()),
            (200, json!(true)),
            "{}",
            r.body
        );
        let r = s.patch(&path, v.clone()).await;
        assert_eq!(r.status, 200, "{v}: {}", r.body);
        assert_eq!(r.body["active"], json!(false), "{v}");
        let got = s.get(&path).await;
        assert_eq!(got.status, 200);
        assert_eq!(
            got.body["active"],
            json!(false),
            "a JSON boolean, readable by id"
        );
        let found = s.get(&filter).await;
        assert_eq!(
            found.body["totalResults"], 1,
            "a disabled user stays findable"
        );
        assert_eq!(resources(&found.body)[0]["active"], json!(false));
        assert_eq!(got.body["id"], id.as_str(), "the same id throughout");
    }
    s.stop().await;
}

#[tokio::test]
async fn u9_manager_set_change_clear_and_legacy_query() {
    let s = TestServer::start().await;
    let id = s.user("report@contoso.com").await;
    let m1 = s.user("boss1@contoso.com").await;
    let m2 = s.user("boss2@contoso.com").await;
    let path = format!("/Users/{id}");
    let p = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"Add","path":p,"value":m1}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.get(&path).await.body[ENT]["manager"]["value"],
        m1.as_str()
    );
    // Entra's legacy membership-style pre-check: one hit when the manager matches.
    let check = |m: &str| {
        format!(
            "/Users?filter={}&attributes=id",
            q(&format!("id eq \"{id}\" and manager eq \"{m}\""))
        )
    };
    assert_eq!(s.get(&check(&m1)).await.body["totalResults"], 1);
    assert_eq!(s.get(&check(&m2)).await.body["totalResults"], 0);

    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":p,"value":m2}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.get(&path).await.body[ENT]["manager"]["value"],
        m2.as_str()
    );
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":p,"value":""}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert!(
        got.get(ENT).and_then(|e| e.get("manager")).is_none(),
        "{got}"
    );
    // Legacy form: short path and an array of one reference.
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Add","path":"manager","value":[{"$ref":format!("http://x/scim/Users/{m1}"),"value":m1}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        s.get(&path).await.body[ENT]["manager"]["value"],
        m1.as_str()
    );
    s.stop().await;
}

#[tokio::test]
async fn u10_roles_are_stored_not_refused() {
    let s = TestServer::start().await;
    let r = s
        .post("/Users", json!({"userName":"r@x","roles":[{"primary":true,"type":"WindowsAzureActiveDirectoryRole","value":"Admin"}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = s
        .patch(&format!("/Users/{id}"), json!({"schemas":[PATCH_OP],"Operations":[{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["roles"].as_array().map(Vec::len), Some(2));
    s.stop().await;
}

#[tokio::test]
async fn u11_delete_user() {
    let s = TestServer::start().await;
    let id = create_u3(&s).await;
    let gid = s.group("g").await;
    let r = s.patch(&format!("/Groups/{gid}"), json!({"schemas":[PATCH_OP],"Operations":[{"op":"Add","path":"members","value":[{"value":id}]}]})).await;
    assert_eq!(r.status, 204);
    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_null(), "204 has an empty body");
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    let r = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(
        s.get(&format!("/Groups/{gid}")).await.body["members"],
        json!([]),
        "membership goes with the user"
    );
    s.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    s.stop().await;
}

#[tokio::test]
async fn g1_to_g7_group_lifecycle() {
    let s = TestServer::start().await;
    // G1
    let r = s
        .post("/Groups", json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
             "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["displayName"], "displayName");
    assert_eq!(r.body["members"], json!([]));
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    let gid = r.body["id"].as_str().expect("id").to_string();
    let gpath = format!("/Groups/{gid}");

    // G2: excludedAttributes=members leaves no members key at all.
    let r = s.get(&format!("{gpath}?excludedAttributes=members")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("members").is_none(), "{}", r.body);
    assert_eq!(r.body["displayName"], "displayName");

    // G3: by displayName, case-insensitively; by externalId.
    for f in [
        "displayName eq \"displayName\"",
        "displayName eq \"DISPLAYNAME\"",
        "externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"",
    ] {
        let r = s
            .get(&format!(
                "/Groups?excludedAttributes=members&filter={}",
                q(f)
            ))
            .await;
        assert_eq!(r.body["totalResults"], 1, "{f}: {}", r.body);
        assert!(resources(&r.body)[0].get("members").is_none());
    }

    // G5: add members, several at once, with $ref null; re-adding is not an error.
    let u1 = s.user("u1@x").await;
    let u2 = s.user("u2@x").await;
    let u3 = s.user("u3@x").await;
    let add = json!({"schemas":[PATCH_OP],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":u1},{"value":u2},{"value":u3}]}]});
    assert_eq!(s.patch(&gpath, add.clone()).await.status, 204);
    assert_eq!(
        s.patch(&gpath, add).await.status,
        204,
        "re-adding existing members succeeds"
    );
    let members = s.get(&gpath).await.body["members"].clone();
    assert_eq!(
        members.as_array().map(Vec::len),
        Some(3),
        "no duplicates: {members}"
    );
    assert!(members
        .as_array()
        .expect("members")
        .iter()
        .all(|m| m["type"] == "User"));
    // User.groups is derived from membership.
    let u1_groups = s.get(&format!("/Users/{u1}")).await.body["groups"].clone();
    assert_eq!(u1_groups[0]["value"], gid.as_str());
    assert_eq!(u1_groups[0]["display"], "displayName");
    // Legacy membership check.
    let r = s
        .get(&format!(
            "/Groups?filter={}",
            q(&format!("id eq \"{gid}\" and members eq \"{u2}\""))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);

    // G4: non-member attributes, both forms; members untouched.
    let r = s
        .patch(&gpath, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.patch(&gpath, json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"externalId":"new-ext"}}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = s.get(&gpath).await.body;
    assert_eq!(
        got["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
    assert_eq!(got["externalId"], "new-ext");
    assert_eq!(
        got["members"].as_array().map(Vec::len),
        Some(3),
        "a rename never touches members"
    );
    let r = s
        .get(&format!(
            "/Groups?filter={}",
            q("displayName eq \"displayName\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0, "the old name no longer matches");

    // G6: both removal forms remove only the listed member; removing a non-member is fine.
    let r = s.patch(&gpath, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":u1}]}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.patch(&gpath, json!({"schemas":[PATCH_OP],"Operations":[{"op":"remove","path":format!("members[value eq \"{u2}\"]")}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.patch(&gpath, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Remove","path":"members","value":[{"value":"7f4bc1a3-285e-48ae-8202-5accb43efb0e"}]}]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let members = s.get(&gpath).await.body["members"].clone();
    assert_eq!(
        members,
        json!([{"value": u3, "$ref": s.url(&format!("/Users/{u3}")), "type": "User"}])
    );
    assert!(s
        .get(&format!("/Users/{u1}"))
        .await
        .body
        .get("groups")
        .is_none());
    // Plain remove of members (no value) empties the group.
    assert_eq!(
        s.patch(
            &gpath,
            json!({"schemas":[PATCH_OP],"Operations":[{"op":"remove","path":"members"}]})
        )
        .await
        .status,
        204
    );
    assert_eq!(s.get(&gpath).await.body["members"], json!([]));

    // A member that does not exist is refused, and the whole PATCH with it.
    let r = s
        .patch(
            &gpath,
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"replace","path":"displayName","value":"not applied"},
            {"op":"Add","path":"members","value":[{"value":"no-such-user"}]}]}),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_ne!(s.get(&gpath).await.body["displayName"], "not applied");

    // G7
    assert_eq!(s.delete(&gpath).await.status, 204);
    s.get(&gpath).await.assert_error(404, None);
    let r = s
        .get(&format!(
            "/Groups?filter={}",
            q("displayName eq \"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    s.stop().await;
}

#[tokio::test]
async fn custom_mapped_extension_attributes_are_kept_returned_and_patched() {
    // Entra admins map directory attributes to
    // urn:ietf:params:scim:schemas:extension:<Name>:2.0:User:<attr>; no schema declares it here.
    let s = TestServer::start().await;
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let r = s
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", custom],
                               "userName": "c@x", custom: {"costCode": "CC-1"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert_eq!(r.body[custom]["costCode"], "CC-1");
    assert!(r.body["schemas"]
        .as_array()
        .expect("schemas")
        .contains(&json!(custom)));
    let path = format!("/Users/{id}");
    let r = s
        .patch(
            &path,
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Add","path":format!("{custom}:badgeNumber"),"value":"4711"},
            {"op":"Replace","path":format!("{custom}:costCode"),"value":"CC-2"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(
        got[custom],
        json!({"costCode": "CC-2", "badgeNumber": "4711"})
    );
    // Selectable whole with attributes / excludedAttributes.
    let only = s.get(&format!("{path}?attributes={custom}")).await.body;
    assert_eq!(only[custom]["badgeNumber"], "4711");
    assert!(only.get("userName").is_none());
    let without = s
        .get(&format!("{path}?excludedAttributes={custom}"))
        .await
        .body;
    assert!(without.get(custom).is_none());
    let r = s
        .patch(&path, json!({"schemas":[PATCH_OP],"Operations":[{"op":"Remove","path":format!("{custom}:costCode")},{"op":"Remove","path":format!("{custom}:badgeNumber")}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert!(got.get(custom).is_none(), "{got}");
    assert!(!got["schemas"]
        .as_array()
        .expect("schemas")
        .contains(&json!(custom)));
    s.stop().await;
}

#[tokio::test]
async fn onelogin_legacy_schema_urns_are_understood() {
    let s = TestServer::start().await;
    let r = s
        .post("/Users", json!({"schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
                               "userName": "ol@x", "emails": {"value": "ol@x", "type": "work"},
                               "urn:scim:schemas:extension:enterprise:2.0": {"department": "Ops"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[ENT]["department"], "Ops");
    assert_eq!(r.body["emails"], json!([{"value": "ol@x", "type": "work"}]));
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = s
        .patch(&format!("/Users/{id}?"), json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"replace","path":"urn:scim:schemas:extension:enterprise:2.0:department","value":"Sales"},
            {"op":"replace","path":"urn:scim:schemas:core:2.0:title","value":"Lead"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[ENT]["department"], "Sales");
    assert_eq!(r.body["title"], "Lead");
    let r = s.get("/Users?filter=userName+eq+%22ol%40x%22&").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn a_large_group_is_streamed_whole_and_valid() {
    // 1,500 members make a body of several 64 KiB chunks.
    let s = std::sync::Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in (0..1500).filter(|n| n % 16 == t) {
                ids.push(s.user(&format!("member{n}@x")).await);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.expect("task"));
    }
    assert_eq!(ids.len(), 1500);
    let gid = s.group("everyone").await;
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let r = s
        .patch(&format!("/Groups/{gid}"), json!({"schemas":[PATCH_OP],"Operations":[{"op":"add","path":"members","value":value}]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(got.status, 200);
    let members = got.body["members"]
        .as_array()
        .expect("valid JSON with a members array");
    let mut seen: Vec<&str> = members.iter().filter_map(|m| m["value"].as_str()).collect();
    seen.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    assert_eq!(got.body["displayName"], "everyone");
    assert_eq!(got.body["meta"]["resourceType"], "Group");
    // A projection applies to every streamed member.
    let only = s
        .get(&format!("/Groups/{gid}?attributes=members.value"))
        .await
        .body;
    assert!(only["members"]
        .as_array()
        .expect("members")
        .iter()
        .all(|m| m.as_object().is_some_and(|o| o.len() == 1)));
    assert!(only.get("displayName").is_none());
    match std::sync::Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}
