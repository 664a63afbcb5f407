//! One table per RFC 7644 §3.5.2 rule group. Every row names the rule it checks; every refusal
//! is also checked to leave the resource exactly as it was, alone and after a valid operation.

use super::*;
use crate::scim::schema::{Returned, Schema, URN_ENTERPRISE_USER as ENT};
use serde_json::json;

const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
/// JSON pointer to the test extension's simple multi-valued attribute.
const TAGS: &str = "/urn:example:params:scim:schemas:extension:acme:2.0:User/tags";

fn registry() -> Registry {
    let a = |name: &str, ty, multi, required, m| {
        Attribute::custom(name, ty, multi, false, required, m, Returned::Default, name)
    };
    Registry::with_extensions(vec![(
        ResourceKind::User,
        Schema {
            id: ACME.into(),
            name: "Acme".into(),
            description: "test extension".into(),
            attributes: vec![
                a(
                    "badge",
                    AttrType::String,
                    false,
                    false,
                    Mutability::Immutable,
                ),
                a(
                    "level",
                    AttrType::Integer,
                    false,
                    true,
                    Mutability::ReadWrite,
                ),
                a("tags", AttrType::String, true, false, Mutability::ReadWrite),
                a(
                    "codes",
                    AttrType::String,
                    true,
                    false,
                    Mutability::Immutable,
                ),
            ],
        },
    )])
}

fn base() -> Value {
    json!({
        "userName": "bjensen", "displayName": "Babs", "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "b@work", "type": "work", "primary": true},
                   {"value": "b@home", "type": "home"}],
        "phoneNumbers": [{"value": "+1", "type": "mobile"}],
        ENT: {"department": "R&D", "manager": {"value": "m1", "$ref": "../Users/m1"}},
        ACME: {"badge": "B1", "level": 3, "tags": ["a", "b"], "codes": ["c"]}
    })
}

