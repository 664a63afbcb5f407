//! Check: every attribute exists, may be filtered on, and every operator and value fits the
//! attribute's type (RFC 7644 §3.4.2.2). Also the name resolution the evaluator shares.

use super::super::path::AttrPath;
use super::super::schema::{AttrType, Attribute, Registry, ResourceKind, Returned};
use super::super::value::parse_datetime;
use super::parse::Site;
use super::{CompareOp, Filter, Literal};

/// Where the names in a (sub-)filter resolve.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Resource(&'a Registry, ResourceKind),
    Element(&'a Attribute),
}

pub(super) fn resolve<'a>(scope: Scope<'a>, attr: &AttrPath) -> Result<&'a Attribute, String> {
    match scope {
        Scope::Resource(reg, kind) => {
            let top = reg
                .resolve(kind, attr.urn.as_deref(), &attr.name)
                .ok_or_else(|| format!("\"{attr}\" is not an attribute of {}", kind.name()))?
                .attr;
            match &attr.sub {
                None => Ok(top),
                Some(s) => top.sub(s).ok_or_else(|| {
                    format!("\"{attr}\": \"{}\" has no sub-attribute \"{s}\"", top.name)
                }),
            }
        }
        Scope::Element(parent) => {
            if attr.urn.is_some() || attr.sub.is_some() {
                return Err(format!(
                    "inside \"{}[…]\" only sub-attribute names are allowed, not \"{attr}\"",
                    parent.name
                ));
            }
            if parent.ty != AttrType::Complex {
                // Simple multi-valued attributes are filtered on their own value.
                if attr.name.eq_ignore_ascii_case("value") {
                    return Ok(parent);
                }
            }
            parent.sub(&attr.name).ok_or_else(|| {
                format!("\"{}\" has no sub-attribute \"{}\"", parent.name, attr.name)
            })
        }
    }
}

/// The attribute whose values a comparison on `attr` really compares: a complex attribute is
/// compared through its `value` sub-attribute (`emails eq "x"`, Ping; `manager eq "id"`, Entra).
pub(super) fn comparand(attr: &Attribute) -> Option<&Attribute> {
    if attr.ty == AttrType::Complex {
        attr.sub("value")
    } else {
        Some(attr)
    }
}

/// A refusal: the byte offset it is about (when the parser recorded one) and why.
pub(super) type Refusal = (Option<usize>, String);

/// Which part of an attribute expression a refusal is about.
#[derive(Clone, Copy)]
enum Part {
    Attr,
    Op,
    Value,
}

/// The parser's sites, handed out in the pre-order the checker walks the tree.
struct Sites<'s> {
    list: &'s [Site],
    next: usize,
}

impl Sites<'_> {
    fn take(&mut self) -> Option<Site> {
        let s = self.list.get(self.next).copied();
        self.next += 1;
        s
    }
}

fn at(site: Option<Site>, part: Part) -> impl Fn(String) -> Refusal {
    move |why| {
        let pos = site.map(|s| match part {
            Part::Attr => s.attr,
            Part::Op => s.op,
            Part::Value => s.value,
        });
        (pos, why)
    }
}

/// Checks `f` in `scope`; `sites` are the parser's (empty for a tree built in code).
pub(super) fn check(f: &Filter, scope: Scope<'_>, sites: &[Site]) -> Result<(), Refusal> {
    check_in(
        f,
        scope,
        &mut Sites {
            list: sites,
            next: 0,
        },
    )
}

