//! `[[oauth_clients]]` and `[oauth]`: clients that obtain short-lived bearer tokens from
//! `POST /oauth/token` with the OAuth 2.0 client credentials grant (RFC 6749 §4.4).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::validate::{token_hash, token_name};
use super::{bad, Bad, Problem};

/// Lifetime of an issued token when neither `[oauth]` nor the client sets one: Entra asks for a
/// new token when one expires or is refused, so an hour costs one extra request an hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest accepted token lifetime: a day. Issued tokens are bearer secrets; longer-lived ones
/// belong in `[[tokens]]`, where they are visible and revocable by name.
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 86_400;
/// Live tokens kept per client when `[oauth] max_tokens_per_client` is not set.
pub const DEFAULT_MAX_TOKENS_PER_CLIENT: usize = 20;
const MAX_TOKENS_PER_CLIENT_LIMIT: usize = 10_000;

/// The scopes a client may be given: `read` (GET and searches) and `write` (changes).
pub const SCOPES: [&str; 2] = ["read", "write"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuthClient {
    client_id: Option<String>,
    secret_sha256: Option<String>,
    scopes: Option<Vec<String>>,
    token_lifetime_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth {
    token_lifetime_seconds: Option<i64>,
    max_tokens_per_client: Option<i64>,
}

/// The validated OAuth settings; no clients means `/oauth/token` refuses every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    pub clients: Vec<OAuthClientSettings>,
    /// Lifetime of tokens issued to clients that set none of their own.
    pub token_lifetime: Duration,
    /// Live tokens kept per client; issuing one more drops that client's oldest.
    pub max_tokens_per_client: usize,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            clients: Vec::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            max_tokens_per_client: DEFAULT_MAX_TOKENS_PER_CLIENT,
        }
    }
}

/// One `[[oauth_clients]]` stanza.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClientSettings {
    pub client_id: String,
    /// SHA-256 of the client secret.
    pub secret_sha256: [u8; 32],
    /// A non-empty subset of [`SCOPES`], in configuration order.
    pub scopes: Vec<String>,
    /// Overrides `[oauth] token_lifetime_seconds` for this client.
    pub token_lifetime: Option<Duration>,
}

impl fmt::Debug for OAuthClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientSettings")
            .field("client_id", &self.client_id)
            // Like TokenSettings: a Debug print of a Config must be safe to log.
            .field("secret_sha256", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("token_lifetime", &self.token_lifetime)
            .finish()
    }
}

pub(super) fn validate_oauth(
    raw: Option<RawOAuth>,
    clients: Vec<RawOAuthClient>,
    problems: &mut Vec<Problem>,
) -> OAuthSettings {
    let raw = raw.unwrap_or_default();
    let mut settings = OAuthSettings::default();
    if let Some(n) = raw.token_lifetime_seconds {
        match lifetime(n) {
            Ok(d) => settings.token_lifetime = d,
            Err(b) => problems.push(b.at("oauth.token_lifetime_seconds")),
        }
    }
    if let Some(n) = raw.max_tokens_per_client {
        match usize::try_from(n) {
            Ok(n) if (1..=MAX_TOKENS_PER_CLIENT_LIMIT).contains(&n) => {
                settings.max_tokens_per_client = n;
            }
            _ => problems.push(Problem::new(
                "oauth.max_tokens_per_client",
                format!("{n} is out of range"),
                format!(
                    "1 to {MAX_TOKENS_PER_CLIENT_LIMIT}; the default, \
                     {DEFAULT_MAX_TOKENS_PER_CLIENT}, suits an IdP that asks once an hour"
                ),
            )),
        }
    }
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, c) in clients.into_iter().enumerate() {
        if let Some(client) = validate_client(i, c, &mut ids, problems) {
            settings.clients.push(client);
        }
    }
    settings
}

fn validate_client(
    i: usize,
    raw: RawOAuthClient,
    ids: &mut HashMap<String, usize>,
    problems: &mut Vec<Problem>,
) -> Option<OAuthClientSettings> {
    let key = |field: &str| format!("oauth_clients[{i}].{field}");
    let before = problems.len();
    let client_id = match raw.client_id {
        None => {
            problems.push(Problem::new(
                key("client_id"),
                "missing",
                "client_id = the Client Identifier the IdP sends, e.g. \"entra-prod\"",
            ));
            String::new()
        }
        Some(id) => {
            if let Err(b) = token_name(&id) {
                problems.push(b.at(key("client_id")));
            } else if let Some(first) = ids.get(&id) {
                problems.push(Problem::new(
                    key("client_id"),
                    format!("{id:?} is already the client_id of oauth_clients[{first}]"),
                    "client ids must be unique; rename one",
                ));
            } else {
                ids.insert(id.clone(), i);
            }
            id
        }
    };
    let secret_sha256 = match raw.secret_sha256.as_deref() {
        None => {
            problems.push(Problem::new(
                key("secret_sha256"),
                "missing",
                "secret_sha256 = the hex SHA-256 of the client secret; \
                 `printf %s \"$SECRET\" | scimd token hash` computes it",
            ));
            [0; 32]
        }
        Some(v) => token_hash(v).unwrap_or_else(|b| {
            problems.push(b.at(key("secret_sha256")));
            [0; 32]
        }),
    };
    let scopes = match raw.scopes {
        None => SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(list) => scopes(&list).unwrap_or_else(|b| {
            problems.push(b.at(key("scopes")));
            Vec::new()
        }),
    };
    let token_lifetime = raw.token_lifetime_seconds.and_then(|n| {
        lifetime(n)
            .map_err(|b| problems.push(b.at(key("token_lifetime_seconds"))))
            .ok()
    });
    (problems.len() == before).then_some(OAuthClientSettings {
        client_id,
        secret_sha256,
        scopes,
        token_lifetime,
    })
}

