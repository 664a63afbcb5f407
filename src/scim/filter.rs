//! Filters (RFC 7644 §3.4.2.2): parse → check against the schema → evaluate.
//!
//! Three separate passes, so the query planner can inspect the tree between them.

use std::cmp::Ordering;

use serde_json::Value;

use super::error::ScimError;
use super::path::AttrPath;
use super::schema::{AttrType, Attribute, Registry, ResourceKind};
use super::value::{lookup_top, parse_datetime};

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

/// Filters longer than this are refused before parsing: no real client sends one.
pub const MAX_FILTER_LEN: usize = 8192;
/// Nesting bound, so a hostile filter cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, ScimError> {
    let mut out = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes.get(i).copied().unwrap_or(b' ');
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1
            }
            b'[' => {
                out.push((i, Tok::LBracket));
                i += 1
            }
            b']' => {
                out.push((i, Tok::RBracket));
                i += 1
            }
            b'"' => {
                // A JSON string: find the closing quote, honouring backslash escapes, then let
                // serde_json decode the escapes exactly as JSON defines them.
                let start = i;
                let mut j = i + 1;
                let mut closed = false;
                while j < bytes.len() {
                    match bytes.get(j) {
                        Some(b'\\') => j += 2,
                        Some(b'"') => {
                            closed = true;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                if !closed {
                    return Err(err_at(
                        input,
                        start,
                        "this string is never closed with '\"'",
                    ));
                }
                let raw = input.get(start..=j).unwrap_or_default();
                let s: String = serde_json::from_str(raw).map_err(|_| {
                    err_at(input, start, "this string has an invalid escape sequence")
                })?;
                out.push((start, Tok::Str(s)));
                i = j + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes.get(i),
                        Some(b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'[' | b']' | b'"')
                    )
                {
                    i += 1;
                }
                out.push((
                    start,
                    Tok::Word(input.get(start..i).unwrap_or_default().into()),
                ));
            }
        }
    }
    Ok(out)
}

fn err_at(input: &str, pos: usize, what: &str) -> ScimError {
    ScimError::invalid_filter(format!(
        "invalid filter at position {}: {what} (filter: {input})",
        pos + 1
    ))
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    input: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    in_brackets: bool,
}

/// Parses a filter expression.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "the filter is {} characters long; the limit is {MAX_FILTER_LEN}",
            input.len()
        )));
    }
    let toks = lex(input)?;
    if toks.is_empty() {
        return Err(ScimError::invalid_filter("the filter is empty"));
    }
    let mut p = Parser {
        input,
        toks,
        pos: 0,
        depth: 0,
        in_brackets: false,
    };
    let f = p.or()?;
    if let Some((at, t)) = p.toks.get(p.pos) {
        return Err(err_at(
            input,
            *at,
            &format!(
                "unexpected {}; expected \"and\", \"or\" or the end",
                describe(t)
            ),
        ));
    }
    Ok(f)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Word(w) => format!("\"{w}\""),
        Tok::Str(s) => format!("the string \"{s}\""),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(p, _)| *p)
            .unwrap_or(self.input.len())
    }
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn error(&self, what: &str) -> ScimError {
        err_at(self.input, self.at(), what)
    }
    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.not()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, ScimError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            if self.peek() != Some(&Tok::LParen) {
                return Err(self.error("\"not\" must be followed by '('"));
            }
            let inner = self.primary()?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, ScimError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let f = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.error("expected ')' to close the group"));
                }
                self.pos += 1;
                Ok(f)
            }
            Some(Tok::Word(w)) => {
                let start = self.at();
                self.pos += 1;
                let attr = AttrPath::parse(&w).map_err(|why| err_at(self.input, start, &why))?;
                if self.peek() == Some(&Tok::LBracket) {
                    return self.value_path(attr, start);
                }
                self.attr_exp(attr)
            }
            Some(t) => Err(self.error(&format!(
                "unexpected {}; expected an attribute name, \"not\" or '('",
                describe(&t)
            ))),
            None => Err(self.error("the filter ends where an expression was expected")),
        }
    }

    fn value_path(&mut self, attr: AttrPath, start: usize) -> Result<Filter, ScimError> {
        if self.in_brackets {
            return Err(self.error("value filters cannot be nested inside '[ ]'"));
        }
        if attr.sub.is_some() {
            return Err(err_at(
                self.input,
                start,
                "a value filter '[ ]' follows an attribute, not a sub-attribute",
            ));
        }
        self.pos += 1;
        self.in_brackets = true;
        let inner = self.or()?;
        self.in_brackets = false;
        if self.peek() != Some(&Tok::RBracket) {
            return Err(self.error("expected ']' to close the value filter"));
        }
        self.pos += 1;
        // Entra and others write `emails[type eq "work"].value eq "x"`: a sub-attribute comparison
        // after the brackets. It means "some email has type work and value x".
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            if let Some(sub) = w.strip_prefix('.') {
                let sub_at = self.at();
                self.pos += 1;
                let sub_path =
                    AttrPath::parse(sub).map_err(|why| err_at(self.input, sub_at, &why))?;
                if sub_path.urn.is_some() || sub_path.sub.is_some() {
                    return Err(err_at(
                        self.input,
                        sub_at,
                        "expected one sub-attribute name",
                    ));
                }
                let cmp = self.attr_exp(sub_path)?;
                return Ok(Filter::ValuePath {
                    attr,
                    filter: Box::new(Filter::And(Box::new(inner), Box::new(cmp))),
                });
            }
        }
        Ok(Filter::ValuePath {
            attr,
            filter: Box::new(inner),
        })
    }

    fn attr_exp(&mut self, attr: AttrPath) -> Result<Filter, ScimError> {
        let op_word = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            Some(t) => {
                return Err(self.error(&format!(
                    "unexpected {} after \"{attr}\"; expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
                    describe(t)
                )))
            }
            None => {
                return Err(self.error(&format!(
                    "the filter ends after \"{attr}\"; expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"
                )))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            self.pos += 1;
            return Ok(Filter::Present(attr));
        }
        let op = CompareOp::from_word(&op_word).ok_or_else(|| {
            self.error(&format!(
                "\"{op_word}\" is not an operator; expected eq, ne, co, sw, ew, gt, ge, lt, le or pr"
            ))
        })?;
        self.pos += 1;
        let value = match self.peek().cloned() {
            Some(Tok::Str(s)) => Literal::String(s),
            Some(Tok::Word(w)) => word_literal(&w),
            Some(t) => {
                return Err(self.error(&format!(
                    "unexpected {}; expected a value after \"{}\"",
                    describe(&t),
                    op.as_str()
                )))
            }
            None => {
                return Err(self.error(&format!(
                    "the filter ends where a value after \"{}\" was expected",
                    op.as_str()
                )))
            }
        };
        self.pos += 1;
        Ok(Filter::Compare { attr, op, value })
    }
}

