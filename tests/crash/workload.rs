//! A worker: picks writes on its own resources at random, sends them one at a time, and folds
//! each acknowledged one into its model until the harness stops it (or the kill cuts it off).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::api::{Api, Reply};
use crate::model::{parse_group, parse_user, Group, Op, User, World};

/// Most live users and groups a worker keeps, so the store's working set stays bounded while
/// the file (and the audit log in it) keeps growing across cycles.
const MAX_USERS: usize = 40;
const MAX_GROUPS: usize = 6;

pub struct Worker {
    pub index: usize,
    pub world: World,
    /// The content and version each resource had when last seen (an acknowledgement or a
    /// check after restart): content that changed must come with a new version, and the same
    /// content with the same one.
    pub seen_users: BTreeMap<String, (User, String)>,
    pub seen_groups: BTreeMap<String, (Group, String)>,
    /// The request sent but not answered when the server died: at most one, as a worker waits
    /// for each answer.
    pub in_flight: Option<Op>,
    /// Acknowledged deletes since the last check, ("/Users" or "/Groups", id).
    pub deleted: Vec<(&'static str, String)>,
    pub acked: u64,
    seq: u64,
    rng: fastrand::Rng,
}

impl Worker {
    pub fn new(index: usize, seed: u64) -> Worker {
        Worker {
            index,
            world: World::default(),
            seen_users: BTreeMap::new(),
            seen_groups: BTreeMap::new(),
            in_flight: None,
            deleted: Vec::new(),
            acked: 0,
            seq: 0,
            rng: fastrand::Rng::with_seed(
                seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
        }
    }

    /// Names of this worker's resources start with it.
    pub fn prefix(&self) -> String {
        format!("w{}-", self.index)
    }

    /// Sends writes until `stop` is set or the server is gone. An error is a failed check.
    pub async fn run(mut self, api: Api, stop: Arc<AtomicBool>) -> (Worker, Result<(), String>) {
        while !stop.load(Ordering::SeqCst) {
            let op = self.choose();
            let (method, path, body) = op.request();
            self.in_flight = Some(op.clone());
            match api.call(method.clone(), &path, body.as_ref()).await {
                Ok(reply) => {
                    if let Err(e) = self.acknowledge(&op, reply) {
                        return (self, Err(format!("{method} {path} ({}): {e}", op.name())));
                    }
                    self.in_flight = None;
                    self.acked += 1;
                }
                // Killed while the request was out: it stays in flight, applied or not.
                Err(_) if stop.load(Ordering::SeqCst) => break,
                Err(e) => {
                    return (
                        self,
                        Err(format!("{method} {path} failed with the server up: {e}")),
                    )
                }
            }
        }
        (self, Ok(()))
    }

    /// Checks an answer and folds the write into the model.
    fn acknowledge(&mut self, op: &Op, reply: Reply) -> Result<(), String> {
        if !reply.status.is_success() {
            return Err(format!("refused: {} {}", reply.status, reply.body));
        }
        if let (Some(etag), Some(version)) = (&reply.etag, reply.body["meta"]["version"].as_str()) {
            if etag != version {
                return Err(format!("ETag {etag} but meta.version {version}"));
            }
        }
        let new_id = match op {
            Op::CreateUser(_) | Op::CreateGroup(_) => Some(
                reply.body["id"]
                    .as_str()
                    .ok_or_else(|| format!("a create answered without an id: {}", reply.body))?
                    .to_string(),
            ),
            _ => None,
        };
        self.world = self.world.apply(op, new_id.as_deref());
        match op {
            Op::DeleteUser { id } => {
                self.seen_users.remove(id);
                self.deleted.push(("/Users", id.clone()));
            }
            Op::DeleteGroup { id } => {
                self.seen_groups.remove(id);
                self.deleted.push(("/Groups", id.clone()));
            }
            Op::CreateUser(_)
            | Op::PatchTitle { .. }
            | Op::SetActive { .. }
            | Op::PutUser { .. } => {
                if reply.body.is_null() {
                    let id = op.target().unwrap_or_default();
                    return note_version(&mut self.seen_users, id, &self.world.users, reply.etag);
                }
                let seen = parse_user(&reply.body)?;
                let expected = self.world.users.get(&seen.id);
                if expected != Some(&seen.user) {
                    return Err(format!("answered {:?}, expected {expected:?}", seen.user));
                }
                if let Some((before, version)) = self.seen_users.get(&seen.id) {
                    if *before != seen.user && *version == seen.version {
                        return Err(format!("content changed but version {version} did not"));
                    }
                }
                self.seen_users.insert(seen.id, (seen.user, seen.version));
            }
            Op::CreateGroup(_) | Op::PatchGroup { .. } => {
                if reply.body.is_null() {
                    let id = op.target().unwrap_or_default();
                    return note_version(&mut self.seen_groups, id, &self.world.groups, reply.etag);
                }
                let seen = parse_group(&reply.body)?;
                let expected = self.world.groups.get(&seen.id);
                if expected != Some(&seen.group) {
                    return Err(format!("answered {:?}, expected {expected:?}", seen.group));
                }
                if let Some((before, version)) = self.seen_groups.get(&seen.id) {
                    if *before != seen.group && *version == seen.version {
                        return Err(format!("content changed but version {version} did not"));
                    }
                }
                self.seen_groups.insert(seen.id, (seen.group, seen.version));
            }
        }
        Ok(())
    }

    fn next_value(&mut self, kind: &str) -> String {
        self.seq += 1;
        format!("w{}-{kind}{}", self.index, self.seq)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())].clone()
    }

