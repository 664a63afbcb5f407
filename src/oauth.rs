//! The OAuth 2.0 client credentials grant (RFC 6749 §4.4), without HTTP: authenticates a
//! configured client, issues it a short-lived opaque bearer token, and recognises that token on
//! later requests.
//!
//! Issued tokens live in memory only, as the SHA-256 of their secret with the client, scopes and
//! expiry: a restart forgets them all, and the client simply asks for a new one (Entra does when
//! a request is refused with 401). A reload that removes a client, or changes its secret or
//! scopes, revokes that client's tokens.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::RandomError;
use crate::config::{OAuthClientSettings, OAuthSettings};

/// Prefix of issued access tokens, distinct from configured ones (`scimd_`) so a leaked token
/// says what it is and how long it can matter.
pub const ACCESS_TOKEN_PREFIX: &str = "scimd_at_";

/// What a verified access token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    /// A subset of `read` and `write`.
    pub scopes: Vec<String>,
    pub expires_at: Instant,
}

impl Grant {
    pub fn may_write(&self) -> bool {
        self.scopes.iter().any(|s| s == "write")
    }
}

/// A token just issued: the only moment its secret exists outside the client.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: Duration,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IssueError {
    /// Client authentication failed; the reason is for the log, not for the client.
    #[error("client authentication failed: {0}")]
    InvalidClient(&'static str),
    /// The client asked for a scope it is not given.
    #[error("scope {0:?} is not granted to this client")]
    InvalidScope(String),
    #[error("{0}")]
    Random(String),
}

struct Client {
    settings: OAuthClientSettings,
    lifetime: Duration,
}

struct Live {
    client_id: String,
    scopes: Vec<String>,
    issued_at: Instant,
    expires_at: Instant,
}

struct State {
    clients: Vec<Client>,
    max_per_client: usize,
    /// Keyed by the SHA-256 of the token secret. Looking a token up by its hash leaks, through
    /// timing, at most something about the hash of what was presented, which tells an attacker
    /// nothing about any valid secret (a preimage would still be needed).
    tokens: HashMap<[u8; 32], Live>,
}

/// Issues and verifies access tokens for the configured OAuth clients.
pub struct OAuthIssuer {
    state: Mutex<State>,
}

impl std::fmt::Debug for OAuthIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthIssuer").finish_non_exhaustive()
    }
}

fn clients_of(settings: &OAuthSettings) -> Vec<Client> {
    settings
        .clients
        .iter()
        .map(|c| Client {
            lifetime: c.token_lifetime.unwrap_or(settings.token_lifetime),
            settings: c.clone(),
        })
        .collect()
}

impl OAuthIssuer {
    pub fn new(settings: &OAuthSettings) -> Self {
        OAuthIssuer {
            state: Mutex::new(State {
                clients: clients_of(settings),
                max_per_client: settings.max_tokens_per_client,
                tokens: HashMap::new(),
            }),
        }
    }

    /// A poisoned lock only means another request panicked mid-update; the map is still
    /// consistent (every update is a single insert or remove), so carry on with it.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any client is configured.
    pub fn has_clients(&self) -> bool {
        !self.state().clients.is_empty()
    }

    /// Authenticates `client_id` with `secret` and issues a token for `requested` scopes (all
    /// of the client's scopes when `None`).
    pub fn issue(
        &self,
        client_id: &str,
        secret: &str,
        requested: Option<&str>,
    ) -> Result<IssuedToken, IssueError> {
        self.issue_at(client_id, secret, requested, Instant::now())
    }

