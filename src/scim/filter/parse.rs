//! Recursive-descent parser: `or` binds loosest, then `and`, then `not`, then a group, an
//! attribute expression or a value path (RFC 7644 §3.4.2.2, Figure 1 and Table 5).

use serde_json::{Number, Value};

use super::super::error::ScimError;
use super::super::path::AttrPath;
use super::lex::{err_at, lex, Tok};
use super::{CompareOp, Filter, FilterLimits, Literal, MAX_DEPTH};

/// Where the parts of one attribute expression or value path start (byte offsets), so the
/// schema check can point at the part it refuses. One per node that names an attribute, in
/// pre-order — the order the parser meets them, and the order the checker walks the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Site {
    pub attr: usize,
    /// The operator, `pr`, or the `[` of a value path.
    pub op: usize,
    /// The comparison value; the operator for `pr` and value paths.
    pub value: usize,
}

struct Parser<'a> {
    input: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    max_depth: usize,
    in_brackets: bool,
    sites: Vec<Site>,
}

/// Parses `input`, returning the tree and the [`Site`]s of its attribute nodes.
pub(super) fn parse_with_sites(
    input: &str,
    limits: FilterLimits,
) -> Result<(Filter, Vec<Site>), ScimError> {
    let max_length = limits.max_length;
    if input.len() > max_length {
        // The whole text is not echoed back: it is what is too long.
        return Err(ScimError::invalid_filter(format!(
            "invalid filter at position {}: the filter is {} bytes long; the limit is {max_length} (max_filter_length)",
            max_length + 1,
            input.len()
        )));
    }
    let toks = lex(input)?;
    if toks.is_empty() {
        return Err(err_at(input, 0, "the filter is empty"));
    }
    let mut p = Parser {
        input,
        toks,
        pos: 0,
        depth: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH),
        in_brackets: false,
        sites: Vec::new(),
    };
    let f = p.or()?;
    if let Some((at, t)) = p.toks.get(p.pos) {
        return Err(err_at(
            input,
            *at,
            &format!(
                "unexpected {}; expected \"and\", \"or\" or the end",
                t.describe()
            ),
        ));
    }
    Ok((f, p.sites))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks
            .get(self.pos)
            .map_or(self.input.len(), |(p, _)| *p)
    }
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn error(&self, what: &str) -> ScimError {
        err_at(self.input, self.at(), what)
    }
    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            let max = self.max_depth;
            return Err(self.error(&format!(
                "nesting deeper than {max} levels (max_filter_depth)"
            )));
        }
        Ok(())
    }
    /// Records a site for the attribute at `attr`; the operator and value are filled in later.
    fn open_site(&mut self, attr: usize) -> usize {
        self.sites.push(Site {
            attr,
            op: attr,
            value: attr,
        });
        self.sites.len() - 1
    }
    fn close_site(&mut self, idx: usize, op: usize, value: usize) {
        if let Some(s) = self.sites.get_mut(idx) {
            s.op = op;
            s.value = value;
        }
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
                let site = self.open_site(start);
                if self.peek() == Some(&Tok::LBracket) {
                    return self.value_path(attr, start, site);
                }
                self.attr_exp(attr, site)
            }
            Some(t) => Err(self.error(&format!(
                "unexpected {}; expected an attribute name, \"not\" or '('",
                t.describe()
            ))),
            None => Err(self.error("the filter ends where an expression was expected")),
        }
    }

    fn value_path(
        &mut self,
        attr: AttrPath,
        start: usize,
        site: usize,
    ) -> Result<Filter, ScimError> {
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
        let bracket = self.at();
        self.close_site(site, bracket, bracket);
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
                // The site points past the '.', at the name itself.
                let sub_at = self.at() + 1;
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
                let sub_site = self.open_site(sub_at);
                let cmp = self.attr_exp(sub_path, sub_site)?;
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

    fn attr_exp(&mut self, attr: AttrPath, site: usize) -> Result<Filter, ScimError> {
        const OPERATORS: &str = "eq, ne, co, sw, ew, gt, ge, lt, le or pr";
        let op_at = self.at();
        let op_word = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            Some(t) => {
                return Err(self.error(&format!(
                    "unexpected {} after \"{attr}\"; expected an operator ({OPERATORS})",
                    t.describe()
                )))
            }
            None => {
                return Err(self.error(&format!(
                    "the filter ends after \"{attr}\"; expected an operator ({OPERATORS})"
                )))
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            self.pos += 1;
            self.close_site(site, op_at, op_at);
            return Ok(Filter::Present(attr));
        }
        let op = CompareOp::from_word(&op_word).ok_or_else(|| {
            self.error(&format!(
                "\"{op_word}\" is not an operator; expected {OPERATORS}"
            ))
        })?;
        self.pos += 1;
        let value_at = self.at();
        let value = match self.peek().cloned() {
            Some(Tok::Str(s)) => Literal::String(s),
            Some(Tok::Word(w)) => word_literal(&w),
            Some(t) => {
                return Err(self.error(&format!(
                    "unexpected {}; expected a value after \"{}\"",
                    t.describe(),
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
        self.close_site(site, op_at, value_at);
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
        // serde_json (without its float_roundtrip feature) may miss a decimal's last bit; the
        // standard parser rounds correctly, so `x eq 0.1` means the same number the client wrote.
        Ok(Value::Number(n)) if n.is_f64() => w
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Literal::Number(n), Literal::Number),
        Ok(Value::Number(n)) => Literal::Number(n),
        _ => Literal::String(w.to_string()),
    }
}
