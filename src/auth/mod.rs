//! Bearer tokens: generation, hashing and the constant-time check.
//!
//! A token secret is 32 random bytes, base64url without padding, prefixed `scimd_`. Only its
//! SHA-256 is ever stored (in the config); a presented token is hashed and compared against every
//! configured hash. Callers log the token's configured *name*, never the secret.
//! SHA-256 (not argon2) is right here: the secrets carry 256 bits of entropy, so there is nothing
//! to stretch, and a per-request argon2 would cap throughput (STACK.md §5).
//!
//! A matched token yields a [`Principal`]: its name, scopes, expiry and rate limit. Checking
//! those, throttling failed attempts ([`throttle`]) and rate limiting ([`rate`]) are separate
//! steps the HTTP layer takes in order.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::TokenSettings;

pub mod rate;
mod scope;
pub mod throttle;

pub use scope::{rfc3339, Principal, RateLimit, Scope, Scopes};

/// Prefix of every secret scimd generates, so a leaked one is recognisable (e.g. by secret scanners).
pub const SECRET_PREFIX: &str = "scimd_";

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the operating system's random number generator: {0}")]
pub struct RandomError(#[source] pub getrandom::Error);

/// The configured tokens, ready to check presented bearer tokens against.
#[derive(Clone)]
pub struct TokenRegistry {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    principal: Principal,
    hash: [u8; 32],
}

impl std::fmt::Debug for TokenRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRegistry")
            .field(
                "names",
                &self
                    .entries
                    .iter()
                    .map(|e| &e.principal.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TokenRegistry {
    pub fn new(tokens: &[TokenSettings]) -> Self {
        TokenRegistry {
            entries: tokens
                .iter()
                .map(|t| Entry {
                    principal: Principal {
                        name: t.name.clone(),
                        scopes: t.scopes,
                        expires_at: t.expires_at,
                        rate_limit: t.rate_limit,
                    },
                    hash: t.sha256,
                })
                .collect(),
        }
    }

    /// The configured token names, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.principal.name.as_str())
    }

    /// Number of configured tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns the configured name of the token whose secret is `presented`, if any.
    ///
    /// The presented secret is hashed once and compared in constant time against every configured
    /// hash; the loop never exits early, so the time taken does not reveal which entry matched,
    /// or how much of a hash did.
    pub fn authenticate(&self, presented: &str) -> Option<&str> {
        self.identify(presented).map(|p| p.name.as_str())
    }

    /// The principal of the token whose secret is `presented`, if any, checked as
    /// [`authenticate`](Self::authenticate) describes. Expiry is the caller's to check: an
    /// expired token is still *known*, and deserves a different answer from an unknown one.
    pub fn identify(&self, presented: &str) -> Option<&Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = u64::MAX;
        for (i, entry) in self.entries.iter().enumerate() {
            let matched = digest.ct_eq(&entry.hash);
            found = u64::conditional_select(&found, &(i as u64), matched);
        }
        if found == u64::MAX {
            return None;
        }
        let index = usize::try_from(found).ok()?;
        self.entries.get(index).map(|e| &e.principal)
    }
}

/// The token registry in force, replaceable while the server runs (SIGHUP).
///
/// Each request loads the current registry once (lock-free, `arc-swap`) and authenticates
/// against it, so a reload applies to the next request on every connection, including
/// keep-alive ones, and a request never sees half of an old and half of a new list.
pub struct LiveTokens {
    current: arc_swap::ArcSwap<TokenRegistry>,
}

impl std::fmt::Debug for LiveTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.current.load().fmt(f)
    }
}

impl LiveTokens {
    pub fn new(registry: TokenRegistry) -> Self {
        LiveTokens {
            current: arc_swap::ArcSwap::from_pointee(registry),
        }
    }