/// An unquoted value: `true`, `false`, `null`, a number — or, for Entra's legacy
/// `externalId eq jyoung` (unquoted, RFC-invalid), a bare word taken as a string.
fn word_literal(w: &str) -> Literal {
    match w.to_ascii_lowercase().as_str() {
        "true" => return Literal::Bool(true),
        "false" => return Literal::Bool(false),
        "null" => return Literal::Null,
        _ => {}
    }
    match serde_json::from_str::<Value>(w) {
        Ok(Value::Number(n)) => Literal::Number(n),
        _ => Literal::String(w.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Check: every attribute exists and every operator fits its type.

/// Where the names in a (sub-)filter resolve.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a Registry, ResourceKind),
    Element(&'a Attribute),
}

fn resolve<'a>(scope: Scope<'a>, attr: &AttrPath) -> Result<&'a Attribute, String> {
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
fn comparand(attr: &Attribute) -> Option<&Attribute> {
    if attr.ty == AttrType::Complex {
        attr.sub("value")
    } else {
        Some(attr)
    }
}

impl Filter {
    /// Checks the filter against the schema of `kind`; errors are `invalidFilter` with a reason.
    pub fn check(&self, reg: &Registry, kind: ResourceKind) -> Result<(), ScimError> {
        self.check_in(Scope::Resource(reg, kind))
            .map_err(|why| ScimError::invalid_filter(format!("invalid filter: {why}")))
    }

    fn check_in(&self, scope: Scope<'_>) -> Result<(), String> {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check_in(scope)?;
                b.check_in(scope)
            }
            Filter::Not(a) => a.check_in(scope),
            Filter::Present(attr) => resolve(scope, attr).and_then(|d| returnable(attr, d)),
            Filter::Compare { attr, op, value } => {
                let def = resolve(scope, attr)?;
                returnable(attr, def)?;
                let target = comparand(def).ok_or_else(|| {
                    format!("\"{attr}\" is complex; compare one of its sub-attributes")
                })?;
                check_comparison(attr, target, *op, value)
            }
            Filter::ValuePath { attr, filter } => {
                let def = resolve(scope, attr)?;
                if def.ty != AttrType::Complex && !def.multi_valued {
                    return Err(format!(
                        "\"{attr}\" is a single value; '[ ]' filters apply to multi-valued or complex attributes"
                    ));
                }
                filter.check_in(Scope::Element(def))
            }
        }
    }
}

