//! A deliberately naive reference evaluator for the property tests: a fixed schema known by
//! name, and the RFC 7644 §3.4.2.2 rules read as plainly as possible, sharing no code with the
//! evaluator it checks.

use serde_json::{Number, Value};

use super::super::path::AttrPath;
use super::super::schema::{
    AttrType, Attribute, Mutability, Registry, ResourceKind, Returned, Schema,
};
use super::syntax_tests::EXT;
use super::{CompareOp, Filter, Literal};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ty {
    /// A string or reference; `true` when case-exact.
    Str(bool),
    Bin,
    Bool,
    Num,
    Date,
    Complex,
}

pub(super) fn model_registry() -> Registry {
    let attr = |name: &str, ty: AttrType, multi: bool| {
        Attribute::custom(
            name,
            ty,
            multi,
            false,
            false,
            Mutability::ReadWrite,
            Returned::Default,
            "",
        )
    };
    Registry::with_extensions(vec![(
        ResourceKind::User,
        Schema {
            id: EXT.into(),
            name: "Model".into(),
            description: String::new(),
            attributes: vec![
                attr("age", AttrType::Integer, false),
                attr("score", AttrType::Decimal, false),
                attr("blob", AttrType::Binary, false),
                attr("since", AttrType::DateTime, false),
                attr("tags", AttrType::String, true),
            ],
        },
    )])
}

const EXT_NAMES: [&str; 5] = ["age", "score", "blob", "since", "tags"];

fn top_ty(name: &str) -> Ty {
    match name.to_lowercase().as_str() {
        "username" | "displayname" | "profileurl" | "tags" => Ty::Str(false),
        "externalid" => Ty::Str(true),
        "active" => Ty::Bool,
        "age" | "score" => Ty::Num,
        "blob" => Ty::Bin,
        "since" => Ty::Date,
        _ => Ty::Complex,
    }
}

fn sub_ty(parent: &str, sub: &str) -> Ty {
    match (parent.to_lowercase().as_str(), sub.to_lowercase().as_str()) {
        ("emails", "primary") => Ty::Bool,
        ("meta", "lastmodified") => Ty::Date,
        ("x509certificates", "value") => Ty::Bin,
        // tags is a simple multi-valued attribute: inside `tags[...]`, "value" is the tag.
        ("tags", "value") => Ty::Str(false),
        _ => Ty::Str(false),
    }
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, x)| x)
}

fn top_raw<'v>(r: &'v Value, name: &str) -> Option<&'v Value> {
    if EXT_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        get_ci(get_ci(r, EXT)?, name)
    } else {
        get_ci(r, name)
    }
}

fn flatten(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => vec![],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => vec![other],
    }
}

/// Something is there: not null, not "", and for arrays and objects, something inside is there.
fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(non_empty),
        Value::Object(o) => o.values().any(non_empty),
        _ => true,
    }
}

/// Where names resolve: the resource, or one element of a multi-valued attribute.
#[derive(Clone, Copy)]
pub(super) enum Ctx<'v> {
    Top(&'v Value),
    Elem(&'v str, &'v Value),
}

/// The leaf values an attribute expression sees, and their type.
fn leaves<'v>(ctx: Ctx<'v>, p: &AttrPath) -> (Vec<&'v Value>, Ty) {
    match ctx {
        Ctx::Top(r) => {
            let raw = flatten(top_raw(r, &p.name));
            match (&p.sub, top_ty(&p.name)) {
                (Some(s), _) => (
                    raw.into_iter().filter_map(|e| get_ci(e, s)).collect(),
                    sub_ty(&p.name, s),
                ),
                (None, Ty::Complex) => (
                    raw.into_iter().filter_map(|e| get_ci(e, "value")).collect(),
                    sub_ty(&p.name, "value"),
                ),
                (None, ty) => (raw, ty),
            }
        }
        Ctx::Elem(parent, e) => {
            let ty = sub_ty(parent, &p.name);
            if parent.eq_ignore_ascii_case("tags") {
                (vec![e], ty)
            } else {
                (get_ci(e, &p.name).into_iter().collect(), ty)
            }
        }
    }
}

