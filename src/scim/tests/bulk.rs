use std::collections::HashMap;

use serde_json::{json, Value};

use super::*;
use crate::scim::ScimType;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn request(ops: Value) -> Value {
    json!({"schemas": [URN_BULK_REQUEST], "Operations": ops})
}

fn post_user(bulk_id: &str, name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER], "userName": name}})
}

fn post_group(bulk_id: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": bulk_id, "members": members}})
}

fn parse(ops: Value) -> BulkRequest {
    BulkRequest::parse(&request(ops)).unwrap()
}

fn refusal(req: &BulkRequest, i: usize) -> &ScimError {
    req.operations[i].action.as_ref().unwrap_err()
}

fn order(req: &BulkRequest) -> Vec<Result<usize, (usize, u16)>> {
    plan(&req.operations)
        .into_iter()
        .map(|s| match s {
            Step::Run(i) => Ok(i),
            Step::Refuse(i, e) => Err((i, e.status)),
        })
        .collect()
}

#[test]
fn reads_the_rfc_example_with_its_reference() {
    let req = parse(json!([
        post_user("qwerty", "Alice"),
        post_group("ytrewq", &["bulkId:qwerty"])
    ]));
    assert_eq!(req.fail_on_errors, None);
    let group = req.operations[1].action.as_ref().unwrap();
    assert_eq!(group.method, Method::Post);
    assert_eq!(group.kind, ResourceKind::Group);
    assert_eq!(group.refs, vec!["qwerty".to_string()]);
    assert_eq!(req.operations[1].declared_post_id(), Some("ytrewq"));
    assert_eq!(order(&req), vec![Ok(0), Ok(1)]);
}

#[test]
fn methods_and_paths_are_read_without_case() {
    let req = parse(json!([
        {"method": "delete", "path": "users/abc/"},
        {"method": "Patch", "path": "//GROUPS/bulkId:g", "version": "W/\"2\"",
         "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u"}]}]}},
    ]));
    let del = req.operations[0].action.as_ref().unwrap();
    assert_eq!(
        (del.method, del.kind, del.id.as_deref()),
        (Method::Delete, ResourceKind::User, Some("abc"))
    );
    assert_eq!(del.data, Value::Null);
    assert_eq!(req.operations[0].method.as_deref(), Some("DELETE"));
    let patch = req.operations[1].action.as_ref().unwrap();
    assert_eq!(patch.version.as_deref(), Some("W/\"2\""));
    assert_eq!(patch.refs, vec!["g".to_string(), "u".to_string()]);
}

#[test]
fn whole_request_refusals() {
    let too_many: Vec<Value> = (0..=MAX_OPERATIONS)
        .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
        .collect();
    let cases: Vec<(Value, u16, Option<ScimType>, &str)> = vec![
        (
            json!([1]),
            400,
            Some(ScimType::InvalidSyntax),
            "JSON object",
        ),
        (
            json!({"schemas": [USER], "userName": "a"}),
            400,
            Some(ScimType::InvalidSyntax),
            "BulkRequest",
        ),
        (
            json!({"schemas": [URN_BULK_REQUEST]}),
            400,
            Some(ScimType::InvalidSyntax),
            "Operations",
        ),
        (
            json!({"Operations": {}}),
            400,
            Some(ScimType::InvalidSyntax),
            "Operations",
        ),
        (
            request(Value::Array(too_many)),
            413,
            None,
            "maxOperations is 1000",
        ),
        (
            json!({"failOnErrors": 0, "Operations": []}),
            400,
            Some(ScimType::InvalidValue),
            "failOnErrors",
        ),
        (
            json!({"failOnErrors": "x", "Operations": []}),
            400,
            Some(ScimType::InvalidValue),
            "failOnErrors",
        ),
        (
            request(json!([post_user("a", "x"), post_user("a", "y")])),
            400,
            Some(ScimType::InvalidValue),
            "bulkId \"a\" is used by Operations[0] and Operations[1]",
        ),
    ];
    for (body, status, scim_type, needle) in cases {
        let e = BulkRequest::parse(&body).unwrap_err();
        assert_eq!((e.status, e.scim_type), (status, scim_type), "{body}: {e}");
        assert!(e.detail.contains(needle), "{e}");
    }
    let ok = BulkRequest::parse(&json!({"failOnErrors": 2, "Operations": []})).unwrap();
    assert_eq!(ok.fail_on_errors, Some(2));
    assert!(ok.operations.is_empty());
}