/// A `returned: never` attribute (password, a declared secret) must not be filterable either:
/// a series of `sw` filters would read it back one character at a time.
fn returnable(attr: &AttrPath, def: &Attribute) -> Result<(), String> {
    if def.returned == super::schema::Returned::Never {
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
) -> Result<(), String> {
    use CompareOp::*;
    if matches!(value, Literal::Null) {
        return if matches!(op, Eq | Ne) {
            Ok(())
        } else {
            Err(format!(
                "\"{attr} {} null\" compares with null; only eq and ne can",
                op.as_str()
            ))
        };
    }
    match def.ty {
        AttrType::Boolean => {
            if !matches!(op, Eq | Ne) {
                return Err(format!(
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
                _ => Err(format!(
                    "\"{attr}\" is a boolean; compare it with true or false"
                )),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if matches!(op, Co | Sw | Ew) {
                return Err(format!(
                    "\"{attr}\" is a number; {} applies to strings",
                    op.as_str()
                ));
            }
            match value {
                Literal::Number(_) => Ok(()),
                _ => Err(format!("\"{attr}\" is a number; compare it with a number")),
            }
        }
        AttrType::DateTime => match value {
            Literal::String(s) => {
                if matches!(op, Co | Sw | Ew) {
                    return Ok(());
                }
                parse_datetime(s).map(|_| ()).ok_or_else(|| {
                    format!("\"{s}\" is not a dateTime (expected e.g. 2026-01-31T12:00:00Z) for \"{attr}\"")
                })
            }
            _ => Err(format!(
                "\"{attr}\" is a dateTime; compare it with a quoted timestamp"
            )),
        },
        AttrType::Complex => Err(format!(
            "\"{attr}\" is complex; compare one of its sub-attributes"
        )),
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Literal::String(_) | Literal::Number(_) | Literal::Bool(_) => Ok(()),
            Literal::Null => Ok(()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluate

impl Filter {
    /// True when `resource` (a canonical resource of `kind`) satisfies the filter.
    /// Call [`Filter::check`] first; names that do not resolve simply do not match.
    pub fn matches(&self, resource: &Value, reg: &Registry, kind: ResourceKind) -> bool {
        self.eval(resource, Scope::Resource(reg, kind))
    }

    /// True when one element of a multi-valued attribute satisfies this value filter.
    pub fn matches_element(&self, element: &Value, parent: &Attribute) -> bool {
        self.eval(element, Scope::Element(parent))
    }

    fn eval(&self, node: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(node, scope) && b.eval(node, scope),
            Filter::Or(a, b) => a.eval(node, scope) || b.eval(node, scope),
            Filter::Not(a) => !a.eval(node, scope),
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
                values_of(node, scope, attr, def).iter().any(|v| present(v))
            }
            Filter::Compare { attr, op, value } => {
                let Ok(def) = resolve(scope, attr) else {
                    return false;
                };
                let Some(target) = comparand(def) else {
                    return false;
                };
                let values = values_of(node, scope, attr, def);
                let hit = |v: &Value| compare(v, target, CompareOp::Eq, value);
                match (op, value) {
                    (CompareOp::Eq, Literal::Null) => !values.iter().any(|v| present(v)),
                    (CompareOp::Ne, Literal::Null) => values.iter().any(|v| present(v)),
                    // ne is the negation of eq: an absent attribute is "not equal".
                    (CompareOp::Ne, _) => !values.iter().any(|v| hit(v)),
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
                    Value::Array(items) => {
                        items.iter().any(|e| filter.eval(e, Scope::Element(def)))
                    }
                    other => filter.eval(other, Scope::Element(def)),
                }
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
    let mut out = Vec::new();
    let elements: Vec<&Value> = match raw {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let sub = match (scope, &attr.sub) {
        (Scope::Resource(..), Some(s)) => Some(s.as_str()),
        _ => None,
    };
    for e in elements {
        match (sub, e) {
            (Some(s), Value::Object(o)) => {
                if let Some(v) = o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(s))
                    .map(|(_, v)| v)
                {
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

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
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
            let (Some(a), Literal::Number(e)) = (actual.as_f64(), expected) else {
                return false;
            };
            let Some(e) = e.as_f64() else { return false };
            ordered(a.partial_cmp(&e), op)
        }
        AttrType::DateTime => {
            let (Some(a), Literal::String(e)) = (actual.as_str(), expected) else {
                return false;
            };
            match op {
                Co | Sw | Ew => string_op(a, e, op, true),
                _ => match (parse_datetime(a), parse_datetime(e)) {
                    (Some(a), Some(e)) => ordered(Some(a.cmp(&e)), op),
                    _ => false,
                },
            }
        }
        _ => {
            let Some(a) = actual.as_str() else {
                return false;
            };
            let e = match expected {
                Literal::String(s) => s.clone(),
                Literal::Number(n) => n.to_string(),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => return false,
            };
            string_op(a, &e, op, def.case_exact)
        }
    }
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

#[cfg(test)]
#[path = "tests/filter.rs"]
mod tests;
