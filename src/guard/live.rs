//! The guard as the server runs it: the decision state behind a lock, persisted beside the
//! store so a restart never silently releases, with its log lines and metrics.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use super::{Decision, Deprovision, Policy, Release, State, Status, Trip};
use crate::config::GuardSettings;
use crate::metrics::GuardMetrics;
use crate::scim::ScimError;

/// `Retry-After` on a held deprovision, in seconds. Entra retries a 5xx at its next cycle
/// (about 40 minutes) whatever this says; Okta and the Keycloak plugin wait this long. Five
/// minutes keeps a held IdP's retries cheap and lets the held operations land soon after a
/// release.
pub const RETRY_AFTER_SECS: u64 = 300;

/// While held, a reminder is logged at most this often.
const REMINDER_EVERY: time::Duration = time::Duration::minutes(10);

/// Where the guard's state is kept: beside the store file.
pub fn state_file(store: &Path) -> PathBuf {
    sibling(store, "guard.json")
}

/// The control socket `scimd guard` talks to: beside the store file.
pub fn control_socket(store: &Path) -> PathBuf {
    sibling(store, "control")
}

fn sibling(store: &Path, suffix: &str) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    store.with_file_name(name)
}

type Clock = Box<dyn Fn() -> OffsetDateTime + Send + Sync>;

struct Inner {
    state: State,
    last_reminder: Option<OffsetDateTime>,
}

/// The running guard.
pub struct Guard {
    policy: Policy,
    inner: Mutex<Inner>,
    file: PathBuf,
    metrics: GuardMetrics,
    clock: Clock,
}

/// A deprovision the guard let through, to settle once its write committed or failed.
#[derive(Debug)]
pub struct Admission {
    at: OffsetDateTime,
    counted: bool,
}

/// A held deprovision: the refusal, and whether it was the one that tripped the guard.
#[derive(Debug)]
pub struct Held {
    pub error: ScimError,
    /// Boxed: a trip lists up to 20 users, and the refusal travels through `Result`s.
    pub tripped_now: Option<Box<Trip>>,
}

impl Guard {
    /// The guard for the store at `store`, with the state a previous run persisted.
    pub fn open(settings: &GuardSettings, store: &Path, metrics: GuardMetrics) -> Guard {
        Self::with_clock(settings, store, metrics, Box::new(OffsetDateTime::now_utc))
    }

