//! The mass-deprovisioning guard: counts user disables and deletes in a sliding window and,
//! when one more would pass the threshold, holds that one and every further one until an
//! administrator releases them. A mistaken scoping change in an identity provider can disable
//! or delete every user in one provisioning cycle; this stops it after the first few.
//!
//! This file is the decision logic only: no clock (every call takes `now`), no I/O, no store.
//! [`live`] wraps it for the server (lock, persistence, logging, metrics); `docs/GUARD.md`
//! explains it to the admin.

pub mod live;

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::GuardSettings;

/// At most this many held users are remembered by id for `scimd guard status`; the counts are
/// always exact.
pub const MAX_LISTED_HELD: usize = 20;

/// The thresholds, from `[guard]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub max_deprovisions: Option<u64>,
    /// Hundredths of a percent of the users.
    pub max_percent_bp: Option<u32>,
    pub window: Duration,
}

impl From<&GuardSettings> for Policy {
    fn from(s: &GuardSettings) -> Policy {
        Policy {
            max_deprovisions: s.max_deprovisions,
            max_percent_bp: s.max_percent_bp,
            window: s.window,
        }
    }
}

impl Policy {
    /// How many deprovisions one window may hold without tripping, when `population` users
    /// exist. With both thresholds set, the lower one applies.
    pub fn limit(&self, population: u64) -> u64 {
        let by_percent = self
            .max_percent_bp
            .map(|bp| population.saturating_mul(u64::from(bp)) / 10_000);
        match (self.max_deprovisions, by_percent) {
            (Some(n), Some(p)) => n.min(p),
            (Some(n), None) => n,
            (None, Some(p)) => p,
            (None, None) => u64::MAX,
        }
    }

    fn window(&self) -> time::Duration {
        time::Duration::try_from(self.window).unwrap_or(time::Duration::DAY)
    }
}

/// What a deprovision does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// `active` went from true (or absent) to false.
    Disable,
    /// The user was deleted.
    Delete,
}

/// One user disable or delete, as the writer found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprovision {
    pub id: String,
    #[serde(rename = "userName", skip_serializing_if = "Option::is_none", default)]
    pub user_name: Option<String>,
    pub how: How,
}

/// The guard's answer to one deprovision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the threshold: it goes ahead and counts in the window.
    Admitted,
    /// Inside a release window: it goes ahead and does not count.
    Released,
    /// Refused. `tripped_now`: this one tripped the guard (log, audit, persist once).
    Held { tripped_now: bool },
}

/// Why and since when deprovisions are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trip {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// Deprovisions already admitted in the window when it tripped.
    pub in_window: u64,
    /// The limit that one more would have passed.
    pub limit: u64,
    /// Refusals since the trip, retries of the same user included.
    pub held: u64,
    /// The first distinct users held.
    pub held_users: Vec<Deprovision>,
    /// Distinct users held since the trip (as far as this process saw: the set is not persisted,
    /// so after a restart it counts again from the listed ones).
    #[serde(skip)]
    seen: HashSet<String>,
}

impl Trip {
    fn hold(&mut self, d: &Deprovision) {
        self.held += 1;
        if self.seen.insert(d.id.clone()) && self.held_users.len() < MAX_LISTED_HELD {
            self.held_users.push(d.clone());
        }
    }

    /// Distinct users held (see `seen`).
    pub fn distinct_held(&self) -> u64 {
        self.seen.len().max(self.held_users.len()) as u64
    }
}

/// A release: deprovisions go through uncounted until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub by: String,
}

/// The guard's state: the window's deprovisions, the trip, the release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Admitted deprovisions in the window, oldest first. Not persisted: after a restart the
    /// count starts again from zero (the trip itself is persisted).
    #[serde(skip)]
    recent: VecDeque<(OffsetDateTime, How)>,
    pub trip: Option<Trip>,
    pub release: Option<Release>,
}

/// What `scimd guard status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub tripped: bool,
    pub in_window: u64,
    pub limit: u64,
    pub users: u64,
    pub max_deprovisions: Option<u64>,
    pub max_percent: Option<f64>,
    pub window_seconds: u64,
    pub trip: Option<Trip>,
    pub distinct_held: u64,
    /// The release in force, if its window has not ended.
    pub release: Option<Release>,
}

