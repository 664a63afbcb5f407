//! Failed-authentication throttling per source address.
//!
//! Each address gets a window that opens at its first failed authentication. The `limit`-th
//! failure inside the window blocks the address for one whole window from that failure: its
//! requests are then refused (429) before any token is looked at, so guessing costs the
//! attacker time and gives no answers.
//!
//! A successful authentication neither resets the count nor lifts a block. Otherwise an attacker
//! holding any valid credential (a read-only token, say) could interleave it with guesses and
//! never be blocked, and a legitimate identity provider behind the same NAT as an attacker would
//! keep unlocking the attacker. The price: that provider is refused too while the block lasts.
//! `server.trusted_proxies` (so the real client address is used) and `auth.failure_limit = 0`
//! (off) are the remedies; docs/TOKENS.md says so.
//!
//! IPv6 addresses count by their /64: one host usually owns a whole /64 and could otherwise
//! take a fresh address for every guess.
//!
//! Memory is bounded: at most `max_addresses` are tracked. When full, entries whose window has
//! passed are dropped first, then the one seen longest ago.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `[auth]` settings of the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures from one address within `window` that block it; 0 turns throttling off.
    pub limit: u32,
    pub window: Duration,
    /// Most addresses tracked at once.
    pub max_addresses: usize,
}

/// 20 failures a minute: far above what a misconfigured identity provider's retries produce,
/// far below what guessing needs (and a guess at a 256-bit secret never succeeds anyway).
pub const DEFAULT_FAILURE_LIMIT: u32 = 20;
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// About 1 MB of state at most.
pub const DEFAULT_MAX_ADDRESSES: usize = 10_000;

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            limit: DEFAULT_FAILURE_LIMIT,
            window: DEFAULT_FAILURE_WINDOW,
            max_addresses: DEFAULT_MAX_ADDRESSES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    window_start: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
    last_seen: Instant,
}

impl Record {
    fn stale(&self, now: Instant, window: Duration) -> bool {
        let window_over = now.saturating_duration_since(self.window_start) >= window;
        let block_over = self.blocked_until.is_none_or(|until| now >= until);
        window_over && block_over
    }
}

