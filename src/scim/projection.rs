//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) with the `returned`
//! characteristics of RFC 7643 §7.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::path::AttrPath;
use super::resource::is_undeclared_extension;
use super::schema::{Registry, ResourceKind, Returned};

/// A parsed attribute list entry: a top-level attribute (maybe an extension's), or a whole extension.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// (extension URN or None, canonical name, canonical sub-attribute)
    Attr(Option<String>, String, Option<String>),
    Extension(String),
}

/// What to return of each resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    include: Option<Vec<Item>>,
    exclude: Vec<Item>,
}

impl Projection {
    /// Parses the comma-separated `attributes` and `excludedAttributes` parameters. Names that
    /// are not attributes are ignored (RFC 7644 §3.9 gives no error for them).
    pub fn parse(
        reg: &Registry,
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let list = |s: &str| -> Vec<Item> {
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .filter_map(|t| parse_item(reg, kind, t))
                .collect()
        };
        // Names that resolve to nothing for this type leave an empty list, which returns only
        // the always-returned attributes: asking a root search for `userName` must not return
        // whole Groups. Only an `attributes` with no names at all means "no projection".
        let named = |s: &&str| s.split(',').any(|t| !t.trim().is_empty());
        Ok(Projection {
            include: attributes.filter(named).map(list),
            exclude: excluded.map(list).unwrap_or_default(),
        })
    }

    /// True when `attributes` names `attr` itself or `attr.sub`: sub-attributes returned only on
    /// request (`members.display`) are computed then.
    pub fn requests(&self, attr: &str, sub: &str) -> bool {
        self.include.as_ref().is_some_and(|list| {
            list.iter().any(|i| {
                matches!(i, Item::Attr(None, n, s)
                    if n.eq_ignore_ascii_case(attr)
                        && s.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(sub)))
            })
        })
    }

    /// True when the caller asked not to see `name` (a core top-level attribute), e.g.
    /// `excludedAttributes=members`, so the server can skip computing it at all.
    pub fn excludes(&self, name: &str) -> bool {
        let named =
            |i: &Item| matches!(i, Item::Attr(None, n, None) if n.eq_ignore_ascii_case(name));
        if self.exclude.iter().any(named) {
            return true;
        }
        match &self.include {
            Some(list) => !list
                .iter()
                .any(|i| matches!(i, Item::Attr(None, n, _) if n.eq_ignore_ascii_case(name))),
            None => false,
        }
    }

    /// Applies the projection to a full resource representation.
    pub fn apply(&self, reg: &Registry, kind: ResourceKind, full: Value) -> Value {
        let Value::Object(mut src) = full else {
            return full;
        };
        // Filtered in place, keeping the order: rebuilding the map re-hashed every key of every
        // resource of every response (docs/PERFORMANCE.md, "Where the time goes").
        src.retain(|key, value| self.retain_entry(reg, kind, key, value));
        Value::Object(src)
    }

    /// [`apply`](Self::apply) to one top-level member: false drops it, true keeps it (narrowed
    /// in place where the projection narrows it).
    pub fn retain_entry(
        &self,
        reg: &Registry,
        kind: ResourceKind,
        key: &str,
        value: &mut Value,
    ) -> bool {
        if key == "schemas" {
            return true;
        }
        if let Some(ext) = reg.extension(kind, key) {
            let Value::Object(inner) = value else {
                return false;
            };
            self.retain_in(reg, kind, Some(&ext.id), inner);
            return !inner.is_empty();
        }
        if is_undeclared_extension(reg, kind, key) {
            let named = |i: &Item| matches!(i, Item::Extension(u) if u.eq_ignore_ascii_case(key));
            let included = self.include.as_ref().is_none_or(|l| l.iter().any(named));
            return included && !self.exclude.iter().any(named);
        }
        self.keep_in_place(reg, kind, None, key, value)
    }

    /// Whether the projection names nothing: neither `attributes` nor `excludedAttributes`.
    pub fn is_default(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// What [`apply`](Self::apply) does with a top-level `key` under the default projection,
    /// when that does not depend on the value: `Some(true)` returns the value unchanged,
    /// `Some(false)` drops it. `None` for a declared extension, whose object is narrowed to
    /// the attributes its schema knows and returns, so its value must be looked into.
    pub fn default_keeps(reg: &Registry, kind: ResourceKind, key: &str) -> Option<bool> {
        if reg.extension(kind, key).is_some() {
            return None;
        }
        // Outside declared extensions the default projection keeps or drops a member whole,
        // whatever it holds, so a placeholder value gets the same verdict.
        Some(Projection::default().retain_entry(reg, kind, key, &mut Value::Null))
    }

    /// Keeps the attributes of `obj` (an extension's object) that the projection returns.
    fn retain_in(
        &self,
        reg: &Registry,
        kind: ResourceKind,
        ext: Option<&str>,
        obj: &mut Map<String, Value>,
    ) {
        obj.retain(|k, v| self.keep_in_place(reg, kind, ext, k, v));
    }

    /// [`keep`](Self::keep) on a value left where it is: false drops it, true keeps it
    /// (narrowed to the sub-attributes asked for).
    fn keep_in_place(
        &self,
        reg: &Registry,
        kind: ResourceKind,
        ext: Option<&str>,
        name: &str,
        value: &mut Value,
    ) -> bool {
        match self.keep(reg, kind, ext, name, std::mem::take(value)) {
            Some(kept) => {
                *value = kept;
                true
            }
            None => false,
        }
    }

    fn keep(
        &self,
        reg: &Registry,
        kind: ResourceKind,
        ext: Option<&str>,
        name: &str,
        value: Value,
    ) -> Option<Value> {
        let def = reg.resolve(kind, ext, name)?.attr;
        match def.returned {
            Returned::Always => return Some(value),
            Returned::Never => return None,
            _ => {}
        }
        let same = |e: &Option<String>| {
            e.as_deref().map(str::to_ascii_lowercase) == ext.map(str::to_ascii_lowercase)
        };
        let whole_ext = |i: &Item| matches!(i, Item::Extension(u) if Some(u.as_str()) == ext);
        let subs_of = |list: &[Item]| -> Option<Vec<String>> {
            let mut subs = Vec::new();
            for i in list {
                if let Item::Attr(e, n, s) = i {
                    if same(e) && n == &def.name {
                        match s {
                            None => return None, // the whole attribute
                            Some(s) => subs.push(s.clone()),
                        }
                    }
                }
            }
            Some(subs)
        };
        if let Some(list) = &self.include {
            if !list.iter().any(whole_ext) {
                match subs_of(list) {
                    None => {}
                    Some(subs) if subs.is_empty() => return None,
                    Some(subs) => return Some(retain_subs(value, &subs, true)),
                }
            }
        } else if def.returned == Returned::Request {
            return None;
        }
        if self.exclude.iter().any(whole_ext) {
            return None;
        }
        match subs_of(&self.exclude) {
            None => None,
            Some(subs) if subs.is_empty() => Some(value),
            Some(subs) => Some(retain_subs(value, &subs, false)),
        }
    }
}

