//! A held batch equals the same writes one at a time (issue 7): random sequences of directory
//! writes run (a) each in its own commit and (b) queued behind a held writer, so that they
//! share one transaction, must give the same outcome for every write and leave the same
//! directory; and no write of the batch may fail because another one spoiled it (503).
//!
//! Ids are generated (UUIDv7), so a write cannot name, before it is submitted, a resource that
//! an earlier write of the same batch creates. Each store first gets the same committed setup
//! (four users, two groups), whose ids are known before the batch. A write names its target or
//! members either by a setup id (the real API path: planned before the store, as the HTTP layer
//! does), or by the userName / group displayName it has *when the write runs*: those writes
//! look the name up inside the writer's transaction and then plan and apply the same closure
//! the API would ([`Directory::guarded`] with the `plan_*` functions). Name references are what
//! let a batch create a user and then rename, patch, group or delete it, which is where the
//! writes of one batch see each other; resolving them at run time gives the same meaning in
//! both modes. Bulk requests reach earlier POSTs through their own `bulkId:` references.
//!
//! About half the cases put the deprovisioning guard in front of both directories, with a limit
//! of 1–3 user disables and deletes: it decides inside the transaction, so the batch must be
//! held at the same write as the sequence, and its hold (a 503 with the guard's detail) is an
//! answer to compare, not a failure.
//!
//! Outcomes are compared as stored, not rendered: the rendered reply of a write is read after
//! its commit from a fresh snapshot (`Directory::after_commit`), so its derived `groups` and
//! `members` include whatever committed after it, batched or not. Timestamps are dropped and
//! every id is replaced by the order it first appeared in; versions are kept, since If-Match
//! depends on them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::config::GuardSettings;
use crate::directory::write::{not_found, Apply};
use crate::directory::{Actor, DirError, Directory, ListParams};
use crate::guard::live::Guard;
use crate::metrics::GuardMetrics;
use crate::scim::bulk::BulkRequest;
use crate::scim::{Registry, ResourceKind, ScimError};
use crate::store::testing::hold_writer;
use crate::store::{Store, StoreError, WriteTx};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const MISSING: &str = "01000000-0000-7000-8000-000000000000";

/// The setup's users and groups, created in this order before either run.
static SETUP_USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
static SETUP_GROUPS: [&str; 2] = ["eng", "ops"];
/// The userNames writes use: free ones, and the setup's (one in another case), which make
/// creates and renames 409 until their holder is renamed or deleted.
static USER_NAMES: [&str; 6] = ["erin", "frank", "gina", "alice", "BOB", "dave"];
static GROUP_NAMES: [&str; 4] = ["new-a", "new-b", "eng", "ops"];
static TITLES: [&str; 3] = ["Boss", "Intern", ""];

