use super::*;
use crate::scim::error::ScimType;
use crate::scim::schema::{Mutability, Schema, URN_ENTERPRISE_USER as ENT};
use serde_json::json;

const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

fn registry() -> Registry {
    let a = |name: &str, ty, multi, case_exact, returned| {
        Attribute::custom(
            name,
            ty,
            multi,
            case_exact,
            false,
            Mutability::ReadWrite,
            returned,
            name,
        )
    };
    Registry::with_extensions(vec![(
        ResourceKind::User,
        Schema {
            id: ACME.into(),
            name: "Acme".into(),
            description: "test extension".into(),
            attributes: vec![
                a("level", AttrType::Integer, false, false, Returned::Default),
                a("score", AttrType::Decimal, false, false, Returned::Default),
                a("vip", AttrType::Boolean, false, false, Returned::Default),
                a("hired", AttrType::DateTime, false, false, Returned::Default),
                a("code", AttrType::String, false, true, Returned::Default),
                a("tags", AttrType::String, true, false, Returned::Default),
                a("pin", AttrType::String, false, false, Returned::Never),
            ],
        },
    )])
}

fn spec(sort_by: &str, order: Option<&str>) -> SortSpec {
    SortSpec::parse(&registry(), ResourceKind::User, Some(sort_by), order)
        .unwrap()
        .unwrap()
}

fn refused(sort_by: Option<&str>, order: Option<&str>) -> ScimError {
    SortSpec::parse(&registry(), ResourceKind::User, sort_by, order).unwrap_err()
}

/// Sorts `(id, resource)` pairs and returns the ids in order.
fn sorted_ids(s: &SortSpec, users: &[(&str, Value)]) -> Vec<String> {
    let reg = registry();
    let mut keyed: Vec<(SortKey, String)> = users
        .iter()
        .map(|(id, u)| (s.key(u, &reg, ResourceKind::User), id.to_string()))
        .collect();
    keyed.sort_by(|a, b| s.compare(a, b));
    keyed.into_iter().map(|(_, id)| id).collect()
}

fn acme(fields: Value) -> Value {
    json!({ ACME: fields })
}

#[test]
fn no_sort_by_means_no_sort_even_with_a_sort_order() {
    let reg = registry();
    assert_eq!(
        SortSpec::parse(&reg, ResourceKind::User, None, Some("descending")).unwrap(),
        None
    );
    assert_eq!(
        SortSpec::parse(&reg, ResourceKind::User, None, Some("sideways")).unwrap(),
        None,
        "sortOrder without sortBy is ignored, whatever it says"
    );
}

#[test]
fn sort_order_is_case_insensitive_and_defaults_to_ascending() {
    assert_eq!(spec("userName", None).order(), SortOrder::Ascending);
    assert_eq!(spec("userName", Some("")).order(), SortOrder::Ascending);
    assert_eq!(
        spec("userName", Some("Ascending")).order(),
        SortOrder::Ascending
    );
    assert_eq!(
        spec("userName", Some("DESCENDING")).order(),
        SortOrder::Descending
    );
    let e = refused(Some("userName"), Some("desc"));
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
    assert!(e.detail.contains("sortOrder"), "{}", e.detail);
}

#[test]
fn sort_by_paths_resolve_through_the_schema() {
    let cases = [
        ("userName", "userName"),
        ("USERNAME", "userName"),
        ("name.familyName", "name.familyName"),
        ("Name.FamilyName", "name.familyName"),
        ("emails.value", "emails.value"),
        ("emails", "emails.value"),
        ("emails.type", "emails.type"),
        ("meta.lastModified", "meta.lastModified"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        ),
        ("employeeNumber", &format!("{ENT}:employeeNumber")),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "name.givenName",
        ),
        ("manager", &format!("{ENT}:manager.value")),
    ];
    for (text, canonical) in cases {
        assert_eq!(spec(text, None).attribute(), canonical, "{text}");
    }
}

#[test]
fn bad_sort_by_is_a_400_invalid_value_saying_why() {
    let cases = [
        ("nickName2", "not an attribute"),
        ("name.nope", "no sub-attribute"),
        ("name", "complex"),
        ("addresses", "complex"),
        ("password", "never returned"),
        (&format!("{ACME}:pin"), "never returned"),
        ("x509Certificates", "binary"),
        ("a.b.c", "nests deeper"),
        ("1abc", "start with a letter"),
        ("", "empty"),
        ("urn:example:unknown:thing", "not an attribute"),
    ];
    for (text, why) in cases {
        let e = refused(Some(text), None);
        assert_eq!(e.status, 400, "{text}");
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{text}");
        assert!(e.detail.contains("sortBy"), "{text}: {}", e.detail);
        assert!(e.detail.contains(why), "{text}: {}", e.detail);
    }
    let groups = SortSpec::parse(&registry(), ResourceKind::Group, Some("userName"), None);
    assert!(groups.is_err(), "Groups have no userName");
}