enum Want {
    /// Succeeds; the result is the start document with these JSON-pointer keys set
    /// (`null` = removed), and nothing else changed.
    Ok(Vec<(&'static str, Value)>),
    /// Refused with this scimType, the resource unchanged.
    Err(&'static str),
}

struct Case {
    rule: &'static str,
    start: Option<Value>,
    ops: Value,
    want: Want,
}

fn ok(rule: &'static str, ops: Value, sets: Vec<(&'static str, Value)>) -> Case {
    Case {
        rule,
        start: None,
        ops,
        want: Want::Ok(sets),
    }
}

fn err(rule: &'static str, ops: Value, scim_type: &'static str) -> Case {
    Case {
        rule,
        start: None,
        ops,
        want: Want::Err(scim_type),
    }
}

fn on(start: Value, mut c: Case) -> Case {
    c.start = Some(start);
    c
}

fn set_ptr(doc: &mut Value, ptr: &str, v: Value) {
    let (parent, key) = ptr.rsplit_once('/').unwrap();
    let slot = if parent.is_empty() {
        Some(&mut *doc)
    } else {
        doc.pointer_mut(parent)
    };
    let obj = slot
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{ptr}: no parent object"));
    if v.is_null() {
        obj.remove(key);
    } else {
        obj.insert(key.to_string(), v);
    }
}

fn run(reg: &Registry, start: &Value, list: &Value) -> (Value, Result<(), ScimError>) {
    let Value::Object(mut attrs) = start.clone() else {
        panic!("start must be an object")
    };
    let body = json!({"schemas": [crate::scim::schema::URN_PATCH_OP], "Operations": list});
    let r = parse_request(reg, ResourceKind::User, &body)
        .and_then(|ops| apply(reg, ResourceKind::User, &mut attrs, &ops));
    (Value::Object(attrs), r)
}

/// Runs every row and reports every row that fails, each under its rule.
fn check(cases: Vec<Case>) {
    let reg = registry();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_one(&reg, c).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} rule(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_one(reg: &Registry, c: &Case) -> Result<(), String> {
    let start = c.start.clone().unwrap_or_else(base);
    let (out, result) = run(reg, &start, &c.ops);
    let rule = c.rule;
    match (&c.want, result) {
        (Want::Ok(sets), Ok(())) => {
            let mut want = start.clone();
            for (ptr, v) in sets {
                set_ptr(&mut want, ptr, v.clone());
            }
            if out != want {
                return Err(format!("{rule}:\n  got  {out}\n  want {want}"));
            }
        }
        (Want::Err(t), Err(e)) => {
            if e.scim_type.map(|s| s.as_str()) != Some(*t) {
                return Err(format!("{rule}: want {t}, got {e}"));
            }
            if out != start {
                return Err(format!("{rule}: refused, yet the resource changed"));
            }
            // The same refusal after a valid operation: still all or nothing.
            let mut list = vec![json!({"op": "replace", "path": "nickName", "value": "N"})];
            list.extend(c.ops.as_array().cloned().unwrap_or_default());
            let (out2, r2) = run(reg, &start, &Value::Array(list));
            if r2.is_ok() || out2 != start {
                return Err(format!("{rule}: partly applied after a valid operation"));
            }
        }
        (Want::Ok(_), Err(e)) => return Err(format!("{rule}: refused: {e}")),
        (Want::Err(t), Ok(())) => {
            return Err(format!("{rule}: want {t}, but it passed giving {out}"))
        }
    }
    Ok(())
}

#[test]
fn general_rules_3_5_2() {
    check(vec![
        ok(
            "§3.5.2 operations apply in order, each to the previous result",
            json!([{"op": "replace", "path": "title", "value": "A"},
                   {"op": "replace", "path": "title", "value": "B"}]),
            vec![("/title", json!("B"))],
        ),
        err(
            "§3.5.2 atomic: a failing last operation undoes the earlier ones",
            json!([{"op": "replace", "path": "title", "value": "T"},
                   {"op": "add", "path": "emails", "value": [{"value": "n@x"}]},
                   {"op": "replace", "path": "nosuch", "value": 1}]),
            "invalidPath",
        ),
        ok(
            "§3.5.2.1 no path: the value is a set of attributes to add",
            json!([{"op": "add", "value": {"title": "T",
                    "emails": [{"value": "o@x", "type": "other"}]}}]),
            vec![
                ("/title", json!("T")),
                (
                    "/emails",
                    json!([{"value": "b@work", "type": "work", "primary": true},
                           {"value": "b@home", "type": "home"},
                           {"value": "o@x", "type": "other"}]),
                ),
            ],
        ),
        ok(
            "§3.5.2.3 no path: the value lists attributes to replace; complex ones merge",
            json!([{"op": "replace", "value": {"name": {"givenName": "B"}}}]),
            vec![("/name", json!({"givenName": "B", "familyName": "Jensen"}))],
        ),
        ok(
            "§3.3/§3.5.1 read-only attributes in a path-less value are ignored",
            json!([{"op": "replace", "value": {"id": "x", "meta": {"created": "2020-01-01T00:00:00Z"},
                    "groups": [{"value": "g"}], "displayName": "D"}}]),
            vec![("/displayName", json!("D"))],
        ),
        err(
            "§3.5.2.1 add MUST contain a value",
            json!([{"op": "add", "path": "title"}]),
            "invalidValue",
        ),
        err(
            "§3.5.2.3 replace without a value",
            json!([{"op": "replace", "path": "title"}]),
            "invalidValue",
        ),
    ]);
}

#[test]
fn add_3_5_2_1() {
    check(vec![
        ok(
            "add: a target that does not exist is added",
            json!([{"op": "add", "path": "title", "value": "T"}]),
            vec![("/title", json!("T"))],
        ),
        ok(
            "add: a complex value's sub-attributes merge into the existing value",
            json!([{"op": "add", "path": "name", "value": {"middleName": "J"}}]),
            vec![(
                "/name",
                json!({"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"}),
            )],
        ),
        ok(
            "add: a multi-valued attribute gets a new value",
            json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": "+2", "type": "work"}]}]),
            vec![(
                "/phoneNumbers",
                json!([{"value": "+1", "type": "mobile"}, {"value": "+2", "type": "work"}]),
            )],
        ),
        ok(
            "add: a single-valued attribute's value is replaced",
            json!([{"op": "add", "path": "displayName", "value": "X"}]),
            vec![("/displayName", json!("X"))],
        ),
        ok(
            "add: a value already there changes nothing",
            json!([{"op": "add", "path": "emails",
                    "value": [{"value": "b@work", "type": "work", "primary": true}]},
                   {"op": "add", "path": format!("{ACME}:tags"), "value": ["a"]}]),
            vec![],
        ),
        ok(
            "add: no values ([] or null) adds nothing and removes nothing",
            json!([{"op": "add", "path": "emails", "value": []},
                   {"op": "add", "path": "phoneNumbers", "value": null}]),
            vec![],
        ),
        ok(
            "add: a simple multi-valued attribute appends",
            json!([{"op": "add", "path": format!("{ACME}:tags"), "value": ["c", "a"]}]),
            vec![(TAGS, json!(["a", "b", "c"]))],
        ),
        ok(
            "add: filter + sub-attribute, no match, plain equality: created (Entra)",
            json!([{"op": "add", "path": "emails[type eq \"other\"].value", "value": "o@x"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "b@home", "type": "home"},
                       {"type": "other", "value": "o@x"}]),
            )],
        ),
        err(
            "add: a filter that matches nothing and cannot create is noTarget",
            json!([{"op": "add", "path": "emails[value co \"zzz\"].display", "value": "d"}]),
            "noTarget",
        ),
    ]);
}

#[test]
fn replace_3_5_2_3() {
    let with_title = {
        let mut d = base();
        d["title"] = json!("Dr");
        d
    };
    check(vec![
        ok(
            "replace: a single-valued attribute's value is replaced",
            json!([{"op": "replace", "path": "displayName", "value": "N"}]),
            vec![("/displayName", json!("N"))],
        ),
        ok(
            "replace: an attribute that does not exist is treated as add",
            json!([{"op": "replace", "path": "title", "value": "T"}]),
            vec![("/title", json!("T"))],
        ),
        ok(
            "replace: multi-valued without a filter replaces all values",
            json!([{"op": "replace", "path": "emails", "value": [{"value": "n@x", "type": "work"}]},
                   {"op": "replace", "path": format!("{ACME}:tags"), "value": ["z"]}]),
            vec![
                ("/emails", json!([{"value": "n@x", "type": "work"}])),
                (TAGS, json!(["z"])),
            ],
        ),
        ok(
            "replace: a complex value's named sub-attributes change, the others stay",
            json!([{"op": "replace", "path": "name", "value": {"familyName": "J2"}}]),
            vec![("/name", json!({"givenName": "Barbara", "familyName": "J2"}))],
        ),
        ok(
            "replace: a sub-attribute sent as \"\" is unassigned, the others stay",
            json!([{"op": "replace", "path": "name", "value": {"givenName": ""}}]),
            vec![("/name", json!({"familyName": "Jensen"}))],
        ),
        ok(
            "replace: a sub-attribute sent as null is unassigned, the others stay",
            json!([{"op": "replace", "path": "name", "value": {"givenName": null, "middleName": "J"}}]),
            vec![("/name", json!({"familyName": "Jensen", "middleName": "J"}))],
        ),
        ok(
            "replace: an empty object changes nothing",
            json!([{"op": "replace", "path": "name", "value": {}}]),
            vec![],
        ),
        ok(
            "replace: filter matching values: all matching records are replaced",
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h2@x"}}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "h2@x", "type": "home"}]),
            )],
        ),
        ok(
            "replace: filter + sub-attribute: that sub-attribute of every match",
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w2"}]),
            vec![(
                "/emails",
                json!([{"value": "w2", "type": "work", "primary": true},
                       {"value": "b@home", "type": "home"}]),
            )],
        ),
        err(
            "replace: a value filter with no match is noTarget",
            json!([{"op": "replace", "path": "emails[value sw \"zzz\"].type", "value": "home"}]),
            "noTarget",
        ),
        err(
            "replace: no match with `or`/`not` filters cannot create: noTarget",
            json!([{"op": "replace", "path": "emails[not (type eq \"work\") and not (type eq \"home\")].display", "value": "x"}]),
            "noTarget",
        ),
        err(
            "replace: a whole-value filter with no match is noTarget",
            json!([{"op": "replace", "path": "emails[value eq \"nope\" or type eq \"nope\"]", "value": {"display": "x"}}]),
            "noTarget",
        ),
        ok(
            "replace: no match, plain equality filter: created (Entra create-on-absent)",
            json!([{"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"},
                   {"op": "replace", "path": "phoneNumbers[type eq \"work\"]", "value": {"value": "+3"}}]),
            vec![
                (
                    "/addresses",
                    json!([{"type": "work", "postalCode": "12345"}]),
                ),
                (
                    "/phoneNumbers",
                    json!([{"value": "+1", "type": "mobile"}, {"type": "work", "value": "+3"}]),
                ),
            ],
        ),
        on(
            with_title.clone(),
            ok(
                "replace with \"\" or null unassigns the attribute (Entra's null test)",
                json!([{"op": "replace", "path": "title", "value": ""},
                       {"op": "replace", "path": "nickName", "value": null}]),
                vec![("/title", Value::Null)],
            ),
        ),
        ok(
            "replace: Entra's bare-string manager is the whole new reference",
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": "m2"}]),
            vec![(
                "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager",
                json!({"value": "m2"}),
            )],
        ),
        ok(
            "replace: an object manager merges like any complex value",
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "m2"}}]),
            vec![(
                "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager",
                json!({"value": "m2", "$ref": "../Users/m1"}),
            )],
        ),
        ok(
            "replace: a simple multi-valued value by filter",
            json!([{"op": "replace", "path": format!("{ACME}:tags[value eq \"a\"]"), "value": "c"},
                   {"op": "replace", "path": format!("{ACME}:tags[value eq \"b\"]"), "value": "c"}]),
            vec![(TAGS, json!(["c"]))],
        ),
    ]);
}