fn lifetime(seconds: i64) -> Result<Duration, Bad> {
    match u64::try_from(seconds) {
        Ok(s) if s >= 1 && seconds <= MAX_TOKEN_LIFETIME_SECONDS => Ok(Duration::from_secs(s)),
        _ => Err(bad(
            format!("{seconds} seconds is out of range"),
            format!(
                "1 to {MAX_TOKEN_LIFETIME_SECONDS} (a day); the default is {} (an hour)",
                DEFAULT_TOKEN_LIFETIME.as_secs()
            ),
        )),
    }
}

fn scopes(list: &[String]) -> Result<Vec<String>, Bad> {
    let hint = "a list of \"read\" and/or \"write\", e.g. [\"read\"] for a client that only reads";
    if list.is_empty() {
        return Err(bad("is empty, so the client could do nothing", hint));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !SCOPES.contains(&s.as_str()) {
            return Err(bad(format!("{s:?} is not a scope"), hint));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Returns `document` with an `[[oauth_clients]]` stanza appended (after the comment lines in
/// `comment`), everything else kept as it was; like [`super::append_token`]. Refuses a taken
/// `client_id`, a bad id, hash or scope, and a document that is not TOML.
pub fn append_oauth_client(
    document: &str,
    client_id: &str,
    secret_sha256_hex: &str,
    scope_list: &[String],
    comment: &[&str],
) -> Result<String, Problem> {
    token_name(client_id).map_err(|b| b.at("client_id"))?;
    token_hash(secret_sha256_hex).map_err(|b| b.at("secret_sha256"))?;
    let scope_list = scopes(scope_list).map_err(|b| b.at("scopes"))?;
    let doc: toml_edit::DocumentMut = document.parse().map_err(|e: toml_edit::TomlError| {
        Problem::new(
            "",
            format!("not valid TOML: {}", e.message()),
            "fix the file first (`scimd check-config` shows every problem)",
        )
    })?;
    let taken = match doc.get("oauth_clients") {
        None => false,
        Some(toml_edit::Item::ArrayOfTables(clients)) => clients
            .iter()
            .any(|c| c.get("client_id").and_then(|v| v.as_str()) == Some(client_id)),
        Some(_) => {
            return Err(Problem::new(
                "oauth_clients",
                "is not written as [[oauth_clients]] tables",
                "add the printed [[oauth_clients]] stanza by hand",
            ))
        }
    };
    if taken {
        return Err(Problem::new(
            "client_id",
            format!("an OAuth client {client_id:?} already exists"),
            "client ids must be unique: choose another, or remove the old stanza to replace it",
        ));
    }
    let mut table = toml_edit::Table::new();
    table.insert("client_id", toml_edit::value(client_id));
    table.insert("secret_sha256", toml_edit::value(secret_sha256_hex));
    let mut array = toml_edit::Array::new();
    for s in &scope_list {
        array.push(s.as_str());
    }
    table.insert("scopes", toml_edit::value(array));
    super::edit::append_array_table(
        document,
        "oauth_clients",
        table,
        comment,
        ("client_id", client_id),
    )
}

/// [`append_oauth_client`] on a file, rewritten the way `scimd token issue` rewrites it.
pub fn append_oauth_client_to_file(
    path: &std::path::Path,
    client_id: &str,
    secret_sha256_hex: &str,
    scope_list: &[String],
    comment: &[&str],
) -> Result<(), super::ConfigError> {
    super::edit::edit_file(path, |text| {
        append_oauth_client(text, client_id, secret_sha256_hex, scope_list, comment)
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(extra: &str) -> Result<Config, super::super::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[storage]\npath = \"scimd.redb\"\n\
             [[tokens]]\nname = \"entra\"\nsha256 = \"{}\"\n{extra}",
            "ab".repeat(32)
        );
        Config::from_toml(&text, &dir.path().join("scimd.toml"))
    }

    #[test]
    fn absent_sections_give_the_defaults() {
        let c = load("").unwrap();
        assert_eq!(c.oauth, OAuthSettings::default());
        assert_eq!(c.oauth.token_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn parses_clients_with_default_and_explicit_scopes() {
        let c = load(&format!(
            "[oauth]\ntoken_lifetime_seconds = 600\nmax_tokens_per_client = 5\n\
             [[oauth_clients]]\nclient_id = \"entra\"\nsecret_sha256 = \"{}\"\n\
             [[oauth_clients]]\nclient_id = \"audit\"\nsecret_sha256 = \"{}\"\n\
             scopes = [\"read\", \"read\"]\ntoken_lifetime_seconds = 60\n",
            "cd".repeat(32),
            "ef".repeat(32)
        ))
        .unwrap();
        assert_eq!(c.oauth.token_lifetime, Duration::from_secs(600));
        assert_eq!(c.oauth.max_tokens_per_client, 5);
        let [entra, audit] = c.oauth.clients.as_slice() else {
            panic!("two clients expected: {:?}", c.oauth.clients);
        };
        assert_eq!(entra.client_id, "entra");
        assert_eq!(entra.scopes, ["read", "write"]);
        assert_eq!(entra.secret_sha256, [0xcd; 32]);
        assert_eq!(entra.token_lifetime, None);
        assert_eq!(audit.scopes, ["read"]);
        assert_eq!(audit.token_lifetime, Some(Duration::from_secs(60)));
        assert!(!format!("{c:?}").contains(&"cd".repeat(32)));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let e = load(&format!(
            "[oauth]\ntoken_lifetime_seconds = 0\nmax_tokens_per_client = -1\n\
             [[oauth_clients]]\nclient_id = \"a b\"\nsecret_sha256 = \"xyz\"\n\
             scopes = [\"admin\"]\ntoken_lifetime_seconds = 100000\n\
             [[oauth_clients]]\nclient_id = \"dup\"\nsecret_sha256 = \"{h}\"\n\
             [[oauth_clients]]\nclient_id = \"dup\"\nsecret_sha256 = \"{h}\"\nscopes = []\n\
             [[oauth_clients]]\n",
            h = "ab".repeat(32)
        ))
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "oauth.token_lifetime_seconds",
                "oauth.max_tokens_per_client",
                "oauth_clients[0].client_id",
                "oauth_clients[0].secret_sha256",
                "oauth_clients[0].scopes",
                "oauth_clients[0].token_lifetime_seconds",
                "oauth_clients[2].client_id",
                "oauth_clients[2].scopes",
                "oauth_clients[3].client_id",
                "oauth_clients[3].secret_sha256",
            ],
            "{e}"
        );
        let e = load("[[oauth_clients]]\nclient_id = \"x\"\nsecret = \"s\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn an_appended_client_loads_and_a_taken_id_is_refused() {
        let doc = format!(
            "# keep me\n[storage]\npath = \"scimd.redb\"\n[[oauth_clients]]\n\
             client_id = \"entra\"\nsecret_sha256 = \"{}\"\n",
            "cd".repeat(32)
        );
        let read = vec!["read".to_string()];
        let out = append_oauth_client(&doc, "audit", &"ef".repeat(32), &read, &["added"]).unwrap();
        assert!(out.starts_with(&doc));
        assert!(out.contains("# added\n[[oauth_clients]]"), "{out}");
        let dir = tempfile::tempdir().unwrap();
        let c = Config::from_toml(&out, &dir.path().join("scimd.toml")).unwrap();
        assert_eq!(c.oauth.clients[1].client_id, "audit");
        assert_eq!(c.oauth.clients[1].scopes, ["read"]);
        let e = append_oauth_client(&doc, "entra", &"ef".repeat(32), &read, &[]).unwrap_err();
        assert_eq!(e.key, "client_id");
        let e =
            append_oauth_client(&doc, "x", &"ef".repeat(32), &["admin".into()], &[]).unwrap_err();
        assert_eq!(e.key, "scopes");
        assert!(append_oauth_client("[x", "y", &"ef".repeat(32), &read, &[]).is_err());
    }

    #[test]
    fn oauth_clients_alone_are_enough_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[storage]\npath = \"scimd.redb\"\n\
             [[oauth_clients]]\nclient_id = \"entra\"\nsecret_sha256 = \"{}\"\n",
            "cd".repeat(32)
        );
        let c = Config::from_toml(&text, &dir.path().join("scimd.toml")).unwrap();
        assert!(c.tokens.is_empty());
        assert_eq!(c.oauth.clients.len(), 1);
        let e = Config::from_toml("[storage]\npath = \"x.redb\"\n", &dir.path().join("s.toml"))
            .unwrap_err();
        assert_eq!(e.problems[0].key, "tokens");
    }
}