#[test]
fn strings_sort_case_insensitively_with_missing_last_then_first() {
    let users = [
        ("1", json!({"userName": "bob"})),
        ("2", json!({"userName": "Alice"})),
        ("3", json!({})),
        ("4", json!({"userName": "alice2"})),
        ("5", json!({"userName": "Carol"})),
        ("6", json!({"userName": null})),
    ];
    assert_eq!(
        sorted_ids(&spec("userName", None), &users),
        ["2", "4", "1", "5", "3", "6"]
    );
    assert_eq!(
        sorted_ids(&spec("userName", Some("descending")), &users),
        ["3", "6", "5", "1", "4", "2"],
        "missing first when descending, ties among them still by id ascending"
    );
}

#[test]
fn case_exact_strings_keep_their_case() {
    let s = spec(&format!("{ACME}:code"), None);
    let users = [
        ("1", acme(json!({"code": "b"}))),
        ("2", acme(json!({"code": "B"}))),
        ("3", acme(json!({"code": "a"}))),
    ];
    // Code point order: uppercase before lowercase.
    assert_eq!(sorted_ids(&s, &users), ["2", "3", "1"]);
    let folded = spec("displayName", None);
    let reg = registry();
    assert_eq!(
        folded.key(&json!({"displayName": "ÉCOLE"}), &reg, ResourceKind::User),
        SortKey::Str("école".into()),
        "case folding is Unicode, not ASCII only"
    );
}

#[test]
fn user_name_key_is_exactly_the_index_key() {
    let s = spec("userName", Some("descending"));
    assert!(s.is_user_name());
    let reg = registry();
    for name in ["Alice@Example.COM", "ÅSA", "İstanbul", "ǅemal"] {
        assert_eq!(
            s.key(&json!({"userName": name}), &reg, ResourceKind::User),
            SortKey::Str(name.to_lowercase()),
            "{name}"
        );
    }
    assert!(!spec("name.givenName", None).is_user_name());
    assert!(!spec("displayName", None).is_user_name());
    assert!(spec("urn:ietf:params:scim:schemas:core:2.0:User:USERNAME", None).is_user_name());
}

#[test]
fn ties_break_by_id_ascending_in_both_orders() {
    let users = [
        ("c", json!({"title": "Same"})),
        ("a", json!({"title": "same"})),
        ("b", json!({"title": "SAME"})),
    ];
    assert_eq!(sorted_ids(&spec("title", None), &users), ["a", "b", "c"]);
    assert_eq!(
        sorted_ids(&spec("title", Some("descending")), &users),
        ["a", "b", "c"]
    );
}