#[derive(Debug, Clone)]
enum Ref {
    SetupUser(usize),
    SetupGroup(usize),
    /// The user holding this userName when the write runs.
    User(&'static str),
    /// The only group with this displayName when the write runs.
    Group(&'static str),
    Missing,
}

impl Ref {
    fn named(&self) -> bool {
        matches!(self, Ref::User(_) | Ref::Group(_))
    }
}

/// If-Match: none, a version no resource has, or the version a resource is created with.
#[derive(Debug, Clone, Copy)]
enum Precondition {
    Absent,
    Stale,
    First,
}

impl Precondition {
    fn header(self) -> Option<String> {
        match self {
            Precondition::Absent => None,
            Precondition::Stale => Some("W/\"99\"".into()),
            Precondition::First => Some("W/\"1\"".into()),
        }
    }
}

#[derive(Debug, Clone)]
enum UserPatch {
    /// Entra's way: a string "False" for a boolean.
    Deactivate,
    Title(&'static str),
    GivenName(&'static str),
    WorkEmail(&'static str),
    Rename(&'static str),
    BadPath,
    /// A valid operation, then one refused inside the transaction (a required attribute
    /// removed): all or nothing.
    TitleThenDropName(&'static str),
}

#[derive(Debug, Clone)]
enum GroupPatch {
    Add(Vec<Ref>),
    Remove(Vec<Ref>),
    Replace(Vec<Ref>),
    Clear,
    RemoveThenAdd(Ref, Vec<Ref>),
    /// Members added, then the required displayName removed: refused, no member added.
    AddThenDropName(Vec<Ref>),
    Rename(&'static str),
}

/// A Bulk operation's reference: a setup user, or the bulkId of operation `Post(i)` (if that
/// operation is no POST, the bulkId is undeclared).
#[derive(Debug, Clone)]
enum BulkRef {
    Setup(usize),
    Post(usize),
    Missing,
}

#[derive(Debug, Clone)]
enum BulkStep {
    PostUser(&'static str),
    PostGroup(&'static str, Vec<BulkRef>),
    PatchTitle(BulkRef, &'static str),
    DeleteUser(BulkRef),
}

#[derive(Debug, Clone)]
enum Op {
    CreateUser(&'static str),
    PutUser {
        target: Ref,
        name: &'static str,
        title: Option<&'static str>,
        if_match: Precondition,
    },
    PatchUser {
        target: Ref,
        patch: UserPatch,
        if_match: Precondition,
    },
    DeleteUser {
        target: Ref,
        if_match: Precondition,
    },
    CreateGroup {
        name: &'static str,
        members: Vec<Ref>,
    },
    PutGroup {
        target: Ref,
        name: &'static str,
        members: Option<Vec<Ref>>,
    },
    PatchGroup {
        target: Ref,
        patch: GroupPatch,
        if_match: Precondition,
    },
    DeleteGroup {
        target: Ref,
        if_match: Precondition,
    },
    Bulk(Vec<BulkStep>),
}

impl Op {
    /// Whether the write names something by name, to be resolved inside the transaction.
    fn by_name(&self) -> bool {
        let any = |refs: &[Ref]| refs.iter().any(Ref::named);
        match self {
            Op::CreateUser(_) | Op::Bulk(_) => false,
            Op::PutUser { target, .. }
            | Op::PatchUser { target, .. }
            | Op::DeleteUser { target, .. }
            | Op::DeleteGroup { target, .. } => target.named(),
            Op::CreateGroup { members, .. } => any(members),
            Op::PutGroup {
                target, members, ..
            } => target.named() || members.as_deref().is_some_and(any),
            Op::PatchGroup { target, patch, .. } => {
                target.named()
                    || match patch {
                        GroupPatch::Add(m)
                        | GroupPatch::Remove(m)
                        | GroupPatch::Replace(m)
                        | GroupPatch::AddThenDropName(m) => any(m),
                        GroupPatch::RemoveThenAdd(r, m) => r.named() || any(m),
                        GroupPatch::Clear | GroupPatch::Rename(_) => false,
                    }
            }
        }
    }
}

/// The setup's ids in one store.
#[derive(Debug, Clone)]
struct Ids {
    users: Vec<String>,
    groups: Vec<String>,
}

/// A directory write with its references resolved to ids.
enum Call {
    Create(ResourceKind, Value),
    Replace(ResourceKind, String, Value, Option<String>),
    Patch(ResourceKind, String, Value, Option<String>),
    Delete(ResourceKind, String, Option<String>),
}

type Lookup<'a> = dyn FnMut(&Ref) -> Result<Option<String>, DirError> + 'a;

fn actor() -> Actor {
    Actor::local("batch-props")
}

fn patch_body(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn target(look: &mut Lookup<'_>, kind: ResourceKind, r: &Ref) -> Result<String, DirError> {
    look(r)?.ok_or_else(|| DirError(not_found(kind, &format!("{r:?}"))))
}

/// Member entries; a name nobody holds becomes an id nobody has (the server's 400).
fn members(look: &mut Lookup<'_>, refs: &[Ref]) -> Result<Vec<Value>, DirError> {
    refs.iter()
        .map(|r| Ok(json!({"value": look(r)?.unwrap_or_else(|| MISSING.into())})))
        .collect()
}

fn member_filter(look: &mut Lookup<'_>, r: &Ref) -> Result<Value, DirError> {
    let id = look(r)?.unwrap_or_else(|| MISSING.into());
    Ok(json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")}))
}

fn call(op: &Op, look: &mut Lookup<'_>) -> Result<Call, DirError> {
    use ResourceKind::{Group, User};
    Ok(match op {
        Op::CreateUser(name) => Call::Create(
            User,
            json!({"schemas": [USER_SCHEMA], "userName": name, "name": {"givenName": name}}),
        ),
        Op::PutUser {
            target: t,
            name,
            title,
            if_match,
        } => {
            let mut body = json!({"schemas": [USER_SCHEMA], "userName": name});
            if let Some(title) = title {
                body["title"] = json!(title);
            }
            Call::Replace(User, target(look, User, t)?, body, if_match.header())
        }
        Op::PatchUser {
            target: t,
            patch,
            if_match,
        } => {
            let ops = match patch {
                UserPatch::Deactivate => {
                    vec![json!({"op": "Replace", "path": "active", "value": "False"})]
                }
                UserPatch::Title(v) => vec![json!({"op": "replace", "path": "title", "value": v})],
                UserPatch::GivenName(v) => {
                    vec![json!({"op": "add", "path": "name.givenName", "value": v})]
                }
                UserPatch::WorkEmail(v) => vec![json!({"op": "replace",
                    "path": "emails[type eq \"work\"].value", "value": format!("{v}@example.com")})],
                UserPatch::Rename(v) => {
                    vec![json!({"op": "replace", "path": "userName", "value": v})]
                }
                UserPatch::BadPath => {
                    vec![json!({"op": "replace", "path": "noSuchAttribute", "value": "x"})]
                }
                UserPatch::TitleThenDropName(v) => vec![
                    json!({"op": "replace", "path": "title", "value": v}),
                    json!({"op": "remove", "path": "userName"}),
                ],
            };
            Call::Patch(
                User,
                target(look, User, t)?,
                patch_body(ops),
                if_match.header(),
            )
        }
        Op::DeleteUser {
            target: t,
            if_match,
        } => Call::Delete(User, target(look, User, t)?, if_match.header()),
        Op::CreateGroup { name, members: m } => Call::Create(
            Group,
            json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members(look, m)?}),
        ),
        Op::PutGroup {
            target: t,
            name,
            members: m,
        } => {
            let id = target(look, Group, t)?;
            let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": name});
            if let Some(m) = m {
                body["members"] = Value::Array(members(look, m)?);
            }
            Call::Replace(Group, id, body, None)
        }
        Op::PatchGroup {
            target: t,
            patch,
            if_match,
        } => {
            let id = target(look, Group, t)?;
            let ops = match patch {
                GroupPatch::Add(m) => {
                    vec![json!({"op": "add", "path": "members", "value": members(look, m)?})]
                }
                GroupPatch::Remove(m) => m
                    .iter()
                    .map(|r| member_filter(look, r))
                    .collect::<Result<_, _>>()?,
                GroupPatch::Replace(m) => {
                    vec![json!({"op": "replace", "path": "members", "value": members(look, m)?})]
                }
                GroupPatch::Clear => vec![json!({"op": "remove", "path": "members"})],
                GroupPatch::RemoveThenAdd(r, m) => vec![
                    member_filter(look, r)?,
                    json!({"op": "add", "path": "members", "value": members(look, m)?}),
                ],
                GroupPatch::AddThenDropName(m) => vec![
                    json!({"op": "add", "path": "members", "value": members(look, m)?}),
                    json!({"op": "remove", "path": "displayName"}),
                ],
                GroupPatch::Rename(n) => {
                    vec![json!({"op": "replace", "path": "displayName", "value": n})]
                }
            };
            Call::Patch(Group, id, patch_body(ops), if_match.header())
        }
        Op::DeleteGroup {
            target: t,
            if_match,
        } => Call::Delete(Group, target(look, Group, t)?, if_match.header()),
        Op::Bulk(_) => unreachable!("bulk requests are built by bulk_body"),
    })
}

/// What the setup's ids and `MISSING` resolve to; names are never looked up here.
fn known(ids: &Ids, r: &Ref) -> Option<String> {
    match r {
        Ref::SetupUser(i) => ids.users.get(*i).cloned(),
        Ref::SetupGroup(i) => ids.groups.get(*i).cloned(),
        Ref::Missing => Some(MISSING.into()),
        Ref::User(_) | Ref::Group(_) => None,
    }
}

/// Resolution inside the writer's transaction: a name means what it means at that moment.
fn resolve_in(tx: &WriteTx<'_>, ids: &Ids, r: &Ref) -> Result<Option<String>, StoreError> {
    Ok(match r {
        Ref::User(name) => tx.user_id_by_name(name)?,
        Ref::Group(name) => {
            let found = tx.group_ids_by_display_name(name)?;
            // displayName is not unique; two holders would make the choice depend on id order.
            (found.len() == 1).then(|| found[0].clone())
        }
        other => known(ids, other),
    })
}

fn plan(dir: &Directory, c: Call) -> Result<Apply, ScimError> {
    let a = actor();
    match c {
        Call::Create(kind, body) => dir.plan_create(kind, &body, &a),
        Call::Replace(kind, id, body, m) => dir.plan_replace(kind, &id, &body, m.as_deref(), &a),
        Call::Patch(kind, id, body, m) => dir.plan_patch(kind, &id, &body, m.as_deref(), &a),
        Call::Delete(kind, id, m) => Ok(dir.plan_delete(kind, &id, m.as_deref(), &a)),
    }
}

fn bulk_ref(ids: &Ids, r: &BulkRef, n: usize) -> String {
    match r {
        BulkRef::Setup(i) => ids.users[*i].clone(),
        BulkRef::Post(j) => format!("bulkId:b{}", j % n),
        BulkRef::Missing => MISSING.into(),
    }
}

fn bulk_body(ids: &Ids, steps: &[BulkStep]) -> Value {
    let n = steps.len();
    let ops: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            BulkStep::PostUser(name) => json!({"method": "POST", "path": "/Users",
                "bulkId": format!("b{i}"),
                "data": {"schemas": [USER_SCHEMA], "userName": name}}),
            BulkStep::PostGroup(name, m) => {
                let m: Vec<Value> = m
                    .iter()
                    .map(|r| json!({"value": bulk_ref(ids, r, n)}))
                    .collect();
                json!({"method": "POST", "path": "/Groups", "bulkId": format!("b{i}"),
                    "data": {"schemas": [GROUP_SCHEMA], "displayName": name, "members": m}})
            }
            BulkStep::PatchTitle(r, title) => json!({"method": "PATCH",
                "path": format!("/Users/{}", bulk_ref(ids, r, n)),
                "data": patch_body(vec![json!({"op": "replace", "path": "title", "value": title})])}),
            BulkStep::DeleteUser(r) => json!({"method": "DELETE",
                "path": format!("/Users/{}", bulk_ref(ids, r, n))}),
        })
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}

/// Runs one write the way a request would and returns its outcome: `{"ok": stored}` or the
/// refusal's status, scimType and detail.
fn execute(dir: &Directory, ids: &Ids, op: &Op) -> Value {
    let result = if let Op::Bulk(steps) = op {
        BulkRequest::parse(&bulk_body(ids, steps)).and_then(|req| dir.bulk(req, &actor()))
    } else if op.by_name() {
        let (me, ids, op) = (dir.clone(), ids.clone(), op.clone());
        let apply: Apply = Box::new(move |tx, pending| {
            let c = {
                let tx: &WriteTx<'_> = tx;
                call(&op, &mut |r| Ok(resolve_in(tx, &ids, r)?))?
            };
            plan(&me, c)?(tx, pending)
        });
        dir.guarded(apply)
    } else {
        let a = actor();
        call(op, &mut |r| Ok(known(ids, r)))
            .map_err(|e| e.0)
            .and_then(|c| match c {
                Call::Create(kind, body) => dir.create_stored(kind, &body, &a),
                Call::Replace(kind, id, body, m) => {
                    dir.replace_stored(kind, &id, &body, m.as_deref(), &a)
                }
                Call::Patch(kind, id, body, m) => {
                    dir.patch_stored(kind, &id, &body, m.as_deref(), &a)
                }
                Call::Delete(kind, id, m) => dir
                    .delete(kind, &id, m.as_deref(), &a)
                    .map(|()| Value::Null),
            })
    };
    match result {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"status": e.status, "scimType": format!("{:?}", e.scim_type),
            "detail": e.detail, "retryAfter": e.retry_after}),
    }
}

/// A store with the setup committed, and its directory; with `guard`, the directory holds
/// user disables and deletes beyond that many (its state file lives beside the store).
fn fresh(path: &std::path::Path, guard: Option<u64>) -> (Arc<Store>, Directory, Ids) {
    let store = Arc::new(Store::open(path).unwrap());
    let mut dir = Directory::new(
        Arc::clone(&store),
        Registry::new(),
        "https://h/scim/v2",
        1000,
    );
    if let Some(max) = guard {
        let settings = GuardSettings {
            max_deprovisions: Some(max),
            max_percent_bp: None,
            window: Duration::from_secs(3600),
        };
        dir = dir.with_guard(Arc::new(Guard::open(
            &settings,
            path,
            GuardMetrics::default(),
        )));
    }
    let a = actor();
    let bodies: Vec<Value> = SETUP_USERS
        .iter()
        .map(|name| {
            json!({"schemas": [USER_SCHEMA], "userName": name, "title": "Engineer",
                "name": {"givenName": name},
                "emails": [{"value": format!("{name}@example.com"), "type": "work"}]})
        })
        .collect();
    // One commit for the four: each commit is an fsync, and there are two stores per case.
    let users = dir.import(ResourceKind::User, &bodies, &a).unwrap();
    let eng = json!({"displayName": SETUP_GROUPS[0],
        "members": [{"value": users[0]}, {"value": users[1]}]});
    let eng = dir.create_stored(ResourceKind::Group, &eng, &a).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ops = json!({"displayName": SETUP_GROUPS[1],
        "members": [{"value": users[2]}, {"value": eng}]});
    let ops = dir.create_stored(ResourceKind::Group, &ops, &a).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = Ids {
        users,
        groups: vec![eng, ops],
    };
    (store, dir, ids)
}

fn one_at_a_time(dir: &Directory, ids: &Ids, ops: &[Op]) -> Vec<Value> {
    ops.iter().map(|op| execute(dir, ids, op)).collect()
}

/// The writes queued in order behind a held writer, then let go: one batch. Returns the
/// outcomes, how many writes queued, and the size of every batch that committed meanwhile.
fn batched(store: &Arc<Store>, dir: &Directory, ids: &Ids, ops: &[Op]) -> Batched {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&batches);
    store.observe_batches(move |b| seen.lock().unwrap().push(b.operations));
    let (release, holder) = hold_writer(store);
    let mut queued = 0;
    let mut running = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let (d, ids, op) = (dir.clone(), ids.clone(), op.clone());
        let h = thread::spawn(move || execute(&d, &ids, &op));
        // The next write is submitted only once this one is in the queue (or has answered
        // without reaching the store: a refusal found while planning), so the queue holds them
        // in order. The writer counts a write only once it is sent, so a rise in the count
        // means it is in the queue. The deadline only turns a hang into a failure; it
        // measures nothing.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if store.queued_writes() > queued {
                queued += 1;
                break;
            }
            if h.is_finished() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "write {i} neither queued nor answered: {:?}",
                ops[i]
            );
            thread::sleep(Duration::from_micros(200));
        }
        running.push(h);
    }
    assert_eq!(store.queued_writes(), queued);
    release.send(()).unwrap();
    holder.join().unwrap();
    let outcomes = running.into_iter().map(|h| h.join().unwrap()).collect();
    let batches = batches.lock().unwrap().clone();
    Batched {
        outcomes,
        queued,
        batches,
    }
}

struct Batched {
    outcomes: Vec<Value>,
    queued: usize,
    batches: Vec<usize>,
}

/// Replaces ids by names stable across stores: the setup's by their place, the others by the
/// order they first appear in.
struct Names(HashMap<String, String>);

impl Names {
    fn new(ids: &Ids) -> Names {
        let mut m = HashMap::new();
        for (i, id) in ids.users.iter().enumerate() {
            m.insert(id.clone(), format!("user{i}"));
        }
        for (i, id) in ids.groups.iter().enumerate() {
            m.insert(id.clone(), format!("group{i}"));
        }
        Names(m)
    }

    fn rename(&mut self, s: &str) -> String {
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < b.len() {
            if i + 36 <= b.len() && s.is_char_boundary(i) && is_uuid(&b[i..i + 36]) {
                let id = &s[i..i + 36];
                if id == MISSING {
                    out.push_str("missing");
                } else {
                    let n = self.0.len();
                    out.push_str(
                        self.0
                            .entry(id.to_string())
                            .or_insert_with(|| format!("new{n}")),
                    );
                }
                i += 36;
            } else {
                let c = s[i..].chars().next().unwrap_or_default();
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
        out
    }

    /// Ids renamed, timestamps dropped, member and group lists in a stable order.
    fn normal(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.rename(&without_trip_time(s))),
            Value::Array(items) => Value::Array(items.iter().map(|x| self.normal(x)).collect()),
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if k == "created" || k == "lastModified" {
                        continue;
                    }
                    let mut x = self.normal(x);
                    if k == "members" || k == "groups" {
                        if let Value::Array(items) = &mut x {
                            items.sort_by_key(|m| m["value"].to_string());
                        }
                    }
                    out.insert(k.clone(), x);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// Every user and group as a GET of the collection shows it, normalised and sorted.
fn directory_state(dir: &Directory, names: &mut Names) -> Vec<Value> {
    let mut all = Vec::new();
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let params = ListParams {
            count: Some(1000),
            ..ListParams::default()
        };
        let list = dir.list(kind, &params).unwrap();
        let mut docs: Vec<Value> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| names.normal(d))
            .collect();
        docs.sort_by_key(|d| d["id"].to_string());
        all.extend(docs);
    }
    all
}

fn user_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        4 => (0..SETUP_USERS.len()).prop_map(Ref::SetupUser),
        4 => prop::sample::select(&USER_NAMES[..]).prop_map(Ref::User),
        1 => Just(Ref::Missing),
    ]
}

fn group_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        4 => (0..SETUP_GROUPS.len()).prop_map(Ref::SetupGroup),
        3 => prop::sample::select(&GROUP_NAMES[..]).prop_map(Ref::Group),
        1 => Just(Ref::Missing),
    ]
}

