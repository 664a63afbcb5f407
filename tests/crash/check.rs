//! The checks after a restart: the store holds every acknowledged write, and each request that
//! was in flight at the kill is there whole or not at all.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};

use crate::api::Api;
use crate::model::{parse_group, parse_user, World};
use crate::workload::Worker;

#[derive(Default)]
pub struct Tally {
    pub cycles: u64,
    pub in_flight: u64,
    pub in_flight_applied: u64,
    pub resources_compared: u64,
    pub versions_compared: u64,
    pub deletes_confirmed: u64,
    pub memberships_compared: u64,
    pub verifies: u64,
}

impl Tally {
    pub fn checks(&self) -> u64 {
        self.resources_compared
            + self.versions_compared
            + self.deletes_confirmed
            + self.memberships_compared
            + self.verifies
    }
}

/// What the listing shows of one worker's resources, with versions and derived `groups`.
#[derive(Default)]
struct Observed {
    world: World,
    user_versions: BTreeMap<String, String>,
    group_versions: BTreeMap<String, String>,
}

/// Compares the restarted store with every worker's model, then adopts what it found (it is
/// the model, or the model plus the in-flight request) so the next cycle builds on it.
pub async fn check(api: &Api, workers: &mut [Worker], tally: &mut Tally) -> Result<(), String> {
    let users = api.list_all("/Users").await?;
    let groups = api.list_all("/Groups").await?;
    let mut observed: Vec<Observed> = workers.iter().map(|_| Observed::default()).collect();
    let owner = |name: &str| {
        workers
            .iter()
            .position(|w| name.starts_with(&w.prefix()))
            .ok_or_else(|| format!("a resource no worker created: {name}"))
    };
    let mut user_groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for v in &users {
        let seen = parse_user(v)?;
        let o = &mut observed[owner(&seen.user.user_name)?];
        user_groups.insert(seen.id.clone(), seen.groups);
        o.user_versions.insert(seen.id.clone(), seen.version);
        o.world.users.insert(seen.id, seen.user);
    }
    for v in &groups {
        let seen = parse_group(v)?;
        let o = &mut observed[owner(&seen.group.display_name)?];
        o.group_versions.insert(seen.id.clone(), seen.version);
        o.world.groups.insert(seen.id, seen.group);
    }

    // Membership both ways: every member is a live user (a deleted user is in no group), and
    // each user's derived `groups` is exactly the groups that list it.
    let mut member_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in &observed {
        for (gid, g) in &o.world.groups {
            for m in &g.members {
                if !user_groups.contains_key(m) {
                    return Err(format!("group {gid} lists {m}, which is no user"));
                }
                member_of.entry(m.clone()).or_default().insert(gid.clone());
            }
        }
    }
    for (uid, groups) in &user_groups {
        let listed = member_of.remove(uid).unwrap_or_default();
        if *groups != listed {
            return Err(format!(
                "user {uid} says it is in groups {groups:?}, the groups list it in {listed:?}"
            ));
        }
        tally.memberships_compared += 1;
    }

    for (w, o) in workers.iter_mut().zip(observed) {
        check_worker(w, &o, tally).map_err(|e| format!("worker {}: {e}", w.index))?;
        for (endpoint, id) in std::mem::take(&mut w.deleted) {
            let path = format!("{endpoint}/{id}");
            let reply = api
                .call(Method::GET, &path, None)
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            if reply.status != StatusCode::NOT_FOUND {
                return Err(format!(
                    "worker {}: acknowledged delete of {path} answers {} {}",
                    w.index, reply.status, reply.body
                ));
            }
            tally.deletes_confirmed += 1;
        }
    }
    Ok(())
}

fn check_worker(w: &mut Worker, o: &Observed, tally: &mut Tally) -> Result<(), String> {
    let found = &o.world;
    match w.in_flight.take() {
        None if *found == w.world => {}
        None => {
            return Err(format!(
                "no request was in flight, yet the store differs from the acknowledged writes:\n{}",
                w.world.diff(found)
            ))
        }
        Some(_) if *found == w.world => tally.in_flight += 1,
        Some(op) => {
            tally.in_flight += 1;
            let applied = w.world.apply(&op, op.created_id(found).as_deref());
            if *found != applied {
                return Err(format!(
                    "the store is neither the acknowledged state nor that state plus the request \
                     in flight ({op:?}).\nAgainst the acknowledged state:\n{}Against it with the \
                     request applied:\n{}",
                    w.world.diff(found),
                    applied.diff(found)
                ));
            }
            tally.in_flight_applied += 1;
        }
    }
    tally.resources_compared += (found.users.len() + found.groups.len()) as u64;

    compare_versions("user", &w.seen_users, &found.users, &o.user_versions, tally)?;
    compare_versions(
        "group",
        &w.seen_groups,
        &found.groups,
        &o.group_versions,
        tally,
    )?;

    w.world = found.clone();
    w.seen_users = pair(&found.users, &o.user_versions);
    w.seen_groups = pair(&found.groups, &o.group_versions);
    Ok(())
}

/// Content that changed since it was last seen has a new version; unchanged content keeps its
/// version (a new version over old content would be a write applied by halves).
fn compare_versions<T: PartialEq + std::fmt::Debug>(
    kind: &str,
    seen: &BTreeMap<String, (T, String)>,
    found: &BTreeMap<String, T>,
    versions: &BTreeMap<String, String>,
    tally: &mut Tally,
) -> Result<(), String> {
    for (id, (before, old)) in seen {
        let (Some(now), Some(new)) = (found.get(id), versions.get(id)) else {
            continue;
        };
        if (before == now) != (old == new) {
            return Err(format!(
                "{kind} {id}: content {before:?} at version {old}, now {now:?} at version {new}"
            ));
        }
        tally.versions_compared += 1;
    }
    Ok(())
}

fn pair<T: Clone>(
    found: &BTreeMap<String, T>,
    versions: &BTreeMap<String, String>,
) -> BTreeMap<String, (T, String)> {
    found
        .iter()
        .filter_map(|(id, t)| Some((id.clone(), (t.clone(), versions.get(id)?.clone()))))
        .collect()
}