/// Failed authentications per address; shared by all connections.
#[derive(Debug)]
pub struct FailureThrottle {
    settings: Mutex<ThrottleSettings>,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl FailureThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        FailureThrottle {
            settings: Mutex::new(settings),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Applies new settings (a reload); counts so far are kept.
    pub fn configure(&self, settings: ThrottleSettings) {
        if let Ok(mut s) = self.settings.lock() {
            *s = settings;
        }
    }

    fn settings(&self) -> ThrottleSettings {
        self.settings.lock().map(|s| *s).unwrap_or_default()
    }

    /// How long `addr` must still wait, when it is blocked at `now`.
    pub fn blocked(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        if self.settings().limit == 0 {
            return None;
        }
        let records = self.records.lock().ok()?;
        let until = records.get(&key(addr))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed authentication from `addr` at `now`. Returns the block's length when
    /// this failure blocked the address.
    pub fn failed(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let settings = self.settings();
        if settings.limit == 0 {
            return None;
        }
        let mut records = self.records.lock().ok()?;
        let key = key(addr);
        if !records.contains_key(&key) && records.len() >= settings.max_addresses.max(1) {
            make_room(&mut records, now, settings.window);
        }
        let record = records.entry(key).or_insert(Record {
            window_start: now,
            failures: 0,
            blocked_until: None,
            last_seen: now,
        });
        if record.stale(now, settings.window) {
            *record = Record {
                window_start: now,
                failures: 0,
                blocked_until: None,
                last_seen: now,
            };
        }
        record.last_seen = now;
        record.failures = record.failures.saturating_add(1);
        if record.failures >= settings.limit && record.blocked_until.is_none_or(|u| u <= now) {
            record.blocked_until = Some(now + settings.window);
            return Some(settings.window);
        }
        None
    }

    /// Addresses tracked now (for tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// Drops every stale record; if none was, the unblocked one seen longest ago, and only when
/// every record is blocked, the block that ends soonest: otherwise an attacker with many
/// addresses (an IPv6 /48 holds 65,536 /64s) could push its own blocks out of the table.
fn make_room(records: &mut HashMap<IpAddr, Record>, now: Instant, window: Duration) {
    let before = records.len();
    records.retain(|_, r| !r.stale(now, window));
    if records.len() < before {
        return;
    }
    let blocked = |r: &Record| r.blocked_until.is_some_and(|u| u > now);
    let oldest = records
        .iter()
        .filter(|(_, r)| !blocked(r))
        .min_by_key(|(_, r)| r.last_seen)
        .or_else(|| records.iter().min_by_key(|(_, r)| r.blocked_until))
        .map(|(k, _)| *k);
    if let Some(k) = oldest {
        records.remove(&k);
    }
}

/// The address an attempt is counted against: IPv4 as is, IPv6 by its /64.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(limit: u32, window_secs: u64, max: usize) -> FailureThrottle {
        FailureThrottle::new(ThrottleSettings {
            limit,
            window: Duration::from_secs(window_secs),
            max_addresses: max,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_the_limit_for_one_window() {
        let t = throttle(3, 60, 100);
        let start = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(t.failed(a, start), None);
        assert_eq!(t.failed(a, start + Duration::from_secs(1)), None);
        assert_eq!(t.blocked(a, start + Duration::from_secs(2)), None);
        let third = start + Duration::from_secs(2);
        assert_eq!(t.failed(a, third), Some(Duration::from_secs(60)));
        assert_eq!(
            t.blocked(a, third + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        // Another address is not affected.
        assert_eq!(t.blocked(ip("192.0.2.2"), third), None);
        // The block ends one window after the failure that set it.
        assert_eq!(t.blocked(a, third + Duration::from_secs(60)), None);
    }

    #[test]
    fn failures_spread_over_windows_do_not_add_up() {
        let t = throttle(3, 60, 100);
        let start = Instant::now();
        let a = ip("192.0.2.1");
        t.failed(a, start);
        t.failed(a, start + Duration::from_secs(30));
        // The window opened at `start` has passed: this failure opens a new one.
        assert_eq!(t.failed(a, start + Duration::from_secs(61)), None);
        assert_eq!(t.failed(a, start + Duration::from_secs(62)), None);
        assert_eq!(t.blocked(a, start + Duration::from_secs(63)), None);
        assert!(t.failed(a, start + Duration::from_secs(63)).is_some());
    }

    #[test]
    fn a_limit_of_zero_turns_it_off() {
        let t = throttle(0, 60, 100);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(t.failed(ip("192.0.2.1"), now), None);
        }
        assert_eq!(t.blocked(ip("192.0.2.1"), now), None);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        let t = throttle(2, 60, 100);
        let now = Instant::now();
        t.failed(ip("2001:db8:1:2::1"), now);
        assert!(t.failed(ip("2001:db8:1:2:ffff::9"), now).is_some());
        assert!(t.blocked(ip("2001:db8:1:2::abcd"), now).is_some());
        assert!(t.blocked(ip("2001:db8:1:3::1"), now).is_none());
        t.failed(ip("::ffff:192.0.2.7"), now);
        assert!(t.failed(ip("192.0.2.7"), now).is_some());
    }

    #[test]
    fn memory_is_bounded_dropping_stale_entries_first() {
        let t = throttle(2, 60, 3);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // A one-off failure, then an attacker blocked at 50s, then another one-off.
        t.failed(ip("192.0.2.2"), at(0));
        t.failed(ip("192.0.2.1"), at(50));
        t.failed(ip("192.0.2.1"), at(50));
        t.failed(ip("192.0.2.3"), at(50));
        assert_eq!(t.tracked(), 3);
        // At 70s only .2 is stale (its window passed, it was never blocked): it makes room,
        // and the attacker stays blocked.
        t.failed(ip("192.0.2.4"), at(70));
        assert_eq!(t.tracked(), 3);
        assert_eq!(
            t.blocked(ip("192.0.2.1"), at(70)),
            Some(Duration::from_secs(40))
        );
        // Nothing stale: the one seen longest ago goes, and the count stays at the cap.
        for i in 10..20 {
            t.failed(ip(&format!("192.0.2.{i}")), at(71));
            assert_eq!(t.tracked(), 3);
        }
        // A flood of new addresses does not push out a block that is still running.
        assert!(t.blocked(ip("192.0.2.1"), at(71)).is_some());
    }

    #[test]
    fn a_reload_changes_the_limit() {
        let t = throttle(100, 60, 100);
        let now = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(t.failed(a, now), None);
        t.configure(ThrottleSettings {
            limit: 2,
            window: Duration::from_secs(10),
            max_addresses: 100,
        });
        assert_eq!(t.failed(a, now), Some(Duration::from_secs(10)));
        assert!(t.blocked(a, now).is_some());
    }
}