    fn with_clock(
        settings: &GuardSettings,
        store: &Path,
        metrics: GuardMetrics,
        clock: Clock,
    ) -> Guard {
        let file = state_file(store);
        let state = load(&file, clock());
        if let Some(t) = &state.trip {
            tracing::warn!(
                since = %t.since, held = t.held, state_file = %file.display(),
                "the deprovisioning guard is still tripped from before the restart: user disables and deletes stay held until `scimd guard release`"
            );
        }
        metrics.set_tripped(state.trip.is_some());
        Guard {
            policy: Policy::from(settings),
            inner: Mutex::new(Inner {
                state,
                last_reminder: None,
            }),
            file,
            metrics,
            clock,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether [`Guard::admit`] needs the user count (only a percentage does).
    pub fn needs_user_count(&self) -> bool {
        self.policy.max_percent_bp.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (every update is a
        // single assignment or push), so the state is used as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides on one deprovision, with `users` users stored. Call inside the write
    /// transaction, after the old record was read; then [`Guard::settle`] once it ended.
    pub fn admit(&self, users: u64, d: &Deprovision) -> Result<Admission, Held> {
        let now = (self.clock)();
        let mut inner = self.lock();
        match inner.state.decide(&self.policy, now, users, d) {
            Decision::Admitted => Ok(Admission {
                at: now,
                counted: true,
            }),
            Decision::Released => Ok(Admission {
                at: now,
                counted: false,
            }),
            Decision::Held { tripped_now } => {
                self.metrics.held();
                let trip = inner.state.trip.clone();
                let error = refusal(&self.policy, trip.as_ref());
                if tripped_now {
                    self.metrics.set_tripped(true);
                    if let Some(t) = &trip {
                        tracing::warn!(
                            in_window = t.in_window, limit = t.limit,
                            window_seconds = self.policy.window.as_secs(),
                            user = %d.id, how = ?d.how,
                            "the deprovisioning guard tripped: user disables and deletes are held until `scimd guard release`"
                        );
                    }
                    inner.last_reminder = Some(now);
                    save(&self.file, &inner.state);
                    return Err(Held {
                        error,
                        tripped_now: trip.map(Box::new),
                    });
                }
                let remind = inner
                    .last_reminder
                    .is_none_or(|at| now - at >= REMINDER_EVERY);
                if remind {
                    inner.last_reminder = Some(now);
                    if let Some(t) = &trip {
                        tracing::warn!(
                            since = %t.since, held = t.held, distinct_users = t.distinct_held(),
                            "the deprovisioning guard still holds user disables and deletes; see `scimd guard status`"
                        );
                    }
                    // The held counts, as of now, survive a restart too.
                    save(&self.file, &inner.state);
                }
                Err(Held {
                    error,
                    tripped_now: None,
                })
            }
        }
    }

    /// Ends an admission: a committed one is counted in the metrics, one whose write failed
    /// is taken back out of the window.
    pub fn settle(&self, a: Admission, committed: bool) {
        if committed {
            self.metrics.admitted();
        } else if a.counted {
            self.lock().state.forget(a.at);
        }
    }

    /// Clears the trip and lets deprovisions through uncounted for `span` (default: the
    /// window). Returns the trip it cleared and the release.
    pub fn release(&self, span: Option<Duration>, by: &str) -> (Option<Trip>, Release) {
        let now = (self.clock)();
        let span = span.unwrap_or(self.policy.window);
        let mut inner = self.lock();
        let cleared = inner.state.release(now, span, by);
        let release = inner.state.release.clone().unwrap_or(Release {
            at: now,
            until: now,
            by: by.to_string(),
        });
        save(&self.file, &inner.state);
        self.metrics.set_tripped(false);
        tracing::warn!(
            by, until = %release.until, held = cleared.as_ref().map_or(0, |t| t.held),
            "the deprovisioning guard was released: user disables and deletes go through uncounted until the release window ends"
        );
        (cleared, release)
    }

    pub fn status(&self, users: u64) -> Status {
        let now = (self.clock)();
        self.lock().state.status(&self.policy, now, users)
    }
}

/// The 503 a held deprovision gets.
fn refusal(policy: &Policy, trip: Option<&Trip>) -> ScimError {
    let (since, why) = match trip {
        Some(t) => (
            crate::scim::value::format_datetime(t.since),
            format!(
                "{} users were disabled or deleted within {} (the limit is {})",
                t.in_window,
                humantime::format_duration(policy.window),
                t.limit
            ),
        ),
        None => (
            String::from("now"),
            String::from("the threshold was reached"),
        ),
    };
    ScimError::new(
        503,
        None,
        format!(
            "scimd's deprovisioning guard holds user disables and deletes since {since}: {why}. \
             Nothing was changed. An administrator can review with `scimd guard status` and let \
             them through with `scimd guard release`; retry later"
        ),
    )
    .retry_after(RETRY_AFTER_SECS)
}

/// Reads the persisted state. A missing file is a guard that never tripped; a file that cannot
/// be read holds, since releasing by accident is the failure the guard exists to prevent.
fn load(file: &Path, now: OffsetDateTime) -> State {
    match std::fs::read(file) {
        Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
            Ok(s) => s.restored(),
            Err(e) => {
                tracing::error!(error = %e, state_file = %file.display(), "the deprovisioning guard's state file is unreadable; holding deprovisions until `scimd guard release`");
                held_since(now)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => {
            tracing::error!(error = %e, state_file = %file.display(), "cannot read the deprovisioning guard's state file; holding deprovisions until `scimd guard release`");
            held_since(now)
        }
    }
}

fn held_since(now: OffsetDateTime) -> State {
    // Built directly, not through serde: a failed round trip must not start the guard open.
    State {
        trip: Some(super::Trip {
            since: now,
            in_window: 0,
            limit: 0,
            held: 0,
            held_users: Vec::new(),
            seen: Default::default(),
        }),
        ..State::default()
    }
}

/// Writes the state durably: a temporary file, fsynced, renamed over the old one. A failure is
/// logged; the guard keeps holding in memory.
fn save(file: &Path, state: &State) {
    let write = || -> std::io::Result<()> {
        let tmp = sibling(file, "tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        // The rename itself is durable only once the directory is: without this a power loss
        // could bring back the old state, an untripped guard.
        #[cfg(unix)]
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = write() {
        tracing::error!(error = %e, state_file = %file.display(), "cannot save the deprovisioning guard's state; a restart would forget it");
    }
}

/// Reads a state file as `scimd guard status` does when the server is not running.
pub fn read_state(store: &Path) -> std::io::Result<Option<State>> {
    match std::fs::read(state_file(store)) {
        Ok(bytes) => serde_json::from_slice::<State>(&bytes)
            .map(|s| Some(s.restored()))
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::How;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    fn settings(n: u64) -> GuardSettings {
        GuardSettings {
            max_deprovisions: Some(n),
            max_percent_bp: None,
            window: Duration::from_secs(3600),
        }
    }

    fn user(i: u32) -> Deprovision {
        Deprovision {
            id: format!("id-{i}"),
            user_name: None,
            how: How::Disable,
        }
    }

    fn clock(minutes: Arc<AtomicI64>) -> Clock {
        Box::new(move || {
            OffsetDateTime::UNIX_EPOCH
                + time::Duration::days(20_000)
                + time::Duration::minutes(minutes.load(Ordering::SeqCst))
        })
    }

    #[test]
    fn a_trip_survives_reopening_and_a_release_is_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("scimd.redb");
        let m = Arc::new(AtomicI64::new(0));
        let g = Guard::with_clock(
            &settings(1),
            &store,
            GuardMetrics::default(),
            clock(m.clone()),
        );
        g.settle(g.admit(0, &user(0)).unwrap(), true);
        let held = g.admit(0, &user(1)).unwrap_err();
        assert_eq!(held.error.status, 503);
        assert!(
            held.error.detail.contains("scimd guard release"),
            "{}",
            held.error.detail
        );
        assert!(held.tripped_now.is_some());
        drop(g);

        m.store(600, Ordering::SeqCst);
        let g = Guard::with_clock(
            &settings(1),
            &store,
            GuardMetrics::default(),
            clock(m.clone()),
        );
        let again = g.admit(0, &user(2)).unwrap_err();
        assert!(again.tripped_now.is_none());
        let (cleared, release) = g.release(None, "uid 0");
        // The first refusal after the restart saved the held users again: both are listed.
        assert_eq!(cleared.unwrap().held_users.len(), 2);
        assert_eq!(release.until - release.at, time::Duration::hours(1));
        drop(g);

        let g = Guard::with_clock(&settings(1), &store, GuardMetrics::default(), clock(m));
        assert!(!g.status(0).tripped);
        g.settle(g.admit(0, &user(3)).unwrap(), true);
    }

    #[test]
    fn an_unreadable_state_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("scimd.redb");
        std::fs::write(state_file(&store), b"{not json").unwrap();
        let g = Guard::open(&settings(100), &store, GuardMetrics::default());
        assert!(g.admit(0, &user(0)).is_err());
        g.release(Some(Duration::from_secs(60)), "test");
        assert!(g.admit(0, &user(0)).is_ok());
    }

    #[test]
    fn an_uncommitted_admission_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let g = Guard::open(
            &settings(1),
            &dir.path().join("s.redb"),
            GuardMetrics::default(),
        );
        g.settle(g.admit(0, &user(0)).unwrap(), false);
        g.settle(g.admit(0, &user(0)).unwrap(), true);
        assert!(g.admit(0, &user(1)).is_err());
    }
}
