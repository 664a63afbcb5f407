//! What the harness believes the store holds: one worker's users and groups, the write
//! operations it sends, and how an acknowledged operation changes that belief.
//!
//! Each worker owns its resources (user names and group names start with its prefix) and sends
//! one request at a time, so at a kill it has at most one request in flight, and the store must
//! then hold exactly its model, or exactly its model with that one request applied.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The stored content of a User that the harness controls (`groups` is derived, compared apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub user_name: String,
    pub display_name: String,
    pub title: String,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub display_name: String,
    pub members: BTreeSet<String>,
}

/// One worker's resources, keyed by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct World {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
}

/// A write the harness sends. Values are unique per worker, so an applied write always changes
/// what it touches and the result tells applied from not applied.
#[derive(Clone, Debug)]
pub enum Op {
    CreateUser(User),
    /// PATCH replace of `title`.
    PatchTitle {
        id: String,
        title: String,
    },
    /// PATCH the way Entra ID deactivates: `"op": "Replace"`, `"value": "False"` (a string).
    SetActive {
        id: String,
        active: bool,
    },
    PutUser {
        id: String,
        user: User,
    },
    DeleteUser {
        id: String,
    },
    CreateGroup(Group),
    /// One PATCH request: an optional rename, one `add` of several members, several `remove`s.
    PatchGroup {
        id: String,
        rename: Option<String>,
        add: Vec<String>,
        remove: Vec<String>,
    },
    DeleteGroup {
        id: String,
    },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateUser(_) => "create user",
            Op::PatchTitle { .. } => "patch title",
            Op::SetActive { .. } => "patch active",
            Op::PutUser { .. } => "put user",
            Op::DeleteUser { .. } => "delete user",
            Op::CreateGroup(_) => "create group",
            Op::PatchGroup { .. } => "patch group members",
            Op::DeleteGroup { .. } => "delete group",
        }
    }

    /// The id of the existing resource the write changes.
    pub fn target(&self) -> Option<&str> {
        match self {
            Op::PatchTitle { id, .. }
            | Op::SetActive { id, .. }
            | Op::PutUser { id, .. }
            | Op::DeleteUser { id }
            | Op::PatchGroup { id, .. }
            | Op::DeleteGroup { id } => Some(id),
            Op::CreateUser(_) | Op::CreateGroup(_) => None,
        }
    }

    /// Method, path under the base URL, and body.
    pub fn request(&self) -> (reqwest::Method, String, Option<Value>) {
        use reqwest::Method;
        match self {
            Op::CreateUser(u) => (Method::POST, "/Users".into(), Some(user_body(u))),
            Op::PatchTitle { id, title } => (
                Method::PATCH,
                format!("/Users/{id}"),
                Some(patch(vec![
                    json!({"op": "replace", "path": "title", "value": title}),
                ])),
            ),
            Op::SetActive { id, active } => (
                Method::PATCH,
                format!("/Users/{id}"),
                Some(patch(vec![json!({"op": "Replace", "path": "active",
                    "value": if *active { "True" } else { "False" }})])),
            ),
            Op::PutUser { id, user } => {
                (Method::PUT, format!("/Users/{id}"), Some(user_body(user)))
            }
            Op::DeleteUser { id } => (Method::DELETE, format!("/Users/{id}"), None),
            Op::CreateGroup(g) => (Method::POST, "/Groups".into(), Some(group_body(g))),
            Op::PatchGroup {
                id,
                rename,
                add,
                remove,
            } => {
                let mut ops = Vec::new();
                if let Some(name) = rename {
                    ops.push(json!({"op": "replace", "path": "displayName", "value": name}));
                }
                if !add.is_empty() {
                    let values: Vec<Value> = add.iter().map(|m| json!({"value": m})).collect();
                    ops.push(json!({"op": "add", "path": "members", "value": values}));
                }
                for m in remove {
                    ops.push(json!({"op": "remove", "path": format!("members[value eq \"{m}\"]")}));
                }
                (Method::PATCH, format!("/Groups/{id}"), Some(patch(ops)))
            }
            Op::DeleteGroup { id } => (Method::DELETE, format!("/Groups/{id}"), None),
        }
    }

    /// The id a create got, found by its unique name in `world` (which may have applied it).
    pub fn created_id(&self, world: &World) -> Option<String> {
        match self {
            Op::CreateUser(u) => world
                .users
                .iter()
                .find(|(_, v)| v.user_name == u.user_name)
                .map(|(id, _)| id.clone()),
            Op::CreateGroup(g) => world
                .groups
                .iter()
                .find(|(_, v)| v.display_name == g.display_name)
                .map(|(id, _)| id.clone()),
            _ => None,
        }
    }
}