    /// The principal of the token whose secret is `presented`, checked in constant time
    /// against the registry in force (see [`TokenRegistry::identify`]).
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        self.current.load().identify(presented).cloned()
    }

    /// Makes `registry` the one in force for every following request.
    pub fn replace(&self, registry: TokenRegistry) {
        self.current.store(std::sync::Arc::new(registry));
    }

    /// The registry in force.
    pub fn current(&self) -> std::sync::Arc<TokenRegistry> {
        self.current.load_full()
    }
}

/// A new token secret: `scimd_` followed by 32 random bytes in base64url without padding.
pub fn generate_secret() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(RandomError)?;
    let mut secret = String::with_capacity(SECRET_PREFIX.len() + 43);
    secret.push_str(SECRET_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut secret);
    Ok(secret)
}

/// SHA-256 of `secret`, lowercase hex: the value of a `[[tokens]]` stanza's `sha256` key.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str) -> TokenSettings {
        TokenSettings {
            name: name.to_string(),
            sha256: Sha256::digest(secret.as_bytes()).into(),
            ..TokenSettings::default()
        }
    }

    #[test]
    fn authenticates_each_configured_token_by_name() {
        let registry = TokenRegistry::new(&[
            token("entra", "secret-one"),
            token("okta", "secret-two"),
            token("backup", "secret-three"),
        ]);
        assert_eq!(registry.len(), 3);
        assert_eq!(registry.authenticate("secret-one"), Some("entra"));
        assert_eq!(registry.authenticate("secret-two"), Some("okta"));
        assert_eq!(registry.authenticate("secret-three"), Some("backup"));
    }

    #[test]
    fn refuses_unknown_and_near_miss_tokens() {
        let registry = TokenRegistry::new(&[token("entra", "secret-one")]);
        assert_eq!(registry.authenticate("secret-on"), None);
        assert_eq!(registry.authenticate("secret-one "), None);
        assert_eq!(registry.authenticate(""), None);
        // The hash itself is not the secret.
        assert_eq!(registry.authenticate(&sha256_hex("secret-one")), None);
        let empty = TokenRegistry::new(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.authenticate("secret-one"), None);
    }

    #[test]
    fn debug_shows_names_only() {
        let registry = TokenRegistry::new(&[token("entra", "secret-one")]);
        let debug = format!("{registry:?}");
        assert!(debug.contains("entra"));
        assert!(!debug.contains(&sha256_hex("secret-one")));
    }

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        let body = &a[SECRET_PREFIX.len()..];
        assert_eq!(body.len(), 43);
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .unwrap();
        assert_eq!(decoded.len(), 32);
    }

    #[test]
    fn sha256_hex_matches_a_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let secret = generate_secret().unwrap();
        let registry = TokenRegistry::new(&[TokenSettings {
            name: "x".into(),
            sha256: hex::decode(sha256_hex(&secret))
                .unwrap()
                .try_into()
                .unwrap(),
            ..TokenSettings::default()
        }]);
        assert_eq!(registry.authenticate(&secret), Some("x"));
    }

    #[test]
    fn live_tokens_apply_a_replacement_to_the_next_check() {
        let live = LiveTokens::new(TokenRegistry::new(&[token("a", "secret-a")]));
        let name = |p: Option<Principal>| p.map(|p| p.name);
        assert_eq!(name(live.authenticate("secret-a")).as_deref(), Some("a"));
        let read_only = TokenSettings {
            scopes: Scopes::none().with(Scope::Read),
            rate_limit: Some(RateLimit {
                per_second: 5,
                burst: 10,
            }),
            ..token("b", "secret-b")
        };
        live.replace(TokenRegistry::new(&[read_only]));
        assert_eq!(live.authenticate("secret-a"), None);
        let b = live.authenticate("secret-b").unwrap();
        assert_eq!(b.name, "b");
        assert!(!b.scopes.contains(Scope::Write));
        assert_eq!(b.rate_limit.map(|r| r.burst), Some(10));
        assert_eq!(live.current().names().collect::<Vec<_>>(), ["b"]);
        assert!(!format!("{live:?}").contains(&sha256_hex("secret-b")));
    }
}
