//! `scimd token list` and `token revoke`: reading and removing `[[tokens]]` stanzas, keeping
//! the file's other comments and layout.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::Path;

use super::{line_column, ConfigError, Problem};

/// A configured token as `token list` shows it. The hash is deliberately not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    /// When it was issued, from the comment `scimd token issue` writes above the stanza
    /// (`# token "x" issued 2025-01-01T00:00:00Z by ...`); `None` for stanzas written by hand.
    pub created: Option<String>,
    /// `scopes` as written, joined with `,`; `read,write` when the stanza has none (the default).
    pub scopes: String,
    /// `expires_at` as written (a string or a TOML datetime); `None`: never expires.
    pub expires_at: Option<String>,
    /// `requests_per_second`; `None`: not limited.
    pub requests_per_second: Option<i64>,
}

fn parse(document: &str) -> Result<toml_edit::DocumentMut, Problem> {
    document.parse().map_err(|e: toml_edit::TomlError| {
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
    })
}

fn tokens_of(doc: &toml_edit::DocumentMut) -> Result<Option<&toml_edit::ArrayOfTables>, Problem> {
    match doc.get("tokens") {
        None => Ok(None),
        Some(toml_edit::Item::ArrayOfTables(t)) => Ok(Some(t)),
        Some(_) => Err(Problem::new(
            "tokens",
            "is not written as [[tokens]] tables",
            "edit the file by hand",
        )),
    }
}

/// The `issued <time>` of the comment `token issue` puts above a stanza.
fn issued_at(table: &toml_edit::Table) -> Option<String> {
    let prefix = table.decor().prefix()?.as_str()?;
    prefix.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix('#')?.trim();
        let after = rest.split_once(" issued ")?.1;
        let stamp = after.split_whitespace().next()?;
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|_| stamp.to_string())
    })
}

/// The tokens of a configuration or token file, in file order.
pub fn list_tokens(document: &str) -> Result<Vec<TokenEntry>, Problem> {
    let doc = parse(document)?;
    let Some(tokens) = tokens_of(&doc)? else {
        return Ok(Vec::new());
    };
    Ok(tokens
        .iter()
        .map(|t| TokenEntry {
            name: t
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("<no name>")
                .to_string(),
            created: issued_at(t),
            scopes: t
                .get("scopes")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or("?"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|| crate::auth::Scopes::all().to_string()),
            expires_at: t.get("expires_at").and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_datetime().map(|d| d.to_string()))
            }),
            requests_per_second: t.get("requests_per_second").and_then(|v| v.as_integer()),
        })
        .collect())
}

/// Returns `document` without the `[[tokens]]` stanza named `name` and the comments directly
/// above it (the `token issue` note); everything else is kept as it was.
///
/// Refuses an unknown name, and removing the last token: a server with none refuses every
/// request, and a configuration without one does not load.
pub fn remove_token(document: &str, name: &str) -> Result<String, Problem> {
    let mut doc = parse(document)?;
    let (index, count) = {
        let Some(tokens) = tokens_of(&doc)? else {
            return Err(no_such_token(name, &[]));
        };
        let names: Vec<&str> = tokens
            .iter()
            .filter_map(|t| t.get("name").and_then(|v| v.as_str()))
            .collect();
        let index = tokens
            .iter()
            .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            .ok_or_else(|| no_such_token(name, &names))?;
        (index, tokens.len())
    };
    if count == 1 {
        return Err(Problem::new(
            "tokens",
            format!("{name:?} is the only token; without one scimd refuses every request"),
            "issue its replacement first (`scimd token issue --name NAME --config FILE`), \
             then revoke this one",
        ));
    }
    if let Some(toml_edit::Item::ArrayOfTables(tokens)) = doc.get_mut("tokens") {
        tokens.remove(index);
    }
    Ok(doc.to_string())
}

fn no_such_token(name: &str, names: &[&str]) -> Problem {
    Problem::new(
        "tokens",
        format!("there is no token named {name:?}"),
        if names.is_empty() {
            "the file has no [[tokens]]".to_string()
        } else {
            format!("the tokens are: {}", names.join(", "))
        },
    )
}

/// [`remove_token`] on a file, replaced atomically with its mode and (when permitted) owner
/// kept. A symbolic link is followed and its target edited.
pub fn remove_token_from_file(path: &Path, name: &str) -> Result<(), ConfigError> {
    super::edit::edit_file(path, |text| remove_token(text, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn doc() -> String {
        format!(
            "# top comment\n[server]\nlisten = \"127.0.0.1:8443\" # keep me\n\n\
             # token \"entra\" issued 2025-03-01T10:00:00Z by `scimd token issue`\n\
             [[tokens]]\nname = \"entra\"\nsha256 = \"{HASH_A}\"\n\n\
             # okta, added by hand\n[[tokens]]\nname = \"okta\"\nsha256 = \"{HASH_B}\"\n\
             scopes = [\"read\"]\nexpires_at = 2027-06-30T00:00:00Z\nrequests_per_second = 5\n\
             # trailing comment\n"
        )
    }

    #[test]
    fn lists_names_and_issue_times() {
        let list = list_tokens(&doc()).unwrap();
        assert_eq!(
            list,
            vec![
                TokenEntry {
                    name: "entra".into(),
                    created: Some("2025-03-01T10:00:00Z".into()),
                    scopes: "read,write".into(),
                    expires_at: None,
                    requests_per_second: None,
                },
                TokenEntry {
                    name: "okta".into(),
                    created: None,
                    scopes: "read".into(),
                    expires_at: Some("2027-06-30T00:00:00Z".into()),
                    requests_per_second: Some(5),
                },
            ]
        );
    }

    #[test]
    fn removes_one_stanza_and_its_note_keeping_everything_else() {
        let out = remove_token(&doc(), "entra").unwrap();
        assert!(!out.contains("entra"), "{out}");
        assert!(!out.contains(HASH_A), "{out}");
        for kept in [
            "# top comment",
            "# keep me",
            "# okta, added by hand",
            "# trailing comment",
            HASH_B,
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
        assert_eq!(list_tokens(&out).unwrap().len(), 1);
    }

    #[test]
    fn refuses_an_unknown_name_and_the_last_token() {
        let e = remove_token(&doc(), "nope").unwrap_err();
        assert!(e.message.contains("no token named \"nope\""), "{e:?}");
        assert!(e.hint.contains("entra, okta"), "{e:?}");
        let one = remove_token(&doc(), "okta").unwrap();
        let e = remove_token(&one, "entra").unwrap_err();
        assert!(e.message.contains("only token"), "{e:?}");
    }
}