#[test]
fn remove_3_5_2_2() {
    let two_homes = json!({"userName": "u", "emails": [
        {"value": "1", "type": "home"}, {"value": "2", "type": "home"}, {"value": "3", "type": "work", "primary": true}]});
    check(vec![
        err(
            "remove: no path is noTarget",
            json!([{"op": "remove"}]),
            "noTarget",
        ),
        err(
            "remove: no path, even with a value, is noTarget",
            json!([{"op": "remove", "value": {"title": "T"}}]),
            "noTarget",
        ),
        ok(
            "remove: a single-valued attribute is removed",
            json!([{"op": "remove", "path": "displayName"}]),
            vec![("/displayName", Value::Null)],
        ),
        ok(
            "remove: multi-valued without a filter: all values removed, unassigned",
            json!([{"op": "remove", "path": "emails"}]),
            vec![("/emails", Value::Null)],
        ),
        ok(
            "remove: filter: the matching values are removed",
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true}]),
            )],
        ),
        ok(
            "remove: filter removing the last value leaves the attribute unassigned",
            json!([{"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"}]),
            vec![("/phoneNumbers", Value::Null)],
        ),
        ok(
            "remove: filter + sub-attribute: that sub-attribute is unassigned",
            json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work"}, {"value": "b@home", "type": "home"}]),
            )],
        ),
        ok(
            "remove: a filter that matches nothing removes nothing",
            json!([{"op": "remove", "path": "emails[type eq \"other\"]"},
                   {"op": "remove", "path": "addresses[type eq \"work\"].locality"}]),
            vec![],
        ),
        ok(
            "remove: a complex attribute's sub-attribute",
            json!([{"op": "remove", "path": "name.givenName"}]),
            vec![("/name", json!({"familyName": "Jensen"}))],
        ),
        ok(
            "remove: a simple multi-valued value by filter",
            json!([{"op": "remove", "path": format!("{ACME}:tags[value eq \"a\"]")}]),
            vec![(TAGS, json!(["b"]))],
        ),
        ok(
            "remove with a value on a multi-valued attribute removes only those (Entra, authentik)",
            json!([{"op": "remove", "path": format!("{ACME}:tags"), "value": ["a"]},
                   {"op": "Remove", "path": "emails", "value": [{"value": "b@home"}]}]),
            vec![
                (TAGS, json!(["b"])),
                (
                    "/emails",
                    json!([{"value": "b@work", "type": "work", "primary": true}]),
                ),
            ],
        ),
        on(
            two_homes,
            ok(
                "remove: an `or` filter removes every match",
                json!([{"op": "remove", "path": "emails[value eq \"1\" or value eq \"3\"]"}]),
                vec![("/emails", json!([{"value": "2", "type": "home"}]))],
            ),
        ),
        err(
            "remove: a required attribute is mutability",
            json!([{"op": "remove", "path": "userName"}]),
            "mutability",
        ),
        err(
            "replace with null: a required attribute that becomes unassigned is mutability",
            json!([{"op": "replace", "path": "userName", "value": null}]),
            "mutability",
        ),
        err(
            "path-less null: a required attribute that becomes unassigned is mutability",
            json!([{"op": "replace", "value": {"userName": ""}}]),
            "mutability",
        ),
        err(
            "remove: a required extension attribute is mutability",
            json!([{"op": "remove", "path": format!("{ACME}:level")}]),
            "mutability",
        ),
        err(
            "remove: a whole extension holding a required attribute is mutability",
            json!([{"op": "remove", "path": ACME}]),
            "mutability",
        ),
        err(
            "remove: a read-only attribute is mutability",
            json!([{"op": "remove", "path": "id"}]),
            "mutability",
        ),
        err(
            "remove: a read-only attribute (groups) is mutability",
            json!([{"op": "remove", "path": "groups"}]),
            "mutability",
        ),
        ok(
            "remove: a whole extension",
            json!([{"op": "remove", "path": ENT}]),
            vec![(
                "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                Value::Null,
            )],
        ),
    ]);
}