    /// The next write, drawn from a mix weighted towards attribute and member changes.
    fn choose(&mut self) -> Op {
        let users: Vec<String> = self.world.users.keys().cloned().collect();
        let groups: Vec<String> = self.world.groups.keys().cloned().collect();
        loop {
            match self.rng.u32(0..100) {
                0..15 if users.len() < MAX_USERS => {
                    let user_name = self.next_value("u");
                    let user = User {
                        display_name: format!("{user_name} name"),
                        title: self.next_value("t"),
                        active: true,
                        user_name: format!("{user_name}@crash.test"),
                    };
                    return Op::CreateUser(user);
                }
                15..33 if !users.is_empty() => {
                    let id = self.pick(&users);
                    let title = self.next_value("t");
                    return Op::PatchTitle { id, title };
                }
                33..43 if !users.is_empty() => {
                    let id = self.pick(&users);
                    let active = !self.world.users[&id].active;
                    return Op::SetActive { id, active };
                }
                43..53 if !users.is_empty() => {
                    let id = self.pick(&users);
                    let mut user = self.world.users[&id].clone();
                    user.display_name = self.next_value("d");
                    user.title = self.next_value("t");
                    user.active = self.rng.bool();
                    return Op::PutUser { id, user };
                }
                53..61 if users.len() > 5 => {
                    let id = self.pick(&users);
                    return Op::DeleteUser { id };
                }
                61..85 if !groups.is_empty() => {
                    let id = self.pick(&groups);
                    let members = self.world.groups[&id].members.clone();
                    let mut outside: Vec<String> = users
                        .iter()
                        .filter(|u| !members.contains(*u))
                        .cloned()
                        .collect();
                    let mut inside: Vec<String> = members.into_iter().collect();
                    self.rng.shuffle(&mut outside);
                    self.rng.shuffle(&mut inside);
                    outside.truncate(self.rng.usize(2..=4));
                    // Adds or removes, sometimes both, sometimes with a rename: all in one PATCH.
                    let remove: Vec<String> = if outside.is_empty() || self.rng.u8(0..3) == 0 {
                        inside.into_iter().take(self.rng.usize(1..=3)).collect()
                    } else {
                        Vec::new()
                    };
                    let add = if remove.is_empty() || self.rng.bool() {
                        outside
                    } else {
                        Vec::new()
                    };
                    let rename = if self.rng.u8(0..4) == 0 {
                        Some(self.next_value("g"))
                    } else {
                        None
                    };
                    if add.is_empty() && remove.is_empty() && rename.is_none() {
                        continue;
                    }
                    return Op::PatchGroup {
                        id,
                        rename,
                        add,
                        remove,
                    };
                }
                85..95 if groups.len() < MAX_GROUPS => {
                    let display_name = self.next_value("g");
                    let mut initial = users.clone();
                    self.rng.shuffle(&mut initial);
                    let members: BTreeSet<String> =
                        initial.into_iter().take(self.rng.usize(0..=2)).collect();
                    return Op::CreateGroup(Group {
                        display_name,
                        members,
                    });
                }
                95..100 if groups.len() > 2 => {
                    let id = self.pick(&groups);
                    return Op::DeleteGroup { id };
                }
                _ => {}
            }
        }
    }
}

/// After a 204 without a body (PATCH may answer so): the version is the ETag header, if any,
/// for the content the model now holds; without one the version is unknown until the next check.
fn note_version<T: Clone + PartialEq>(
    seen: &mut BTreeMap<String, (T, String)>,
    id: &str,
    world: &BTreeMap<String, T>,
    etag: Option<String>,
) -> Result<(), String> {
    let before = seen.remove(id);
    let (Some(now), Some(version)) = (world.get(id), etag) else {
        return Ok(());
    };
    if let Some((content, old)) = before {
        if content != *now && old == version {
            return Err(format!("content changed but version {old} did not"));
        }
    }
    seen.insert(id.to_string(), (now.clone(), version));
    Ok(())
}
