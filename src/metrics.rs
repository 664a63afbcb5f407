//! Operational metrics, built with `prometheus-client` and served in the Prometheus text format
//! on their own listener (`[metrics]`, see `http::metrics`).
//!
//! [`Metrics`] holds the handles every recording site needs. prometheus-client metrics share
//! their state through an `Arc`, so the router, the store's commit hook and the registry each
//! hold clones of the same counters. Recording costs a few atomic operations; it happens even
//! when no `[metrics]` listener is configured, which keeps the recording sites free of branches.
//!
//! Cardinality is bounded by construction: resource, method, status and reason labels take a
//! fixed set of values (unknown HTTP methods become `other`), and `token` labels are the names of
//! configured tokens only; an unauthenticated request never creates a token label.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::store::{Batch, Kind, Store};

/// `Content-Type` of a scrape response: the Prometheus text format, version 0.0.4, which every
/// Prometheus-compatible scraper reads.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Request latency buckets, in seconds: 1 ms to 10 s. A SCIM read takes well under a
/// millisecond of server time; a large Bulk or a streamed group read can take seconds.
const REQUEST_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Commit latency buckets, in seconds: from 100 µs, since one fsync on a good disk takes
/// 0.1–0.5 ms (STACK.md §4b), to 10 s for a stalled disk.
const COMMIT_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Writes per commit: powers of two up to the writer's largest batch.
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Why a request was refused authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// Neither `Authorization` nor a client-specific token header was sent.
    MissingHeader,
    /// `Authorization` was sent but is not `Bearer <token>`.
    Malformed,
    /// A token was presented that matches no configured token.
    UnknownToken,
    /// A configured token was presented after its `expires_at`.
    ExpiredToken,
    /// A valid token lacks the scope the request needs (an authorization failure, 403).
    InsufficientScope,
    /// The client's address is blocked after too many failures; no token was checked.
    Throttled,
    /// `POST /oauth/token` with an unknown client, a wrong secret or no client credentials.
    OAuthClient,
}

impl AuthFailure {
    const ALL: [AuthFailure; 7] = [
        AuthFailure::MissingHeader,
        AuthFailure::Malformed,
        AuthFailure::UnknownToken,
        AuthFailure::ExpiredToken,
        AuthFailure::InsufficientScope,
        AuthFailure::Throttled,
        AuthFailure::OAuthClient,
    ];

    /// The metric label, also the `reason` in log lines.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "missing_header",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownToken => "unknown_token",
            AuthFailure::ExpiredToken => "expired_token",
            AuthFailure::InsufficientScope => "insufficient_scope",
            AuthFailure::Throttled => "throttled",
            AuthFailure::OAuthClient => "oauth_client",
        }
    }
}

/// One finished SCIM request, as the HTTP layer classified it.
#[derive(Debug, Clone, Copy)]
pub struct RequestSample<'a> {
    /// `Users`, `Groups`, `Bulk`, `discovery` or `other`.
    pub resource: &'static str,
    /// The HTTP method, or `other` for one scimd does not serve.
    pub method: &'static str,
    pub status: u16,
    /// The configured name of the token that authenticated the request, if any.
    pub token: Option<&'a str>,
    /// Whether this was a change (POST/PUT/PATCH/DELETE on Users or Groups, or a Bulk POST)
    /// that succeeded (2xx).
    pub successful_write: bool,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    resource: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    resource: &'static str,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    token: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Timestamp = Gauge<f64, AtomicU64>;

/// When the first server of this process started: in `scimd serve`, within milliseconds of the
/// process start, which is what `process_start_time_seconds` means to dashboards.
static PROCESS_START: OnceLock<f64> = OnceLock::new();

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

/// The metrics of one running server.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    token_requests: Family<TokenLabels, Counter>,
    last_write: Family<TokenLabels, Timestamp>,
    commits: Histogram,
    batch_sizes: Histogram,
    changed_writes: Counter,
    build_info: Family<BuildLabels, Gauge>,
    started: Timestamp,
    guard: GuardMetrics,
}

/// The deprovisioning guard's metrics (see `guard::live`).
#[derive(Debug, Clone, Default)]
pub struct GuardMetrics {
    tripped: Gauge,
    held: Counter,
    admitted: Counter,
}

impl GuardMetrics {
    pub fn set_tripped(&self, tripped: bool) {
        self.tripped.set(i64::from(tripped));
    }
    /// A deprovision refused while the guard holds.
    pub fn held(&self) {
        self.held.inc();
    }
    /// A deprovision that committed (counted or inside a release window).
    pub fn admitted(&self) {
        self.admitted.inc();
    }
}

