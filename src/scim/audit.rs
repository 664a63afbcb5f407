//! What an audit entry says changed: the attributes whose stored values differ, with the values
//! of `returned: never` attributes redacted. Pure: the directory writes the entries.

use serde_json::{Map, Value};

use super::schema::{Registry, ResourceKind, Returned};

/// Written instead of the value of an attribute that is never returned.
pub const REDACTED: &str = "[redacted]";

/// Attributes that change on every write or are not the client's: left out of the diff.
const BOOKKEEPING: [&str; 3] = ["id", "meta", "schemas"];

/// The attributes of `new` that differ from `old` (`None`: the resource did not exist), with
/// their new values; attributes `new` no longer has map to `null`. Extension objects are
/// compared and reported attribute by attribute, under their URN.
pub fn changes(
    reg: &Registry,
    kind: ResourceKind,
    old: Option<&Value>,
    new: Option<&Value>,
) -> Map<String, Value> {
    let empty = Map::new();
    let old = old.and_then(Value::as_object).unwrap_or(&empty);
    let new = new.and_then(Value::as_object).unwrap_or(&empty);
    let mut out = Map::new();
    for key in keys(old, new) {
        if BOOKKEEPING.iter().any(|b| b.eq_ignore_ascii_case(key)) {
            continue;
        }
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        if let Some(ext) = reg.extension(kind, key) {
            // One entry per changed extension attribute, so an audit reader sees which one.
            let empty_ext = Map::new();
            let b = before.and_then(Value::as_object).unwrap_or(&empty_ext);
            let a = after.and_then(Value::as_object).unwrap_or(&empty_ext);
            let mut inner = Map::new();
            for name in keys(b, a) {
                if b.get(name) == a.get(name) {
                    continue;
                }
                let never = ext
                    .attribute(name)
                    .is_some_and(|d| d.returned == Returned::Never);
                inner.insert(name.to_owned(), shown(a.get(name), never));
            }
            if !inner.is_empty() {
                out.insert(key.to_owned(), Value::Object(inner));
            }
            continue;
        }
        let never = reg
            .resolve(kind, None, key)
            .is_some_and(|r| r.attr.returned == Returned::Never);
        out.insert(key.to_owned(), shown(after, never));
    }
    out
}

/// The keys of both maps, sorted, each once; borrowed, as most are only looked up.
fn keys<'m>(a: &'m Map<String, Value>, b: &'m Map<String, Value>) -> Vec<&'m str> {
    let mut k: Vec<&str> = a.keys().chain(b.keys()).map(String::as_str).collect();
    k.sort_unstable();
    k.dedup();
    k
}

fn shown(v: Option<&Value>, never: bool) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(_) if never => Value::String(REDACTED.into()),
        Some(v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{AttrType, Attribute, Mutability, Schema};
    use serde_json::json;

    const ACME: &str = "urn:example:acme:2.0:User";

    fn attr(name: &str, returned: Returned) -> Attribute {
        let rw = Mutability::ReadWrite;
        Attribute::custom(
            name,
            AttrType::String,
            false,
            false,
            false,
            rw,
            returned,
            name,
        )
    }

    fn registry() -> Registry {
        let schema = Schema {
            id: ACME.into(),
            name: "Acme".into(),
            description: "test".into(),
            attributes: vec![
                attr("pin", Returned::Never),
                attr("badge", Returned::Default),
            ],
        };
        Registry::with_extensions(vec![(ResourceKind::User, schema)])
    }

    #[test]
    fn reports_changed_added_and_removed_attributes_only() {
        let reg = registry();
        let old = json!({"id": "1", "userName": "a", "active": true, "title": "x",
                         "meta": {"version": "W/\"1\""}});
        let new = json!({"id": "1", "userName": "b", "active": true, "displayName": "B",
                         "meta": {"version": "W/\"2\""}});
        let c = changes(&reg, ResourceKind::User, Some(&old), Some(&new));
        assert_eq!(
            Value::Object(c),
            json!({"displayName": "B", "title": null, "userName": "b"})
        );
        // A create reports everything the client set; a delete nothing but what went away.
        let c = changes(&reg, ResourceKind::User, None, Some(&new));
        assert_eq!(c.len(), 3, "{c:?}");
        let c = changes(&reg, ResourceKind::User, Some(&old), None);
        assert!(c.values().all(Value::is_null));
    }

    #[test]
    fn never_returned_values_are_redacted_even_inside_extensions() {
        let reg = registry();
        let old = json!({"userName": "a"});
        let new = json!({"userName": "a", ACME: {"pin": "1234", "badge": "B7"}});
        let c = changes(&reg, ResourceKind::User, Some(&old), Some(&new));
        assert_eq!(c[ACME], json!({"badge": "B7", "pin": REDACTED}));
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("1234"), "{text}");
        // Removing a secret shows that it went, not what it was.
        let c = changes(&reg, ResourceKind::User, Some(&new), Some(&old));
        assert_eq!(c[ACME], json!({"badge": null, "pin": null}));
    }
}
