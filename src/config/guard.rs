//! `[guard]`: the mass-deprovisioning guard (see `docs/GUARD.md`). Absent: no guard.

use std::time::Duration;

use serde::Deserialize;

use super::{bad, Bad, Problem};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuard {
    max_deprovisions: Option<i64>,
    window: Option<String>,
    max_percent: Option<f64>,
}

/// When deprovisions (user disables and deletes) are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// More than this many within `window` trips the guard.
    pub max_deprovisions: Option<u64>,
    /// More than this share of the users within `window` trips the guard, in hundredths of a
    /// percent (basis points) so the settings stay `Eq`: 250 is 2.5 %.
    pub max_percent_bp: Option<u32>,
    /// The sliding window the deprovisions are counted in.
    pub window: Duration,
}

/// The window when `window` is not set: one Entra provisioning cycle is about 40 minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

const WINDOW_HINT: &str =
    "a duration such as \"30m\", \"1h\" or \"1day\" (between 1 minute and 30 days)";

/// Validates `[guard]`: at least one threshold, each in range, and a parseable window.
pub(super) fn validate_guard(raw: RawGuard, problems: &mut Vec<Problem>) -> Option<GuardSettings> {
    let before = problems.len();
    let max_deprovisions = raw.max_deprovisions.and_then(|n| match u64::try_from(n) {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            problems.push(Problem::new(
                "guard.max_deprovisions",
                format!("{n} is not a positive number of users"),
                "a count of 1 or more, e.g. 50; remove [guard] to turn the guard off",
            ));
            None
        }
    });
    let max_percent_bp = raw.max_percent.and_then(|p| match percent(p) {
        Ok(bp) => Some(bp),
        Err(b) => {
            problems.push(b.at("guard.max_percent"));
            None
        }
    });
    let window = match raw.window.as_deref().map(checked_window) {
        None => Some(DEFAULT_WINDOW),
        Some(Ok(w)) => Some(w),
        Some(Err(b)) => {
            problems.push(b.at("guard.window"));
            None
        }
    };
    if raw.max_deprovisions.is_none() && raw.max_percent.is_none() {
        problems.push(Problem::new(
            "guard",
            "[guard] sets no threshold, so it would never hold anything",
            "add max_deprovisions = 50 (and/or max_percent = 5), or remove [guard]",
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(GuardSettings {
        max_deprovisions,
        max_percent_bp,
        window: window?,
    })
}

fn percent(p: f64) -> Result<u32, Bad> {
    if !(p > 0.0 && p <= 100.0) {
        return Err(bad(
            format!("{p} is not a percentage above 0 and at most 100"),
            "e.g. max_percent = 5 (more than 5 % of the users within the window trips the guard)",
        ));
    }
    // In range, so the cast cannot overflow; below 0.01 % rounds up to the smallest step.
    Ok(((p * 100.0).round() as u32).max(1))
}

/// Parses a duration as `window` and `scimd guard release --for` take it; the error says what
/// is wrong and what would be right.
pub fn window(s: &str) -> Result<Duration, String> {
    checked_window(s).map_err(|b| format!("{} ({})", b.message, b.hint))
}

/// `humantime` spells durations the way admins write them ("1h", "90min", "2days").
fn checked_window(s: &str) -> Result<Duration, Bad> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| bad(format!("{s:?} is not a duration: {e}"), WINDOW_HINT))?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(30 * 24 * 3600) {
        return Err(bad(format!("{s:?} is out of range"), WINDOW_HINT));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawGuard) -> Result<GuardSettings, Vec<String>> {
        let mut problems = Vec::new();
        validate_guard(raw, &mut problems).ok_or_else(|| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect()
        })
    }

    #[test]
    fn accepts_a_count_a_percentage_and_a_window() {
        let g = check(RawGuard {
            max_deprovisions: Some(50),
            window: Some("2h".into()),
            max_percent: Some(2.5),
        })
        .unwrap();
        assert_eq!(g.max_deprovisions, Some(50));
        assert_eq!(g.max_percent_bp, Some(250));
        assert_eq!(g.window, Duration::from_secs(7200));
    }

    #[test]
    fn the_window_defaults_to_an_hour() {
        let g = check(RawGuard {
            max_deprovisions: Some(3),
            ..RawGuard::default()
        })
        .unwrap();
        assert_eq!(g.window, DEFAULT_WINDOW);
        assert_eq!(g.max_percent_bp, None);
    }

    #[test]
    fn names_every_bad_key() {
        let e = check(RawGuard {
            max_deprovisions: Some(0),
            window: Some("soon".into()),
            max_percent: Some(150.0),
        })
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("guard.max_deprovisions: 0"), "{e:?}");
        assert!(e[1].starts_with("guard.max_percent: 150"), "{e:?}");
        assert!(e[2].starts_with("guard.window: \"soon\""), "{e:?}");
    }

    #[test]
    fn refuses_a_guard_without_threshold_and_a_tiny_window() {
        let e = check(RawGuard::default()).unwrap_err();
        assert_eq!(
            e,
            vec!["guard: [guard] sets no threshold, so it would never hold anything"]
        );
        let e = check(RawGuard {
            max_deprovisions: Some(5),
            window: Some("5s".into()),
            max_percent: None,
        })
        .unwrap_err();
        assert!(e[0].contains("out of range"), "{e:?}");
    }
}
