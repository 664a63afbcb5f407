//! Turning a client's resource body into the canonical stored form, and back into a response.
//!
//! Canonical form: attribute names in the schema's case, values in the schema's types, absent
//! instead of null/empty, extension attributes nested under their schema URN, no read-only
//! attributes from the client (`id`, `meta`, `groups`), no `password` (never stored).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{Mutability, Registry, ResourceKind};
use super::value::{coerce, is_read_only};

/// Attributes the server derives and never takes from a body: they live in the membership index.
pub fn is_derived(kind: ResourceKind, name: &str) -> bool {
    match kind {
        ResourceKind::User => name.eq_ignore_ascii_case("groups"),
        ResourceKind::Group => name.eq_ignore_ascii_case("members"),
    }
}

/// Normalizes a POST/PUT body into canonical attributes (without `id`, `meta`, `schemas`).
/// Unknown attributes and schema URNs are ignored, as Entra and Microsoft's test suites expect.
pub fn normalize_body(
    reg: &Registry,
    kind: ResourceKind,
    body: &Value,
) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "the request body must be a JSON object describing a {}",
            kind.name()
        )));
    };
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if super::path::has_urn_prefix(key) {
            normalize_urn_key(reg, kind, key, value, &mut out)?;
            continue;
        }
        set_attribute(reg, kind, None, key, value, &mut out)?;
    }
    Ok(out)
}

fn normalize_urn_key(
    reg: &Registry,
    kind: ResourceKind,
    key: &str,
    value: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    if reg.is_core(kind, key) {
        // Some clients nest core attributes under the core URN.
        if let Value::Object(o) = value {
            for (k, v) in o {
                set_attribute(reg, kind, None, k, v, out)?;
            }
        }
        return Ok(());
    }
    if let Some(ext) = reg.extension(kind, key) {
        let urn = ext.id.clone();
        match value {
            Value::Null => {}
            Value::Object(o) => {
                for (k, v) in o {
                    set_attribute(reg, kind, Some(&urn), k, v, out)?;
                }
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "\"{urn}\" must be an object holding that extension's attributes"
                )))
            }
        }
        return Ok(());
    }
    // A URN-qualified attribute name at the top level, e.g. "urn:…:enterprise:2.0:User:department".
    if let Ok(path) = AttrPath::parse(key) {
        let owner = path.urn.as_deref().unwrap_or_default();
        if reg.is_core(kind, owner) || reg.extension(kind, owner).is_some() {
            // A schema we know: set a known attribute; ignore an unknown one, as anywhere else.
            if path.sub.is_none() && reg.resolve(kind, path.urn.as_deref(), &path.name).is_some() {
                return set_attribute(reg, kind, path.urn.as_deref(), &path.name, value, out);
            }
            return Ok(());
        }
    }
    // Only a URN no known schema owns is an undeclared extension (see `is_undeclared_extension`).
    let urn = match value {
        Value::Object(_) => key,
        _ => key.rsplit_once(':').map_or(key, |(urn, _)| urn),
    };
    if is_undeclared_extension(reg, kind, urn) {
        store_undeclared(key, value, out);
    }
    Ok(())
}

