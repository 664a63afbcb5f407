//! Sorting (RFC 7644 §3.4.2.3): which value of a resource orders it, and how two such values
//! compare.
//!
//! The rules, as the RFC states them:
//! - `sortBy` names one attribute in attribute notation (§3.10). A multi-valued attribute sorts by
//!   its primary value if any, else its first value. A complex attribute must be named down to a
//!   sub-attribute.
//! - `sortOrder` is `ascending` (the default when only `sortBy` is given) or `descending`.
//! - Strings compare case-insensitively unless the attribute is caseExact, by Unicode code
//!   point with no locale.
//! - Resources with no value sort last when ascending and first when descending.
//!
//! Ties are broken by id, always ascending, so that a page boundary falls at one place and
//! paging neither repeats nor skips a resource.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{AttrType, Attribute, Registry, ResourceKind, Returned};
use super::value::{lookup_top, parse_datetime, truncate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Ascending => "ascending",
            SortOrder::Descending => "descending",
        }
    }
}

/// The value a resource sorts by, owned and totally ordered, so it can sit in a cursor and be
/// compared with the keys of resources read later.
///
/// Serialized as serde's externally tagged form with one-letter tags (`{"s":"bjensen"}`,
/// `"n"`), because every cursor carries one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortKey {
    /// No value: absent, null, or a value of the wrong type.
    #[serde(rename = "n")]
    Missing,
    #[serde(rename = "b")]
    Bool(bool),
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "d")]
    Decimal(f64),
    /// Seconds and nanoseconds since the Unix epoch, UTC: offsets are folded in, so
    /// `…T12:00:00+02:00` and `…T10:00:00Z` are equal.
    #[serde(rename = "t")]
    Time(i64, u32),
    /// Lowercased unless the attribute is caseExact.
    #[serde(rename = "s")]
    Str(String),
}

impl SortKey {
    pub fn is_missing(&self) -> bool {
        matches!(self, SortKey::Missing)
    }

    /// Keys of one attribute share a variant; the rank only makes a forged or stale cursor
    /// compare consistently instead of arbitrarily.
    fn rank(&self) -> u8 {
        match self {
            SortKey::Missing => 0,
            SortKey::Bool(_) => 1,
            SortKey::Int(_) | SortKey::Decimal(_) => 2,
            SortKey::Time(..) => 3,
            SortKey::Str(_) => 4,
        }
    }

