//! Attribute paths (RFC 7644 §3.10) and PATCH paths (§3.5.2): one `AttrPath` type shared by
//! filters, PATCH, sorting and projection.

use super::error::ScimError;
use super::filter::{self, Filter};

/// `[urn ":"] name ["." sub]`, as written by the client (case preserved; resolution is
/// case-insensitive and happens against the schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn simple(name: &str) -> Self {
        AttrPath {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// Parses an attribute path. The URN, when present, ends at the last `:` (attribute names
    /// cannot contain one), so `urn:…:enterprise:2.0:User:manager.value` splits correctly.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let (urn, rest) = if has_urn_prefix(text) {
            match text.rsplit_once(':') {
                Some((urn, name)) if !name.is_empty() => (Some(urn.to_string()), name),
                _ => return Err(format!("\"{text}\" has a schema URN but no attribute name")),
            }
        } else {
            (None, text)
        };
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(format!(
                "\"{text}\" nests deeper than attribute.subAttribute"
            ));
        }
        check_name(name, text)?;
        if let Some(s) = sub {
            check_name(s, text)?;
        }
        Ok(AttrPath {
            urn,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// Whether `text` starts with `urn:` in any case.
pub fn has_urn_prefix(text: &str) -> bool {
    text.len() > 4
        && text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// ATTRNAME = ALPHA *(nameChar), plus `$ref` (RFC 7643 §2.1, RFC 7644 §3.10).
fn check_name(name: &str, whole: &str) -> Result<(), String> {
    if name == "$ref" {
        return Ok(());
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        Some(_) => {
            return Err(format!(
                "\"{whole}\": attribute names start with a letter, not \"{name}\""
            ))
        }
        None => return Err(format!("\"{whole}\" has an empty attribute name")),
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!(
            "\"{whole}\": '{bad}' is not allowed in an attribute name"
        ));
    }
    Ok(())
}

/// The target of a PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    /// A whole extension object, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    Extension(String),
    /// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
    Attr {
        attr: AttrPath,
        filter: Option<Filter>,
        sub: Option<String>,
    },
}

impl PatchPath {
    /// Parses a PATCH `path`. `extension_urns` are the schema URNs that may be targeted whole.
    pub fn parse(text: &str, extension_urns: &[&str]) -> Result<PatchPath, ScimError> {
        let text = text.trim();
        if let Some(urn) = extension_urns.iter().find(|u| u.eq_ignore_ascii_case(text)) {
            return Ok(PatchPath::Extension((*urn).to_string()));
        }
        let invalid =
            |why: String| ScimError::invalid_path(format!("invalid path \"{text}\": {why}"));
        match text.split_once('[') {
            None => {
                let attr = AttrPath::parse(text).map_err(invalid)?;
                Ok(PatchPath::Attr {
                    attr,
                    filter: None,
                    sub: None,
                })
            }
            Some((head, after_open)) => {
                let (inner, tail) = after_open
                    .rsplit_once(']')
                    .ok_or_else(|| invalid("'[' is never closed by ']'".into()))?;
                let attr = AttrPath::parse(head).map_err(invalid)?;
                if attr.sub.is_some() {
                    return Err(invalid(
                        "a value filter follows the attribute, not a sub-attribute".into(),
                    ));
                }
                let filter = filter::parse(inner).map_err(|e| {
                    ScimError::invalid_path(format!(
                        "invalid path \"{text}\": the value filter is wrong: {}",
                        e.detail
                    ))
                })?;
                let sub = if tail.is_empty() {
                    None
                } else {
                    let s = tail
                        .strip_prefix('.')
                        .ok_or_else(|| invalid(format!("unexpected \"{tail}\" after ']'")))?;
                    check_name(s, text).map_err(invalid)?;
                    Some(s.to_string())
                };
                Ok(PatchPath::Attr {
                    attr,
                    filter: Some(filter),
                    sub,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn attr_paths() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>)] = &[
            ("userName", None, "userName", None),
            ("name.familyName", None, "name", Some("familyName")),
            ("members.$ref", None, "members", Some("$ref")),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
                Some("urn:ietf:params:scim:schemas:core:2.0:User"),
                "name",
                Some("givenName"),
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                Some(EXT),
                "manager",
                None,
            ),
        ];
        for (text, urn, name, sub) in cases {
            let p = AttrPath::parse(text).unwrap();
            assert_eq!(p.urn.as_deref(), *urn, "{text}");
            assert_eq!(p.name, *name, "{text}");
            assert_eq!(p.sub.as_deref(), *sub, "{text}");
        }
        for bad in [
            "",
            "a.b.c",
            "1abc",
            "na me",
            "urn:x:",
            "emails.",
            "üõrn:x",
            "€€€€:a",
            "ur€:a",
        ] {
            assert!(AttrPath::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn patch_paths() {
        assert_eq!(
            PatchPath::parse(EXT, &[EXT]).unwrap(),
            PatchPath::Extension(EXT.into())
        );
        match PatchPath::parse("emails[type eq \"work\"].value", &[EXT]).unwrap() {
            PatchPath::Attr { attr, filter, sub } => {
                assert_eq!(attr.name, "emails");
                assert!(filter.is_some());
                assert_eq!(sub.as_deref(), Some("value"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match PatchPath::parse("members[value eq \"7f4b\"]", &[EXT]).unwrap() {
            PatchPath::Attr { sub, filter, .. } => {
                assert!(sub.is_none());
                assert!(filter.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
        for bad in [
            "emails[type eq \"work\"",
            "emails[type eq]",
            "emails[type eq \"work\"]value",
            "name.givenName[type eq \"x\"]",
        ] {
            let e = PatchPath::parse(bad, &[EXT]).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(super::super::error::ScimType::InvalidPath),
                "{bad}"
            );
        }
    }
}
