//! Editing: `scimd token issue --config` appends a stanza, keeping the file's comments and layout.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::Path;

use super::{check_token_name, line_column, parse_token_hash, ConfigError, Problem};

/// What `token issue` may set on a new token beyond its name and hash; the default is what a
/// stanza without these keys means (every scope, no expiry, no rate limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewToken {
    /// Written only when it is not every scope.
    pub scopes: crate::auth::Scopes,
    pub expires_at: Option<time::OffsetDateTime>,
    pub requests_per_second: Option<u32>,
}

/// [`append_token_with`] for a token with the default access.
pub fn append_token(
    document: &str,
    name: &str,
    sha256_hex: &str,
    comment: &[&str],
) -> Result<String, Problem> {
    append_token_with(document, name, sha256_hex, &NewToken::default(), comment)
}

/// Returns `document` with a `[[tokens]]` stanza for `name` and `sha256_hex` appended, preceded
/// by the comment lines in `comment` (each without `#`). Everything else in the document,
/// comments and formatting included, is kept as it was.
///
/// Refuses a document that is not TOML, one whose `tokens` is not written as `[[tokens]]`
/// tables, and a `name` that is already taken.
pub fn append_token_with(
    document: &str,
    name: &str,
    sha256_hex: &str,
    access: &NewToken,
    comment: &[&str],
) -> Result<String, Problem> {
    check_token_name(name)?;
    if access.scopes.is_empty() {
        return Err(Problem::new(
            "scopes",
            "no scope given, so the token could do nothing",
            "give --scope read, --scope write, or both",
        ));
    }
    parse_token_hash(sha256_hex)?;
    let doc: toml_edit::DocumentMut = document.parse().map_err(|e: toml_edit::TomlError| {
        let position = e
            .span()
            .map(|span| {
                let (line, column) = line_column(document, span.start);
                format!("line {line}, column {column}")
            })
            .unwrap_or_default();
        Problem::new(
            position,
            format!("not valid TOML: {}", e.message()),
            "fix the file first (`scimd check-config` shows every problem)",
        )
    })?;
    let existing = match doc.get("tokens") {
        None => None,
        Some(toml_edit::Item::ArrayOfTables(tokens)) => Some(tokens),
        Some(_) => {
            return Err(Problem::new(
                "tokens",
                "is not written as [[tokens]] tables",
                "add the printed [[tokens]] stanza by hand",
            ))
        }
    };
    let taken = existing.is_some_and(|tokens| {
        tokens
            .iter()
            .any(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
    });
    if taken {
        return Err(Problem::new(
            "name",
            format!("a token named {name:?} already exists"),
            "token names must be unique: choose another name, or remove the old stanza to replace it",
        ));
    }
    let mut table = toml_edit::Table::new();
    table.insert("name", toml_edit::value(name));
    table.insert("sha256", toml_edit::value(sha256_hex));
    for (key, value) in access_keys(access) {
        table.insert(key, value);
    }
    append_array_table(document, "tokens", table, comment, ("name", name))
}

/// Appends `table` as one `[[array]]` stanza after `document`, preceded by `comment` lines.
///
/// The stanza is rendered by toml_edit on its own and appended as text: re-rendering the whole
/// document would move it next to the existing stanzas and before trailing comments. Belt and
/// braces: the result must parse and end with a stanza whose `id.0` is `id.1`.
pub(super) fn append_array_table(
    document: &str,
    array: &str,
    table: toml_edit::Table,
    comment: &[&str],
    id: (&str, &str),
) -> Result<String, Problem> {
    let mut tables = toml_edit::ArrayOfTables::new();
    tables.push(table);
    let mut stanza = toml_edit::DocumentMut::new();
    stanza.insert(array, toml_edit::Item::ArrayOfTables(tables));

    let mut out = String::with_capacity(document.len() + 200);
    out.push_str(document);
    if !document.is_empty() && !document.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    for line in comment {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&stanza.to_string());

    let appended = out.parse::<toml_edit::DocumentMut>().ok().is_some_and(|d| {
        d.get(array)
            .and_then(|t| t.as_array_of_tables())
            .and_then(|t| t.iter().last())
            .and_then(|t| t.get(id.0))
            .and_then(|v| v.as_str())
            == Some(id.1)
    });
    if !appended {
        return Err(Problem::new(
            array,
            "the stanza could not be appended to this file",
            format!("add the printed [[{array}]] stanza by hand"),
        ));
    }
    Ok(out)
}

/// The stanza keys for `access`, in the order they are written; none for the default.
pub fn access_keys(access: &NewToken) -> Vec<(&'static str, toml_edit::Item)> {
    let mut keys = Vec::new();
    if access.scopes != crate::auth::Scopes::all() {
        let scopes: toml_edit::Array = access.scopes.iter().map(|s| s.as_str()).collect();
        keys.push(("scopes", toml_edit::value(scopes)));
    }
    if let Some(at) = access.expires_at {
        keys.push(("expires_at", toml_edit::value(crate::auth::rfc3339(at))));
    }
    if let Some(n) = access.requests_per_second {
        keys.push(("requests_per_second", toml_edit::value(i64::from(n))));
    }
    keys
}

/// [`append_token`] on a file, replaced atomically with its mode and (when permitted) owner kept.
/// A symbolic link is followed and its target edited.
pub fn append_token_to_file(
    path: &Path,
    name: &str,
    sha256_hex: &str,
    comment: &[&str],
) -> Result<(), ConfigError> {
    append_token_to_file_with(path, name, sha256_hex, &NewToken::default(), comment)
}

/// [`append_token_with`] on a file, as [`append_token_to_file`] does it.
pub fn append_token_to_file_with(
    path: &Path,
    name: &str,
    sha256_hex: &str,
    access: &NewToken,
    comment: &[&str],
) -> Result<(), ConfigError> {
    edit_file(path, |text| {
        append_token_with(text, name, sha256_hex, access, comment)
    })
}

/// Rewrites a configuration file through `edit`, atomically, keeping its mode and (when
/// permitted) owner; a symbolic link is followed and its target edited. Shared by every
/// command that changes the `[[tokens]]`, so they keep files the same way.
pub(super) fn edit_file(
    path: &Path,
    edit: impl FnOnce(&str) -> Result<String, Problem>,
) -> Result<(), ConfigError> {
    let io_problem = |what: &str, e: std::io::Error| {
        ConfigError::one(
            path,
            Problem::new(
                "",
                format!("cannot {what} the file: {e}"),
                "check the path and permissions",
            ),
        )
    };
    let target = std::fs::canonicalize(path).map_err(|e| io_problem("find", e))?;
    let text = std::fs::read_to_string(&target).map_err(|e| io_problem("read", e))?;
    let meta = std::fs::metadata(&target).map_err(|e| io_problem("read", e))?;
    let updated = edit(&text).map_err(|p| ConfigError::one(path, p))?;
    #[cfg(unix)]
    let (mode, owner) = {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        (
            meta.permissions().mode() & 0o7777,
            Some((meta.uid(), meta.gid())),
        )
    };
    #[cfg(not(unix))]
    let (mode, owner) = {
        let _ = &meta;
        (0o644, None)
    };
    crate::tls::write_atomically_io(&target, updated.as_bytes(), mode, owner)
        .map_err(|e| io_problem("write", e))
}
