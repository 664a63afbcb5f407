//! Tokens of the filter grammar, each with the byte offset where it starts.

use super::super::error::ScimError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Str(s) => format!("the string \"{s}\""),
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn lex(input: &str) -> Result<Vec<(usize, Tok)>, ScimError> {
    let mut out = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let single = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(t) = single {
            out.push((i, t));
            i += 1;
        } else if is_space(c) {
            i += 1;
        } else if c == b'"' {
            let (s, next) = string(input, i)?;
            out.push((i, Tok::Str(s)));
            i = next;
        } else {
            let start = i;
            while bytes
                .get(i)
                .is_some_and(|&b| !is_space(b) && !matches!(b, b'(' | b')' | b'[' | b']' | b'"'))
            {
                i += 1;
            }
            let word = input.get(start..i).unwrap_or_default();
            out.push((start, Tok::Word(word.into())));
        }
    }
    Ok(out)
}

/// A JSON string starting at `start`: the closing quote is found honouring backslash escapes,
/// then serde_json decodes the escapes exactly as JSON defines them. Returns the decoded text
/// and the offset after the closing quote.
fn string(input: &str, start: usize) -> Result<(String, usize), ScimError> {
    let bytes = input.as_bytes();
    let mut j = start + 1;
    loop {
        match bytes.get(j) {
            None => {
                return Err(err_at(
                    input,
                    start,
                    "this string is never closed with '\"'",
                ))
            }
            Some(b'\\') => j += 2,
            Some(b'"') => break,
            Some(_) => j += 1,
        }
    }
    let raw = input.get(start..=j).unwrap_or_default();
    match serde_json::from_str::<String>(raw) {
        Ok(s) => Ok((s, j + 1)),
        Err(e) => {
            // serde_json counts columns in bytes from 1; point at the offending one when that
            // lands on a character.
            let at = start + e.column().saturating_sub(1);
            let at = if e.line() == 1 && input.is_char_boundary(at) {
                at
            } else {
                start
            };
            Err(err_at(
                input,
                at,
                "this string has an invalid escape sequence or an unescaped control character",
            ))
        }
    }
}

/// An `invalidFilter` error at byte offset `pos` of `input`. The position is counted in
/// characters from 1, since people read it, not programs.
pub(super) fn err_at(input: &str, pos: usize, what: &str) -> ScimError {
    let column = input
        .get(..pos)
        .map_or(pos, |before| before.chars().count())
        + 1;
    ScimError::invalid_filter(format!(
        "invalid filter at position {column}: {what} (filter: {input})"
    ))
}