#[test]
fn mutability_3_5_2() {
    let no_badge = json!({"userName": "u", ACME: {"level": 1}});
    check(vec![
        err(
            "readOnly: replace id",
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        err(
            "readOnly: meta sub-attribute",
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            "mutability",
        ),
        err(
            "readOnly: add groups",
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            "mutability",
        ),
        err(
            "readOnly sub-attribute: manager.displayName",
            json!([{"op": "add", "path": format!("{ENT}:manager.displayName"), "value": "Boss"}]),
            "mutability",
        ),
        err(
            "immutable: replacing a value with another",
            json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": "B2"}]),
            "mutability",
        ),
        ok(
            "immutable: re-sending the same value changes nothing",
            json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": "B1"},
                   {"op": "add", "path": format!("{ACME}:codes"), "value": ["c"]}]),
            vec![],
        ),
        on(
            no_badge,
            ok(
                "immutable: a value may be added when there was none",
                json!([{"op": "add", "path": format!("{ACME}:badge"), "value": "B9"},
                       {"op": "add", "path": format!("{ACME}:codes"), "value": ["x", "y"]}]),
                vec![(
                    "/urn:example:params:scim:schemas:extension:acme:2.0:User",
                    json!({"level": 1, "badge": "B9", "codes": ["x", "y"]}),
                )],
            ),
        ),
        err(
            "immutable: removing a value",
            json!([{"op": "remove", "path": format!("{ACME}:badge")}]),
            "mutability",
        ),
        err(
            "immutable: unassigning with \"\"",
            json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": ""}]),
            "mutability",
        ),
        err(
            "immutable: adding to a multi-valued attribute that has values",
            json!([{"op": "add", "path": format!("{ACME}:codes"), "value": ["x"]}]),
            "mutability",
        ),
        err(
            "immutable: through a whole-extension value",
            json!([{"op": "replace", "path": ACME, "value": {"badge": "B3"}}]),
            "mutability",
        ),
        err(
            "immutable: removing the whole extension that holds it",
            json!([{"op": "remove", "path": ACME}]),
            "mutability",
        ),
    ]);
}