impl Metrics {
    /// New metrics for a server whose configured token names are `tokens`. Their request
    /// counters and the authentication-failure counters start at 0, so `rate()` and `increase()`
    /// see the first event. The last-write timestamps start absent: 0 would read as "no write
    /// since 1970" and fire a staleness alert at every restart.
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Metrics {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(request_histogram),
            auth_failures: Family::default(),
            token_requests: Family::default(),
            last_write: Family::default(),
            commits: Histogram::new(COMMIT_BUCKETS),
            batch_sizes: Histogram::new(BATCH_BUCKETS),
            changed_writes: Counter::default(),
            build_info: Family::default(),
            started: Timestamp::default(),
            guard: GuardMetrics::default(),
        };
        for reason in AuthFailure::ALL {
            // Creating the series is the point; the returned guard is dropped at once.
            drop(m.auth_failures.get_or_create(&ReasonLabels {
                reason: reason.label(),
            }));
        }
        for token in tokens {
            drop(m.token_requests.get_or_create(&TokenLabels {
                token: token.to_string(),
            }));
        }
        m.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        m.started.set(*PROCESS_START.get_or_init(unix_now));
        m
    }

    /// Records one finished request.
    pub fn request(&self, s: &RequestSample<'_>) {
        self.requests
            .get_or_create(&RequestLabels {
                resource: s.resource,
                method: s.method,
                status: s.status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                resource: s.resource,
                method: s.method,
            })
            .observe(s.elapsed.as_secs_f64());
        if let Some(token) = s.token {
            let labels = TokenLabels {
                token: token.to_string(),
            };
            self.token_requests.get_or_create(&labels).inc();
            if s.successful_write {
                self.last_write.get_or_create(&labels).set(unix_now());
            }
        }
    }

    /// Records a refused authentication.
    pub fn auth_failure(&self, reason: AuthFailure) {
        self.auth_failures
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// The handles the deprovisioning guard records with.
    pub fn guard(&self) -> GuardMetrics {
        self.guard.clone()
    }

    /// A callback for [`Store::observe_batches`]: records how long each durable commit took,
    /// how many writes it carried (group commit) and how many of them changed something.
    pub fn commit_observer(&self) -> impl Fn(&Batch) + Send + Sync + 'static {
        let (commits, sizes, changed) = (
            self.commits.clone(),
            self.batch_sizes.clone(),
            self.changed_writes.clone(),
        );
        move |batch| {
            commits.observe(batch.took.as_secs_f64());
            sizes.observe(batch.operations as f64);
            changed.inc_by(batch.changed as u64);
        }
    }

    /// A registry holding these metrics and the resource counts of `store`, read at scrape time.
    ///
    /// The store is held weakly: a scrape must never be what keeps the database file open after
    /// the server stopped (a restart would then find it locked).
    pub fn registry(&self, store: Weak<Store>) -> Registry {
        let mut r = Registry::default();
        r.register(
            "scimd_http_requests",
            "SCIM requests answered, by resource type, method and status code",
            self.requests.clone(),
        );
        r.register_with_unit(
            "scimd_http_request_duration",
            "Time from receiving a SCIM request to its response headers, by resource type and method",
            Unit::Seconds,
            self.latency.clone(),
        );
        r.register(
            "scimd_auth_failures",
            "Requests refused authentication, by reason",
            self.auth_failures.clone(),
        );
        r.register(
            "scimd_token_requests",
            "Authenticated SCIM requests, by configured token name",
            self.token_requests.clone(),
        );
        r.register_with_unit(
            "scimd_last_successful_write_timestamp",
            "Unix time of the last successful change (POST, PUT, PATCH, DELETE or Bulk answered 2xx), by token name; absent until the first one since start",
            Unit::Seconds,
            self.last_write.clone(),
        );
        r.register_with_unit(
            "scimd_store_commit_duration",
            "Time of each committed store write transaction, including its fsync",
            Unit::Seconds,
            self.commits.clone(),
        );
        r.register(
            "scimd_store_commit_operations",
            "Writes carried by each committed store transaction (group commit: all that were waiting)",
            self.batch_sizes.clone(),
        );
        r.register(
            "scimd_store_changed_writes",
            "Committed writes that changed something; one that changes nothing (re-adding a member, disabling a disabled user) is not counted",
            self.changed_writes.clone(),
        );
        r.register(
            "scimd_build_info",
            "Always 1; the version label names the running scimd",
            self.build_info.clone(),
        );
        // The conventional name (unprefixed), so existing uptime dashboards and rules apply.
        r.register_with_unit(
            "process_start_time",
            "Unix time at which this scimd process started serving",
            Unit::Seconds,
            self.started.clone(),
        );
        r.register(
            "scimd_guard_tripped",
            "1 while the deprovisioning guard holds user disables and deletes, else 0",
            self.guard.tripped.clone(),
        );
        r.register(
            "scimd_guard_held_deprovisions",
            "User disables and deletes refused because the deprovisioning guard holds them",
            self.guard.held.clone(),
        );
        r.register(
            "scimd_guard_admitted_deprovisions",
            "User disables and deletes the deprovisioning guard let through and that committed",
            self.guard.admitted.clone(),
        );
        r.register_collector(Box::new(StoreCounts { store }));
        r
    }
}

