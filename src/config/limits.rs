//! `[limits]`: request sizes, query and PATCH bounds, and the slow-client timeouts.
//!
//! Every key is optional; the defaults (docs/LIMITS.md says why each) protect the server and
//! stay far above what Entra ID or Okta send in a normal provisioning cycle.

use std::time::Duration;

use serde::Deserialize;

use super::{bad, Bad, Problem, MAX_PAGE_SIZE_LIMIT};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_body_bytes: Option<i64>,
    max_bulk_body_bytes: Option<i64>,
    max_header_bytes: Option<i64>,
    max_headers: Option<i64>,
    max_filter_length: Option<i64>,
    max_filter_depth: Option<i64>,
    max_patch_operations: Option<i64>,
    max_members_per_request: Option<i64>,
    pub(super) max_page_size: Option<i64>,
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<i64>,
}

/// The validated `[limits]` (except `max_page_size`, which lands in
/// [`super::ServerSettings::max_page_size`] where it always lived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsSettings {
    pub max_body_bytes: usize,
    pub max_bulk_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_filter_length: usize,
    pub max_filter_depth: usize,
    pub max_patch_operations: usize,
    pub max_members_per_request: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        LimitsSettings {
            max_body_bytes: 1024 * 1024,
            max_bulk_body_bytes: 4 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_filter_length: crate::scim::filter::MAX_FILTER_LEN,
            max_filter_depth: crate::scim::filter::MAX_DEPTH,
            max_patch_operations: crate::scim::compat::MAX_OPERATIONS,
            max_members_per_request: 10_000,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// Checks one integer key against `min..=max`; out of range keeps the default and records why.
fn count(
    raw: Option<i64>,
    key: &str,
    min: usize,
    max: usize,
    default: usize,
    unit: &str,
    problems: &mut Vec<Problem>,
) -> usize {
    let Some(n) = raw else { return default };
    match usize::try_from(n) {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            problems.push(Problem::new(
                format!("limits.{key}"),
                format!("{n} is out of range"),
                format!("a whole number of {unit} from {min} to {max}; leave it out for the default {default}"),
            ));
            default
        }
    }
}

fn timeout(
    raw: Option<&str>,
    key: &str,
    default: Duration,
    problems: &mut Vec<Problem>,
) -> Duration {
    let Some(s) = raw else { return default };
    match duration(s) {
        Ok(d) => d,
        Err(b) => {
            problems.push(b.at(format!("limits.{key}")));
            default
        }
    }
}

/// Longest accepted timeout: past an hour a "timeout" no longer defends anything.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Parses a humane duration: a whole number and a unit, `s`, `m` or `h` ("30s", "2m", "1h").
/// Hand-written: three units do not need a parsing crate, and the error can name the fix.
fn duration(s: &str) -> Result<Duration, Bad> {
    let hint = "a whole number followed by s, m or h, e.g. \"30s\" or \"2m\", from 1s to 1h";
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(format!("{s:?} is not a duration"), hint))?;
    let secs = match unit.trim() {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => return Err(bad(format!("{s:?} has no unit (s, m or h)"), hint)),
    };
    match secs.map(Duration::from_secs) {
        Some(d) if !d.is_zero() && d <= MAX_TIMEOUT => Ok(d),
        _ => Err(bad(format!("{s:?} is out of range"), hint)),
    }
}

/// Hard ceilings for keys whose value sizes a stack or a buffer.
const MAX_BODY_LIMIT: usize = 256 * 1024 * 1024;
const MAX_HEADER_BYTES_LIMIT: usize = 1024 * 1024;
const MAX_FILTER_LENGTH_LIMIT: usize = 64 * 1024;

/// Validates `[limits]`. An out-of-range key is reported and its default kept, so all problems
/// are found in one pass.
pub(super) fn validate_limits(raw: RawLimits, problems: &mut Vec<Problem>) -> LimitsSettings {
    let d = LimitsSettings::default();
    let bytes = "bytes";
    let max_body_bytes = count(
        raw.max_body_bytes,
        "max_body_bytes",
        1024,
        MAX_BODY_LIMIT,
        d.max_body_bytes,
        bytes,
        problems,
    );
    let max_bulk_body_bytes = count(
        raw.max_bulk_body_bytes,
        "max_bulk_body_bytes",
        1024,
        MAX_BODY_LIMIT,
        d.max_bulk_body_bytes,
        bytes,
        problems,
    );
    LimitsSettings {
        max_body_bytes,
        max_bulk_body_bytes,
        // Below 8 KiB an ordinary request with a bearer token and a filter no longer fits.
        max_header_bytes: count(
            raw.max_header_bytes,
            "max_header_bytes",
            8 * 1024,
            MAX_HEADER_BYTES_LIMIT,
            d.max_header_bytes,
            bytes,
            problems,
        ),
        max_headers: count(
            raw.max_headers,
            "max_headers",
            16,
            1000,
            d.max_headers,
            "headers",
            problems,
        ),
        max_filter_length: count(
            raw.max_filter_length,
            "max_filter_length",
            64,
            MAX_FILTER_LENGTH_LIMIT,
            d.max_filter_length,
            bytes,
            problems,
        ),
        // The parser recurses per level: the ceiling keeps a hostile filter off the stack.
        max_filter_depth: count(
            raw.max_filter_depth,
            "max_filter_depth",
            1,
            crate::scim::filter::MAX_DEPTH,
            d.max_filter_depth,
            "levels",
            problems,
        ),
        max_patch_operations: count(
            raw.max_patch_operations,
            "max_patch_operations",
            1,
            crate::scim::compat::MAX_OPERATIONS,
            d.max_patch_operations,
            "operations",
            problems,
        ),
        max_members_per_request: count(
            raw.max_members_per_request,
            "max_members_per_request",
            1,
            1_000_000,
            d.max_members_per_request,
            "members",
            problems,
        ),
        header_read_timeout: timeout(
            raw.header_read_timeout.as_deref(),
            "header_read_timeout",
            d.header_read_timeout,
            problems,
        ),
        body_read_timeout: timeout(
            raw.body_read_timeout.as_deref(),
            "body_read_timeout",
            d.body_read_timeout,
            problems,
        ),
        idle_timeout: timeout(
            raw.idle_timeout.as_deref(),
            "idle_timeout",
            d.idle_timeout,
            problems,
        ),
        max_connections: count(
            raw.max_connections,
            "max_connections",
            1,
            1_000_000,
            d.max_connections,
            "connections",
            problems,
        ),
    }
}