#[test]
fn invalid_path_filter_and_value() {
    check(vec![
        err(
            "invalidPath: unknown attribute",
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidPath: unknown sub-attribute",
            json!([{"op": "replace", "path": "name.nosuch", "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidPath: unclosed filter",
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidPath: deeper than attr.sub",
            json!([{"op": "replace", "path": "name.a.b", "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidPath: sub-attribute of a simple attribute",
            json!([{"op": "replace", "path": "title.x", "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidPath: filter on a single-valued attribute",
            json!([{"op": "replace", "path": "name[givenName eq \"B\"].familyName", "value": "x"}]),
            "invalidPath",
        ),
        err(
            "invalidPath: filter names an unknown sub-attribute",
            json!([{"op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": "v"}]),
            "invalidPath",
        ),
        err(
            "invalidPath: unknown extension attribute",
            json!([{"op": "replace", "path": format!("{ENT}:nosuch"), "value": "v"}]),
            "invalidPath",
        ),
        err(
            "invalidPath: sub-attribute of a simple multi-valued attribute",
            json!([{"op": "replace", "path": format!("{ACME}:tags[value eq \"a\"].x"), "value": "v"}]),
            "invalidPath",
        ),
        err(
            "invalidPath: path is not a string",
            json!([{"op": "replace", "path": 5, "value": 1}]),
            "invalidPath",
        ),
        err(
            "invalidFilter: a comparison the sub-attribute's type does not allow",
            json!([{"op": "replace", "path": "emails[primary gt 1].value", "value": "v"}]),
            "invalidFilter",
        ),
        err(
            "invalidValue: boolean",
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
        err(
            "invalidValue: complex given a number",
            json!([{"op": "replace", "path": "name", "value": 5}]),
            "invalidValue",
        ),
        err(
            "invalidValue: integer",
            json!([{"op": "replace", "path": format!("{ACME}:level"), "value": "high"}]),
            "invalidValue",
        ),
        err(
            "invalidValue: two values for a single-valued attribute",
            json!([{"op": "replace", "path": "title", "value": ["a", "b"]}]),
            "invalidValue",
        ),
        err(
            "invalidValue: a sub-attribute of the wrong type",
            json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "yes"}]),
            "invalidValue",
        ),
        err(
            "invalidValue: whole extension given a string",
            json!([{"op": "replace", "path": ENT, "value": "x"}]),
            "invalidValue",
        ),
        err(
            "invalidValue: path-less value not an object",
            json!([{"op": "replace", "value": "x"}]),
            "invalidValue",
        ),
    ]);
}

#[test]
fn value_filters_with_logic_and_sub_attributes() {
    check(vec![
        ok(
            "and",
            json!([{"op": "replace", "path": "emails[type eq \"work\" and value eq \"b@work\"].display", "value": "W"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true, "display": "W"},
                       {"value": "b@home", "type": "home"}]),
            )],
        ),
        ok(
            "or",
            json!([{"op": "remove", "path": "emails[type eq \"work\" or type eq \"home\"]"}]),
            vec![("/emails", Value::Null)],
        ),
        ok(
            "not",
            json!([{"op": "replace", "path": "emails[not (type eq \"work\")].display", "value": "H"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "b@home", "type": "home", "display": "H"}]),
            )],
        ),
        ok(
            "names and values compare case-insensitively (caseExact false)",
            json!([{"op": "replace", "path": "emails[TYPE eq \"HOME\"].Display", "value": "H"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "b@home", "type": "home", "display": "H"}]),
            )],
        ),
        ok(
            "pr, and a boolean comparison",
            json!([{"op": "remove", "path": "emails[primary pr]"},
                   {"op": "replace", "path": "emails[primary ne true].display", "value": "x"}]),
            vec![(
                "/emails",
                json!([{"value": "b@home", "type": "home", "display": "x"}]),
            )],
        ),
        ok(
            "sw / ew / co on sub-attributes",
            json!([{"op": "replace", "path": "emails[value sw \"b@\" and value ew \"home\" and value co \"@h\"].type", "value": "other"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "b@home", "type": "other"}]),
            )],
        ),
    ]);
}

