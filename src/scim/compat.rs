//! Client quirks, normalized in one place before the RFC 7644 PATCH engine sees a request.
//!
//! Every rule names the client that needs it; `INTEROP.md` has the evidence. The engine in
//! `patch.rs` stays strict RFC; this module turns what real clients send into RFC form.
//! (Type-level leniency — `"False"` for a boolean, a bare string for `manager`, one object
//! for a multi-valued attribute — lives with the type coercion in `value.rs`, named the same way.)
//!
//! Two quirks depend on the resource's current state, so they cannot be rewritten away before
//! the engine runs; they are still decided here and the engine only asks:
//! [`create_on_absent_seed`] (Entra: a filter that matches nothing creates the value) and
//! [`replaces_whole_complex`] (Entra: a bare-string `manager` replaces the whole reference).
//!
//! The rules, by client:
//! - Entra: `Operations` before `schemas`, any key case; `"Add"`/`"Replace"`/`"Remove"`;
//!   path-less values with dotted and URN keys; remove-members-with-value; remove with the old
//!   value attached; create-on-absent; bare-string manager.
//! - Okta: path-less `replace` carrying the read-only `id` (group rename).
//! - authentik: path-less values; remove-members-with-value.
//! - Microsoft's Postman suite: bare-string members in remove-with-value.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{CompareOp, Filter, Literal};
use super::path::AttrPath;
use super::schema::{AttrType, Attribute, Registry, ResourceKind};
use super::value::coerce_single;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One PATCH operation after quirk normalization: always with a path.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOp {
    pub op: OpKind,
    pub path: String,
    pub value: Option<Value>,
    /// Came from a path-less operation's value object: unknown and read-only keys are skipped
    /// there, exactly as in a POST body, instead of failing the request.
    pub from_pathless: bool,
}

/// Upper bound on operations in one PATCH request. Above `bulk.maxOperations`, which authentik
/// uses as its PATCH chunk size, so its chunks always fit.
pub const MAX_OPERATIONS: usize = 10_000;

/// Reads a PatchOp body and returns its operations in RFC form.
pub fn normalize_patch(
    reg: &Registry,
    kind: ResourceKind,
    body: &Value,
) -> Result<Vec<RawOp>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object with \"schemas\" and \"Operations\"",
        ));
    };
    // Entra's documented disable example puts "Operations" before "schemas"; key case varies.
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body has no \"Operations\" array"))?;
    let Value::Array(ops) = ops else {
        return Err(ScimError::invalid_syntax("\"Operations\" must be an array"));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_value(
            "\"Operations\" is empty: nothing to change",
        ));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            // tooMany is RFC 7644 §3.12's code for filters; a request over a size limit is 413.
            None,
            format!(
                "{} operations in one PATCH; the limit is {MAX_OPERATIONS}",
                ops.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        normalize_op(reg, kind, i, op, &mut out)?;
    }
    Ok(out)
}

fn field<'a>(o: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn normalize_op(
    reg: &Registry,
    kind: ResourceKind,
    i: usize,
    op: &Value,
    out: &mut Vec<RawOp>,
) -> Result<(), ScimError> {
    let Value::Object(o) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be an object"
        )));
    };
    // Entra sends "Add", "Replace", "Remove" (INTEROP P3); RFC 7644 §3.5.2 says case-insensitive.
    let kind_of = match field(o, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => OpKind::Add,
        Some("replace") => OpKind::Replace,
        Some("remove") => OpKind::Remove,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op is \"{other}\"; it must be \"add\", \"replace\" or \"remove\""
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] has no \"op\" (add, replace or remove)"
            )))
        }
    };
    // `"path": null` is how many JSON serializers write an absent optional member (RFC 7643
    // §2.5: null is unassigned). A blank path gets the same reading; no client is documented to
    // send one (INTEROP has no case), so this is leniency without a named client.
    let path = match field(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}].path must be a string"
            )))
        }
    };
    let value = field(o, "value").cloned();

    let Some(path) = path else {
        if kind_of == OpKind::Remove {
            return Err(ScimError::no_target(format!(
                "Operations[{i}] is a remove without a path; RFC 7644 §3.5.2.2 requires one"
            )));
        }
        // Path-less add/replace: the value is a partial resource. Okta (deactivate, group rename
        // with "id" inside), Entra (aadOptscim062020: keys like "name.givenName" and full
        // extension URNs) and authentik send this; each key becomes its own operation so dotted
        // and URN keys reach nested attributes instead of becoming literal top-level keys (P4).
        let Some(Value::Object(map)) = value else {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}] has no path, so its value must be an object of attributes"
            )));
        };
        for (k, v) in map {
            if ["schemas", "id", "meta"]
                .iter()
                .any(|r| k.eq_ignore_ascii_case(r))
            {
                continue;
            }
            out.push(RawOp {
                op: kind_of,
                path: k,
                value: Some(v),
                from_pathless: true,
            });
        }
        return Ok(());
    };

    if kind_of == OpKind::Remove {
        if let Some(v) = value {
            return normalize_remove_with_value(reg, kind, i, path, v, out);
        }
        out.push(RawOp {
            op: kind_of,
            path,
            value: None,
            from_pathless: false,
        });
        return Ok(());
    }
    if value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "Operations[{i}] ({} \"{path}\") has no value",
            if kind_of == OpKind::Add {
                "add"
            } else {
                "replace"
            }
        )));
    }
    out.push(RawOp {
        op: kind_of,
        path,
        value,
        from_pathless: false,
    });
    Ok(())
}

