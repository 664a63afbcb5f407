//! Where writes meet the mass-deprovisioning guard (`crate::guard`): which changes are
//! deprovisions, the check inside the write transaction, and the audit entries of a trip and
//! a release. Group deletes and member removals are not deprovisions: they take access away
//! from no account.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{from_store, DirError, Directory};
use crate::guard::live::{Admission, Guard};
use crate::guard::{Deprovision, How, Release, Status, Trip};
use crate::scim::{ResourceKind, ScimError};
use crate::store::{audit_key, Ended, Kind, WriteTx};

/// What a write owes the guard once its transaction ended.
#[derive(Debug, Default)]
pub(super) enum Pending {
    #[default]
    Nothing,
    Admitted(Admission),
    /// This write tripped the guard: recorded in the audit log after the abort.
    Tripped(Box<Trip>),
}

impl Directory {
    /// Puts `guard` in front of every user disable and delete.
    pub fn with_guard(mut self, guard: Arc<Guard>) -> Directory {
        self.guard = Some(guard);
        self
    }

    /// Inside a write transaction, with the stored `old` record and the attributes about to be
    /// written (`None`: a delete): asks the guard when this is a user deprovision.
    pub(super) fn guard_check(
        &self,
        tx: &WriteTx<'_>,
        kind: ResourceKind,
        old: &Value,
        new: Option<&Map<String, Value>>,
        pending: &mut Pending,
    ) -> Result<(), DirError> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let Some(how) = deprovision(kind, old, new) else {
            return Ok(());
        };
        let d = Deprovision {
            id: old
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            user_name: old
                .get("userName")
                .and_then(Value::as_str)
                .map(str::to_string),
            how,
        };
        let users = if guard.needs_user_count() {
            tx.count(Kind::User)?
        } else {
            0
        };
        match guard.admit(users, &d) {
            Ok(a) => {
                *pending = Pending::Admitted(a);
                Ok(())
            }
            Err(held) => {
                if let Some(t) = held.tripped_now {
                    *pending = Pending::Tripped(t);
                }
                Err(DirError(held.error))
            }
        }
    }

    /// Runs a write that may deprovision a user. `f` runs on the store's writer with a slot for
    /// what it owes the guard (see [`Directory::guard_check`]); that is settled once the
    /// transaction has ended, committed or not, so an admission of a write that was never
    /// stored is taken back.
    pub(super) fn guarded(&self, f: super::write::Apply) -> Result<Value, ScimError> {
        let ended = self.store.write_ended(with_pending(f));
        self.settle_ended(ended)
    }

    /// [`Directory::guarded`] for async callers. The guard is settled only when the future is
    /// polled to the end, so callers must not drop it midway (the HTTP layer spawns it).
    pub(super) async fn guarded_async(&self, f: super::write::Apply) -> Result<Value, ScimError> {
        let ended = self.store.write_ended_async(with_pending(f)).await;
        let tripped = match &ended {
            Ended::Committed((_, p)) | Ended::Refused((_, p)) => matches!(p, Pending::Tripped(_)),
            Ended::Failed { value, .. } => {
                matches!(value, Some((_, Pending::Tripped(_))))
            }
        };
        if !tripped {
            return self.settle_ended(ended);
        }
        // Recording a trip writes an audit entry and waits for its commit: not on a worker.
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.settle_ended(ended))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "settling a deprovisioning guard trip failed");
                Err(ScimError::outcome_unknown())
            })
    }

    fn settle_ended(
        &self,
        ended: Ended<(Value, Pending), (DirError, Pending)>,
    ) -> Result<Value, ScimError> {
        match ended {
            Ended::Committed((v, pending)) => {
                self.guard_settle(pending, true);
                Ok(v)
            }
            Ended::Refused((e, pending)) => {
                self.guard_settle(pending, false);
                Err(e.0)
            }
            Ended::Failed { value, error } => {
                if let Some((_, pending)) = value {
                    self.guard_settle(pending, false);
                }
                Err(from_store(error))
            }
        }
    }

    /// After the transaction: settles an admission, or records the trip in the audit log.
    pub(super) fn guard_settle(&self, pending: Pending, committed: bool) {
        let Some(guard) = &self.guard else {
            return;
        };
        match pending {
            Pending::Nothing => {}
            Pending::Admitted(a) => guard.settle(a, committed),
            Pending::Tripped(t) => {
                let listed: Vec<&str> = t.held_users.iter().map(|d| d.id.as_str()).collect();
                self.guard_event(json!({
                    "token": "local:guard",
                    "operation": "guard-trip",
                    "resourceType": "User",
                    "id": listed.first().copied().unwrap_or_default(),
                    "inWindow": t.in_window,
                    "limit": t.limit,
                }));
            }
        }
    }

    /// Releases the guard for `span` (default: its window), recording who did it; `None` when
    /// this directory has no guard.
    pub fn guard_release(
        &self,
        span: Option<Duration>,
        by: &str,
    ) -> Option<(Option<Trip>, Release)> {
        let guard = self.guard.as_ref()?;
        let (cleared, release) = guard.release(span, by);
        self.guard_event(json!({
            "token": "local:guard",
            "operation": "guard-release",
            "by": by,
            "until": crate::scim::value::format_datetime(release.until),
            "held": cleared.as_ref().map_or(0, |t| t.held),
            "wasTripped": cleared.is_some(),
        }));
        Some((cleared, release))
    }

    /// The guard's state now; `None` when this directory has no guard.
    pub fn guard_status(&self) -> Result<Option<Status>, ScimError> {
        let Some(guard) = &self.guard else {
            return Ok(None);
        };
        let users = self
            .store
            .read()
            .and_then(|tx| tx.count(Kind::User))
            .map_err(from_store)?;
        Ok(Some(guard.status(users)))
    }

    /// Appends a guard event to the audit log in a transaction of its own. A failure is
    /// logged: the event is in the log lines and the state file either way.
    fn guard_event(&self, event: Value) {
        let time = super::write::now();
        let mut entry = Map::new();
        entry.insert("time".into(), json!(time));
        if let Value::Object(fields) = event {
            entry.extend(fields);
        }
        let key = audit_key(&time);
        let written = self
            .store
            .write(move |tx| tx.append_audit(&key, &Value::Object(entry)));
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record a deprovisioning guard event in the audit log");
        }
    }
}