#[test]
fn primary_stays_unique_3_5_2() {
    let two_homes = json!({"userName": "u", "emails": [
        {"value": "1", "type": "home"}, {"value": "2", "type": "home"}, {"value": "3", "type": "work", "primary": true}]});
    check(vec![
        ok(
            "add: a new primary value takes primary from the others",
            json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "type": "other", "primary": true}]}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work"}, {"value": "b@home", "type": "home"},
                       {"value": "n@x", "type": "other", "primary": true}]),
            )],
        ),
        ok(
            "replace: filter + .primary true (as Entra sends it, a string)",
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work"},
                       {"value": "b@home", "type": "home", "primary": true}]),
            )],
        ),
        ok(
            "replace: filter + an object value with primary",
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"primary": true}}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work"},
                       {"value": "b@home", "type": "home", "primary": true}]),
            )],
        ),
        ok(
            "create-on-absent with primary in the filter",
            json!([{"op": "add", "path": "emails[type eq \"other\" and primary eq true].value", "value": "o"}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work"}, {"value": "b@home", "type": "home"},
                       {"type": "other", "primary": true, "value": "o"}]),
            )],
        ),
        ok(
            "setting primary false leaves the others alone",
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": false}]),
            vec![(
                "/emails",
                json!([{"value": "b@work", "type": "work", "primary": true},
                       {"value": "b@home", "type": "home", "primary": false}]),
            )],
        ),
        err(
            "replace: two primary values in one operation",
            json!([{"op": "replace", "path": "emails", "value": [
                {"value": "1", "primary": true}, {"value": "2", "primary": true}]}]),
            "invalidValue",
        ),
        err(
            "emails.primary = true on every value",
            json!([{"op": "replace", "path": "emails.primary", "value": true}]),
            "invalidValue",
        ),
        on(
            two_homes,
            err(
                "filter matching two values, .primary = true",
                json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
                "invalidValue",
            ),
        ),
    ]);
}

