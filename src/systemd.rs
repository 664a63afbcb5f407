//! systemd integration (`Type=notify`): readiness, reload and stop notices, watchdog pings.
//!
//! Everything here is a no-op when `NOTIFY_SOCKET` is unset, i.e. whenever scimd is not
//! started by systemd (a terminal, a container, the tests), so callers never need to check.
//! The socket protocol itself is `sd-notify`'s; this module only decides *when* to speak.
//!
//! - [`ready`]: the store is open and the listener is bound (`READY=1`). Also sent again after a
//!   reload, to end the reloading state.
//! - [`reloading`]: a configuration reload has begun (`RELOADING=1`, with `MONOTONIC_USEC`,
//!   which systemd ≥ 253 requires next to it).
//! - [`stopping`]: shutdown has begun (`STOPPING=1`), so systemd does not mistake the drain for
//!   a hang or report the exit as unexpected.
//! - [`spawn_watchdog`]: `WATCHDOG=1` every half `WATCHDOG_USEC`, but only while a health check
//!   passes, so that a wedged process is restarted instead of being kept alive by a timer.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Tells systemd that scimd is serving: the store is open and the listener accepts connections.
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// Tells systemd that a configuration reload has begun; call [`ready`] when it has finished
/// (whether it succeeded or was refused and the old configuration stays in force).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading the configuration"),
        ]),
        // Without the timestamp systemd ≥ 253 would fail the reload; skipping the notice only
        // makes `systemctl reload` return before the reload is done.
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the monotonic clock; not telling systemd about the reload")
        }
    }
}

/// Tells systemd that scimd is shutting down (draining in-flight requests).
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("draining in-flight requests"),
    ]);
}

/// Whether a service manager is listening for notifications.
fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
}

fn send(states: &[NotifyState<'_>]) {
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        // Not fatal: scimd serves the same without systemd hearing about it, but a missed
        // READY=1 makes systemd time the start out, so say why.
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// How often to ping for a watchdog timeout: half of it, as sd_watchdog_enabled(3) advises, so
/// one late ping does not get the service killed. `None` when there is nothing to ping for.
pub fn ping_interval(watchdog: Duration) -> Option<Duration> {
    let half = watchdog / 2;
    (!half.is_zero()).then_some(half)
}

/// Starts the watchdog task if systemd asked for one (`WATCHDOG_USEC`, for this PID).
///
/// Every ping interval it runs `check` on the blocking pool and sends `WATCHDOG=1` only if the
/// check returns `Ok` within that interval. That proves the runtime's timers and scheduler, its
/// blocking pool and whatever `check` probes (the store) are all answering; if any of them hangs
/// or fails, the pings stop and systemd restarts scimd after `WatchdogSec`.
///
/// Must be called inside a tokio runtime. Returns `None` (and does nothing) without systemd.
pub fn spawn_watchdog<F>(check: F) -> Option<JoinHandle<()>>
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    if !enabled() {
        return None;
    }
    let interval = ping_interval(sd_notify::watchdog_enabled()?)?;
    let check = Arc::new(check);
    tracing::info!(?interval, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        // After a stall, resume the normal rhythm instead of sending a burst of catch-up pings.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let check = check.clone();
            let probe = tokio::task::spawn_blocking(move || check());
            match tokio::time::timeout(interval, probe).await {
                Ok(Ok(Ok(()))) => send(&[NotifyState::Watchdog]),
                Ok(Ok(Err(reason))) => {
                    tracing::warn!(%reason, "health check failed; withholding the systemd watchdog ping")
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "health check panicked; withholding the systemd watchdog ping")
                }
                Err(_) => tracing::warn!(
                    ?interval,
                    "health check did not answer in time; withholding the systemd watchdog ping"
                ),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_at_half_the_watchdog_timeout() {
        assert_eq!(
            ping_interval(Duration::from_secs(30)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Duration::from_micros(3)),
            Some(Duration::from_nanos(1500))
        );
        assert_eq!(ping_interval(Duration::ZERO), None);
    }

    // The no-op without NOTIFY_SOCKET is covered end to end by tests/systemd.rs; setting the
    // variable here would race with the other unit tests of this process.
}