pub(super) fn model(f: &Filter, ctx: Ctx<'_>) -> bool {
    match f {
        Filter::And(a, b) => model(a, ctx) && model(b, ctx),
        Filter::Or(a, b) => model(a, ctx) || model(b, ctx),
        Filter::Not(a) => !model(a, ctx),
        Filter::Present(p) => match ctx {
            Ctx::Top(r) if p.sub.is_none() && top_ty(&p.name) == Ty::Complex => {
                top_raw(r, &p.name).is_some_and(non_empty)
            }
            _ => leaves(ctx, p).0.into_iter().any(non_empty),
        },
        Filter::Compare { attr, op, value } => {
            let (vals, ty) = leaves(ctx, attr);
            match (op, value) {
                (CompareOp::Eq, Literal::Null) => !vals.into_iter().any(non_empty),
                (CompareOp::Ne, Literal::Null) => vals.into_iter().any(non_empty),
                (CompareOp::Ne, _) => !vals.into_iter().any(|v| leaf(v, ty, CompareOp::Eq, value)),
                _ => vals.into_iter().any(|v| leaf(v, ty, *op, value)),
            }
        }
        Filter::ValuePath { attr, filter } => {
            let Ctx::Top(r) = ctx else { return false };
            let name = attr.name.to_lowercase();
            let parent: &str = match name.as_str() {
                "emails" => "emails",
                "x509certificates" => "x509certificates",
                "tags" => "tags",
                "name" => "name",
                _ => return false,
            };
            flatten(top_raw(r, &attr.name))
                .into_iter()
                .any(|e| model(filter, Ctx::Elem(parent, e)))
        }
    }
}

fn leaf(v: &Value, ty: Ty, op: CompareOp, lit: &Literal) -> bool {
    use CompareOp::*;
    let by_order = |o: std::cmp::Ordering| match op {
        Eq => o.is_eq(),
        Ne => o.is_ne(),
        Gt => o.is_gt(),
        Ge => o.is_ge(),
        Lt => o.is_lt(),
        Le => o.is_le(),
        Co | Sw | Ew => false,
    };
    let text = |a: &str, b: &str| match op {
        Co => a.contains(b),
        Sw => a.starts_with(b),
        Ew => a.ends_with(b),
        _ => by_order(a.cmp(b)),
    };
    match ty {
        // Binary is always case-exact.
        Ty::Str(true) | Ty::Bin => {
            let (Some(a), Some(b)) = (v.as_str(), lit_text(lit)) else {
                return false;
            };
            text(a, &b)
        }
        Ty::Str(false) => {
            let (Some(a), Some(b)) = (v.as_str(), lit_text(lit)) else {
                return false;
            };
            text(&a.to_lowercase(), &b.to_lowercase())
        }
        Ty::Bool => match (v.as_bool(), lit) {
            (Some(a), Literal::Bool(b)) => by_order(a.cmp(b)) && matches!(op, Eq | Ne),
            _ => false,
        },
        Ty::Num => match (v, lit) {
            (Value::Number(a), Literal::Number(b)) => by_order(millionths(a).cmp(&millionths(b))),
            _ => false,
        },
        Ty::Date => match (v.as_str(), lit) {
            (Some(a), Literal::String(b)) if matches!(op, Co | Sw | Ew) => text(a, b),
            (Some(a), Literal::String(b)) => match (nanos(a), nanos(b)) {
                (Some(x), Some(y)) => by_order(x.cmp(&y)),
                _ => false,
            },
            _ => false,
        },
        Ty::Complex => false,
    }
}

fn lit_text(lit: &Literal) -> Option<String> {
    match lit {
        Literal::String(s) => Some(s.clone()),
        Literal::Number(n) => Some(n.to_string()),
        Literal::Bool(b) => Some(b.to_string()),
        Literal::Null => None,
    }
}

/// A number's decimal text as an integer count of millionths: the generated numbers have at most
/// six fractional digits and no exponent, so this is exact.
fn millionths(n: &Number) -> i128 {
    let s = n.to_string();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.as_str()),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<6}");
    assert!(
        frac.len() == 6 && !int.contains('e'),
        "unexpected number {n}"
    );
    let v = int.parse::<i128>().unwrap() * 1_000_000 + frac.parse::<i128>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` as nanoseconds since 1970, by hand.
pub(super) fn nanos(s: &str) -> Option<i128> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i128>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let rest = s.get(19..)?;
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.chars().take_while(|c| c.is_ascii_digit()).count();
            (&r[..digits], &r[digits..])
        }
        None => ("", rest),
    };
    let frac_ns = format!("{frac:0<9}").get(..9)?.parse::<i128>().ok()?;
    let offset_min = match zone {
        "Z" | "z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (z.get(1..3)?.parse::<i128>().ok()? * 60 + z.get(4..6)?.parse::<i128>().ok()?)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1_000_000_000 + frac_ns)
}