#[test]
fn extension_paths() {
    const ENT_PTR: &str = "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    check(vec![
        ok(
            "URN:attr",
            json!([{"op": "add", "path": format!("{ENT}:employeeNumber"), "value": "42"}]),
            vec![(
                ENT_PTR,
                json!({"department": "R&D", "manager": {"value": "m1", "$ref": "../Users/m1"}, "employeeNumber": "42"}),
            )],
        ),
        ok(
            "URN:attr.sub",
            json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": "m2"}]),
            vec![(
                ENT_PTR,
                json!({"department": "R&D", "manager": {"value": "m2", "$ref": "../Users/m1"}}),
            )],
        ),
        ok(
            "URN alone: the value's attributes merge into the extension",
            json!([{"op": "add", "path": ENT, "value": {"costCenter": "C", "department": "Ops"}}]),
            vec![(
                ENT_PTR,
                json!({"department": "Ops", "manager": {"value": "m1", "$ref": "../Users/m1"}, "costCenter": "C"}),
            )],
        ),
        ok(
            "URN alone, path-less key, and any case",
            json!([{"op": "replace", "value": {ENT.to_uppercase(): {"DEPARTMENT": "Ops"}}}]),
            vec![(
                ENT_PTR,
                json!({"department": "Ops", "manager": {"value": "m1", "$ref": "../Users/m1"}}),
            )],
        ),
        ok(
            "removing the last attribute of an extension removes the extension",
            json!([{"op": "remove", "path": format!("{ENT}:department")},
                   {"op": "remove", "path": format!("{ENT}:manager")}]),
            vec![(ENT_PTR, Value::Null)],
        ),
        ok(
            "core URN prefix",
            json!([{"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", "value": "B"}]),
            vec![("/name", json!({"givenName": "B", "familyName": "Jensen"}))],
        ),
        err(
            "filter on an extension's single-valued attribute",
            json!([{"op": "replace", "path": format!("{ENT}:manager[value eq \"m1\"]"), "value": "m2"}]),
            "invalidPath",
        ),
    ]);
}
