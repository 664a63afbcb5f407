//! The redb tables, named in one place.
//!
//! Keys are `&str` and values `&str` or `&[u8]` (our own serde_json bytes) only: redb has changed
//! the encoding of richer types between major versions (tuples in 3.0, `Option` in 5.0), and
//! keeping to these primitive encodings means such changes cannot touch our data.

use redb::{MultimapTableDefinition, TableDefinition};

use super::Kind;

/// A primary table: id → record as serde_json bytes.
pub(super) type RecordDef = TableDefinition<'static, &'static str, &'static [u8]>;
/// A unique index: key → id.
pub(super) type UniqueDef = TableDefinition<'static, &'static str, &'static str>;
/// A non-unique index or an edge set: key → sorted set of ids.
pub(super) type MultiDef = MultimapTableDefinition<'static, &'static str, &'static str>;

/// User records by id.
pub(super) const USERS: RecordDef = TableDefinition::new("users");
/// Group records by id.
pub(super) const GROUPS: RecordDef = TableDefinition::new("groups");
/// `lower(userName)` → user id; unique.
pub(super) const IDX_USER_NAME: UniqueDef = TableDefinition::new("idx_user_name");
/// User `externalId` (case-exact) → user ids.
pub(super) const IDX_USER_EXTERNAL_ID: MultiDef =
    MultimapTableDefinition::new("idx_user_external_id");
/// Group `externalId` (case-exact) → group ids.
pub(super) const IDX_GROUP_EXTERNAL_ID: MultiDef =
    MultimapTableDefinition::new("idx_group_external_id");
/// `lower(displayName)` → group ids; not unique.
pub(super) const IDX_GROUP_DISPLAY_NAME: MultiDef =
    MultimapTableDefinition::new("idx_group_display_name");
/// User `meta.lastModified` as a [`time_key`](super::time_key) → user ids.
pub(super) const IDX_USER_MODIFIED: MultiDef = MultimapTableDefinition::new("idx_user_modified");
/// Group `meta.lastModified` as a [`time_key`](super::time_key) → group ids.
pub(super) const IDX_GROUP_MODIFIED: MultiDef = MultimapTableDefinition::new("idx_group_modified");
/// Group id → member ids (users or groups).
pub(super) const GROUP_MEMBERS: MultiDef = MultimapTableDefinition::new("group_members");
/// Member id → ids of the groups it is a direct member of; the exact mirror of `GROUP_MEMBERS`.
pub(super) const MEMBER_GROUPS: MultiDef = MultimapTableDefinition::new("member_groups");
/// The audit log: `<time key>/<uuid v7>` → entry as serde_json bytes. Keys sort by time, so
/// retention is one range delete and listings by time are ranges.
pub(super) const AUDIT: RecordDef = TableDefinition::new("audit");
/// Store-wide settings: `schema_version`.
pub(super) const META: TableDefinition<'static, &'static str, &'static str> =
    TableDefinition::new("meta");

/// The key in `META` holding the layout version of the file.
pub(super) const SCHEMA_VERSION_KEY: &str = "schema_version";
/// The layout version this build writes and understands.
///
/// 2 adds the `meta.lastModified` indexes; a version-1 file is upgraded in place when opened.
pub(super) const SCHEMA_VERSION: u64 = 2;

/// The primary table of `kind`.
pub(super) fn records(kind: Kind) -> RecordDef {
    match kind {
        Kind::User => USERS,
        Kind::Group => GROUPS,
    }
}

/// The externalId index of `kind`: externalId is unique per resource type at most, so each type
/// has its own index.
pub(super) fn external_ids(kind: Kind) -> MultiDef {
    match kind {
        Kind::User => IDX_USER_EXTERNAL_ID,
        Kind::Group => IDX_GROUP_EXTERNAL_ID,
    }
}

/// The lastModified index of `kind`.
pub(super) fn modified(kind: Kind) -> MultiDef {
    match kind {
        Kind::User => IDX_USER_MODIFIED,
        Kind::Group => IDX_GROUP_MODIFIED,
    }
}