/// `[limits] max_page_size` (the preferred place) or `[server] max_page_size` (where it was
/// first): either works; both set to different values is a problem, since one would be ignored.
pub(super) fn page_size_key(
    limits: Option<i64>,
    server: Option<i64>,
    problems: &mut Vec<Problem>,
) -> Option<usize> {
    let n = limits?;
    if server.is_some_and(|s| s != n) {
        problems.push(Problem::new(
            "limits.max_page_size",
            "set in both [limits] and [server] with different values",
            "keep it in [limits] only",
        ));
        return None;
    }
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_PAGE_SIZE_LIMIT).contains(&n) => Some(n),
        _ => {
            problems.push(Problem::new(
                "limits.max_page_size",
                format!("{n} is out of range"),
                format!("a whole number of resources from 1 to {MAX_PAGE_SIZE_LIMIT}"),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_humane_strings() {
        assert_eq!(duration("30s").ok(), Some(Duration::from_secs(30)));
        assert_eq!(duration(" 2m ").ok(), Some(Duration::from_secs(120)));
        assert_eq!(duration("1h").ok(), Some(Duration::from_secs(3600)));
        for wrong in ["30", "0s", "2h", "s", "-1s", "1.5s", "10 sec", ""] {
            assert!(duration(wrong).is_err(), "{wrong}");
        }
    }

    fn load(limits: &str) -> Result<super::super::Config, super::super::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[server]\nlisten = \"0.0.0.0:8443\"\n[storage]\npath = \"scimd.redb\"\n\
             [[tokens]]\nname = \"entra\"\nsha256 = \"{}\"\n{limits}",
            "ab".repeat(32)
        );
        super::super::Config::from_toml(&text, &dir.path().join("scimd.toml"))
    }

    #[test]
    fn absent_keys_take_the_defaults() {
        let c = load("").unwrap();
        assert_eq!(c.limits, LimitsSettings::default());
        let c = load("[limits]\n").unwrap();
        assert_eq!(c.limits, LimitsSettings::default());
    }

    #[test]
    fn set_keys_are_used() {
        let c = load(
            "[limits]\nmax_body_bytes = 2048\nmax_headers = 20\nidle_timeout = \"5s\"\n\
             max_connections = 8\nmax_page_size = 50\n",
        )
        .unwrap();
        assert_eq!(c.limits.max_body_bytes, 2048);
        assert_eq!(c.limits.max_headers, 20);
        assert_eq!(c.limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.max_connections, 8);
        assert_eq!(c.server.max_page_size, 50);
    }

    #[test]
    fn every_bad_key_is_named() {
        let e = load(
            "[limits]\nmax_body_bytes = 0\nmax_filter_depth = 1000\nheader_read_timeout = \"30\"\n\
             max_connections = -1\nmax_page_size = 0\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "limits.max_page_size",
                "limits.max_body_bytes",
                "limits.max_filter_depth",
                "limits.header_read_timeout",
                "limits.max_connections",
            ],
            "{e}"
        );
        assert!(e.problems.iter().all(|p| !p.hint.is_empty()));
        let e = load("[limits]\nmax_body = 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn page_size_in_both_places_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let text = |server: u32, limits: u32| {
            format!(
                "[server]\nmax_page_size = {server}\n[storage]\npath = \"s.redb\"\n\
                 [[tokens]]\nname = \"e\"\nsha256 = \"{}\"\n[limits]\nmax_page_size = {limits}\n",
                "ab".repeat(32)
            )
        };
        let path = dir.path().join("scimd.toml");
        let c = super::super::Config::from_toml(&text(70, 70), &path).unwrap();
        assert_eq!(c.server.max_page_size, 70);
        let e = super::super::Config::from_toml(&text(70, 80), &path).unwrap_err();
        assert_eq!(e.problems[0].key, "limits.max_page_size", "{e}");
    }
}