/// `remove` carrying a value is not RFC, but two shapes are common:
/// - Entra (G6, default mode) and authentik remove group members with
///   `{"op":"Remove","path":"members","value":[{"value":"id"}]}` meaning "remove only these"
///   (INTEROP P1: a naive server wipes every member). Any multi-valued attribute gets the same
///   reading: each listed `value` (or, for a simple multi-valued attribute, each listed scalar)
///   becomes `attr[value eq "…"]`, so the values not listed stay.
/// - Entra removes `emails[type eq "work"].value` with the old value attached (P19): the value
///   is irrelevant, the path says what to clear.
fn normalize_remove_with_value(
    reg: &Registry,
    kind: ResourceKind,
    i: usize,
    path: String,
    value: Value,
    out: &mut Vec<RawOp>,
) -> Result<(), ScimError> {
    let multi = if path.contains('[') {
        None
    } else {
        AttrPath::parse(&path).ok().and_then(|p| {
            if p.sub.is_some() {
                return None;
            }
            reg.resolve(kind, p.urn.as_deref(), &p.name)
                .filter(|r| r.attr.multi_valued)
                .map(|r| r.attr.ty == AttrType::Complex)
        })
    };
    let Some(complex) = multi else {
        out.push(remove_op(path));
        return Ok(());
    };
    let items = match value {
        Value::Array(a) => a,
        Value::Null => {
            out.push(remove_op(path));
            return Ok(());
        }
        other => vec![other],
    };
    for (j, item) in items.iter().enumerate() {
        let id = match item {
            Value::Object(m) if complex => field(m, "value").filter(|v| is_scalar(v)),
            // Microsoft's Postman suite uses bare strings for members.
            Value::String(_) => Some(item),
            Value::Number(_) | Value::Bool(_) if !complex => Some(item),
            _ => None,
        };
        let Some(id) = id else {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}].value[{j}] must {} naming what to remove",
                if complex {
                    "be an object with a \"value\""
                } else {
                    "be a single value"
                }
            )));
        };
        // A JSON scalar is also a filter literal: "a\"b" stays quoted, 5 and true stay bare.
        let quoted = serde_json::to_string(id).unwrap_or_default();
        out.push(RawOp {
            op: OpKind::Remove,
            path: format!("{path}[value eq {quoted}]"),
            value: None,
            from_pathless: false,
        });
    }
    Ok(())
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Create-on-absent (Entra; Microsoft's SCIM Validator; INTEROP Part A §7 U5, P5): Entra sets
/// `emails[type eq "work"].value` (and `phoneNumbers[type eq "mobile"].value`,
/// `addresses[type eq "work"].postalCode`, …) on a user that has no work email yet, and expects
/// the value to be created. RFC 7644 §3.5.2.3 says a value filter that matches nothing is
/// `noTarget`; for a plain equality filter the new value is unambiguous, so it is created from
/// the filter: `type eq "work"` seeds `{"type":"work"}`, an `and` of equalities seeds all of
/// them. Any other filter shape (`co`, `or`, `not`, …) cannot seed a value and stays `noTarget`.
/// The engine asks this only after its filter matched nothing.
pub fn create_on_absent_seed(f: &Filter, def: &Attribute) -> Option<Map<String, Value>> {
    if def.ty != AttrType::Complex {
        return None;
    }
    match f {
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value,
        } if attr.urn.is_none() && attr.sub.is_none() => {
            let sd = def.sub(&attr.name)?;
            let v = match value {
                Literal::String(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Number(n) => Value::Number(n.clone()),
                Literal::Null => return None,
            };
            let v = coerce_single(sd, &v, &sd.name).ok()??;
            let mut m = Map::new();
            m.insert(sd.name.clone(), v);
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = create_on_absent_seed(a, def)?;
            for (k, v) in create_on_absent_seed(b, def)? {
                m.insert(k, v);
            }
            Some(m)
        }
        _ => None,
    }
}

/// Entra sends a complex reference as a bare id string (`manager`, INTEROP P6 and U9) and, in
/// its legacy form, as an array holding one object (`[{"$ref": …, "value": …}]`). Either names
/// the whole new reference, so it replaces the old one instead of merging into it as an object
/// value does (RFC 7644 §3.5.2.3): merging would keep the previous manager's `$ref`.
pub fn replaces_whole_complex(raw: &Value) -> bool {
    matches!(raw, Value::String(_) | Value::Array(_))
}

/// A plain `remove` of `path`, as the RFC engine takes it.
fn remove_op(path: String) -> RawOp {
    RawOp {
        op: OpKind::Remove,
        path,
        value: None,
        from_pathless: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(kind: ResourceKind, body: Value) -> Vec<RawOp> {
        normalize_patch(&Registry::new(), kind, &body).unwrap()
    }

    #[test]
    fn entra_capitalised_ops_and_remove_members_with_value() {
        let ops = norm(
            ResourceKind::Group,
            json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u\"2"}]}],
                   "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
        );
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].op, OpKind::Remove);
        assert_eq!(ops[0].path, "members[value eq \"u1\"]");
        assert_eq!(ops[1].path, "members[value eq \"u\\\"2\"]");
    }

    #[test]
    fn pathless_values_become_one_op_per_key_without_read_only_keys() {
        let ops = norm(
            ResourceKind::Group,
            json!({"Operations": [{"op": "replace", "value": {"id": "g1", "displayName": "New", "meta": {}}}]}),
        );
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].path, "displayName");
        assert!(ops[0].from_pathless);
        let ops = norm(
            ResourceKind::User,
            json!({"Operations": [{"op": "replace", "value": {"name.givenName": "K", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "A"}}]}),
        );
        assert_eq!(ops[0].path, "name.givenName");
        assert_eq!(
            ops[1].path,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
        );
    }

    #[test]
    fn bad_operations_are_refused_with_reasons() {
        let reg = Registry::new();
        for (body, want) in [
            (
                json!({"Operations": [{"op": "move", "path": "x"}]}),
                "must be \"add\"",
            ),
            (json!({"Operations": [{"op": "remove"}]}), "requires one"),
            (
                json!({"Operations": [{"op": "add", "path": "title"}]}),
                "has no value",
            ),
            (json!({"Operations": []}), "empty"),
            (json!({"schemas": []}), "no \"Operations\""),
            (
                json!({"Operations": [{"op": "replace", "value": "x"}]}),
                "must be an object",
            ),
        ] {
            let e = normalize_patch(&reg, ResourceKind::User, &body).unwrap_err();
            assert!(e.detail.contains(want), "{body}: {}", e.detail);
        }
    }

    #[test]
    fn entra_create_on_absent_seeds_only_from_plain_equalities() {
        let reg = Registry::new();
        let emails = reg
            .resolve(ResourceKind::User, None, "emails")
            .unwrap()
            .attr;
        let seed = |f: &str| create_on_absent_seed(&crate::scim::filter::parse(f).unwrap(), emails);
        assert_eq!(
            seed(r#"type eq "work""#),
            Some(json!({"type": "work"}).as_object().unwrap().clone())
        );
        assert_eq!(
            seed(r#"type eq "work" and primary eq "true""#),
            Some(
                json!({"type": "work", "primary": true})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
        for no in [
            r#"type co "work""#,
            r#"type eq "work" or type eq "home""#,
            r#"not (type eq "work")"#,
            r#"type ne "work""#,
            r#"type eq null"#,
            r#"primary eq "maybe""#,
            r#"nosuch eq "x""#,
        ] {
            assert_eq!(seed(no), None, "{no}");
        }
        let title = reg.resolve(ResourceKind::User, None, "title").unwrap().attr;
        let f = crate::scim::filter::parse(r#"value eq "x""#).unwrap();
        assert_eq!(create_on_absent_seed(&f, title), None);
    }

    #[test]
    fn entra_bare_reference_replaces_the_whole_complex_value() {
        assert!(replaces_whole_complex(&json!("m2")));
        assert!(replaces_whole_complex(&json!([{"value": "m2"}])));
        assert!(!replaces_whole_complex(&json!({"value": "m2"})));
        assert!(!replaces_whole_complex(&Value::Null));
    }

    #[test]
    fn remove_with_value_names_each_value_of_any_multi_valued_attribute() {
        use crate::scim::schema::{Attribute, Mutability, Returned, Schema};
        let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
        let reg = Registry::with_extensions(vec![(
            ResourceKind::User,
            Schema {
                id: urn.into(),
                name: "Acme".into(),
                description: String::new(),
                attributes: vec![Attribute::custom(
                    "tags",
                    AttrType::String,
                    true,
                    false,
                    false,
                    Mutability::ReadWrite,
                    Returned::Default,
                    "tags",
                )],
            },
        )]);
        let path = format!("{urn}:tags");
        let ops = normalize_patch(
            &reg,
            ResourceKind::User,
            &json!({"Operations": [{"op": "remove", "path": path, "value": ["a\"b", 7, true]}]}),
        )
        .unwrap();
        let paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("{path}[value eq \"a\\\"b\"]"),
                format!("{path}[value eq 7]"),
                format!("{path}[value eq true]"),
            ]
        );
        // An object is not a simple value; nothing is removed and the request is refused.
        let e = normalize_patch(
            &reg,
            ResourceKind::User,
            &json!({"Operations": [{"op": "remove", "path": path, "value": [{"value": "a"}]}]}),
        )
        .unwrap_err();
        assert!(e.detail.contains("single value"), "{}", e.detail);
        // A single-valued attribute: the value is dropped and the path alone says what to clear.
        let ops = norm(
            ResourceKind::User,
            json!({"Operations": [{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "old@x"}]}),
        );
        assert_eq!(ops[0].value, None);
    }
}