    /// [`issue`](Self::issue) at a given time (tests inject the clock here).
    pub fn issue_at(
        &self,
        client_id: &str,
        secret: &str,
        requested: Option<&str>,
        now: Instant,
    ) -> Result<IssuedToken, IssueError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut state = self.state();
        // The client id is not secret; only the secret's comparison must be constant-time.
        let client = state
            .clients
            .iter()
            .find(|c| c.settings.client_id == client_id)
            .ok_or(IssueError::InvalidClient("unknown client_id"))?;
        if !bool::from(digest.ct_eq(&client.settings.secret_sha256)) {
            return Err(IssueError::InvalidClient("wrong client secret"));
        }
        let scopes = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            None => client.settings.scopes.clone(),
            Some(list) => {
                let mut scopes: Vec<String> = Vec::new();
                for s in list.split(' ').filter(|s| !s.is_empty()) {
                    if !client.settings.scopes.iter().any(|c| c == s) {
                        return Err(IssueError::InvalidScope(s.chars().take(64).collect()));
                    }
                    if !scopes.iter().any(|x| x == s) {
                        scopes.push(s.to_string());
                    }
                }
                scopes
            }
        };
        let lifetime = client.lifetime;
        let secret = crate::auth::generate_secret()
            .map_err(|e: RandomError| IssueError::Random(e.to_string()))?;
        let access_token = secret.replacen(crate::auth::SECRET_PREFIX, ACCESS_TOKEN_PREFIX, 1);
        let hash: [u8; 32] = Sha256::digest(access_token.as_bytes()).into();
        state.prune(now);
        state.make_room_for(client_id);
        state.tokens.insert(
            hash,
            Live {
                client_id: client_id.to_string(),
                scopes: scopes.clone(),
                issued_at: now,
                expires_at: now + lifetime,
            },
        );
        Ok(IssuedToken {
            access_token,
            expires_in: lifetime,
            scopes,
        })
    }

    /// What `presented` grants, if it is a live token this issuer handed out.
    pub fn verify(&self, presented: &str) -> Option<Grant> {
        self.verify_at(presented, Instant::now())
    }

    /// [`verify`](Self::verify) at a given time.
    pub fn verify_at(&self, presented: &str, now: Instant) -> Option<Grant> {
        // Cheap refusal of the configured tokens' shape, without taking the lock.
        if !presented.starts_with(ACCESS_TOKEN_PREFIX) {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut state = self.state();
        let live = state.tokens.get(&hash)?;
        if live.expires_at <= now {
            state.tokens.remove(&hash);
            return None;
        }
        Some(Grant {
            client_id: live.client_id.clone(),
            scopes: live.scopes.clone(),
            expires_at: live.expires_at,
        })
    }

    /// Installs reloaded settings. Tokens of a client that is gone, or whose secret or scopes
    /// changed, are revoked; the others keep their expiry (a changed lifetime applies to the
    /// next token). Returns the client ids whose tokens were revoked.
    pub fn replace(&self, settings: &OAuthSettings) -> Vec<String> {
        let mut state = self.state();
        let clients = clients_of(settings);
        let mut revoked: Vec<String> = state
            .clients
            .iter()
            .filter(|old| {
                !clients.iter().any(|new| {
                    new.settings.client_id == old.settings.client_id
                        && new.settings.secret_sha256 == old.settings.secret_sha256
                        && new.settings.scopes == old.settings.scopes
                })
            })
            .map(|c| c.settings.client_id.clone())
            .collect();
        state
            .tokens
            .retain(|_, live| !revoked.contains(&live.client_id));
        revoked.sort();
        state.clients = clients;
        state.max_per_client = settings.max_tokens_per_client;
        revoked
    }

    /// Live (issued, not yet pruned) tokens, for tests and diagnostics.
    pub fn live_tokens(&self) -> usize {
        self.state().tokens.len()
    }
}

impl State {
    fn prune(&mut self, now: Instant) {
        self.tokens.retain(|_, live| live.expires_at > now);
    }

