//! `db verify`: proves the indexes and the membership mirror agree with the records.
//!
//! It reads one snapshot, so it can run beside a live writer and still see a consistent state.
//! Every index key is derived with the same [`IndexKeys::of`] the writer uses.

use redb::{
    ReadOnlyMultimapTable, ReadOnlyTable, ReadTransaction, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata,
};

use super::query;
use super::record::{decode, IndexKeys};
use super::tables::{self, MultiDef};
use super::{Kind, StoreError};

/// At most this many problems are kept as text; a badly broken store could otherwise produce a
/// report as large as the store itself. [`VerifyReport::problem_count`] still counts them all.
pub const MAX_REPORTED_PROBLEMS: usize = 1000;

/// What [`Store::verify`](super::Store::verify) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// User records.
    pub users: u64,
    /// Group records.
    pub groups: u64,
    /// Entries in the six attribute indexes together.
    pub index_entries: u64,
    /// Membership edges (entries of `group_members`).
    pub memberships: u64,
    /// Human-readable problems, the first [`MAX_REPORTED_PROBLEMS`] of them.
    pub problems: Vec<String>,
    /// How many problems were found in all.
    pub problem_count: u64,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_healthy(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(text);
        }
    }
}

type RecordTable = ReadOnlyTable<&'static str, &'static [u8]>;
type MultiTable = ReadOnlyMultimapTable<&'static str, &'static str>;

struct Snapshot {
    users: RecordTable,
    groups: RecordTable,
    user_name: ReadOnlyTable<&'static str, &'static str>,
    user_external_id: MultiTable,
    group_external_id: MultiTable,
    group_display_name: MultiTable,
    user_modified: MultiTable,
    group_modified: MultiTable,
    group_members: MultiTable,
    member_groups: MultiTable,
}