    /// Compares two present values. `Missing` is placed by [`SortSpec::compare`], which knows
    /// the order; here it sorts first only so that this is a total order.
    fn cmp_present(&self, other: &SortKey) -> Ordering {
        use SortKey::*;
        match (self, other) {
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Decimal(a), Decimal(b)) => a.total_cmp(b),
            // An integer beyond 2^53 loses precision here; mixing only happens with a forged
            // cursor, so a consistent answer is all that matters.
            (Int(a), Decimal(b)) => (*a as f64).total_cmp(b),
            (Decimal(a), Int(b)) => a.total_cmp(&(*b as f64)),
            (Time(s1, n1), Time(s2, n2)) => (s1, n1).cmp(&(s2, n2)),
            (Str(a), Str(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

/// A checked `sortBy` / `sortOrder` pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    /// The attribute as the schema spells it, so lookups in canonical resources hit directly.
    urn: Option<String>,
    name: String,
    /// The sub-attribute to read: the one named, or `value` when a complex attribute was named
    /// alone.
    sub: Option<String>,
    multi_valued: bool,
    ty: AttrType,
    case_exact: bool,
    order: SortOrder,
    user_name: bool,
}

impl SortSpec {
    /// Checks `sortBy` and `sortOrder` against the schema of `kind`.
    ///
    /// `Ok(None)` when there is no `sortBy` (a lone `sortOrder` is ignored: it only says how
    /// `sortBy` is applied).
    ///
    /// Refusals are 400 `invalidValue`. RFC 7644 names no scimType for a bad `sortBy`;
    /// Table 9 lists `invalidValue` as applicable to GET queries (§3.4.2), while
    /// `invalidFilter` is about the `filter` parameter and `invalidPath` about PATCH paths.
    pub fn parse(
        reg: &Registry,
        kind: ResourceKind,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> Result<Option<SortSpec>, ScimError> {
        let Some(text) = sort_by else {
            return Ok(None);
        };
        let text = text.trim();
        let order = parse_order(sort_order)?;
        let invalid = |why: String| ScimError::invalid_value(format!("invalid sortBy: {why}"));
        if text.is_empty() {
            return Err(invalid(
                "it is empty; name an attribute such as userName".into(),
            ));
        }
        let path = AttrPath::parse(text).map_err(invalid)?;
        let resolved = reg
            .resolve(kind, path.urn.as_deref(), &path.name)
            .ok_or_else(|| {
                invalid(format!(
                    "\"{}\" is not an attribute of {}",
                    truncate(text, 100),
                    kind.name()
                ))
            })?;
        let top = resolved.attr;
        let target: &Attribute = match &path.sub {
            Some(s) => top
                .sub(s)
                .ok_or_else(|| invalid(format!("\"{}\" has no sub-attribute \"{s}\"", top.name)))?,
            None if top.ty == AttrType::Complex => top.sub("value").ok_or_else(|| {
                let subs: Vec<&str> = top.sub_attributes.iter().map(|a| a.name.as_str()).collect();
                invalid(format!(
                    "\"{}\" is complex; name one of its sub-attributes ({})",
                    top.name,
                    subs.join(", ")
                ))
            })?,
            None => top,
        };
        // Ordering by a secret leaks it, a comparison at a time, just as a filter would.
        if top.returned == Returned::Never || target.returned == Returned::Never {
            return Err(invalid(format!(
                "\"{}\" is never returned, so it cannot be sorted on",
                truncate(text, 100)
            )));
        }
        if target.ty == AttrType::Binary {
            return Err(invalid(format!(
                "\"{}\" holds binary data, which has no order",
                truncate(text, 100)
            )));
        }
        let sub = match (&path.sub, top.ty) {
            (Some(_), _) | (None, AttrType::Complex) => Some(target.name.clone()),
            (None, _) => None,
        };
        Ok(Some(SortSpec {
            urn: resolved.extension.map(str::to_string),
            name: top.name.clone(),
            user_name: resolved.extension.is_none() && sub.is_none() && top.name == "userName",
            sub,
            multi_valued: top.multi_valued,
            ty: target.ty,
            case_exact: target.case_exact,
            order,
        }))
    }

    pub fn order(&self) -> SortOrder {
        self.order
    }

    /// Whether this sorts by the core `userName`, whose index keys are `to_lowercase()` of the
    /// value, the same as [`SortSpec::key`] gives, so walking that index visits resources in
    /// this order (for ascending; reversed for descending).
    pub fn is_user_name(&self) -> bool {
        self.user_name
    }

    /// The attribute in canonical spelling, e.g. `name.familyName` or
    /// `urn:…:enterprise:2.0:User:employeeNumber`.
    pub fn attribute(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.urn {
            s.push_str(u);
            s.push(':');
        }
        s.push_str(&self.name);
        if let Some(sub) = &self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }

    /// The value `resource` (canonical, of `kind`) sorts by.
    pub fn key(&self, resource: &Value, reg: &Registry, kind: ResourceKind) -> SortKey {
        let Some(raw) = lookup_top(resource, reg, kind, self.urn.as_deref(), &self.name) else {
            return SortKey::Missing;
        };
        let element = match raw {
            Value::Array(items) if self.multi_valued => {
                match items
                    .iter()
                    .find(|e| is_primary(e))
                    .or_else(|| items.first())
                {
                    Some(e) => e,
                    None => return SortKey::Missing,
                }
            }
            other => other,
        };
        let scalar = match &self.sub {
            None => Some(element),
            Some(sub) => element.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(sub))
                    .map(|(_, v)| v)
            }),
        };
        scalar.map_or(SortKey::Missing, |v| self.key_of(v))
    }

    fn key_of(&self, v: &Value) -> SortKey {
        match (self.ty, v) {
            (AttrType::Boolean, Value::Bool(b)) => SortKey::Bool(*b),
            (AttrType::Integer, Value::Number(n)) => match n.as_i64() {
                Some(i) => SortKey::Int(i),
                None => n.as_f64().map_or(SortKey::Missing, SortKey::Decimal),
            },
            (AttrType::Decimal, Value::Number(n)) => {
                n.as_f64().map_or(SortKey::Missing, SortKey::Decimal)
            }
            (AttrType::DateTime, Value::String(s)) => match parse_datetime(s) {
                Some(t) => SortKey::Time(t.unix_timestamp(), t.nanosecond()),
                None => SortKey::Missing,
            },
            (AttrType::String | AttrType::Reference, Value::String(s)) => {
                if s.is_empty() {
                    SortKey::Missing
                } else if self.case_exact {
                    SortKey::Str(s.clone())
                } else {
                    SortKey::Str(s.to_lowercase())
                }
            }
            _ => SortKey::Missing,
        }
    }

    /// Orders two `(key, id)` pairs: missing values last when ascending and first when
    /// descending, ties by id ascending whatever the order.
    pub fn compare(&self, a: &(SortKey, String), b: &(SortKey, String)) -> Ordering {
        self.compare_keys(&a.0, &b.0).then_with(|| a.1.cmp(&b.1))
    }

    /// [`SortSpec::compare`] without the id tie-break.
    pub fn compare_keys(&self, a: &SortKey, b: &SortKey) -> Ordering {
        match (a.is_missing(), b.is_missing()) {
            (true, true) => Ordering::Equal,
            (true, false) => match self.order {
                SortOrder::Ascending => Ordering::Greater,
                SortOrder::Descending => Ordering::Less,
            },
            (false, true) => match self.order {
                SortOrder::Ascending => Ordering::Less,
                SortOrder::Descending => Ordering::Greater,
            },
            (false, false) => {
                let ord = a.cmp_present(b);
                match self.order {
                    SortOrder::Ascending => ord,
                    SortOrder::Descending => ord.reverse(),
                }
            }
        }
    }
}

fn parse_order(sort_order: Option<&str>) -> Result<SortOrder, ScimError> {
    match sort_order.map(str::trim) {
        None | Some("") => Ok(SortOrder::Ascending),
        Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
        Some(s) if s.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
        Some(s) => Err(ScimError::invalid_value(format!(
            "invalid sortOrder \"{}\": use \"ascending\" or \"descending\"",
            truncate(s, 60)
        ))),
    }
}

fn is_primary(element: &Value) -> bool {
    element
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("primary"))
                .map(|(_, v)| v)
        })
        .is_some_and(|v| v == &Value::Bool(true))
}

#[cfg(test)]
#[path = "tests/sort.rs"]
mod tests;
