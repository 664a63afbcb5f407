//! Moving a directory between servers: export to, and import from, SCIM JSON Lines.
//!
//! The file holds one resource per line, Users first, then Groups, each as canonical JSON (the
//! stored document, compact, keys in schema order). Groups carry their direct members as
//! `members: [{"value": id, "type": "User"|"Group"}]`; `User.groups` is derived from those and
//! left out. Nothing `returned: never` (password) is ever written.
//!
//! Import checks the whole file before it writes anything (see `import.rs`): an admin moving a
//! directory wants all of it or a list of what to fix, not a partial copy whose missing part
//! has to be found afterwards.

mod import;

use std::io::Write;

use serde_json::{json, Value};

use super::{store_kind, DirError};
use crate::scim::schema::Returned;
use crate::scim::{Registry, ResourceKind};
use crate::store::{Kind, ReadTx, StoreError};

/// How much an export or an import moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transferred {
    pub users: u64,
    pub groups: u64,
    /// Membership edges.
    pub memberships: u64,
    /// Imported resources whose id was kept (a UUID not already in use).
    pub ids_kept: u64,
    /// Imported resources that got a new id.
    pub ids_assigned: u64,
}

/// One refused line of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number in the input.
    pub line: usize,
    pub reason: String,
}

/// Why an export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Some lines were refused; nothing was imported.
    #[error("{} line(s) refused; nothing was imported", .0.len())]
    Rejected(Vec<Rejection>),
    /// The whole file was checked and accepted, but writing it stopped part-way; the chunks
    /// committed before stay (see `import.rs` for why an import is written in chunks).
    #[error(
        "the import stopped after {} users and {} groups were written: {reason}",
        .imported.users, .imported.groups
    )]
    Interrupted {
        imported: Transferred,
        /// Resources (or edges) per transaction.
        chunk: usize,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The directory failed in a way that is not the input's fault (logged with its cause).
    #[error("the import failed: {0}")]
    Failed(String),
}

impl From<DirError> for TransferError {
    // Only storage failures reach here as DirError: refusals are collected as rejections.
    fn from(e: DirError) -> Self {
        TransferError::Failed(e.0.detail)
    }
}

/// Writes every User, then every Group, of one snapshot as JSON Lines.
pub fn export(
    reg: &Registry,
    tx: &ReadTx,
    out: &mut dyn Write,
) -> Result<Transferred, TransferError> {
    let mut counts = Transferred::default();
    let mut failure: Option<std::io::Error> = None;
    for kind in [ResourceKind::User, ResourceKind::Group] {
        tx.scan(store_kind(kind), None, &mut |id, mut doc| {
            strip_never(reg, kind, &mut doc);
            if kind == ResourceKind::Group {
                let members = tx.members(id)?;
                counts.memberships += members.len() as u64;
                if !members.is_empty() {
                    let mut list = Vec::with_capacity(members.len());
                    for mid in members {
                        let ty = if tx.exists(Kind::User, &mid)? {
                            "User"
                        } else {
                            "Group"
                        };
                        list.push(json!({"value": mid, "type": ty}));
                    }
                    if let Value::Object(obj) = &mut doc {
                        let meta = obj.remove("meta");
                        obj.insert("members".into(), Value::Array(list));
                        if let Some(m) = meta {
                            obj.insert("meta".into(), m);
                        }
                    }
                }
                counts.groups += 1;
            } else {
                counts.users += 1;
            }
            let mut line = doc.to_string();
            line.push('\n');
            match out.write_all(line.as_bytes()) {
                Ok(()) => Ok(true),
                Err(e) => {
                    failure = Some(e);
                    Ok(false)
                }
            }
        })?;
        if let Some(e) = failure.take() {
            return Err(e.into());
        }
    }
    out.flush()?;
    Ok(counts)
}

/// Removes core `returned: never` attributes (password), which are never stored today; this
/// keeps any an older version stored out of the file. Declared extension attributes that are
/// never *returned* but are stored (a readWrite PIN) stay: an export is a migration, and
/// dropping them would lose data silently. The file is owner-only.
fn strip_never(reg: &Registry, kind: ResourceKind, doc: &mut Value) {
    let Value::Object(obj) = doc else { return };
    for attr in reg.top_level(kind) {
        if attr.returned == Returned::Never {
            obj.remove(&attr.name);
        }
    }
}