fn member_refs() -> impl Strategy<Value = Vec<Ref>> {
    prop::collection::vec(prop_oneof![4 => user_ref(), 1 => group_ref()], 0..4)
}

fn precondition() -> impl Strategy<Value = Precondition> {
    prop_oneof![
        4 => Just(Precondition::Absent),
        1 => Just(Precondition::Stale),
        1 => Just(Precondition::First),
    ]
}

fn user_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&USER_NAMES[..])
}

fn title() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&TITLES[..])
}

fn user_patch() -> impl Strategy<Value = UserPatch> {
    prop_oneof![
        Just(UserPatch::Deactivate),
        title().prop_map(UserPatch::Title),
        user_name().prop_map(UserPatch::GivenName),
        user_name().prop_map(UserPatch::WorkEmail),
        user_name().prop_map(UserPatch::Rename),
        Just(UserPatch::BadPath),
        title().prop_map(UserPatch::TitleThenDropName),
    ]
}

fn group_patch() -> impl Strategy<Value = GroupPatch> {
    prop_oneof![
        3 => member_refs().prop_map(GroupPatch::Add),
        2 => member_refs().prop_map(GroupPatch::Remove),
        1 => member_refs().prop_map(GroupPatch::Replace),
        1 => Just(GroupPatch::Clear),
        1 => member_refs().prop_map(GroupPatch::AddThenDropName),
        2 => (user_ref(), member_refs()).prop_map(|(r, m)| GroupPatch::RemoveThenAdd(r, m)),
        1 => prop::sample::select(&GROUP_NAMES[..]).prop_map(GroupPatch::Rename),
    ]
}

