//! What a token may do (`scopes`, `expires_at`, `requests_per_second`, `burst` on a
//! `[[tokens]]` stanza) and the `[auth]` section (failed-authentication throttling).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::time::Duration;

use serde::Deserialize;

use super::{Problem, RawToken};
use crate::auth::throttle::{
    ThrottleSettings, DEFAULT_FAILURE_LIMIT, DEFAULT_FAILURE_WINDOW, DEFAULT_MAX_ADDRESSES,
};
use crate::auth::{RateLimit, Scope, Scopes};

/// `[auth]`, validated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub throttle: ThrottleSettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    failure_limit: Option<i64>,
    failure_window_seconds: Option<i64>,
    tracked_addresses: Option<i64>,
}

const MAX_FAILURE_LIMIT: i64 = 1_000_000;
const MAX_WINDOW_SECONDS: i64 = 86_400;
const MAX_TRACKED: i64 = 10_000_000;
const MAX_RATE: i64 = 1_000_000;

pub(super) fn validate_auth(raw: Option<RawAuth>, problems: &mut Vec<Problem>) -> AuthSettings {
    let Some(raw) = raw else {
        return AuthSettings::default();
    };
    let limit = bounded(
        raw.failure_limit,
        "auth.failure_limit",
        0,
        MAX_FAILURE_LIMIT,
        "failed authentications from one address that block it; 0 turns throttling off \
         (default 20)",
        problems,
    )
    .map_or(DEFAULT_FAILURE_LIMIT, |n| {
        u32::try_from(n).unwrap_or(u32::MAX)
    });
    let window = bounded(
        raw.failure_window_seconds,
        "auth.failure_window_seconds",
        1,
        MAX_WINDOW_SECONDS,
        "seconds, 1 to 86400 (default 60)",
        problems,
    )
    .map_or(DEFAULT_FAILURE_WINDOW, |n| {
        Duration::from_secs(u64::try_from(n).unwrap_or(60))
    });
    let max_addresses = bounded(
        raw.tracked_addresses,
        "auth.tracked_addresses",
        1,
        MAX_TRACKED,
        "how many client addresses are tracked at most, 1 to 10000000 (default 10000)",
        problems,
    )
    .map_or(DEFAULT_MAX_ADDRESSES, |n| {
        usize::try_from(n).unwrap_or(DEFAULT_MAX_ADDRESSES)
    });
    AuthSettings {
        throttle: ThrottleSettings {
            limit,
            window,
            max_addresses,
        },
    }
}

/// `value` when it lies in `min..=max`; otherwise a problem at `key`, and `None`.
fn bounded(
    value: Option<i64>,
    key: &str,
    min: i64,
    max: i64,
    hint: &str,
    problems: &mut Vec<Problem>,
) -> Option<i64> {
    let n = value?;
    if (min..=max).contains(&n) {
        Some(n)
    } else {
        problems.push(Problem::new(
            key,
            format!("{n} is out of range ({min} to {max})"),
            hint,
        ));
        None
    }
}

/// Parses an expiry: RFC 3339 with an offset, e.g. `2027-06-30T00:00:00Z`.
pub fn parse_expiry(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 date and time with an offset ({e})"))
}

const EXPIRY_HINT: &str =
    "an RFC 3339 date and time with an offset, e.g. expires_at = \"2027-06-30T00:00:00Z\"";

/// The access part of `tokens[i]`: scopes, expiry and rate limit; `None` after a problem.
pub(super) type Access = (Scopes, Option<time::OffsetDateTime>, Option<RateLimit>);

pub(super) fn token_access(t: &RawToken, i: usize, problems: &mut Vec<Problem>) -> Option<Access> {
    let before = problems.len();
    let scopes = match &t.scopes {
        None => Scopes::all(),
        Some(names) => {
            let mut scopes = Scopes::none();
            for (j, name) in names.iter().enumerate() {
                match Scope::parse(name) {
                    Some(s) => scopes = scopes.with(s),
                    None => problems.push(Problem::new(
                        format!("tokens[{i}].scopes[{j}]"),
                        format!("{name:?} is not a scope"),
                        "the scopes are \"read\" and \"write\", e.g. scopes = [\"read\"]",
                    )),
                }
            }
            if names.is_empty() {
                problems.push(Problem::new(
                    format!("tokens[{i}].scopes"),
                    "is empty, so the token could do nothing",
                    "scopes = [\"read\"] or [\"read\", \"write\"]; leave it out for both",
                ));
            }
            scopes
        }
    };
    let expires_at = match &t.expires_at {
        None => None,
        Some(toml::Value::String(s)) => parse_expiry(s)
            .map_err(|m| {
                problems.push(Problem::new(
                    format!("tokens[{i}].expires_at"),
                    m,
                    EXPIRY_HINT,
                ))
            })
            .ok(),
        // A bare TOML datetime: without an offset it names no instant.
        Some(toml::Value::Datetime(d)) => parse_expiry(&d.to_string())
            .map_err(|_| {
                problems.push(Problem::new(
                    format!("tokens[{i}].expires_at"),
                    format!("{d} has no UTC offset, so it names no single instant"),
                    EXPIRY_HINT,
                ))
            })
            .ok(),
        Some(other) => {
            problems.push(Problem::new(
                format!("tokens[{i}].expires_at"),
                format!("expects a date and time, found {}", other.type_str()),
                EXPIRY_HINT,
            ));
            None
        }
    };
    let rate_hint = "requests per second, 1 to 1000000, e.g. requests_per_second = 50";
    let per_second = bounded(
        t.requests_per_second,
        &format!("tokens[{i}].requests_per_second"),
        1,
        MAX_RATE,
        rate_hint,
        problems,
    );
    let burst = bounded(
        t.burst,
        &format!("tokens[{i}].burst"),
        1,
        MAX_RATE,
        "requests that may come at once before the rate applies, 1 to 1000000 \
         (default: requests_per_second)",
        problems,
    );
    if t.burst.is_some() && t.requests_per_second.is_none() {
        problems.push(Problem::new(
            format!("tokens[{i}].burst"),
            "is set without requests_per_second",
            "add requests_per_second, or remove burst",
        ));
    }
    let as_u32 = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    let rate_limit = per_second.map(|rate| RateLimit {
        per_second: as_u32(rate),
        burst: as_u32(burst.unwrap_or(rate)),
    });
    (problems.len() == before).then_some((scopes, expires_at, rate_limit))
}