/// Keeps (or drops) the named sub-attributes of a complex or multi-valued complex value.
fn retain_subs(value: Value, subs: &[String], keep: bool) -> Value {
    let filter = |o: Map<String, Value>| -> Map<String, Value> {
        o.into_iter()
            .filter(|(k, _)| subs.iter().any(|s| s == k) == keep)
            .collect()
    };
    match value {
        Value::Object(o) => Value::Object(filter(o)),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|e| match e {
                    Value::Object(o) => Value::Object(filter(o)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

fn parse_item(reg: &Registry, kind: ResourceKind, text: &str) -> Option<Item> {
    if let Some(ext) = reg.extension(kind, text) {
        return Some(Item::Extension(ext.id.clone()));
    }
    if reg.is_core(kind, text) {
        return None;
    }
    if is_undeclared_extension(reg, kind, text) && reg.resolve_path(kind, text).is_none() {
        // A whole extension no schema declares (kept as sent, so only selectable whole).
        return Some(Item::Extension(text.to_string()));
    }
    let p = AttrPath::parse(text).ok()?;
    let resolved = reg.resolve(kind, p.urn.as_deref(), &p.name)?;
    let sub = match &p.sub {
        None => None,
        Some(s) => Some(resolved.attr.sub(s)?.name.clone()),
    };
    Some(Item::Attr(
        resolved.extension.map(str::to_string),
        resolved.attr.name.clone(),
        sub,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::URN_ENTERPRISE_USER;
    use serde_json::json;

    fn user() -> Value {
        json!({"schemas": ["s"], "id": "1", "userName": "u", "title": "t",
               "name": {"givenName": "g", "familyName": "f"},
               "emails": [{"value": "e", "type": "work"}],
               "meta": {"resourceType": "User"},
               URN_ENTERPRISE_USER: {"department": "d", "employeeNumber": "7"}})
    }

    fn project(attrs: Option<&str>, excl: Option<&str>) -> Value {
        let reg = Registry::new();
        Projection::parse(&reg, ResourceKind::User, attrs, excl)
            .unwrap()
            .apply(&reg, ResourceKind::User, user())
    }

    #[test]
    fn attributes_keep_id_and_named_attributes_only() {
        let out = project(Some("userName,EMAILS"), None);
        assert_eq!(
            out,
            json!({"schemas": ["s"], "id": "1", "userName": "u", "emails": [{"value": "e", "type": "work"}]})
        );
        let out = project(Some("name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        assert_eq!(out["name"], json!({"givenName": "g"}));
        assert_eq!(out[URN_ENTERPRISE_USER], json!({"department": "d"}));
        let out = project(Some(URN_ENTERPRISE_USER), None);
        assert_eq!(out[URN_ENTERPRISE_USER]["employeeNumber"], "7");
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn excluded_attributes_drop_only_those_and_never_id() {
        let out = project(None, Some("title,name.familyName,id,emails.type"));
        assert!(out.get("title").is_none());
        assert_eq!(out["id"], "1");
        assert_eq!(out["name"], json!({"givenName": "g"}));
        assert_eq!(out["emails"], json!([{"value": "e"}]));
        assert_eq!(out["meta"]["resourceType"], "User");
    }

    #[test]
    fn excludes_reports_members_exclusion() {
        let reg = Registry::new();
        let p = Projection::parse(&reg, ResourceKind::Group, None, Some("members")).unwrap();
        assert!(p.excludes("members"));
        let q = Projection::parse(&reg, ResourceKind::Group, Some("displayName"), None).unwrap();
        assert!(q.excludes("members"));
        let r = Projection::parse(&reg, ResourceKind::Group, None, None).unwrap();
        assert!(!r.excludes("members"));
    }
}