impl State {
    /// Decides on `d` at `now`, with `users` users stored (the one being deleted included).
    /// An admitted deprovision is counted at once; if its write then fails, [`State::forget`]
    /// takes it back.
    pub fn decide(
        &mut self,
        policy: &Policy,
        now: OffsetDateTime,
        users: u64,
        d: &Deprovision,
    ) -> Decision {
        self.expire(policy, now);
        if let Some(trip) = &mut self.trip {
            trip.hold(d);
            return Decision::Held { tripped_now: false };
        }
        if self.release.as_ref().is_some_and(|r| now < r.until) {
            return Decision::Released;
        }
        let limit = policy.limit(self.population(users));
        let in_window = self.recent.len() as u64;
        if in_window + 1 > limit {
            let mut trip = Trip {
                since: now,
                in_window,
                limit,
                held: 0,
                held_users: Vec::new(),
                seen: HashSet::new(),
            };
            trip.hold(d);
            self.trip = Some(trip);
            return Decision::Held { tripped_now: true };
        }
        self.recent.push_back((now, d.how));
        Decision::Admitted
    }

    /// Takes back a deprovision admitted at `at` whose write did not commit.
    pub fn forget(&mut self, at: OffsetDateTime) {
        if let Some(i) = self.recent.iter().rposition(|(t, _)| *t == at) {
            self.recent.remove(i);
        }
    }

    /// Clears the trip and lets deprovisions through uncounted for `span`; returns the trip it
    /// cleared (`None` if the guard was not tripped: the release window applies all the same).
    pub fn release(&mut self, now: OffsetDateTime, span: Duration, by: &str) -> Option<Trip> {
        let until = now + time::Duration::try_from(span).unwrap_or(time::Duration::DAY);
        self.release = Some(Release {
            at: now,
            until,
            by: by.to_string(),
        });
        // What passed before the release is forgotten too: at the end of the release window
        // the guard counts afresh instead of tripping at once on the released burst.
        self.recent.clear();
        self.trip.take()
    }

    pub fn status(&mut self, policy: &Policy, now: OffsetDateTime, users: u64) -> Status {
        self.expire(policy, now);
        Status {
            tripped: self.trip.is_some(),
            in_window: self.recent.len() as u64,
            limit: policy.limit(self.population(users)),
            users,
            max_deprovisions: policy.max_deprovisions,
            max_percent: policy.max_percent_bp.map(|bp| f64::from(bp) / 100.0),
            window_seconds: policy.window.as_secs(),
            distinct_held: self.trip.as_ref().map_or(0, Trip::distinct_held),
            trip: self.trip.clone(),
            release: self.release.clone(),
        }
    }

    /// Loads a persisted state: the trip and the release, with the listed held users counted
    /// as seen.
    pub fn restored(mut self) -> State {
        if let Some(t) = &mut self.trip {
            t.seen = t.held_users.iter().map(|d| d.id.clone()).collect();
        }
        self
    }

    /// Drops what left the window, and a release that ended.
    fn expire(&mut self, policy: &Policy, now: OffsetDateTime) {
        let start = now - policy.window();
        while self.recent.front().is_some_and(|(t, _)| *t <= start) {
            self.recent.pop_front();
        }
        if self.release.as_ref().is_some_and(|r| now >= r.until) {
            self.release = None;
        }
    }

    /// The users the percentage is taken of: those stored now plus those deleted in the window,
    /// so a run of deletes does not shrink its own threshold as it goes.
    fn population(&self, users: u64) -> u64 {
        let deleted = self
            .recent
            .iter()
            .filter(|(_, h)| *h == How::Delete)
            .count() as u64;
        users + deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: Option<u64>, percent_bp: Option<u32>) -> Policy {
        Policy {
            max_deprovisions: max,
            max_percent_bp: percent_bp,
            window: Duration::from_secs(3600),
        }
    }

    fn user(i: u32, how: How) -> Deprovision {
        Deprovision {
            id: format!("id-{i}"),
            user_name: Some(format!("u{i}@example.com")),
            how,
        }
    }

