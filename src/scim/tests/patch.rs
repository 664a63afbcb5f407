use super::*;
use crate::scim::schema::URN_ENTERPRISE_USER;
use serde_json::json;

fn run(doc: Value, body: Value) -> Result<Value, ScimError> {
    let reg = Registry::new();
    let ops = parse_request(&reg, ResourceKind::User, &body)?;
    let Value::Object(mut attrs) = doc else {
        panic!()
    };
    apply(&reg, ResourceKind::User, &mut attrs, &ops)?;
    Ok(Value::Object(attrs))
}

fn ops(list: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
}

fn base() -> Value {
    json!({"userName": "a", "active": true,
           "emails": [{"value": "a@work", "type": "work", "primary": true}],
           "name": {"givenName": "A", "familyName": "F"}})
}

#[test]
fn entra_u5_replaces_work_email_value_and_family_name() {
    let out = run(
        base(),
        ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}])),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "new@work", "type": "work", "primary": true}])
    );
    assert_eq!(
        out["name"],
        json!({"givenName": "A", "familyName": "updatedFamilyName"})
    );
}

#[test]
fn create_on_absent_for_typed_paths() {
    let out = run(
        json!({"userName": "a"}),
        ops(json!([
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x"},
        {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1"},
        {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"}])),
    )
    .unwrap();
    assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x"}]));
    assert_eq!(
        out["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1"}])
    );
    assert_eq!(
        out["addresses"],
        json!([{"type": "work", "postalCode": "12345"}])
    );
}

#[test]
fn disable_with_every_entra_variant() {
    for v in [json!(false), json!("False"), json!("false")] {
        let out = run(
            base(),
            ops(json!([{"op": "Replace", "path": "active", "value": v}])),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
    }
    let out = run(
        base(),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .unwrap();
    assert_eq!(out["active"], json!(false));
}

#[test]
fn pathless_dotted_and_urn_keys_become_nested_attributes() {
    let out = run(
        base(),
        ops(json!([{"op": "replace", "value": {
        "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}])),
    )
    .unwrap();
    assert_eq!(out["displayName"], "Bjfe");
    assert_eq!(
        out["name"],
        json!({"givenName": "Kkom", "familyName": "Unua"})
    );
    assert_eq!(out[URN_ENTERPRISE_USER]["employeeNumber"], "Aklq");
    assert!(out.get("name.givenName").is_none());
}

#[test]
fn manager_set_change_clear_as_bare_string() {
    let p = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let out = run(
        base(),
        ops(json!([{"op": "Add", "path": p, "value": "m1"}])),
    )
    .unwrap();
    assert_eq!(out[URN_ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
    let out = run(
        out,
        ops(json!([{"op": "replace", "path": p, "value": "m2"}])),
    )
    .unwrap();
    assert_eq!(out[URN_ENTERPRISE_USER]["manager"], json!({"value": "m2"}));
    let out = run(out, ops(json!([{"op": "replace", "path": p, "value": ""}]))).unwrap();
    assert!(out.get(URN_ENTERPRISE_USER).is_none(), "{out}");
    // Entra's legacy form: the short path and an array of one reference.
    let out = run(base(), ops(json!([{"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m3", "value": "m3"}]}]))).unwrap();
    assert_eq!(
        out[URN_ENTERPRISE_USER]["manager"],
        json!({"value": "m3", "$ref": "http://x/Users/m3"})
    );
}

#[test]
fn remove_with_value_on_filtered_sub_path_clears_it() {
    let out = run(
        base(),
        ops(json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "a@work"}])),
    )
    .unwrap();
    assert!(out.get("emails").is_none(), "{out}");
}

#[test]
fn errors_leave_the_resource_unchanged_and_name_the_problem() {
    let cases = [
        (
            json!([{"op": "replace", "path": "title", "value": "T"}, {"op": "replace", "path": "nosuch", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
        (json!([{"op": "remove", "path": "userName"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
            "noTarget",
        ),
        (
            json!([{"op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": "v"}]),
            "invalidPath",
        ),
    ];
    for (list, want) in cases {
        let e = run(base(), ops(list.clone())).unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some(want), "{list}: {e}");
    }
}

#[test]
fn primary_stays_unique() {
    let doc = json!({"userName": "a", "emails": [
        {"value": "1", "type": "work", "primary": true}, {"value": "2", "type": "home"}]});
    let out = run(
        doc,
        ops(
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "true"}]),
        ),
    )
    .unwrap();
    assert_eq!(
        out["emails"],
        json!([{"value": "1", "type": "work"}, {"value": "2", "type": "home", "primary": true}])
    );
}

#[test]
fn password_is_accepted_and_never_stored() {
    for op in ["add", "replace"] {
        let out = run(
            base(),
            ops(json!([{"op": op, "path": "password", "value": "s3cret"}])),
        )
        .unwrap();
        assert!(out.get("password").is_none(), "{out}");
    }
    let out = run(
        base(),
        ops(json!([{"op": "replace", "value": {"password": "s3cret", "title": "T"}}])),
    )
    .unwrap();
    assert!(out.get("password").is_none(), "{out}");
    assert_eq!(out["title"], "T");
}

#[test]
fn add_is_idempotent_for_multi_valued() {
    let once = run(base(), ops(json!([{"op": "add", "path": "emails", "value": [{"value": "a@work", "type": "work", "primary": true}]}]))).unwrap();
    assert_eq!(once["emails"].as_array().unwrap().len(), 1);
}

#[test]
fn entra_custom_extension_attributes_are_patched_as_sent() {
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let out = run(
        base(),
        ops(json!([
        {"op": "Add", "path": format!("{custom}:costCode"), "value": "C1"},
        {"op": "replace", "value": {format!("{custom}:badge"): "B7"}},
        {"op": "add", "path": format!("{custom}:site.city"), "value": "Oslo"}])),
    )
    .unwrap();
    assert_eq!(
        out[custom],
        json!({"costCode": "C1", "badge": "B7", "site": {"city": "Oslo"}})
    );
    let out = run(
        out,
        ops(json!([
        {"op": "Remove", "path": format!("{custom}:costCode")},
        {"op": "replace", "path": format!("{custom}:badge"), "value": ""}])),
    )
    .unwrap();
    assert_eq!(out[custom], json!({"site": {"city": "Oslo"}}));
    let out = run(
        out,
        ops(json!([{"op": "replace", "path": custom, "value": {"tier": 2}}])),
    )
    .unwrap();
    assert_eq!(out[custom], json!({"site": {"city": "Oslo"}, "tier": 2}));
    let out = run(out, ops(json!([{"op": "remove", "path": custom}]))).unwrap();
    assert!(out.get(custom).is_none(), "{out}");
    let e = run(
        base(),
        ops(json!([{"op": "add", "path": format!("{custom}:list[type eq \"x\"].v"), "value": 1}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(crate::scim::error::ScimType::InvalidPath));
}

#[test]
fn value_eq_ids_extracts_member_ids() {
    let f = crate::scim::filter::parse(r#"value eq "a" or value eq "b""#).unwrap();
    assert_eq!(value_eq_ids(&f), Some(vec!["a".into(), "b".into()]));
    let g = crate::scim::filter::parse(r#"type eq "User""#).unwrap();
    assert_eq!(value_eq_ids(&g), None);
}