fn patch(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
}

fn user_body(u: &User) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": u.user_name, "displayName": u.display_name,
        "title": u.title, "active": u.active})
}

fn group_body(g: &Group) -> Value {
    let members: Vec<Value> = g.members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": [GROUP_SCHEMA], "displayName": g.display_name, "members": members})
}

impl World {
    /// The world after `op`; `new_id` is the id a create was given.
    pub fn apply(&self, op: &Op, new_id: Option<&str>) -> World {
        let mut w = self.clone();
        match op {
            Op::CreateUser(u) => {
                if let Some(id) = new_id {
                    w.users.insert(id.to_string(), u.clone());
                }
            }
            Op::PatchTitle { id, title } => {
                if let Some(u) = w.users.get_mut(id) {
                    u.title = title.clone();
                }
            }
            Op::SetActive { id, active } => {
                if let Some(u) = w.users.get_mut(id) {
                    u.active = *active;
                }
            }
            Op::PutUser { id, user } => {
                if let Some(u) = w.users.get_mut(id) {
                    *u = user.clone();
                }
            }
            Op::DeleteUser { id } => {
                w.users.remove(id);
                for g in w.groups.values_mut() {
                    g.members.remove(id);
                }
            }
            Op::CreateGroup(g) => {
                if let Some(id) = new_id {
                    w.groups.insert(id.to_string(), g.clone());
                }
            }
            Op::PatchGroup {
                id,
                rename,
                add,
                remove,
            } => {
                if let Some(g) = w.groups.get_mut(id) {
                    if let Some(name) = rename {
                        g.display_name = name.clone();
                    }
                    g.members.extend(add.iter().cloned());
                    for m in remove {
                        g.members.remove(m);
                    }
                }
            }
            Op::DeleteGroup { id } => {
                w.groups.remove(id);
            }
        }
        w
    }

    /// A short description of how `other` differs from `self`, for failure messages.
    pub fn diff(&self, other: &World) -> String {
        let mut out = String::new();
        for (id, u) in &self.users {
            match other.users.get(id) {
                None => out.push_str(&format!("  user {id} ({}) missing\n", u.user_name)),
                Some(o) if o != u => {
                    out.push_str(&format!("  user {id}: expected {u:?}, found {o:?}\n"))
                }
                _ => {}
            }
        }
        for (id, u) in &other.users {
            if !self.users.contains_key(id) {
                out.push_str(&format!("  user {id} unexpected: {u:?}\n"));
            }
        }
        for (id, g) in &self.groups {
            match other.groups.get(id) {
                None => out.push_str(&format!("  group {id} ({}) missing\n", g.display_name)),
                Some(o) if o != g => {
                    out.push_str(&format!("  group {id}: expected {g:?}, found {o:?}\n"))
                }
                _ => {}
            }
        }
        for (id, g) in &other.groups {
            if !self.groups.contains_key(id) {
                out.push_str(&format!("  group {id} unexpected: {g:?}\n"));
            }
        }
        out
    }
}

/// A User resource as the server returned it: id, content, version, and its `groups`.
pub struct SeenUser {
    pub id: String,
    pub user: User,
    pub version: String,
    pub groups: BTreeSet<String>,
}

pub struct SeenGroup {
    pub id: String,
    pub group: Group,
    pub version: String,
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no string {key:?} in {v}"))
}

fn values(v: &Value, key: &str) -> Result<BTreeSet<String>, String> {
    match &v[key] {
        Value::Null => Ok(BTreeSet::new()),
        Value::Array(items) => items
            .iter()
            .map(|m| text(m, "value"))
            .collect::<Result<_, _>>(),
        other => Err(format!("{key:?} is not an array: {other}")),
    }
}

pub fn parse_user(v: &Value) -> Result<SeenUser, String> {
    Ok(SeenUser {
        id: text(v, "id")?,
        user: User {
            user_name: text(v, "userName")?,
            display_name: text(v, "displayName")?,
            title: text(v, "title")?,
            active: v["active"]
                .as_bool()
                .ok_or_else(|| format!("no boolean active in {v}"))?,
        },
        version: text(&v["meta"], "version")?,
        groups: values(v, "groups")?,
    })
}

pub fn parse_group(v: &Value) -> Result<SeenGroup, String> {
    Ok(SeenGroup {
        id: text(v, "id")?,
        group: Group {
            display_name: text(v, "displayName")?,
            members: values(v, "members")?,
        },
        version: text(&v["meta"], "version")?,
    })
}