fn bulk_ref_s() -> impl Strategy<Value = BulkRef> {
    prop_oneof![
        2 => (0..SETUP_USERS.len()).prop_map(BulkRef::Setup),
        3 => (0..5usize).prop_map(BulkRef::Post),
        1 => Just(BulkRef::Missing),
    ]
}

fn bulk_steps() -> impl Strategy<Value = Vec<BulkStep>> {
    let step = prop_oneof![
        3 => user_name().prop_map(BulkStep::PostUser),
        2 => (prop::sample::select(&GROUP_NAMES[..]), prop::collection::vec(bulk_ref_s(), 0..3))
            .prop_map(|(n, m)| BulkStep::PostGroup(n, m)),
        2 => (bulk_ref_s(), title()).prop_map(|(r, t)| BulkStep::PatchTitle(r, t)),
        1 => bulk_ref_s().prop_map(BulkStep::DeleteUser),
    ];
    prop::collection::vec(step, 1..6)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => user_name().prop_map(Op::CreateUser),
        1 => (user_ref(), user_name(), prop::option::of(title()), precondition())
            .prop_map(|(target, name, title, if_match)| Op::PutUser { target, name, title, if_match }),
        4 => (user_ref(), user_patch(), precondition())
            .prop_map(|(target, patch, if_match)| Op::PatchUser { target, patch, if_match }),
        2 => (user_ref(), precondition())
            .prop_map(|(target, if_match)| Op::DeleteUser { target, if_match }),
        2 => (prop::sample::select(&GROUP_NAMES[..]), member_refs())
            .prop_map(|(name, members)| Op::CreateGroup { name, members }),
        1 => (group_ref(), prop::sample::select(&GROUP_NAMES[..]), prop::option::of(member_refs()))
            .prop_map(|(target, name, members)| Op::PutGroup { target, name, members }),
        4 => (group_ref(), group_patch(), precondition())
            .prop_map(|(target, patch, if_match)| Op::PatchGroup { target, patch, if_match }),
        1 => (group_ref(), precondition())
            .prop_map(|(target, if_match)| Op::DeleteGroup { target, if_match }),
        1 => bulk_steps().prop_map(Op::Bulk),
    ]
}