    fn t(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000) + time::Duration::minutes(minutes)
    }

    #[test]
    fn admits_up_to_the_count_and_trips_on_the_next() {
        let p = policy(Some(3), None);
        let mut s = State::default();
        for i in 0..3 {
            assert_eq!(
                s.decide(&p, t(i), 100, &user(i as u32, How::Disable)),
                Decision::Admitted
            );
        }
        assert_eq!(
            s.decide(&p, t(4), 100, &user(4, How::Disable)),
            Decision::Held { tripped_now: true }
        );
        assert_eq!(
            s.decide(&p, t(5), 100, &user(5, How::Delete)),
            Decision::Held { tripped_now: false }
        );
        let trip = s.trip.as_ref().unwrap();
        assert_eq!((trip.in_window, trip.limit, trip.held), (3, 3, 2));
        assert_eq!(trip.since, t(4));
        assert_eq!(
            trip.held_users,
            vec![user(4, How::Disable), user(5, How::Delete)]
        );
    }

    #[test]
    fn the_window_slides() {
        let p = policy(Some(2), None);
        let mut s = State::default();
        assert_eq!(
            s.decide(&p, t(0), 10, &user(0, How::Delete)),
            Decision::Admitted
        );
        assert_eq!(
            s.decide(&p, t(30), 10, &user(1, How::Delete)),
            Decision::Admitted
        );
        // The first left the window 60 minutes after it happened.
        assert_eq!(
            s.decide(&p, t(60), 10, &user(2, How::Delete)),
            Decision::Admitted
        );
        assert_eq!(
            s.decide(&p, t(61), 10, &user(3, How::Delete)),
            Decision::Held { tripped_now: true }
        );
    }

    #[test]
    fn a_trip_holds_until_released_and_the_release_window_ends() {
        let p = policy(Some(1), None);
        let mut s = State::default();
        s.decide(&p, t(0), 10, &user(0, How::Disable));
        s.decide(&p, t(1), 10, &user(1, How::Disable));
        // Time alone never releases.
        assert!(matches!(
            s.decide(&p, t(500), 10, &user(1, How::Disable)),
            Decision::Held { tripped_now: false }
        ));
        let trip = s
            .release(t(501), Duration::from_secs(7200), "uid 0")
            .unwrap();
        assert_eq!(trip.held, 2);
        assert_eq!(trip.distinct_held(), 1);
        for i in 0..50 {
            assert_eq!(
                s.decide(&p, t(502), 10, &user(i, How::Delete)),
                Decision::Released
            );
        }
        // After the release window the guard counts afresh.
        assert_eq!(
            s.decide(&p, t(621), 10, &user(60, How::Delete)),
            Decision::Admitted
        );
        assert!(matches!(
            s.decide(&p, t(622), 10, &user(61, How::Delete)),
            Decision::Held { tripped_now: true }
        ));
    }

    #[test]
    fn a_percentage_counts_the_users_deleted_in_the_window() {
        // 50 % of 10 users: 5 deprovisions pass, the 6th trips, although the deletes shrink
        // the stored count as they go.
        let p = policy(None, Some(5000));
        let mut s = State::default();
        for i in 0..5u32 {
            let users = 10 - u64::from(i);
            assert_eq!(
                s.decide(&p, t(i.into()), users, &user(i, How::Delete)),
                Decision::Admitted
            );
        }
        assert_eq!(
            s.decide(&p, t(6), 5, &user(6, How::Delete)),
            Decision::Held { tripped_now: true }
        );
    }

    #[test]
    fn the_lower_threshold_applies() {
        assert_eq!(policy(Some(50), Some(500)).limit(200), 10);
        assert_eq!(policy(Some(50), Some(500)).limit(100_000), 50);
        assert_eq!(policy(None, Some(250)).limit(1000), 25);
        assert_eq!(policy(Some(7), None).limit(0), 7);
    }

    #[test]
    fn a_failed_write_is_not_counted() {
        let p = policy(Some(1), None);
        let mut s = State::default();
        assert_eq!(
            s.decide(&p, t(0), 10, &user(0, How::Disable)),
            Decision::Admitted
        );
        s.forget(t(0));
        assert_eq!(
            s.decide(&p, t(1), 10, &user(0, How::Disable)),
            Decision::Admitted
        );
    }

    #[test]
    fn the_listed_held_users_are_distinct_and_bounded() {
        let p = policy(Some(1), None);
        let mut s = State::default();
        s.decide(&p, t(0), 10, &user(0, How::Disable));
        for round in 0..3 {
            for i in 0..100 {
                s.decide(&p, t(1 + round), 1000, &user(i, How::Disable));
            }
        }
        let st = s.status(&p, t(10), 1000);
        let trip = st.trip.unwrap();
        assert_eq!(trip.held, 300);
        assert_eq!(st.distinct_held, 100);
        assert_eq!(trip.held_users.len(), MAX_LISTED_HELD);
    }

    #[test]
    fn the_persisted_form_keeps_the_trip_and_the_release() {
        let p = policy(Some(1), None);
        let mut s = State::default();
        s.decide(&p, t(0), 10, &user(0, How::Disable));
        s.decide(&p, t(1), 10, &user(1, How::Delete));
        let json = serde_json::to_string(&s).unwrap();
        let back: State = serde_json::from_str::<State>(&json).unwrap().restored();
        assert_eq!(
            back.trip.as_ref().unwrap().held_users,
            s.trip.as_ref().unwrap().held_users
        );
        assert_eq!(back.trip.as_ref().unwrap().distinct_held(), 1);
        let mut back = back;
        assert!(matches!(
            back.decide(&p, t(2), 10, &user(2, How::Delete)),
            Decision::Held { tripped_now: false }
        ));
    }
}