/// An extension no schema declares. Entra's custom attribute mappings send
/// `urn:ietf:params:scim:schemas:extension:<Name>:2.0:User` objects (or `…:User:<attr>` keys);
/// they are kept as sent, under their URN, rather than silently dropped. An object value is a
/// whole extension; anything else is one attribute named after the last `:`.
pub fn store_undeclared(key: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(o) => {
            let slot = out
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(ext) = slot {
                for (k, v) in o {
                    if is_empty_value(v) {
                        ext.remove(k);
                    } else {
                        ext.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        v => {
            // What is left of the last ':' must itself be a URN ("urn:x" names no schema):
            // otherwise the value would be filed under a key no response ever shows.
            let Some((urn, attr)) = key
                .rsplit_once(':')
                .filter(|(urn, _)| super::path::has_urn_prefix(urn))
            else {
                return;
            };
            let slot = out
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(ext) = slot {
                if is_empty_value(v) {
                    ext.remove(attr);
                } else {
                    ext.insert(attr.to_string(), v.clone());
                }
            }
        }
    }
    prune_empty_extensions(out);
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Whether `key` of a stored document is an extension no schema declares.
pub fn is_undeclared_extension(reg: &Registry, kind: ResourceKind, key: &str) -> bool {
    super::path::has_urn_prefix(key) && !owned_by_declared_schema(reg, kind, key)
}

/// True when `urn`, or any part of it up to a `:`, is a schema scimd knows (core, a declared
/// extension, or a legacy alias of one). `urn:…:enterprise:2.0:User:bogus` is then an unknown
/// attribute of the enterprise extension, ignored like any other, not an undeclared extension
/// of its own: filed as one, it would vanish on the next PUT of the stored document, which
/// reads that key as the enterprise extension's (found by fuzzing).
fn owned_by_declared_schema(reg: &Registry, kind: ResourceKind, urn: &str) -> bool {
    let declared = |u: &str| reg.is_core(kind, u) || reg.extension(kind, u).is_some();
    declared(urn)
        || urn
            .match_indices(':')
            .any(|(i, _)| urn.get(..i).is_some_and(declared))
}

/// Coerces and stores one attribute into `out` (nesting extension attributes).
fn set_attribute(
    reg: &Registry,
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
    value: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let Some(resolved) = reg.resolve(kind, urn, name) else {
        return Ok(()); // unknown attribute: ignored (Microsoft's Postman #54 expects 200)
    };
    let attr = resolved.attr;
    if is_read_only(attr)
        || is_derived(kind, &attr.name)
        || attr.mutability == Mutability::WriteOnly
    {
        // id, meta, groups are echoed by Okta/Keycloak PUTs; password is accepted and dropped.
        return Ok(());
    }
    let shown = match resolved.extension {
        Some(ext) => format!("{ext}:{}", attr.name),
        None => attr.name.clone(),
    };
    let Some(v) = coerce(attr, value, &shown)? else {
        return Ok(());
    };
    match resolved.extension {
        None => {
            out.insert(attr.name.clone(), v);
        }
        Some(ext) => {
            let slot = out
                .entry(ext.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = slot {
                o.insert(attr.name.clone(), v);
            }
        }
    }
    Ok(())
}

/// Checks required attributes of a canonical resource.
pub fn check_required(
    reg: &Registry,
    kind: ResourceKind,
    doc: &Map<String, Value>,
) -> Result<(), ScimError> {
    for attr in reg.core(kind).attributes.iter().filter(|a| a.required) {
        let ok = match doc.get(&attr.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "\"{}\" is required for a {} and must not be empty",
                attr.name,
                kind.name()
            )));
        }
    }
    Ok(())
}

/// Builds the stored document: canonical attributes in schema order plus id, schemas and meta.
pub fn assemble(
    reg: &Registry,
    kind: ResourceKind,
    id: &str,
    attrs: &Map<String, Value>,
    created: &str,
    last_modified: &str,
) -> Value {
    let mut doc = Map::new();
    let mut schemas = vec![Value::String(kind.core_urn().into())];
    for urn in reg.extension_urns(kind) {
        if attrs.contains_key(urn) {
            schemas.push(Value::String(urn.into()));
        }
    }
    let undeclared: Vec<&String> = attrs
        .keys()
        .filter(|k| is_undeclared_extension(reg, kind, k))
        .collect();
    schemas.extend(undeclared.iter().map(|k| Value::String((*k).clone())));
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), Value::String(id.into()));
    if let Some(e) = attrs.get("externalId") {
        doc.insert("externalId".into(), e.clone());
    }
    for attr in &reg.core(kind).attributes {
        if let Some(v) = attrs.get(&attr.name) {
            doc.insert(attr.name.clone(), v.clone());
        }
    }
    for urn in reg.extension_urns(kind) {
        if let Some(v) = attrs.get(urn) {
            doc.insert(urn.into(), v.clone());
        }
    }
    for urn in undeclared {
        if let Some(v) = attrs.get(urn) {
            doc.insert(urn.clone(), v.clone());
        }
    }
    let mut meta = Map::new();
    meta.insert("resourceType".into(), Value::String(kind.name().into()));
    meta.insert("created".into(), Value::String(created.into()));
    meta.insert("lastModified".into(), Value::String(last_modified.into()));
    doc.insert("meta".into(), Value::Object(meta));
    Value::Object(doc)
}