/// Encodes `registry` in the Prometheus text format ([`CONTENT_TYPE`]).
pub fn encode(registry: &Registry) -> Result<String, fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}

fn unix_now() -> f64 {
    // A clock set before 1970 reads as 0, which an alert on staleness would report.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Resource counts as gauges, read from one snapshot at each scrape. Each count is O(1) (redb
/// keeps table lengths), so a scrape costs the same with ten users or a million.
#[derive(Debug)]
struct StoreCounts {
    store: Weak<Store>,
}

impl StoreCounts {
    fn read(
        store: &Store,
    ) -> Result<[(&'static str, &'static str, u64); 3], crate::store::StoreError> {
        let r = store.read()?;
        Ok([
            ("scimd_users", "Users in the store", r.count(Kind::User)?),
            ("scimd_groups", "Groups in the store", r.count(Kind::Group)?),
            (
                "scimd_group_memberships",
                "Direct group membership edges (group to member) in the store",
                r.membership_count()?,
            ),
        ])
    }
}

impl Collector for StoreCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(store) = self.store.upgrade() else {
            return Ok(());
        };
        let counts = match Self::read(&store) {
            Ok(c) => Some(c),
            Err(e) => {
                // The counts go missing from this scrape; the rest of the metrics still help
                // diagnose why.
                tracing::warn!(error = %e, "cannot read resource counts for /metrics");
                None
            }
        };
        let queued = (
            "scimd_store_queued_writes",
            "Writes waiting for the store's writer at scrape time; at [storage] write_queue, more are refused with 503",
            store.queued_writes() as u64,
        );
        // Free pages inside the file are reused but not given back; this is what tells an
        // operator that the disk fills, and whether `scimd db compact` helped.
        let file = match std::fs::metadata(store.path()) {
            Ok(m) => Some((
                "scimd_store_file_bytes",
                "Size of the store file in bytes, free pages included (`scimd db compact` returns them)",
                m.len(),
            )),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the store file's size for /metrics");
                None
            }
        };
        for (name, help, n) in counts.into_iter().flatten().chain([queued]).chain(file) {
            let gauge = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(token: Option<&'a str>, write: bool) -> RequestSample<'a> {
        RequestSample {
            resource: "Users",
            method: "POST",
            status: 201,
            token,
            successful_write: write,
            elapsed: Duration::from_millis(3),
        }
    }

    #[test]
    fn encodes_counters_labels_and_histograms() {
        let m = Metrics::new(["entra", "okta"]);
        m.request(&sample(Some("entra"), true));
        m.auth_failure(AuthFailure::Malformed);
        (m.commit_observer())(&Batch {
            took: Duration::from_micros(400),
            operations: 3,
            changed: 2,
        });
        let text = encode(&m.registry(Weak::new())).unwrap();
        assert!(text.contains(
            "scimd_http_requests_total{resource=\"Users\",method=\"POST\",status=\"201\"} 1\n"
        ));
        assert!(text.contains(
            "scimd_http_request_duration_seconds_bucket{resource=\"Users\",method=\"POST\",le=\"0.005\"} 1\n"
        ), "{text}");
        assert!(text.contains("scimd_auth_failures_total{reason=\"malformed\"} 1\n"));
        assert!(text.contains("scimd_auth_failures_total{reason=\"unknown_token\"} 0\n"));
        assert!(text.contains("scimd_token_requests_total{token=\"entra\"} 1\n"));
        assert!(text.contains("scimd_store_commit_operations_bucket{le=\"2\"} 0\n"));
        assert!(text.contains("scimd_store_commit_operations_bucket{le=\"4\"} 1\n"));
        assert!(
            text.contains("scimd_store_changed_writes_total 2\n"),
            "{text}"
        );
        assert!(text.contains("scimd_token_requests_total{token=\"okta\"} 0\n"));
        assert!(text.contains("scimd_last_successful_write_timestamp_seconds{token=\"entra\"} "));
        assert!(!text.contains("scimd_last_successful_write_timestamp_seconds{token=\"okta\"}"));
        assert!(text.contains("scimd_store_commit_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains(&format!(
            "scimd_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("process_start_time_seconds "));
        // The store is gone (Weak::new): its counts are simply absent.
        assert!(!text.contains("scimd_users"));
    }

    #[test]
    fn reads_and_unauthenticated_requests_leave_the_last_write_alone() {
        let m = Metrics::new(["entra"]);
        m.request(&sample(Some("entra"), false));
        m.request(&sample(None, true));
        let text = encode(&m.registry(Weak::new())).unwrap();
        assert!(!text.contains("scimd_last_successful_write_timestamp_seconds{"));
        assert!(text.contains("scimd_token_requests_total{token=\"entra\"} 1\n"));
    }
}