impl Snapshot {
    fn records(&self, kind: Kind) -> &RecordTable {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    /// What an index entry pointing at record `id` finds there. Storage errors abort the run;
    /// a bad record is only a finding, already reported by the record pass.
    fn keys_of(&self, kind: Kind, id: &str) -> Result<Target, StoreError> {
        let Some(bytes) = self.records(kind).get(id)? else {
            return Ok(Target::Missing);
        };
        Ok(
            match decode(kind, id, bytes.value()).and_then(|d| IndexKeys::of(kind, &d)) {
                Ok(keys) => Target::Live(keys),
                Err(_) => Target::Undecodable,
            },
        )
    }
}

/// The record an index entry or edge points at.
enum Target {
    Missing,
    Undecodable,
    Live(IndexKeys),
}

/// Runs every check over one snapshot.
pub(super) fn verify(txn: &ReadTransaction) -> Result<VerifyReport, StoreError> {
    let multi = |def: MultiDef| txn.open_multimap_table(def);
    let s = Snapshot {
        users: txn.open_table(tables::USERS)?,
        groups: txn.open_table(tables::GROUPS)?,
        user_name: txn.open_table(tables::IDX_USER_NAME)?,
        user_external_id: multi(tables::IDX_USER_EXTERNAL_ID)?,
        group_external_id: multi(tables::IDX_GROUP_EXTERNAL_ID)?,
        group_display_name: multi(tables::IDX_GROUP_DISPLAY_NAME)?,
        user_modified: multi(tables::IDX_USER_MODIFIED)?,
        group_modified: multi(tables::IDX_GROUP_MODIFIED)?,
        group_members: multi(tables::GROUP_MEMBERS)?,
        member_groups: multi(tables::MEMBER_GROUPS)?,
    };
    let mut r = VerifyReport {
        users: s.users.len()?,
        groups: s.groups.len()?,
        index_entries: s.user_name.len()?
            + s.user_external_id.len()?
            + s.group_external_id.len()?
            + s.group_display_name.len()?
            + s.user_modified.len()?
            + s.group_modified.len()?,
        memberships: s.group_members.len()?,
        ..VerifyReport::default()
    };
    for kind in [Kind::User, Kind::Group] {
        records_are_indexed(&s, kind, &mut r)?;
    }
    user_name_entries_are_live(&s, &mut r)?;
    let user_ext = (&s.user_external_id, "idx_user_external_id");
    let group_ext = (&s.group_external_id, "idx_group_external_id");
    let display = (&s.group_display_name, "idx_group_display_name");
    multi_entries_are_live(&s, user_ext, Kind::User, &mut r, |k| k.external_id)?;
    multi_entries_are_live(&s, group_ext, Kind::Group, &mut r, |k| k.external_id)?;
    multi_entries_are_live(&s, display, Kind::Group, &mut r, |k| k.display_name)?;
    let user_mod = (&s.user_modified, "idx_user_modified");
    let group_mod = (&s.group_modified, "idx_group_modified");
    multi_entries_are_live(&s, user_mod, Kind::User, &mut r, |k| k.modified)?;
    multi_entries_are_live(&s, group_mod, Kind::Group, &mut r, |k| k.modified)?;
    memberships_are_mirrored(&s, &mut r)?;
    Ok(r)
}

/// Every record decodes and each of its keys is in its index, pointing at it.
fn records_are_indexed(s: &Snapshot, kind: Kind, r: &mut VerifyReport) -> Result<(), StoreError> {
    let (ext_table, ext_name) = match kind {
        Kind::User => (&s.user_external_id, "idx_user_external_id"),
        Kind::Group => (&s.group_external_id, "idx_group_external_id"),
    };
    let (mod_table, mod_name) = match kind {
        Kind::User => (&s.user_modified, "idx_user_modified"),
        Kind::Group => (&s.group_modified, "idx_group_modified"),
    };
    for entry in s.records(kind).iter()? {
        let (id, bytes) = entry?;
        let id = id.value();
        let keys = match decode(kind, id, bytes.value()).and_then(|d| IndexKeys::of(kind, &d)) {
            Ok(k) => k,
            Err(e) => {
                r.problem(format!("{kind} {id:?}: {e}"));
                continue;
            }
        };
        if let Some(k) = &keys.user_name {
            match query::unique(&s.user_name, k)? {
                None => r.problem(format!(
                    "user {id:?}: userName key {k:?} is missing from idx_user_name"
                )),
                Some(other) if other != id => {
                    // Two users with one name is the uniqueness violation itself; an entry
                    // pointing at a user with another name is just a wrong entry.
                    let shared = matches!(
                        s.keys_of(Kind::User, &other)?,
                        Target::Live(ok) if ok.user_name.as_deref() == Some(k.as_str())
                    );
                    r.problem(if shared {
                        format!("users {id:?} and {other:?} share the userName key {k:?}")
                    } else {
                        format!("user {id:?}: idx_user_name {k:?} points at {other:?} instead")
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(k) = &keys.external_id {
            if !query::contains(ext_table, k, id)? {
                r.problem(format!(
                    "{kind} {id:?}: externalId {k:?} is missing from {ext_name}"
                ));
            }
        }
        if let Some(k) = &keys.modified {
            if !query::contains(mod_table, k, id)? {
                r.problem(format!(
                    "{kind} {id:?}: lastModified key {k:?} is missing from {mod_name}"
                ));
            }
        }
        if let Some(k) = &keys.display_name {
            if !query::contains(&s.group_display_name, k, id)? {
                r.problem(format!(
                    "group {id:?}: displayName key {k:?} is missing from idx_group_display_name"
                ));
            }
        }
    }
    Ok(())
}

/// Every idx_user_name entry points at a live user whose derived key is the entry's key.
fn user_name_entries_are_live(s: &Snapshot, r: &mut VerifyReport) -> Result<(), StoreError> {
    for entry in s.user_name.iter()? {
        let (key, id) = entry?;
        let (key, id) = (key.value(), id.value());
        match s.keys_of(Kind::User, id)? {
            Target::Missing => r.problem(format!(
                "idx_user_name {key:?} points at user {id:?}, which does not exist"
            )),
            Target::Live(k) if k.user_name.as_deref() != Some(key) => r.problem(format!(
                "idx_user_name {key:?} points at user {id:?}, whose userName key is {:?}",
                k.user_name
            )),
            Target::Live(_) | Target::Undecodable => {}
        }
    }
    Ok(())
}

/// Every entry of a multimap index points at a live record of `kind` whose derived key (picked
/// by `field`) is the entry's key.
fn multi_entries_are_live(
    s: &Snapshot,
    (table, name): (&MultiTable, &str),
    kind: Kind,
    r: &mut VerifyReport,
    field: impl Fn(IndexKeys) -> Option<String>,
) -> Result<(), StoreError> {
    for entry in table.iter()? {
        let (key, ids) = entry?;
        let key = key.value();
        for id in ids {
            let id = id?;
            let id = id.value();
            match s.keys_of(kind, id)? {
                Target::Missing => r.problem(format!(
                    "{name} {key:?} points at {kind} {id:?}, which does not exist"
                )),
                Target::Live(k) => {
                    let derived = field(k);
                    if derived.as_deref() != Some(key) {
                        r.problem(format!(
                            "{name} {key:?} points at {kind} {id:?}, whose key is {derived:?}"
                        ));
                    }
                }
                Target::Undecodable => {}
            }
        }
    }
    Ok(())
}

/// group_members and member_groups hold exactly the same edges, and every edge joins a live
/// group to a live user or group.
fn memberships_are_mirrored(s: &Snapshot, r: &mut VerifyReport) -> Result<(), StoreError> {
    // Forward: each group→member edge has its member→group mirror. The lookup walks the
    // member's group list, which is short, never a big group's member list.
    let mut mirrored: u64 = 0;
    for entry in s.group_members.iter()? {
        let (group, members) = entry?;
        let group = group.value();
        if !query::exists(&s.groups, group)? {
            r.problem(format!(
                "group_members: group {group:?} does not exist but has {} member(s)",
                members.len()
            ));
        }
        for member in members {
            let member = member?;
            let member = member.value();
            if !member_exists(s, member)? {
                r.problem(format!(
                    "group_members: group {group:?} has member {member:?}, which does not exist"
                ));
            }
            if query::contains(&s.member_groups, member, group)? {
                mirrored += 1;
            } else {
                r.problem(format!(
                    "group_members {group:?} → {member:?} has no member_groups mirror"
                ));
            }
        }
    }
    // Backward: both tables are sets and mirroring is one-to-one, so member_groups holds exactly
    // `mirrored` mirrors; only if it holds more is there anything left to find. That walk looks
    // up each edge in a possibly large member list, so it runs only when something is wrong.
    if s.member_groups.len()? > mirrored {
        for entry in s.member_groups.iter()? {
            let (member, groups) = entry?;
            let member = member.value();
            for group in groups {
                let group = group?;
                let group = group.value();
                if !query::contains(&s.group_members, group, member)? {
                    r.problem(format!(
                        "member_groups {member:?} → {group:?} has no group_members mirror"
                    ));
                    if !query::exists(&s.groups, group)? {
                        r.problem(format!(
                            "member_groups: {member:?} is in group {group:?}, which does not exist"
                        ));
                    }
                    if !member_exists(s, member)? {
                        r.problem(format!(
                            "member_groups: member {member:?} of {group:?} does not exist"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Members may be users or groups; ids are globally unique.
fn member_exists(s: &Snapshot, id: &str) -> Result<bool, StoreError> {
    Ok(query::exists(&s.users, id)? || query::exists(&s.groups, id)?)
}
