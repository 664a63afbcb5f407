//! `scimd token list` and `scimd token revoke NAME`, and what `token issue` may restrict.

use scimd::auth::{Scope, Scopes};
use scimd::config;

use super::StoreLocation;
use crate::Failure;

/// `token issue` options restricting the new token; none: every scope, no expiry, no limit.
#[derive(clap::Args, Debug, Default)]
pub struct IssueAccess {
    /// A scope the token gets: read or write; repeat or separate with commas
    /// (default: read,write).
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// When the token stops working, RFC 3339, e.g. 2027-06-30T00:00:00Z.
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Limit the token to this many requests per second (default: unlimited).
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<u32>,
}

impl IssueAccess {
    pub fn resolve(&self) -> Result<config::NewToken, Failure> {
        let mut scopes = if self.scopes.is_empty() {
            Scopes::all()
        } else {
            Scopes::none()
        };
        for name in &self.scopes {
            let scope = Scope::parse(name.trim()).ok_or_else(|| {
                Failure::Config(format!(
                    "--scope {name:?}: not a scope (the scopes are read and write)"
                ))
            })?;
            scopes = scopes.with(scope);
        }
        let expires_at = match &self.expires_at {
            None => None,
            Some(text) => {
                let at = config::parse_expiry(text)
                    .map_err(|m| Failure::Config(format!("--expires-at: {m}")))?;
                if at <= time::OffsetDateTime::now_utc() {
                    return Err(Failure::Config(format!(
                        "--expires-at {text}: that is in the past, so the token would never work"
                    )));
                }
                Some(at)
            }
        };
        if self.requests_per_second == Some(0) {
            return Err(Failure::Config(
                "--requests-per-second 0: give at least 1, or leave it out for no limit"
                    .to_string(),
            ));
        }
        Ok(config::NewToken {
            scopes,
            expires_at,
            requests_per_second: self.requests_per_second,
        })
    }
}

/// `check-config`: a warning for each expired token (it loads, but is refused with 401).
pub fn warn_expired(tokens: &[config::TokenSettings]) {
    let now = time::OffsetDateTime::now_utc();
    for t in tokens {
        if let Some(at) = t.expires_at.filter(|at| *at <= now) {
            eprintln!(
                "scimd: warning: token {:?} expired at {}; requests with it are refused (401). \
                 Issue a replacement and revoke it: `scimd token revoke {}`",
                t.name,
                scimd::auth::rfc3339(at),
                t.name
            );
        }
    }
}

/// `token list`: names and issue times; never a hash or a secret.
pub fn list(at: &StoreLocation) -> Result<(), Failure> {
    let path = at.tokens_file();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::Config(format!("cannot read {}: {e}", path.display())))?;
    let tokens = config::list_tokens(&text).map_err(|p| {
        Failure::Config(format!(
            "{}: {}: {} ({})",
            path.display(),
            p.key,
            p.message,
            p.hint
        ))
    })?;
    if tokens.is_empty() {
        println!("{}: no tokens", path.display());
        return Ok(());
    }
    let width = tokens
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
    let last = last_changes(at, &names);
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{:width$}  {:20}  {:10}  {:30}  {:8}  LAST CHANGE",
        "NAME", "CREATED", "SCOPES", "EXPIRES", "RATE"
    );
    for t in &tokens {
        let change = match &last {
            Some(found) => found
                .get(&t.name)
                .map_or("none in the audit log", String::as_str),
            None => "unknown (no store to read)",
        };
        let expires = match &t.expires_at {
            None => "never".to_string(),
            Some(text) => match config::parse_expiry(text) {
                Ok(at) if at <= now => format!("{text} (EXPIRED)"),
                Ok(_) => text.clone(),
                Err(_) => format!("{text} (invalid)"),
            },
        };
        let rate = t
            .requests_per_second
            .map_or_else(|| "-".to_string(), |n| format!("{n}/s"));
        println!(
            "{:width$}  {:20}  {:10}  {:30}  {:8}  {change}",
            t.name,
            t.created.as_deref().unwrap_or("unknown"),
            t.scopes,
            expires,
            rate
        );
    }
    Ok(())
}

/// The time of each token's newest audit entry: the last change it made (reads are not
/// logged). `None` when the store cannot be read, which is not this command's concern.
fn last_changes(
    at: &StoreLocation,
    names: &[&str],
) -> Option<std::collections::HashMap<String, String>> {
    let (path, _) = at.existing_store().ok()?;
    let store = scimd::store::ReadOnlyStore::open(&path).ok()?;
    let tx = store.read().ok()?;
    let mut out = std::collections::HashMap::new();
    let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    // Newest first: the first entry seen for a token is its last change; stop once every
    // configured token has one, so a long log is not read to its end.
    tx.audit_in(all, true, &mut |_, e| {
        if let (Some(tok), Some(time)) = (e["token"].as_str(), e["time"].as_str()) {
            if names.contains(&tok) {
                out.entry(tok.to_string())
                    .or_insert_with(|| time.to_string());
            }
        }
        Ok(out.len() < names.len())
    })
    .ok()?;
    Some(out)
}

/// `token revoke NAME`: removes the stanza, keeping the rest of the file as it was.
pub fn revoke(at: &StoreLocation, name: &str) -> Result<(), Failure> {
    let path = at.tokens_file();
    config::remove_token_from_file(&path, name).map_err(|e| Failure::config_error(&e))?;
    println!(
        "Removed token {name:?} from {}. A running scimd still accepts it until it reloads \
         its configuration: `systemctl reload scimd` (or restart it).",
        path.display()
    );
    Ok(())
}
