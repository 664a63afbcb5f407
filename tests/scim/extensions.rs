//! Extension schemas declared in the configuration (`[[extensions]]`): published, typed,
//! validated, stored, filterable and PATCHable like core attributes.

use serde_json::json;

use crate::common::{ext_attr, q, TestServer};
use scimd::config::{ExtensionAttribute, ExtensionSettings};

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn attr(name: &str, ty: &str, multi: bool) -> ExtensionAttribute {
    ext_attr(name, ty, multi, "readWrite", "default")
}

async fn acme_server() -> TestServer {
    TestServer::start_with(|c| {
        c.extensions = vec![ExtensionSettings {
            urn: ACME.into(),
            resource: "User".into(),
            name: "AcmeUser".into(),
            description: "Acme's attributes".into(),
            attributes: vec![
                attr("costCenterCode", "string", false),
                attr("contractor", "boolean", false),
                attr("clearance", "integer", false),
                attr("badges", "string", true),
            ],
        }];
    })
    .await
}

#[tokio::test]
async fn declared_extensions_are_published() {
    let s = acme_server().await;
    let r = s.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "AcmeUser");
    let names: Vec<&str> = r.body["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["costCenterCode", "contractor", "clearance", "badges"]
    );
    assert_eq!(r.body["attributes"][1]["type"], "boolean");
    assert_eq!(r.body["attributes"][3]["multiValued"], true);
    let rt = s.get("/ResourceTypes/User").await.body;
    let exts: Vec<&str> = rt["schemaExtensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter_map(|e| e["schema"].as_str())
        .collect();
    assert!(exts.contains(&ACME), "{rt}");
    assert_eq!(s.get("/Schemas").await.body["totalResults"], 4);
    s.stop().await;
}

#[tokio::test]
async fn declared_attributes_are_typed_filtered_and_patched() {
    let s = acme_server().await;
    let r = s
        .post("/Users", json!({"userName": "a@x", ACME: {"costCenterCode": "CC-9", "contractor": "True", "clearance": "3", "badges": "b1", "unknown": 1}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body[ACME],
        json!({"costCenterCode": "CC-9", "contractor": true, "clearance": 3, "badges": ["b1"]})
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    // Wrong types are refused with a clear detail, and nothing is created.
    let bad = s
        .post(
            "/Users",
            json!({"userName": "b@x", ACME: {"clearance": "high"}}),
        )
        .await;
    bad.assert_error(400, Some("invalidValue"));
    assert!(
        bad.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("clearance")),
        "{}",
        bad.body
    );
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    // Filterable, qualified or not, with the declared caseExact (false).
    for f in [
        format!("{ACME}:costCenterCode eq \"cc-9\""),
        format!("{ACME}:contractor eq true"),
        format!("{ACME}:clearance ge 2"),
    ] {
        let r = s.get(&format!("/Users?filter={}", q(&f))).await;
        assert_eq!(r.body["totalResults"], 1, "{f}: {}", r.body);
    }
    // PATCHable like core attributes.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"replace","path":format!("{ACME}:contractor"),"value":"False"},
            {"op":"add","path":format!("{ACME}:badges"),"value":["b2"]},
            {"op":"remove","path":format!("{ACME}:costCenterCode")}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body[ACME],
        json!({"contractor": false, "clearance": 3, "badges": ["b1", "b2"]})
    );
    let r = s
        .patch(&format!("/Users/{id}"), json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":format!("{ACME}:clearance"),"value":"top"}]}))
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.body[ACME]["clearance"],
        3
    );
    s.stop().await;
}
