//! Per-token rate limits: one token bucket per token name.
//!
//! Keyed by name, not by the secret's hash, so a reload that changes a token's limit (or rotates
//! nothing at all) keeps the bucket's state, and a request never waits on a bucket it does not
//! use. The limit comes with each request (from its [`Principal`](super::Principal)), so a new
//! limit applies to the very next request after a reload.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::RateLimit;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests that may be made now, fractional while refilling.
    available: f64,
    updated: Instant,
}

/// Token buckets of every rate-limited token.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        RateLimiter::default()
    }

    /// Takes one request from `name`'s bucket at `now`; when it is empty, returns how long until
    /// one is available.
    pub fn check(&self, name: &str, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(limit.per_second.max(1));
        let burst = f64::from(limit.burst.max(1));
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; letting requests through beats refusing
            // every one of them.
            return Ok(());
        };
        let bucket = buckets.entry(name.to_string()).or_insert(Bucket {
            available: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.available = (bucket.available + elapsed * rate).min(burst);
        bucket.updated = bucket.updated.max(now);
        if bucket.available >= 1.0 {
            bucket.available -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.available) / rate))
        }
    }

    /// Charges `extra` more requests to `name`'s bucket at `now`, into debt if need be: a Bulk
    /// admitted as one request costs one per operation, so a limited token cannot multiply its
    /// rate by batching; the requests after it wait until the debt is repaid.
    pub fn debit(&self, name: &str, limit: RateLimit, extra: u32, now: Instant) {
        if extra == 0 {
            return;
        }
        let rate = f64::from(limit.per_second.max(1));
        let burst = f64::from(limit.burst.max(1));
        let Ok(mut buckets) = self.buckets.lock() else {
            return;
        };
        let bucket = buckets.entry(name.to_string()).or_insert(Bucket {
            available: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.available = (bucket.available + elapsed * rate).min(burst) - f64::from(extra);
        bucket.updated = bucket.updated.max(now);
    }

    /// Forgets the buckets of tokens no longer configured (after a reload).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.retain(|name, _| keep(name));
        }
    }

    /// Number of buckets held (for tests).
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3 allows only
/// whole seconds, and 0 would invite an immediate retry that fails again).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_PER_SECOND: RateLimit = RateLimit {
        per_second: 2,
        burst: 2,
    };

    #[test]
    fn a_bulks_operations_are_paid_for_by_the_requests_after_it() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        // The Bulk itself is admitted as one request, then charged its other 9 operations.
        assert!(limiter.check("a", TWO_PER_SECOND, t0).is_ok());
        limiter.debit("a", TWO_PER_SECOND, 9, t0);
        // 1 left of the burst, minus 9: 8 in debt, so the next request waits 4.5 s.
        let wait = limiter.check("a", TWO_PER_SECOND, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(4500));
        assert!(limiter
            .check("a", TWO_PER_SECOND, t0 + Duration::from_millis(4500))
            .is_ok());
        // Charging nothing changes nothing, and other tokens are untouched.
        limiter.debit("b", TWO_PER_SECOND, 0, t0);
        assert!(limiter.check("b", TWO_PER_SECOND, t0).is_ok());
    }

    #[test]
    fn allows_the_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        assert!(limiter.check("a", TWO_PER_SECOND, t0).is_ok());
        assert!(limiter.check("a", TWO_PER_SECOND, t0).is_ok());
        let wait = limiter.check("a", TWO_PER_SECOND, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later one more request fits, not two.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check("a", TWO_PER_SECOND, t1).is_ok());
        assert!(limiter.check("a", TWO_PER_SECOND, t1).is_err());
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert!(limiter.check("a", TWO_PER_SECOND, t2).is_ok());
        assert!(limiter.check("a", TWO_PER_SECOND, t2).is_ok());
        assert!(limiter.check("a", TWO_PER_SECOND, t2).is_err());
    }

    #[test]
    fn buckets_are_per_token_and_survive_a_limit_change() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now();
        let one = RateLimit {
            per_second: 1,
            burst: 1,
        };
        assert!(limiter.check("a", one, t0).is_ok());
        assert!(limiter.check("a", one, t0).is_err());
        assert!(limiter.check("b", one, t0).is_ok());
        // A reload raising the limit keeps the empty bucket: no free burst from reloading.
        let more = RateLimit {
            per_second: 10,
            burst: 10,
        };
        assert_eq!(
            limiter.check("a", more, t0).unwrap_err(),
            Duration::from_millis(100)
        );
        assert_eq!(limiter.len(), 2);
        limiter.retain(|n| n == "b");
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn a_clock_going_backwards_is_harmless() {
        let limiter = RateLimiter::new();
        let t0 = Instant::now() + Duration::from_secs(10);
        let one = RateLimit {
            per_second: 1,
            burst: 1,
        };
        assert!(limiter.check("a", one, t0).is_ok());
        assert!(limiter
            .check("a", one, t0 - Duration::from_secs(5))
            .is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
