//! What a token may do: its scopes, its expiry and its request rate, gathered in a [`Principal`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;

/// One permission a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// GET, list, `.search`, discovery endpoints.
    Read,
    /// POST, PUT, PATCH, DELETE on resources, and `/Bulk`.
    Write,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Read, Scope::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// The scope named `name` (exactly as written in the configuration: lower case).
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes. The default is every scope: a token written before scopes existed keeps
/// doing what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes {
    read: bool,
    write: bool,
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::all()
    }
}

impl Scopes {
    pub const fn all() -> Self {
        Scopes {
            read: true,
            write: true,
        }
    }

    pub const fn none() -> Self {
        Scopes {
            read: false,
            write: false,
        }
    }

    pub fn with(mut self, scope: Scope) -> Self {
        match scope {
            Scope::Read => self.read = true,
            Scope::Write => self.write = true,
        }
        self
    }

    pub fn contains(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }

    pub fn is_empty(self) -> bool {
        !self.read && !self.write
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        iter.into_iter().fold(Scopes::none(), Scopes::with)
    }
}

impl fmt::Display for Scopes {
    /// `read,write`, `read`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// A per-token request rate: a token bucket refilled at `per_second`, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// Who is calling and what they may do: what authentication yields, whatever the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The configured name; logs and the audit log use it, never the secret.
    pub name: String,
    pub scopes: Scopes,
    /// After this instant the credential is refused; `None`: it does not expire.
    pub expires_at: Option<time::OffsetDateTime>,
    /// `None`: not rate-limited (the default).
    pub rate_limit: Option<RateLimit>,
}

impl Principal {
    /// True when the credential has expired at `now` (an expiry instant itself is already past).
    pub fn expired(&self, now: time::OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// An instant as RFC 3339 (`2027-06-30T00:00:00Z`), for messages and listings.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_all_and_print_as_configured() {
        assert_eq!(Scopes::default(), Scopes::all());
        assert_eq!(Scopes::all().to_string(), "read,write");
        let read: Scopes = [Scope::Read].into_iter().collect();
        assert!(read.contains(Scope::Read));
        assert!(!read.contains(Scope::Write));
        assert_eq!(read.to_string(), "read");
        assert_eq!(Scopes::none().to_string(), "none");
        assert!(Scopes::none().is_empty());
        assert_eq!(Scope::parse("write"), Some(Scope::Write));
        assert_eq!(Scope::parse("Write"), None);
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn expiry_is_inclusive() {
        let at = time::macros::datetime!(2027-06-30 00:00 UTC);
        let p = Principal {
            name: "x".into(),
            scopes: Scopes::all(),
            expires_at: Some(at),
            rate_limit: None,
        };
        assert!(!p.expired(at - time::Duration::SECOND));
        assert!(p.expired(at));
        assert_eq!(rfc3339(at), "2027-06-30T00:00:00Z");
        let forever = Principal {
            expires_at: None,
            ..p
        };
        assert!(!forever.expired(at + time::Duration::days(10_000)));
    }
}