/// Whether a stored document's key is the server's (id, schemas, meta), not a client-writable
/// attribute.
fn is_server_key(k: &str) -> bool {
    k == "id" || k == "schemas" || k == "meta"
}

/// The client-writable attributes of a stored document (everything but id, schemas, meta).
pub fn writable_part(doc: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(o) = doc {
        for (k, v) in o {
            if !is_server_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Whether `attrs` equals [`writable_part`] of `doc`, without building it. Compared as maps
/// compare: the same keys with equal values, in any order.
pub fn writable_part_eq(doc: &Value, attrs: &Map<String, Value>) -> bool {
    let Value::Object(o) = doc else {
        return attrs.is_empty();
    };
    let mut n = 0;
    for (k, v) in o {
        if is_server_key(k) {
            continue;
        }
        if attrs.get(k) != Some(v) {
            return false;
        }
        n += 1;
    }
    n == attrs.len()
}

/// Marks a stored document as changed by something outside it (a member it listed was
/// deleted): the next version and a new `meta.lastModified`, so `If-None-Match` and
/// incremental readers (`meta.lastModified gt …`) see the change.
pub fn touch(doc: &mut Value, last_modified: &str) {
    let next = version_number(doc) + 1;
    set_version(doc, next);
    if let Some(meta) = doc.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert("lastModified".into(), Value::String(last_modified.into()));
    }
}

/// The version number in `meta.version` (`W/"7"` → 7); 0 when absent.
pub fn version_number(doc: &Value) -> u64 {
    meta_str(doc, "version")
        .and_then(|v| v.trim_start_matches("W/").trim_matches('"').parse().ok())
        .unwrap_or(0)
}

/// Sets `meta.version` to the weak ETag `W/"n"`: it changes on every stored change, and weak
/// because the representation (member order, projection) is not byte-for-byte fixed.
pub fn set_version(doc: &mut Value, n: u64) {
    if let Some(Value::Object(meta)) = doc.get_mut("meta") {
        meta.insert("version".into(), Value::String(format!("W/\"{n}\"")));
    }
}

/// Whether an `If-Match` / `If-None-Match` header value names `current` (RFC 9110 §13.1:
/// a list of entity tags or `*`; compared weakly, so `W/` prefixes are ignored).
pub fn etag_matches(header: &str, current: Option<&str>) -> bool {
    let Some(current) = current else { return false };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || opaque(t) == opaque(current))
}

/// A string field of a stored document's `meta` (`created`, `lastModified`).
pub fn meta_str<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc.get("meta")?.get(field)?.as_str()
}