/// Cases per run: `PROPTEST_CASES` when set, else enough to meet most kinds of write together
/// while staying a few seconds in a debug build (every case is two stores and ~30 fsyncs).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

const GUARD_HOLDS: &str = "deprovisioning guard holds user disables and deletes since ";

/// A 503 other than the guard's hold, which is an answer, not a failure.
fn is_unavailable(outcome: &Value) -> bool {
    let failed = |status: bool, detail: &Value| {
        status && !detail.as_str().is_some_and(|d| d.contains(GUARD_HOLDS))
    };
    failed(outcome["status"] == 503, &outcome["detail"])
        || outcome["ok"]["Operations"].as_array().is_some_and(|ops| {
            ops.iter()
                .any(|o| failed(o["status"] == "503", &o["response"]["detail"]))
        })
}

/// The guard's refusal without the moment it tripped, which differs between the runs.
fn without_trip_time(s: &str) -> Cow<'_, str> {
    let Some(at) = s.find(GUARD_HOLDS).map(|i| i + GUARD_HOLDS.len()) else {
        return Cow::Borrowed(s);
    };
    match s[at..].find(": ") {
        Some(end) => Cow::Owned(format!("{}(trip time){}", &s[..at], &s[at + end..])),
        None => Cow::Borrowed(s),
    }
}