/// Whether going from `old` to `new` (`None`: deleted) deprovisions a user, and how.
fn deprovision(kind: ResourceKind, old: &Value, new: Option<&Map<String, Value>>) -> Option<How> {
    if kind != ResourceKind::User {
        return None;
    }
    let Some(new) = new else {
        return Some(How::Delete);
    };
    // Absent `active` means active (RFC 7643 §4.1.1 gives no default; every IdP treats a user
    // without it as enabled). Entra's "False" string is a boolean by the time it gets here.
    let was_active = old.get("active") != Some(&Value::Bool(false));
    let now_inactive = new.get("active") == Some(&Value::Bool(false));
    (was_active && now_inactive).then_some(How::Disable)
}

/// A guarded write as the store runs it: its outcome carries what it owes the guard, refused
/// or not.
fn with_pending(
    f: super::write::Apply,
) -> impl FnOnce(&mut crate::store::WriteTx<'_>) -> Result<(Value, Pending), (DirError, Pending)>
       + Send
       + 'static {
    move |tx| {
        let mut pending = Pending::default();
        match f(tx, &mut pending) {
            Ok(v) => Ok((v, pending)),
            Err(e) => Err((e, pending)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_user_disables_and_deletes_are_deprovisions() {
        let active = json!({"id": "1", "active": true});
        let absent = json!({"id": "1"});
        let inactive = json!({"id": "1", "active": false});
        let off = attrs(json!({"active": false}));
        let on = attrs(json!({"active": true}));
        assert_eq!(
            deprovision(ResourceKind::User, &active, Some(&off)),
            Some(How::Disable)
        );
        assert_eq!(
            deprovision(ResourceKind::User, &absent, Some(&off)),
            Some(How::Disable)
        );
        assert_eq!(deprovision(ResourceKind::User, &inactive, Some(&off)), None);
        assert_eq!(deprovision(ResourceKind::User, &inactive, Some(&on)), None);
        assert_eq!(
            deprovision(ResourceKind::User, &active, Some(&attrs(json!({})))),
            None
        );
        assert_eq!(
            deprovision(ResourceKind::User, &inactive, None),
            Some(How::Delete)
        );
        assert_eq!(deprovision(ResourceKind::Group, &active, None), None);
    }
}