#[test]
fn a_malformed_operation_is_refused_alone() {
    let req = parse(json!([
        "nope",
        {"method": "GET", "path": "/Users/x"},
        {"path": "/Users/x"},
        {"method": "POST", "path": "/Users", "data": {"userName": "a"}},
        {"method": "POST", "path": "/Users/x", "bulkId": "b", "data": {}},
        {"method": "PUT", "path": "/Users", "data": {}},
        {"method": "PATCH", "path": "/Things/1", "data": {}},
        {"method": "PUT", "path": "/Users/x"},
        {"method": "PUT", "path": "/Users/x", "data": [1]},
        {"method": "DELETE", "path": "/Users/x", "version": 3},
        {"method": "DELETE", "path": 7},
        {"method": "POST", "path": "/Users", "bulkId": "", "data": {}},
        post_user("fine", "ok"),
    ]));
    let expect = [
        (ScimType::InvalidSyntax, "must be an object"),
        (
            ScimType::InvalidValue,
            "\"GET\" is not one of POST, PUT, PATCH, DELETE",
        ),
        (ScimType::InvalidSyntax, "has no \"method\""),
        (ScimType::InvalidValue, "POST without \"bulkId\""),
        (ScimType::InvalidPath, "a POST goes to /Users"),
        (ScimType::InvalidPath, "a PUT names one resource"),
        (ScimType::InvalidPath, "is not /Users, /Groups"),
        (ScimType::InvalidSyntax, "has no \"data\""),
        (ScimType::InvalidSyntax, "must be a JSON object"),
        (ScimType::InvalidValue, "version must be a string"),
        (ScimType::InvalidPath, "has no \"path\""),
        (ScimType::InvalidValue, "non-empty string"),
    ];
    for (i, (t, needle)) in expect.iter().enumerate() {
        let e = refusal(&req, i);
        assert_eq!((e.status, e.scim_type), (400, Some(*t)), "{i}: {e}");
        assert!(
            e.detail.contains(&format!("Operations[{i}]")) || i == 1 || i == 4 || i == 5 || i == 6,
            "{i}: {e}"
        );
        assert!(e.detail.contains(needle), "{i}: {e}");
    }
    assert_eq!(req.operations[1].method.as_deref(), Some("GET"));
    assert!(req.operations[12].action.is_ok());
    // Refusals keep their place; the good operation still runs.
    let steps = order(&req);
    assert_eq!(steps.len(), 13);
    assert_eq!(steps[12], Ok(12));
    assert!(steps[..12]
        .iter()
        .enumerate()
        .all(|(i, s)| *s == Err((i, 400))));
}

#[test]
fn an_operation_waits_for_a_post_further_down() {
    // The group, then the PATCH of the group, come before the user they reference.
    let req = parse(json!([
        post_group("g", &["bulkId:u"]),
        {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": [{"op": "replace", "path": "displayName", "value": "G"}]}},
        {"method": "DELETE", "path": "/Users/other"},
        post_user("u", "a"),
        {"method": "DELETE", "path": "/Users/last"},
    ]));
    assert_eq!(order(&req), vec![Ok(2), Ok(3), Ok(0), Ok(1), Ok(4)]);
}

#[test]
fn unknown_and_non_post_bulk_ids_are_409() {
    let req = parse(json!([
        post_group("g", &["bulkId:nobody"]),
        {"method": "DELETE", "path": "/Users/bulkId:d", "bulkId": "d"},
        {"method": "PATCH", "path": "/Users/bulkId:d", "data": {"Operations": []}},
    ]));
    let steps = plan(&req.operations);
    let Step::Refuse(0, e) = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::InvalidValue)));
    assert!(
        e.detail
            .contains("\"nobody\" is not the bulkId of any POST"),
        "{e}"
    );
    for i in [1, 2] {
        let Step::Refuse(j, e) = &steps[i] else {
            panic!("{steps:?}")
        };
        assert_eq!(*j, i);
        assert!(
            e.detail.contains("\"d\" belongs to a DELETE operation"),
            "{e}"
        );
    }
}