fn check(guard: Option<u64>, ops: &[Op]) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let (store_a, dir_a, ids_a) = fresh(&tmp.path().join("a.redb"), guard);
    let (store_b, dir_b, ids_b) = fresh(&tmp.path().join("b.redb"), guard);

    let alone = one_at_a_time(&dir_a, &ids_a, ops);
    let Batched {
        outcomes: together,
        queued,
        batches,
    } = batched(&store_b, &dir_b, &ids_b, ops);

    let (mut names_a, mut names_b) = (Names::new(&ids_a), Names::new(&ids_b));
    for (i, op) in ops.iter().enumerate() {
        prop_assert!(
            !is_unavailable(&together[i]),
            "write {i} {op:?} failed in the batch: {}",
            together[i]
        );
        prop_assert!(
            !is_unavailable(&alone[i]),
            "write {i} {op:?} failed alone: {}",
            alone[i]
        );
        let (a, b) = (names_a.normal(&alone[i]), names_b.normal(&together[i]));
        prop_assert_eq!(a, b, "write {} differs: {:?}", i, op);
    }
    // Every write that reached the store shared one transaction: one commit of them all, or
    // none when none of them changed anything. A guard that tripped records the trip in the
    // audit log afterwards, in a commit of its own.
    let trip_events = usize::from(guard.is_some());
    prop_assert!(
        batches.is_empty()
            || (batches[0] == queued
                && batches[1..].iter().all(|&n| n == 1)
                && batches.len() <= 1 + trip_events),
        "{} writes queued; batches committed: {:?}",
        queued,
        batches
    );

    let (state_a, state_b) = (
        directory_state(&dir_a, &mut names_a),
        directory_state(&dir_b, &mut names_b),
    );
    prop_assert_eq!(state_a, state_b);
    let audit = |s: &Store| s.read().unwrap().audit_count().unwrap();
    prop_assert_eq!(audit(&store_a), audit(&store_b));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_held_batch_ends_as_the_same_writes_one_at_a_time(
        guard in prop::option::of(1..4u64),
        ops in prop::collection::vec(op(), 10..=40)
    ) {
        check(guard, &ops)?;
    }
}
