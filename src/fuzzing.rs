//! Fuzz entry points: one function per target of `tests/fuzz/` (cargo-fuzz), also called by
//! `tests/fuzz_regressions.rs` with every seed and every crash input, so the fuzzers and the
//! test suite exercise exactly the same code.
//!
//! Each function takes arbitrary bytes and must not panic on any of them. Where an invariant of
//! the code under test is known to hold, it is asserted: a failed assertion is a finding, the same
//! as a crash. Not part of the public API.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::config::{self, Config};
use crate::scim::filter::{self, Filter};
use crate::scim::patch::{self, Operation};
use crate::scim::path::{AttrPath, PatchPath};
use crate::scim::resource::{assemble, check_required, normalize_body, writable_part};
use crate::scim::value::coerce;
use crate::scim::{Registry, ResourceKind};

const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(Registry::new)
}

/// An Entra-shaped User with every kind of attribute a filter or PATCH can reach: strings,
/// booleans, multi-valued complex values with `primary`, the enterprise extension and its
/// `manager` reference.
fn fixed_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7b2d1e0c4f11",
        "userName": "alice@contoso.example",
        "active": true,
        "displayName": "Alice Example",
        "title": "Engineer",
        "preferredLanguage": "en-US",
        "name": {"givenName": "Alice", "familyName": "Example", "formatted": "Alice Example"},
        "emails": [
            {"value": "alice@contoso.example", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{
            "type": "work", "streetAddress": "1 Main St", "locality": "Springfield",
            "postalCode": "12345", "country": "US", "primary": true
        }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Research",
            "manager": {"value": "2819c223-7f76-453a-919d-413861904646"}
        }
    })
}

fn fixed_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "externalId": "e0b7a5c1-group",
        "displayName": "Engineering"
    })
}

/// The fixed resource of `kind` as stored: canonical attributes assembled into a document.
fn stored(kind: ResourceKind) -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    static GROUP: OnceLock<Value> = OnceLock::new();
    let (cell, body): (&OnceLock<Value>, fn() -> Value) = match kind {
        ResourceKind::User => (&USER, fixed_user),
        ResourceKind::Group => (&GROUP, fixed_group),
    };
    cell.get_or_init(|| {
        let reg = registry();
        let attrs = normalize_body(reg, kind, &body()).unwrap_or_default();
        assemble(reg, kind, "fixed-id", &attrs, STAMP, STAMP)
    })
}

const STAMP: &str = "2026-01-01T00:00:00Z";

/// Target `filter`: parse, print and re-parse, check against both resource types, evaluate
/// against the fixed User and Group, whole and per element of their multi-valued attributes.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let reg = registry();
    for kind in KINDS {
        let checked = filter::parse_checked(text, reg, kind);
        if let Ok(f) = &checked {
            eval_everywhere(f, reg, kind);
        }
    }
    let Ok(f) = filter::parse(text) else {
        return;
    };
    // The printed form is canonical and parses back to the same tree (filter_syntax.rs
    // proves the same property on generated trees; here it meets arbitrary text).
    let printed = f.to_string();
    // Escaping control characters can print a filter that was within the length limit longer
    // than it; the limit then refuses the printed form, rightly (found by fuzzing).
    if printed.len() <= filter::MAX_FILTER_LEN {
        let back = filter::parse(&printed);
        assert!(
            back.as_ref().is_ok_and(|b| *b == f),
            "parse(print(f)) != f for {text:?} printed as {printed:?}: {back:?}"
        );
    }
    for kind in KINDS {
        // Unchecked trees are evaluated too: the evaluator must tolerate any name.
        eval_everywhere(&f, reg, kind);
        let _ = f.check(reg, kind);
    }
}

fn eval_everywhere(f: &Filter, reg: &Registry, kind: ResourceKind) {
    let doc = stored(kind);
    let _ = f.matches(doc, reg, kind);
    for attr in reg.top_level(kind).filter(|a| a.multi_valued) {
        if let Some(Value::Array(items)) = doc.get(&attr.name) {
            for item in items {
                let _ = f.matches_element(item, attr);
            }
        }
    }
}

/// Target `path`: the PATCH path parser (and the attribute path parser and schema resolution
/// it feeds), for both resource types.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let reg = registry();
    for kind in KINDS {
        let urns = reg.extension_urns(kind);
        if let Ok(PatchPath::Attr { attr, filter, .. }) = PatchPath::parse(text, &urns) {
            let _ = reg.resolve(kind, attr.urn.as_deref(), &attr.name);
            if let Some(f) = &filter {
                eval_everywhere(f, reg, kind);
            }
        }
        let _ = reg.resolve_path(kind, text);
    }
    if let Ok(a) = AttrPath::parse(text) {
        let _ = a.to_string();
    }
}