#[test]
fn circular_references_are_409_and_name_the_cycle() {
    let req = parse(json!([
        post_group("a", &["bulkId:b"]),
        post_group("b", &["bulkId:a"]),
        {"method": "PATCH", "path": "/Groups/bulkId:a", "data": {"Operations": []}},
        post_group("self", &["bulkId:self"]),
        post_user("u", "fine"),
    ]));
    let steps = plan(&req.operations);
    assert_eq!(steps[0], Step::Run(4));
    let details: Vec<(usize, String)> = steps[1..]
        .iter()
        .map(|s| match s {
            Step::Refuse(i, e) => {
                assert_eq!((e.status, e.scim_type), (409, Some(ScimType::InvalidValue)));
                (*i, e.detail.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        details.iter().map(|d| d.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        details[0]
            .1
            .contains("circular bulkId reference: \"a\" references \"b\" references \"a\""),
        "{}",
        details[0].1
    );
    assert!(
        details[1]
            .1
            .contains("\"b\" references \"a\" references \"b\""),
        "{}",
        details[1].1
    );
    assert!(
        details[2]
            .1
            .contains("waits on a circular bulkId reference"),
        "{}",
        details[2].1
    );
    assert!(
        details[3].1.contains("\"self\" references \"self\""),
        "{}",
        details[3].1
    );
}

#[test]
fn references_resolve_in_path_and_data_at_any_depth() {
    let req = parse(json!([{
        "method": "PATCH", "path": "/Groups/bulkId:g",
        "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u"}, {"value": "plain"}]}]}
    }]));
    let action = req.operations[0].action.as_ref().unwrap();
    let mut created = HashMap::new();
    created.insert("g".to_string(), "G1".to_string());
    let e = resolve(action, &created).unwrap_err();
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::InvalidValue)));
    assert!(e.detail.contains("bulkId \"u\""), "{e}");
    created.insert("u".to_string(), "U1".to_string());
    let (id, data) = resolve(action, &created).unwrap();
    assert_eq!(id.as_deref(), Some("G1"));
    assert_eq!(
        data["Operations"][0]["value"],
        json!([{"value": "U1"}, {"value": "plain"}])
    );
}

#[test]
fn the_response_has_string_statuses_and_errors_only_for_failures() {
    let r = response(&[
        OpResult {
            method: Some("POST".into()),
            bulk_id: Some("q".into()),
            location: Some("https://x/Users/1".into()),
            version: Some("W/\"1\"".into()),
            outcome: Ok(201),
        },
        OpResult {
            method: Some("GET".into()),
            bulk_id: None,
            location: None,
            version: None,
            outcome: Err(ScimError::invalid_value("no")),
        },
    ]);
    assert_eq!(r["schemas"], json!([URN_BULK_RESPONSE]));
    assert_eq!(
        r["Operations"][0],
        json!({"method": "POST", "bulkId": "q", "version": "W/\"1\"", "location": "https://x/Users/1", "status": "201"})
    );
    assert_eq!(r["Operations"][1]["status"], "400");
    assert_eq!(r["Operations"][1]["response"]["scimType"], "invalidValue");
    assert_eq!(r["Operations"][1]["response"]["status"], "400");
    assert!(r["Operations"][1].get("location").is_none());
}

#[test]
fn a_long_cycle_is_named_by_its_start() {
    let ops: Vec<Value> = (0..MAX_OPERATIONS)
        .map(|i| {
            post_group(
                &format!("g{i}"),
                &[&format!("bulkId:g{}", (i + 1) % MAX_OPERATIONS)],
            )
        })
        .collect();
    let steps = plan(&parse(Value::Array(ops)).operations);
    assert_eq!(steps.len(), MAX_OPERATIONS);
    let Step::Refuse(0, e) = &steps[0] else {
        panic!("{:?}", steps[0])
    };
    assert_eq!(e.status, 409);
    assert!(e.detail.contains("\"g0\" references \"g1\""), "{e}");
    assert!(
        e.detail
            .contains("(1000 operations in all) references \"g0\""),
        "{e}"
    );
    assert!(e.detail.len() < 400, "{e}");
}