fn check_in(f: &Filter, scope: Scope<'_>, sites: &mut Sites<'_>) -> Result<(), Refusal> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_in(a, scope, sites)?;
            check_in(b, scope, sites)
        }
        Filter::Not(a) => check_in(a, scope, sites),
        Filter::Present(attr) => {
            let site = sites.take();
            let def = resolve(scope, attr).map_err(at(site, Part::Attr))?;
            returnable(attr, def).map_err(at(site, Part::Attr))
        }
        Filter::Compare { attr, op, value } => {
            let site = sites.take();
            let def = resolve(scope, attr).map_err(at(site, Part::Attr))?;
            returnable(attr, def).map_err(at(site, Part::Attr))?;
            let target = comparand(def).ok_or_else(|| {
                at(site, Part::Attr)(format!(
                    "\"{attr}\" is complex; compare one of its sub-attributes"
                ))
            })?;
            check_comparison(attr, target, *op, value).map_err(|(part, why)| at(site, part)(why))
        }
        Filter::ValuePath { attr, filter } => {
            let site = sites.take();
            let def = resolve(scope, attr).map_err(at(site, Part::Attr))?;
            if def.ty != AttrType::Complex && !def.multi_valued {
                return Err(at(site, Part::Attr)(format!(
                    "\"{attr}\" is a single value; '[ ]' filters apply to multi-valued or complex attributes"
                )));
            }
            check_in(filter, Scope::Element(def), sites)
        }
    }
}

/// A `returned: never` attribute (password, a declared secret) must not be filterable either:
/// a series of `sw` filters would read it back one character at a time.
fn returnable(attr: &AttrPath, def: &Attribute) -> Result<(), String> {
    if def.returned == Returned::Never {
        return Err(format!(
            "\"{attr}\" is never returned, so it cannot be filtered on"
        ));
    }
    Ok(())
}

fn check_comparison(
    attr: &AttrPath,
    def: &Attribute,
    op: CompareOp,
    value: &Literal,
) -> Result<(), (Part, String)> {
    use CompareOp::*;
    let op_err = |why: String| Err((Part::Op, why));
    let value_err = |why: String| Err((Part::Value, why));
    if matches!(value, Literal::Null) {
        return if matches!(op, Eq | Ne) {
            Ok(())
        } else {
            op_err(format!(
                "\"{attr} {} null\" compares with null; only eq and ne can",
                op.as_str()
            ))
        };
    }
    match def.ty {
        AttrType::Boolean => {
            if !matches!(op, Eq | Ne) {
                return op_err(format!(
                    "\"{attr}\" is a boolean; only eq and ne apply, not {}",
                    op.as_str()
                ));
            }
            match value {
                Literal::Bool(_) => Ok(()),
                Literal::String(s)
                    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                {
                    Ok(())
                }
                _ => value_err(format!(
                    "\"{attr}\" is a boolean; compare it with true or false"
                )),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if matches!(op, Co | Sw | Ew) {
                return op_err(format!(
                    "\"{attr}\" is a number; {} applies to strings",
                    op.as_str()
                ));
            }
            match value {
                Literal::Number(_) => Ok(()),
                _ => value_err(format!("\"{attr}\" is a number; compare it with a number")),
            }
        }
        AttrType::DateTime => match value {
            Literal::String(s) => {
                if matches!(op, Co | Sw | Ew) {
                    return Ok(());
                }
                match parse_datetime(s) {
                    Some(_) => Ok(()),
                    None => value_err(format!(
                        "\"{s}\" is not a dateTime (expected e.g. 2026-01-31T12:00:00Z) for \"{attr}\""
                    )),
                }
            }
            _ => value_err(format!(
                "\"{attr}\" is a dateTime; compare it with a quoted timestamp"
            )),
        },
        AttrType::Complex => Err((
            Part::Attr,
            format!("\"{attr}\" is complex; compare one of its sub-attributes"),
        )),
        // RFC 7644 §3.4.2.2: gt, ge, lt and le on a binary value SHALL be refused with
        // invalidFilter; base64 text has no meaningful order.
        AttrType::Binary if matches!(op, Gt | Ge | Lt | Le) => op_err(format!(
            "\"{attr}\" is binary; only eq, ne, co, sw, ew and pr apply, not {}",
            op.as_str()
        )),
        AttrType::String | AttrType::Reference | AttrType::Binary => Ok(()),
    }
}
