//! Evaluate a checked filter against a canonical resource or one element of a multi-valued
//! attribute.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::super::path::AttrPath;
use super::super::schema::{AttrType, Attribute};
use super::super::value::{lookup_top, parse_datetime};
use super::check::{comparand, resolve, Scope};
use super::{CompareOp, Filter, Literal};

/// Names that do not resolve simply do not match: the tree was checked before.
pub(super) fn eval(f: &Filter, node: &Value, scope: Scope<'_>) -> bool {
    match f {
        Filter::And(a, b) => eval(a, node, scope) && eval(b, node, scope),
        Filter::Or(a, b) => eval(a, node, scope) || eval(b, node, scope),
        Filter::Not(a) => !eval(a, node, scope),
        Filter::Present(attr) => {
            let Ok(def) = resolve(scope, attr) else {
                return false;
            };
            if def.ty == AttrType::Complex
                && matches!(scope, Scope::Resource(..))
                && attr.sub.is_none()
            {
                // `name pr`: the complex value itself is there, whatever its sub-attributes.
                return raw_value(node, scope, attr).is_some_and(present);
            }
            values_of(node, scope, attr, def).into_iter().any(present)
        }
        Filter::Compare { attr, op, value } => {
            let Ok(def) = resolve(scope, attr) else {
                return false;
            };
            let Some(target) = comparand(def) else {
                return false;
            };
            let values = values_of(node, scope, attr, def);
            match (op, value) {
                (CompareOp::Eq, Literal::Null) => !values.iter().any(|v| present(v)),
                (CompareOp::Ne, Literal::Null) => values.iter().any(|v| present(v)),
                // ne is the negation of eq: an absent attribute, or a multi-valued one none of
                // whose values equals, is "not equal".
                (CompareOp::Ne, _) => !values
                    .iter()
                    .any(|v| compare(v, target, CompareOp::Eq, value)),
                _ => values.iter().any(|v| compare(v, target, *op, value)),
            }
        }
        Filter::ValuePath { attr, filter } => {
            let Ok(def) = resolve(scope, attr) else {
                return false;
            };
            let Some(raw) = raw_value(node, scope, attr) else {
                return false;
            };
            match raw {
                Value::Array(items) => items.iter().any(|e| eval(filter, e, Scope::Element(def))),
                other => eval(filter, other, Scope::Element(def)),
            }
        }
    }
}

fn raw_value<'v>(node: &'v Value, scope: Scope<'_>, attr: &AttrPath) -> Option<&'v Value> {
    match scope {
        Scope::Resource(reg, kind) => lookup_top(node, reg, kind, attr.urn.as_deref(), &attr.name),
        Scope::Element(parent) => {
            if parent.ty != AttrType::Complex {
                return Some(node);
            }
            let def = parent.sub(&attr.name)?;
            node.get(def.name.as_str())
        }
    }
}

/// The scalar values a comparison on `attr` sees: multi-valued attributes contribute every
/// element; complex values contribute their `value` (or the named sub-attribute).
fn values_of<'v>(
    node: &'v Value,
    scope: Scope<'_>,
    attr: &AttrPath,
    def: &Attribute,
) -> Vec<&'v Value> {
    let Some(raw) = raw_value(node, scope, attr) else {
        return Vec::new();
    };
    let elements: Vec<&Value> = match raw {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let sub = match (scope, &attr.sub) {
        (Scope::Resource(..), Some(s)) => Some(s.as_str()),
        _ => None,
    };
    let mut out = Vec::new();
    for e in elements {
        match (sub, e) {
            (Some(s), Value::Object(o)) => {
                if let Some((_, v)) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)) {
                    out.push(v);
                }
            }
            (Some(_), _) => {}
            (None, Value::Object(o)) if def.ty == AttrType::Complex => {
                if let Some(v) = o.get("value") {
                    out.push(v);
                }
            }
            (None, v) => out.push(v),
        }
    }
    out
}

/// RFC 7644 §3.4.2.2 `pr`: "a non-empty value, or … a non-empty node for complex attributes".
/// Null and the empty string are empty, and so is an array or object holding nothing but empty
/// values (`[{}]`, `{"value": ""}`), which canonical resources never store but PATCH
/// intermediates and hand-built documents can.
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(o) => o.values().any(present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(actual: &Value, def: &Attribute, op: CompareOp, expected: &Literal) -> bool {
    use CompareOp::*;
    match def.ty {
        AttrType::Boolean => {
            let want = match expected {
                Literal::Bool(b) => *b,
                Literal::String(s) => s.eq_ignore_ascii_case("true"),
                _ => return false,
            };
            let Some(have) = actual.as_bool() else {
                return false;
            };
            match op {
                Eq => have == want,
                Ne => have != want,
                _ => false,
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            let (Value::Number(a), Literal::Number(e)) = (actual, expected) else {
                return false;
            };
            ordered(cmp_numbers(a, e), op)
        }
        AttrType::DateTime => {
            let (Some(a), Literal::String(e)) = (actual.as_str(), expected) else {
                return false;
            };
            match op {
                Co | Sw | Ew => string_op(a, e, op, true),
                // Chronological: offsets and fractional seconds are taken into account.
                _ => match (parse_datetime(a), parse_datetime(e)) {
                    (Some(a), Some(e)) => ordered(Some(a.cmp(&e)), op),
                    _ => false,
                },
            }
        }
        AttrType::Complex => false,
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let Some(a) = actual.as_str() else {
                return false;
            };
            let e = match expected {
                Literal::String(s) => s.clone(),
                Literal::Number(n) => n.to_string(),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => return false,
            };
            // RFC 7644 §3.4.2.2: binary values compare case-exactly, whatever the schema says;
            // base64 is case-sensitive.
            let case_exact = def.case_exact || def.ty == AttrType::Binary;
            string_op(a, &e, op, case_exact)
        }
    }
}

/// Compares two JSON numbers by value, exactly: integers as integers (no rounding through f64
/// above 2^53), an integer against a decimal without losing the integer's precision.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => cmp_int_float(x, b.as_f64()?),
        (None, Some(y)) => cmp_int_float(y, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn as_int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn cmp_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Every i128 we hold comes from an i64 or u64, so ±2^64 bounds them.
    const BOUND: f64 = 18_446_744_073_709_551_616.0;
    if f >= BOUND {
        return Some(Ordering::Less);
    }
    if f <= -BOUND {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In range and integral, so the cast is exact.
    let w = whole as i128;
    Some(i.cmp(&w).then(if f > whole {
        Ordering::Less
    } else if f < whole {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

fn string_op(a: &str, e: &str, op: CompareOp, case_exact: bool) -> bool {
    use CompareOp::*;
    let (a, e) = if case_exact {
        (a.to_string(), e.to_string())
    } else {
        (a.to_lowercase(), e.to_lowercase())
    };
    match op {
        Eq => a == e,
        Ne => a != e,
        Co => a.contains(&e),
        Sw => a.starts_with(&e),
        Ew => a.ends_with(&e),
        Gt | Ge | Lt | Le => ordered(Some(a.cmp(&e)), op),
    }
}

fn ordered(ord: Option<Ordering>, op: CompareOp) -> bool {
    use CompareOp::*;
    let Some(ord) = ord else { return false };
    match op {
        Eq => ord == Ordering::Equal,
        Ne => ord != Ordering::Equal,
        Gt => ord == Ordering::Greater,
        Ge => ord != Ordering::Less,
        Lt => ord == Ordering::Less,
        Le => ord != Ordering::Greater,
        Co | Sw | Ew => false,
    }
}