/// Target `patch`: bytes → JSON → PatchOp, applied to the fixed User and the fixed Group the way
/// the PATCH handler does (member operations split off for the membership index). On success
/// the result must still be a valid resource.
pub fn patch(data: &[u8]) {
    let Some(body) = parse_body(data) else {
        return;
    };
    let reg = registry();
    for kind in KINDS {
        let Ok(ops) = patch::parse_request(reg, kind, &body) else {
            continue;
        };
        let (member_ops, doc_ops): (Vec<Operation>, Vec<Operation>) = ops
            .into_iter()
            .partition(|op| kind == ResourceKind::Group && op.targets(reg, kind, "members"));
        // What `directory::members::changes_from_ops` reads from a member operation.
        for op in &member_ops {
            if let Some(v) = &op.value {
                let _ = members_value(reg, v);
            }
        }
        let before = writable_part(stored(kind));
        let mut attrs = before.clone();
        match patch::apply(reg, kind, &mut attrs, &doc_ops) {
            Ok(()) => still_valid(reg, kind, &attrs),
            Err(_) => assert_eq!(attrs, before, "a failed PATCH changed the resource"),
        }
    }
}

/// Target `json_body`: bytes as a POST body for both resource types, through the checks a
/// create makes before its transaction (`Directory::prepare_create`): normalize, required
/// attributes, the shape of `members`, assembly into the stored document. What needs the store
/// (userName uniqueness, member existence) is not reached.
pub fn json_body(data: &[u8]) {
    let Some(body) = parse_body(data) else {
        return;
    };
    let reg = registry();
    for kind in KINDS {
        let Ok(attrs) = normalize_body(reg, kind, &body) else {
            continue;
        };
        if check_required(reg, kind, &attrs).is_err() {
            continue;
        }
        if kind == ResourceKind::Group {
            if let Some(m) = body.get("members") {
                let _ = members_value(reg, m);
            }
        }
        still_valid(reg, kind, &attrs);
    }
}

/// Target `config`: arbitrary text as a configuration file, and through the token-file editor
/// `scimd token list/revoke` uses. Errors must carry at least one problem to show the admin.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, Path::new("/etc/scimd/scimd.toml")) {
        assert!(!e.problems.is_empty(), "a config error without problems");
        let _ = e.to_string();
    }
    if let Ok(tokens) = config::list_tokens(text) {
        if let Some(first) = tokens.first() {
            let _ = config::remove_token(text, &first.name);
        }
    }
    let _ = config::remove_token(text, "entra");
}

/// The request body as the HTTP layer parses it (`http::request::parse_json`).
fn parse_body(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

/// The coercion `directory::members::member_ids` applies to a `members` value.
fn members_value(reg: &Registry, v: &Value) -> Option<Value> {
    let def = reg.resolve_path(ResourceKind::Group, "members")?.attr;
    coerce(def, v, "members").ok().flatten()
}

/// Canonical attributes assemble into a document that reads back, through the same
/// normalization a PUT of that document would take, to the same attributes.
fn still_valid(reg: &Registry, kind: ResourceKind, attrs: &Map<String, Value>) {
    let doc = assemble(reg, kind, "fixed-id", attrs, STAMP, STAMP);
    let _ = doc.to_string();
    let again = normalize_body(reg, kind, &doc);
    assert!(
        again.is_ok(),
        "the stored form of a valid {kind:?} does not normalize: {again:?}\n{doc}"
    );
    let Ok(again) = again else { return };
    assert!(
        check_required(reg, kind, &again).is_ok(),
        "a valid {kind:?} lost a required attribute: {doc}"
    );
    assert_eq!(&again, attrs, "normalizing a stored {kind:?} changed it");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_resources_are_valid_and_complete() {
        let reg = registry();
        let user = normalize_body(reg, ResourceKind::User, &fixed_user()).unwrap();
        assert!(user.contains_key("emails") && user.contains_key("addresses"));
        assert!(user.contains_key("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        still_valid(reg, ResourceKind::User, &user);
        let group = normalize_body(reg, ResourceKind::Group, &fixed_group()).unwrap();
        still_valid(reg, ResourceKind::Group, &group);
        assert_eq!(writable_part(stored(ResourceKind::User)), user);
    }
}