/// Drops empty extension objects left behind by PATCH removals.
pub fn prune_empty_extensions(attrs: &mut Map<String, Value>) {
    attrs.retain(|k, v| {
        !(super::path::has_urn_prefix(k) && v.as_object().is_some_and(|o| o.is_empty()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::URN_ENTERPRISE_USER;
    use serde_json::json;

    // Found by the json_body fuzz target (tests/fuzz/regressions/json_body/): "urn:x" was kept
    // under the key "urn", which the stored document never shows.
    #[test]
    fn a_urn_key_without_a_schema_urn_is_ignored() {
        let reg = Registry::new();
        let body =
            json!({"userName": "a@b.c", "urn:ieteur": ["x"], "urn:ietf:params:scim:x:y": "1"});
        let attrs = normalize_body(&reg, ResourceKind::User, &body).unwrap();
        assert_eq!(
            attrs,
            json!({"userName": "a@b.c", "urn:ietf:params:scim:x": {"y": "1"}})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    // Found by fuzzing: a key that a known schema (or its legacy alias) owns was filed as an
    // undeclared extension, which a later PUT of the stored document silently dropped.
    #[test]
    fn keys_under_a_known_schema_are_never_undeclared_extensions() {
        let reg = Registry::new();
        let body = json!({
            "userName": "a@b.c",
            "urn:scim:schemas:extension:enterprise:2.0:bogus[x": "1",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope:deeper": "2",
            "urn:ietf:params:scim:schemas:core:2.0:User:unknown:x": "3",
            "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:costCenter": "4"
        });
        let attrs = normalize_body(&reg, ResourceKind::User, &body).unwrap();
        let expected = json!({
            "userName": "a@b.c",
            "urn:ietf:params:scim:schemas:extension:Acme:2.0:User": {"costCenter": "4"}
        });
        assert_eq!(Value::Object(attrs.clone()), expected);
        // And what is stored reads back unchanged.
        let doc = assemble(&reg, ResourceKind::User, "id", &attrs, "t", "t");
        assert_eq!(
            normalize_body(&reg, ResourceKind::User, &doc).unwrap(),
            attrs
        );
        assert!(!is_undeclared_extension(
            &reg,
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:managerX"
        ));
        assert!(is_undeclared_extension(
            &reg,
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
        ));
    }

    #[test]
    fn normalizes_entra_legacy_create_body() {
        let reg = Registry::new();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
            "externalId": "jyoung", "userName": "jyoung@testuser.com", "active": "True",
            "addresses": null, "displayName": "Joy Young",
            "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
            "meta": {"resourceType": "User"},
            "name": {"familyName": "Young", "givenName": "Joy"},
            "phoneNumbers": null, "preferredLanguage": null, "title": null, "department": null, "manager": null,
            "password": "secret", "id": "client-id", "groups": [], "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "123456", "employeeNumber": 701984}
        });
        let out = normalize_body(&reg, ResourceKind::User, &body).unwrap();
        assert_eq!(out["active"], json!(true));
        assert_eq!(out["emails"][0]["value"], "jyoung@Contoso.com");
        for absent in [
            "addresses",
            "title",
            "password",
            "id",
            "groups",
            "meta",
            "roles",
            "department",
            "manager",
        ] {
            assert!(!out.contains_key(absent), "{absent} should be absent");
        }
        assert_eq!(
            out[URN_ENTERPRISE_USER]["manager"],
            json!({"value": "123456"})
        );
        assert_eq!(out[URN_ENTERPRISE_USER]["employeeNumber"], json!("701984"));
        check_required(&reg, ResourceKind::User, &out).unwrap();
    }

    #[test]
    fn undeclared_extensions_are_kept_as_sent() {
        let reg = Registry::new();
        let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
        let body = json!({"userName": "u",
            custom: {"costCode": "C1", "empty": null},
            "urn:ietf:params:scim:schemas:extension:Other:2.0:User:badge": 42});
        let out = normalize_body(&reg, ResourceKind::User, &body).unwrap();
        assert_eq!(out[custom], json!({"costCode": "C1"}));
        assert_eq!(
            out["urn:ietf:params:scim:schemas:extension:Other:2.0:User"],
            json!({"badge": 42})
        );
        let doc = assemble(&reg, ResourceKind::User, "id1", &out, "t", "t");
        let schemas = doc["schemas"].as_array().unwrap();
        assert!(schemas.contains(&json!(custom)), "{doc}");
        assert_eq!(doc[custom]["costCode"], "C1");
    }

    #[test]
    fn missing_user_name_is_refused() {
        let reg = Registry::new();
        let out = normalize_body(&reg, ResourceKind::User, &json!({"displayName": "x"})).unwrap();
        let e = check_required(&reg, ResourceKind::User, &out).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("userName"));
        assert!(normalize_body(&reg, ResourceKind::User, &json!([1])).is_err());
    }

    #[test]
    fn writable_part_eq_agrees_with_comparing_writable_part() {
        let doc = json!({"schemas": ["s"], "id": "1", "userName": "a", "active": true,
                         "name": {"givenName": "A"}, "meta": {"version": "W/\"1\""}});
        let same = writable_part(&doc);
        let cases = [
            same.clone(),
            json!({"active": true, "name": {"givenName": "A"}, "userName": "a"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            json!({"userName": "a", "active": false, "name": {"givenName": "A"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            json!({"userName": "a", "active": true})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            json!({"userName": "a", "active": true, "name": {"givenName": "A"}, "title": "t"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            json!({"userName": "a", "active": true, "name": {"givenName": "A"}, "id": "1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            Map::new(),
        ];
        for attrs in &cases {
            assert_eq!(
                writable_part_eq(&doc, attrs),
                writable_part(&doc) == *attrs,
                "{attrs:?}"
            );
        }
        assert!(writable_part_eq(&doc, &cases[1]));
        assert!(!writable_part_eq(&doc, &cases[2]));
        assert!(writable_part_eq(&json!({"id": "1"}), &Map::new()));
        assert!(writable_part_eq(&json!(null), &Map::new()));
    }
}
