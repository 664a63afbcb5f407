//! Typed attribute values: coercion of what clients send into the schema's types, timestamps,
//! and lookups in canonical resources.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ScimError;
use super::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind};

/// Parses an RFC 3339 / xsd:dateTime timestamp.
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Formats a timestamp as RFC 3339 in UTC with millisecond precision, e.g. `2026-11-30T18:00:00.123Z`.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The value of a top-level (possibly extension) attribute in a canonical resource.
pub fn lookup_top<'v>(
    resource: &'v Value,
    reg: &Registry,
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
) -> Option<&'v Value> {
    let resolved = reg.resolve(kind, urn, name)?;
    match resolved.extension {
        None => resource.get(resolved.attr.name.as_str()),
        Some(ext) => resource.get(ext)?.get(resolved.attr.name.as_str()),
    }
}

/// Whether input names the attribute with a readOnly mutability, which clients echo back and we ignore.
pub fn is_read_only(attr: &Attribute) -> bool {
    attr.mutability == Mutability::ReadOnly
}

/// Converts a client-sent value to the attribute's type and canonical shape.
///
/// Returns `Ok(None)` for values that mean "absent" (`null`, `""` for a complex value, `[]`,
/// `{}`), so absent and empty are one state. `where_` names the attribute in error details.
/// Read-only sub-attributes are dropped (clients echo them back); unknown sub-attributes too.
pub fn coerce(attr: &Attribute, value: &Value, where_: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            // OneLogin sends `emails` as one object instead of an array.
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if let Some(v) = coerce_single(attr, item, &format!("{where_}[{i}]"))? {
                out.push(v);
            }
        }
        return Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        });
    }
    if let Value::Array(a) = value {
        // A one-element array for a single-valued attribute: Entra's legacy manager form
        // `[{"value": "id"}]`. More than one value is a real error.
        return match a.as_slice() {
            [] => Ok(None),
            [one] => coerce_single(attr, one, where_),
            _ => Err(ScimError::invalid_value(format!(
                "\"{where_}\" takes one value, but {} were sent",
                a.len()
            ))),
        };
    }
    coerce_single(attr, value, where_)
}

/// Coerces one (non-array) value.
pub fn coerce_single(
    attr: &Attribute,
    value: &Value,
    where_: &str,
) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| {
        ScimError::invalid_value(format!(
            "\"{where_}\" must be {expected}, but {} was sent",
            describe(value)
        ))
    };
    Ok(Some(match attr.ty {
        AttrType::Complex => match value {
            Value::Null => return Ok(None),
            Value::Object(o) => {
                let mut out = Map::new();
                for sub in &attr.sub_attributes {
                    if is_read_only(sub) && !matches!(attr.mutability, Mutability::ReadOnly) {
                        continue;
                    }
                    let found = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(&sub.name));
                    if let Some((_, v)) = found {
                        if let Some(c) = coerce(sub, v, &format!("{where_}.{}", sub.name))? {
                            out.insert(sub.name.clone(), c);
                        }
                    }
                }
                if out.is_empty() {
                    return Ok(None);
                }
                Value::Object(out)
            }
            // Entra sends manager as a bare id string (INTEROP P6); any complex attribute with a
            // `value` sub-attribute takes a bare string as that value. "" clears it.
            Value::String(s) if attr.sub("value").is_some() => {
                if s.is_empty() {
                    return Ok(None);
                }
                let mut out = Map::new();
                out.insert("value".into(), Value::String(s.clone()));
                Value::Object(out)
            }
            _ => return Err(wrong("an object")),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            // Entra sends "True"/"False" for active (INTEROP P2); accept any case.
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong("true or false")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => return Err(wrong("an integer")),
            },
            _ => return Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => match s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Some(n) => Value::Number(n),
                None => return Err(wrong("a number")),
            },
            _ => return Err(wrong("a number")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if parse_datetime(s).is_some() => value.clone(),
            Value::String(s) if s.is_empty() => return Ok(None),
            _ => return Err(wrong("a dateTime such as \"2026-01-31T12:00:00Z\"")),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            // Stored exactly as sent (Entra: no transformation); "" means absent, which is how
            // Entra clears an attribute (LogicApp null test).
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(_) => value.clone(),
            // Numbers and booleans where a string is expected (employeeNumber 701984): keep the text.
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            _ => return Err(wrong("a string")),
        },
    }))
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string \"{}\"", truncate(s, 60)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Shortens user input quoted in an error message.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn coerces_what_clients_send() {
        let reg = Registry::new();
        let active = reg
            .resolve(ResourceKind::User, None, "active")
            .unwrap()
            .attr;
        assert_eq!(
            coerce(active, &json!("False"), "active").unwrap(),
            Some(json!(false))
        );
        assert_eq!(
            coerce(active, &json!("TRUE"), "active").unwrap(),
            Some(json!(true))
        );
        assert!(coerce(active, &json!("nope"), "active").is_err());
        let emails = reg
            .resolve(ResourceKind::User, None, "emails")
            .unwrap()
            .attr;
        assert_eq!(
            coerce(
                emails,
                &json!({"Value": "a@b", "Primary": "true"}),
                "emails"
            )
            .unwrap(),
            Some(json!([{"value": "a@b", "primary": true}]))
        );
        assert_eq!(coerce(emails, &json!([]), "emails").unwrap(), None);
        let mgr = reg
            .resolve(
                ResourceKind::User,
                Some(super::super::schema::URN_ENTERPRISE_USER),
                "manager",
            )
            .unwrap()
            .attr;
        assert_eq!(
            coerce(mgr, &json!("m1"), "manager").unwrap(),
            Some(json!({"value": "m1"}))
        );
        assert_eq!(coerce(mgr, &json!(""), "manager").unwrap(), None);
        assert_eq!(
            coerce(
                mgr,
                &json!([{"$ref": "../Users/m2", "value": "m2", "displayName": "X"}]),
                "manager"
            )
            .unwrap(),
            Some(json!({"value": "m2", "$ref": "../Users/m2"}))
        );
        let title = reg.resolve(ResourceKind::User, None, "title").unwrap().attr;
        assert!(coerce(title, &json!({"a": 1}), "title").is_err());
        assert_eq!(
            coerce(title, &json!(12), "title").unwrap(),
            Some(json!("12"))
        );
    }

    #[test]
    fn formats_timestamps_in_utc_with_millis() {
        let t = parse_datetime("2026-01-02T03:04:05.678+01:00").unwrap();
        assert_eq!(format_datetime(t), "2026-01-02T02:04:05.678Z");
    }
}