#[test]
fn multi_valued_sorts_by_the_primary_value_else_the_first() {
    let users = [
        (
            "1",
            json!({"emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
        ),
        ("2", json!({"emails": [{"value": "m@x"}, {"value": "b@x"}]})),
        (
            "3",
            json!({"emails": [{"value": "c@x", "primary": false}, {"value": "y@x"}]}),
        ),
        ("4", json!({"emails": []})),
    ];
    assert_eq!(
        sorted_ids(&spec("emails", None), &users),
        ["1", "3", "2", "4"]
    );
    assert_eq!(
        sorted_ids(&spec("emails.value", None), &users),
        ["1", "3", "2", "4"]
    );
    let typed = [
        (
            "1",
            json!({"emails": [{"value": "a", "type": "work"}, {"value": "b", "type": "home", "primary": true}]}),
        ),
        ("2", json!({"emails": [{"value": "c", "type": "other"}]})),
        ("3", json!({"emails": [{"value": "d"}]})),
    ];
    assert_eq!(
        sorted_ids(&spec("emails.type", None), &typed),
        ["1", "2", "3"],
        "the sub-attribute of the primary element; none there sorts as missing"
    );
    let tags = [
        ("1", acme(json!({"tags": ["Beta", "alpha"]}))),
        ("2", acme(json!({"tags": ["alpha"]}))),
    ];
    assert_eq!(
        sorted_ids(&spec(&format!("{ACME}:tags"), None), &tags),
        ["2", "1"],
        "a simple multi-valued attribute sorts by its first value"
    );
}

#[test]
fn numbers_sort_numerically() {
    let users = [
        ("1", acme(json!({"level": 10}))),
        ("2", acme(json!({"level": -3}))),
        ("3", acme(json!({"level": 9}))),
        ("4", acme(json!({}))),
        ("5", acme(json!({"level": 9_007_199_254_740_993_i64}))),
    ];
    let s = spec(&format!("{ACME}:level"), None);
    assert_eq!(sorted_ids(&s, &users), ["2", "3", "1", "5", "4"]);
    let scores = [
        ("1", acme(json!({"score": 1.5}))),
        ("2", acme(json!({"score": -0.25}))),
        ("3", acme(json!({"score": 10}))),
        ("4", acme(json!({"score": 2}))),
    ];
    let s = spec(&format!("{ACME}:score"), Some("descending"));
    assert_eq!(sorted_ids(&s, &scores), ["3", "4", "1", "2"]);
}

#[test]
fn booleans_sort_false_before_true() {
    let users = [
        ("1", acme(json!({"vip": true}))),
        ("2", acme(json!({}))),
        ("3", acme(json!({"vip": false}))),
    ];
    let s = spec(&format!("{ACME}:vip"), None);
    assert_eq!(sorted_ids(&s, &users), ["3", "1", "2"]);
    let s = spec("active", Some("descending"));
    let users = [
        ("1", json!({"active": false})),
        ("2", json!({"active": true})),
        ("3", json!({})),
    ];
    assert_eq!(sorted_ids(&s, &users), ["3", "2", "1"]);
}

#[test]
fn date_times_sort_chronologically_across_offsets() {
    let users = [
        (
            "1",
            json!({"meta": {"lastModified": "2026-03-01T12:00:00+02:00"}}),
        ),
        (
            "2",
            json!({"meta": {"lastModified": "2026-03-01T10:30:00Z"}}),
        ),
        (
            "3",
            json!({"meta": {"lastModified": "2026-03-01T09:00:00-03:00"}}),
        ),
        (
            "4",
            json!({"meta": {"lastModified": "2026-03-01T10:00:00.5Z"}}),
        ),
        ("5", json!({"meta": {}})),
    ];
    let s = spec("meta.lastModified", None);
    // 1 = 10:00Z, 4 = 10:00:00.5Z, 2 = 10:30Z, 3 = 12:00Z.
    assert_eq!(sorted_ids(&s, &users), ["1", "4", "2", "3", "5"]);
    let reg = registry();
    assert_eq!(
        s.key(&users[0].1, &reg, ResourceKind::User),
        s.key(
            &json!({"meta": {"lastModified": "2026-03-01T10:00:00Z"}}),
            &reg,
            ResourceKind::User
        ),
        "the same instant is the same key"
    );
}

#[test]
fn values_of_the_wrong_type_sort_as_missing() {
    let reg = registry();
    let s = spec(&format!("{ACME}:level"), None);
    assert_eq!(
        s.key(&acme(json!({"level": "ten"})), &reg, ResourceKind::User),
        SortKey::Missing
    );
    let s = spec("meta.created", None);
    assert_eq!(
        s.key(
            &json!({"meta": {"created": "yesterday"}}),
            &reg,
            ResourceKind::User
        ),
        SortKey::Missing
    );
}

#[test]
fn extension_and_complex_value_attributes_are_read() {
    let reg = registry();
    let s = spec("manager", None);
    assert_eq!(
        s.key(
            &json!({ENT: {"manager": {"value": "Boss-1"}}}),
            &reg,
            ResourceKind::User
        ),
        SortKey::Str("boss-1".into())
    );
    let s = spec(&format!("{ENT}:employeeNumber"), None);
    assert_eq!(
        s.key(
            &json!({ENT: {"employeeNumber": "A7"}}),
            &reg,
            ResourceKind::User
        ),
        SortKey::Str("a7".into())
    );
    let g = SortSpec::parse(&reg, ResourceKind::Group, Some("members"), None)
        .unwrap()
        .unwrap();
    assert_eq!(g.attribute(), "members.value");
}

#[test]
fn sort_keys_serialize_compactly_and_round_trip() {
    let keys = [
        SortKey::Missing,
        SortKey::Bool(true),
        SortKey::Int(-42),
        SortKey::Decimal(1.25),
        SortKey::Time(1_772_359_200, 500_000_000),
        SortKey::Str("ünï \"q\"".into()),
    ];
    for k in keys {
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(serde_json::from_str::<SortKey>(&text).unwrap(), k, "{text}");
    }
    assert_eq!(serde_json::to_string(&SortKey::Missing).unwrap(), "\"n\"");
    assert_eq!(
        serde_json::to_string(&SortKey::Str("a".into())).unwrap(),
        "{\"s\":\"a\"}"
    );
}

#[test]
fn mixed_key_kinds_still_compare_totally() {
    // Only a forged cursor mixes kinds; the order must still be consistent both ways round.
    let s = spec("userName", None);
    let keys = [
        SortKey::Str("a".into()),
        SortKey::Int(3),
        SortKey::Decimal(2.5),
        SortKey::Bool(false),
        SortKey::Time(0, 0),
        SortKey::Missing,
    ];
    for a in &keys {
        for b in &keys {
            assert_eq!(
                s.compare_keys(a, b),
                s.compare_keys(b, a).reverse(),
                "{a:?} vs {b:?}"
            );
        }
    }
    assert_eq!(
        s.compare_keys(&SortKey::Int(3), &SortKey::Decimal(2.5)),
        Ordering::Greater
    );
}
