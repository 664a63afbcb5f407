//! Offline compaction: giving a store file's free space back to the filesystem.
//!
//! redb reuses the pages that deletes and copy-on-write free, but never shrinks its file: a
//! store that once held more (a purge of leavers, a shortened audit retention, a load test) keeps
//! the size it had. redb's `Database::compact` moves the live pages towards the start of the file
//! and truncates it, in place, through its own two-phase commits: a crash part-way leaves a
//! consistent store, which its next open may have to repair without quick repair's help
//! (compaction does not save the allocator state that quick repair reads).

use std::path::Path;

use redb::{CompactionError, ReadableDatabase};

use super::backup::{io_error, open_error};
use super::verify::{self, VerifyReport};
use super::{builder, init, StoreError};

/// What [`compact`] did.
#[derive(Debug)]
pub struct Compacted {
    /// The file's size before, in bytes.
    pub bytes_before: u64,
    /// The file's size after, in bytes.
    pub bytes_after: u64,
    /// The check of the compacted store.
    pub report: VerifyReport,
}

/// Compacts the store at `path`, which no server may have open, then verifies it.
///
/// Opening it as the writer proves that no server runs ([`StoreError::AlreadyOpen`]). A process
/// reading it at the time (`db backup`, `db stats`, `export`) is refused too: compaction must
/// not move pages under a reader's snapshot. A file of an older layout is upgraded first, as
/// starting the server would; a newer one is refused.
pub fn compact(path: &Path) -> Result<Compacted, StoreError> {
    let size = |what| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| io_error(path, what, e))
    };
    if !path.is_file() {
        return Err(io_error(
            path,
            "no store file here",
            std::io::ErrorKind::NotFound.into(),
        ));
    }
    let bytes_before = size("cannot read its size")?;
    let mut db = builder().open(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
            path: path.to_path_buf(),
        },
        e => open_error(path, e),
    })?;
    init(&db, path)?;
    // Each call moves what one pass can; it says when a pass found nothing left to move.
    loop {
        match db.compact() {
            Ok(true) => {}
            Ok(false) => break,
            Err(CompactionError::TransactionInProgress) => {
                return Err(open_error(
                    path,
                    std::io::Error::other(
                        "another process is reading it (a `db backup`, `db stats` or `export`); \
                         compact once it has finished",
                    ),
                ))
            }
            Err(e) => return Err(open_error(path, e)),
        }
    }
    let report = verify::verify(&db.begin_read()?)?;
    drop(db);
    Ok(Compacted {
        bytes_before,
        bytes_after: size("cannot read its size after compacting")?,
        report,
    })
}
