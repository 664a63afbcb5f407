//! Offline compaction: giving a store file's free space back to the filesystem.
//!
//! redb reuses the pages that deletes and copy-on-write free, and an ordinary commit shrinks the
//! file only by the free pages at its very end: free space anywhere else stays in the file, so a
//! store that once held more (a purge of leavers, a shortened audit retention, a load test) keeps
//! most of the size it had. redb's `Database::compact` moves the live pages towards the start
//! of the file and truncates it, in place, through its own two-phase commits: a crash part-way
//! leaves a consistent store, which its next open may have to repair without quick repair's help
//! (compaction does not save the allocator state that quick repair reads).

use std::path::Path;
use std::time::{Duration, Instant};

use redb::{CompactionError, ReadableDatabase};

use super::backup::{check_layout, database_error, io_error};
use super::verify::{self, VerifyReport};
use super::{builder, StoreError};

/// What [`compact`] did.
#[derive(Debug)]
pub struct Compacted {
    /// The file's size before, in bytes.
    pub bytes_before: u64,
    /// The file's size after, in bytes.
    pub bytes_after: u64,
    /// How long moving the pages took.
    pub took: Duration,
    /// The check of the compacted store.
    pub report: VerifyReport,
    /// How long the check took.
    pub verify_took: Duration,
}

/// Compacts the store at `path`, which no server may have open, then verifies it.
///
/// Opening it as the writer proves that no server runs ([`StoreError::AlreadyOpen`]). A process
/// inside a read snapshot of it (`db backup`, `db stats`, `export`) is refused too
/// ([`StoreError::BeingRead`]): compaction must not move pages from under a reader. A file of
/// another layout version is refused as [`ReadOnlyStore::open`](super::ReadOnlyStore::open)
/// refuses it. A refused compaction leaves every record as it was; the file's bytes may still
/// differ, since redb rewrites its header whenever a writer opens and closes it.
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
    let mut db = builder().open(path).map_err(|e| database_error(path, e))?;
    check_layout(&db.begin_read()?, path)?;
    let started = Instant::now();
    // One call: redb repeats its passes until nothing more moves, and says whether anything did.
    db.compact().map_err(|e| match e {
        CompactionError::TransactionInProgress => StoreError::BeingRead {
            path: path.to_path_buf(),
        },
        e => StoreError::Db(Box::new(e.into())),
    })?;
    let took = started.elapsed();
    let started = Instant::now();
    let report = verify::verify(&db.begin_read()?)?;
    let verify_took = started.elapsed();
    drop(db);
    Ok(Compacted {
        bytes_before,
        bytes_after: size("cannot read its size after compacting")?,
        took,
        report,
        verify_took,
    })
}
