//! Filters (RFC 7644 §3.4.2.2): parse → check against the schema → evaluate.
//!
//! Separate passes, so the query planner can inspect the tree between them. [`parse_checked`]
//! runs the first two and points check errors at the position of the problem in the text.

use std::fmt;

use serde_json::Value;

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{Attribute, Registry, ResourceKind};

mod check;
mod eval;
mod lex;
mod parse;

use check::Scope;

/// An attribute operator of RFC 7644 §3.4.2.2 Table 3 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn from_word(w: &str) -> Option<CompareOp> {
        Some(match w.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value: JSON `false / null / true / number / string`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

/// A parsed filter. `and` and `or` nest to the left as written; [`fmt::Display`] prints it back.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare {
        attr: AttrPath,
        op: CompareOp,
        value: Literal,
    },
    /// `attr[filter]`: some value of the multi-valued `attr` satisfies `filter`, whose attribute
    /// names are sub-attributes of `attr`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// Filters longer than this (in bytes) are refused before parsing: no real client sends one.
/// The default of `[limits] max_filter_length`, and the bound of filters in PATCH paths.
pub const MAX_FILTER_LEN: usize = 8192;
/// Nesting bound, so a hostile filter cannot exhaust the stack: the default and the ceiling of
/// `[limits] max_filter_depth`.
pub const MAX_DEPTH: usize = 64;

/// How long and how deeply nested a filter may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// In bytes.
    pub max_length: usize,
    /// Levels of parentheses, `not` and value paths; capped at [`MAX_DEPTH`] whatever is asked.
    pub max_depth: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits {
            max_length: MAX_FILTER_LEN,
            max_depth: MAX_DEPTH,
        }
    }
}

/// Parses a filter expression. Errors are `invalidFilter` and name the position of the problem.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    parse::parse_with_sites(input, FilterLimits::default()).map(|(f, _)| f)
}

/// Parses a filter and checks it against the schema of `kind`, as [`parse`] then
/// [`Filter::check`] would, except that a check error also names the position in `input` of
/// the attribute, operator or value it refuses.
pub fn parse_checked(input: &str, reg: &Registry, kind: ResourceKind) -> Result<Filter, ScimError> {
    parse_checked_within(input, reg, kind, FilterLimits::default())
}

/// [`parse_checked`] with the configured length and depth limits.
pub fn parse_checked_within(
    input: &str,
    reg: &Registry,
    kind: ResourceKind,
    limits: FilterLimits,
) -> Result<Filter, ScimError> {
    let (f, sites) = parse::parse_with_sites(input, limits)?;
    check::check(&f, Scope::Resource(reg, kind), &sites).map_err(|(pos, why)| match pos {
        Some(p) => lex::err_at(input, p, &why),
        None => ScimError::invalid_filter(format!("invalid filter: {why} (filter: {input})")),
    })?;
    Ok(f)
}

impl Filter {
    /// Checks the filter against the schema of `kind`; errors are `invalidFilter` with a reason
    /// (without a position: the tree no longer knows its text; see [`parse_checked`]).
    pub fn check(&self, reg: &Registry, kind: ResourceKind) -> Result<(), ScimError> {
        check::check(self, Scope::Resource(reg, kind), &[])
            .map_err(|(_, why)| ScimError::invalid_filter(format!("invalid filter: {why}")))
    }

    /// True when `resource` (a canonical resource of `kind`) satisfies the filter.
    /// Call [`Filter::check`] first; names that do not resolve simply do not match.
    pub fn matches(&self, resource: &Value, reg: &Registry, kind: ResourceKind) -> bool {
        eval::eval(self, resource, Scope::Resource(reg, kind))
    }

    /// True when one element of a multi-valued attribute satisfies this value filter.
    pub fn matches_element(&self, element: &Value, parent: &Attribute) -> bool {
        eval::eval(self, element, Scope::Element(parent))
    }
}

/// Canonical RFC 7644 syntax: lower-case operators, JSON strings, and parentheses exactly where
/// the precedence (`not` over `and` over `or`, both left-associative) needs them, so that
/// [`parse`] gives back the same tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(a, b) => {
                write_operand(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write_operand(f, a, false)?;
                f.write_str(" or ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::Present(attr) => write!(f, "{attr} pr"),
            Filter::Compare { attr, op, value } => write!(f, "{attr} {} {value}", op.as_str()),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({operand})")
    } else {
        write!(f, "{operand}")
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Number(n) => write!(f, "{n}"),
            // Serializing a str cannot fail; the fallback only keeps this panic-free.
            Literal::String(s) => match serde_json::to_string(s) {
                Ok(quoted) => f.write_str(&quoted),
                Err(_) => Err(fmt::Error),
            },
        }
    }
}

#[cfg(test)]
#[path = "../tests/filter.rs"]
mod tests;

#[cfg(test)]
#[path = "../tests/filter_syntax.rs"]
mod syntax_tests;

#[cfg(test)]
#[path = "../tests/filter_model.rs"]
mod model;

#[cfg(test)]
#[path = "../tests/filter_model_props.rs"]
mod model_tests;