    /// Drops `client_id`'s oldest tokens until one more fits: a client asking in a loop only
    /// ever displaces its own tokens, and memory stays bounded.
    fn make_room_for(&mut self, client_id: &str) {
        loop {
            let mut count = 0usize;
            let mut oldest: Option<([u8; 32], Instant)> = None;
            for (hash, live) in &self.tokens {
                if live.client_id == client_id {
                    count += 1;
                    if oldest.is_none_or(|(_, at)| live.issued_at < at) {
                        oldest = Some((*hash, live.issued_at));
                    }
                }
            }
            match oldest {
                Some((hash, _)) if count >= self.max_per_client => {
                    self.tokens.remove(&hash);
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, secret: &str, scopes: &[&str]) -> OAuthClientSettings {
        OAuthClientSettings {
            client_id: id.to_string(),
            secret_sha256: Sha256::digest(secret.as_bytes()).into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_lifetime: None,
        }
    }

    fn settings(clients: Vec<OAuthClientSettings>) -> OAuthSettings {
        OAuthSettings {
            clients,
            token_lifetime: Duration::from_secs(3600),
            max_tokens_per_client: 3,
        }
    }

    fn issuer() -> OAuthIssuer {
        OAuthIssuer::new(&settings(vec![
            client("entra", "s3cret", &["read", "write"]),
            client("reader", "r3ad", &["read"]),
        ]))
    }

    #[test]
    fn issues_a_token_that_verifies_until_it_expires() {
        let issuer = issuer();
        let t0 = Instant::now();
        let t = issuer.issue_at("entra", "s3cret", None, t0).unwrap();
        assert!(t.access_token.starts_with(ACCESS_TOKEN_PREFIX));
        assert_eq!(t.expires_in, Duration::from_secs(3600));
        assert_eq!(t.scopes, ["read", "write"]);
        assert!(!format!("{t:?}").contains(&t.access_token));
        let g = issuer
            .verify_at(&t.access_token, t0 + Duration::from_secs(3599))
            .unwrap();
        assert_eq!(g.client_id, "entra");
        assert!(g.may_write());
        assert_eq!(g.expires_at, t0 + Duration::from_secs(3600));
        assert_eq!(
            issuer.verify_at(&t.access_token, t0 + Duration::from_secs(3600)),
            None
        );
        // The expired token was dropped on sight.
        assert_eq!(issuer.live_tokens(), 0);
    }

    #[test]
    fn refuses_wrong_secrets_unknown_clients_and_foreign_tokens() {
        let issuer = issuer();
        assert_eq!(
            issuer.issue("entra", "wrong", None),
            Err(IssueError::InvalidClient("wrong client secret"))
        );
        assert_eq!(
            issuer.issue("nobody", "s3cret", None),
            Err(IssueError::InvalidClient("unknown client_id"))
        );
        // Another client's secret does not authenticate this one.
        assert!(issuer.issue("entra", "r3ad", None).is_err());
        assert_eq!(issuer.verify("scimd_at_made-up"), None);
        assert_eq!(issuer.verify("scimd_something"), None);
        assert_eq!(issuer.verify(""), None);
        assert_eq!(issuer.live_tokens(), 0);
    }

    #[test]
    fn scopes_are_a_subset_of_the_clients() {
        let issuer = issuer();
        let t = issuer.issue("entra", "s3cret", Some("read")).unwrap();
        assert_eq!(t.scopes, ["read"]);
        assert!(!issuer.verify(&t.access_token).unwrap().may_write());
        let t = issuer
            .issue("entra", "s3cret", Some(" write  read write "))
            .unwrap();
        assert_eq!(t.scopes, ["write", "read"]);
        assert_eq!(
            issuer
                .issue("entra", "s3cret", Some(""))
                .unwrap()
                .scopes
                .len(),
            2
        );
        assert_eq!(
            issuer.issue("reader", "r3ad", Some("read write")),
            Err(IssueError::InvalidScope("write".into()))
        );
        assert_eq!(
            issuer.issue("entra", "s3cret", Some("admin")),
            Err(IssueError::InvalidScope("admin".into()))
        );
        let t = issuer.issue("reader", "r3ad", None).unwrap();
        assert_eq!(t.scopes, ["read"]);
    }

    #[test]
    fn per_client_lifetime_overrides_the_default() {
        let mut c = client("short", "x", &["read"]);
        c.token_lifetime = Some(Duration::from_secs(5));
        let issuer = OAuthIssuer::new(&settings(vec![c]));
        let t0 = Instant::now();
        let t = issuer.issue_at("short", "x", None, t0).unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(5));
        assert!(issuer
            .verify_at(&t.access_token, t0 + Duration::from_secs(4))
            .is_some());
        assert!(issuer
            .verify_at(&t.access_token, t0 + Duration::from_secs(5))
            .is_none());
    }

    #[test]
    fn a_client_holds_at_most_its_bound_and_loses_its_oldest() {
        let issuer = issuer();
        let t0 = Instant::now();
        let tokens: Vec<_> = (0..5)
            .map(|i| {
                issuer
                    .issue_at("entra", "s3cret", None, t0 + Duration::from_secs(i))
                    .unwrap()
                    .access_token
            })
            .collect();
        let other = issuer.issue_at("reader", "r3ad", None, t0).unwrap();
        assert_eq!(issuer.live_tokens(), 4);
        let now = t0 + Duration::from_secs(10);
        assert!(issuer.verify_at(&tokens[0], now).is_none());
        assert!(issuer.verify_at(&tokens[1], now).is_none());
        for t in &tokens[2..] {
            assert!(issuer.verify_at(t, now).is_some());
        }
        assert!(issuer.verify_at(&other.access_token, now).is_some());
    }

    #[test]
    fn expired_tokens_are_pruned_when_the_next_is_issued() {
        let issuer = issuer();
        let t0 = Instant::now();
        issuer.issue_at("entra", "s3cret", None, t0).unwrap();
        issuer.issue_at("reader", "r3ad", None, t0).unwrap();
        assert_eq!(issuer.live_tokens(), 2);
        issuer
            .issue_at("reader", "r3ad", None, t0 + Duration::from_secs(7200))
            .unwrap();
        assert_eq!(issuer.live_tokens(), 1);
    }

    #[test]
    fn a_reload_revokes_removed_and_changed_clients_only() {
        let issuer = OAuthIssuer::new(&settings(vec![
            client("keep", "k", &["read", "write"]),
            client("rekey", "old", &["read"]),
            client("rescope", "s", &["read", "write"]),
            client("gone", "g", &["read"]),
        ]));
        let keep = issuer.issue("keep", "k", None).unwrap().access_token;
        let rekey = issuer.issue("rekey", "old", None).unwrap().access_token;
        let rescope = issuer.issue("rescope", "s", None).unwrap().access_token;
        let gone = issuer.issue("gone", "g", None).unwrap().access_token;
        let revoked = issuer.replace(&settings(vec![
            client("keep", "k", &["read", "write"]),
            client("rekey", "new", &["read"]),
            client("rescope", "s", &["read"]),
            client("added", "a", &["read"]),
        ]));
        assert_eq!(revoked, ["gone", "rekey", "rescope"]);
        assert!(issuer.verify(&keep).is_some());
        for t in [rekey, rescope, gone] {
            assert!(issuer.verify(&t).is_none());
        }
        assert!(issuer.issue("rekey", "old", None).is_err());
        assert!(issuer.issue("rekey", "new", None).is_ok());
        assert!(issuer.issue("added", "a", None).is_ok());
        assert!(issuer.issue("gone", "g", None).is_err());
    }
}
