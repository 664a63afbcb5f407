//! Online backup, statistics and restore.
//!
//! The server opens its file as redb's single writer in [`ConcurrencyMode::SingleWriter`] (see
//! [`Store::open`](super::Store::open)), which lets other processes open the same file read-only
//! at the same time and read consistent MVCC snapshots of it: redb's byte-range locks keep the
//! writer from reusing pages a reader's snapshot still needs. [`ReadOnlyStore`] is such a handle,
//! so `db backup`, `db stats` and `export` run beside a live server; `db restore` replaces the
//! file and so still needs the server stopped, which the writer lock proves.
//!
//! A backup is a logical copy: every table is copied from one read snapshot into a new redb
//! file, committed durably and verified before it is renamed into place. Copying the file's
//! bytes instead would not be safe while the writer runs (it rewrites the header and reuses
//! freed pages), and a logical copy also leaves the free space of the original behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use redb::{
    Database, Key, MultimapTableDefinition, MultimapTableHandle, ReadOnlyDatabase, ReadTransaction,
    ReadableDatabase, ReadableMultimapTable, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle, Value as RedbValue, WriteTransaction,
};

use super::tables;
use super::verify::{self, VerifyReport};
use super::{builder, create_private, ReadTx, Store, StoreError};

/// A read-only handle on a store file, usable while a server has it open for writing.
pub struct ReadOnlyStore {
    db: ReadOnlyDatabase,
    path: PathBuf,
}

impl std::fmt::Debug for ReadOnlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyStore")
            .field("path", &self.path)
            .finish()
    }
}

/// What `db stats` shows: counts from one snapshot, and the file's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// User records.
    pub users: u64,
    /// Group records.
    pub groups: u64,
    /// Membership edges (entries of `group_members`).
    pub memberships: u64,
    /// Entries in the six attribute indexes together.
    pub index_entries: u64,
    /// The file's size in bytes, free space included.
    pub file_bytes: u64,
    /// The layout version recorded in the file.
    pub schema_version: u64,
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The check of the installed copy.
    pub report: VerifyReport,
    /// Where the replaced store was kept, if there was one.
    pub previous: Option<PathBuf>,
}

pub(super) fn open_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(e.into()),
    }
}

/// Why redb could not open `path`: another process holding it is told apart, since every
/// command has its own advice for that.
pub(super) fn database_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
            path: path.to_path_buf(),
        },
        e => open_error(path, e),
    }
}

/// The layout version recorded in the file.
fn schema_version(txn: &ReadTransaction, path: &Path) -> Result<u64, StoreError> {
    let meta = match txn.open_table(tables::META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Err(StoreError::Corrupt(format!(
                "{}: no meta table; this is not a scimd store",
                path.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let v = meta
        .get(tables::SCHEMA_VERSION_KEY)?
        .map(|v| v.value().to_owned())
        .unwrap_or_default();
    v.parse().map_err(|_| {
        StoreError::Corrupt(format!("{}: unknown schema_version {v:?}", path.display()))
    })
}

/// Refuses a file of another layout version, without writing: an older one is upgraded only
/// by a writer (starting scimd once does it), a newer one needs the newer scimd.
pub(super) fn check_layout(txn: &ReadTransaction, path: &Path) -> Result<(), StoreError> {
    let found = schema_version(txn, path)?;
    if found > tables::SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchemaVersion {
            path: path.to_path_buf(),
            found: found.to_string(),
            supported: tables::SCHEMA_VERSION,
        });
    }
    if found < tables::SCHEMA_VERSION {
        return Err(io_error(
            path,
            &format!(
                "it has the older layout version {found}; start scimd on it once (or run \
                 `scimd db verify`), which upgrades it in place, then retry"
            ),
            std::io::ErrorKind::InvalidData.into(),
        ));
    }
    Ok(())
}

/// An I/O failure on `path`, in the store's error type.
pub(super) fn io_error(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    let e = std::io::Error::new(e.kind(), format!("{what}: {e}"));
    open_error(path, redb::Error::Io(e))
}

impl ReadOnlyStore {
    /// Opens an existing store file read-only; a server may have it open for writing.
    ///
    /// Refuses a file of another layout version: an older one is upgraded only by a writer
    /// (starting scimd once does it), a newer one needs the newer scimd.
    pub fn open(path: &Path) -> Result<ReadOnlyStore, StoreError> {
        if !path.is_file() {
            return Err(io_error(
                path,
                "no store file here",
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        let db = builder()
            .open_read_only(path)
            .map_err(|e| database_error(path, e))?;
        check_layout(&db.begin_read()?, path)?;
        Ok(ReadOnlyStore {
            db,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begins a read-only snapshot, as [`Store::read`] does.
    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx {
            txn: std::sync::Arc::new(self.db.begin_read()?),
        })
    }

    /// [`Store::verify`] on one snapshot of this file.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        verify::verify(&self.db.begin_read()?)
    }

    /// Counts from one snapshot; O(1) per table.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let txn = self.db.begin_read()?;
        let (users, groups, memberships, index_entries) = counts(&txn)?;
        let file_bytes = std::fs::metadata(&self.path)
            .map_err(|e| io_error(&self.path, "cannot read its size", e))?
            .len();
        Ok(Stats {
            users,
            groups,
            memberships,
            index_entries,
            file_bytes,
            schema_version: schema_version(&txn, &self.path)?,
        })
    }

    /// Writes a consistent copy of one snapshot to `dest`, which must not exist yet.
    ///
    /// Every write committed before this is called is in the copy (commits are durable before
    /// they are acknowledged, and the snapshot is taken here). The copy is written to a
    /// temporary file beside `dest`, committed with fsync, verified, and only then renamed to
    /// `dest`; on any failure `dest` does not appear. Returns the copy's verification report.
    pub fn backup_to(&self, dest: &Path) -> Result<VerifyReport, StoreError> {
        // One snapshot for the whole copy: that is what makes it consistent.
        let src = self.db.begin_read()?;
        copy_snapshot(&src, dest)
    }
}

/// `(users, groups, memberships, index entries)` of a snapshot.
fn counts(txn: &ReadTransaction) -> Result<(u64, u64, u64, u64), StoreError> {
    let mut index_entries = txn.open_table(tables::IDX_USER_NAME)?.len()?;
    for def in [
        tables::IDX_USER_EXTERNAL_ID,
        tables::IDX_GROUP_EXTERNAL_ID,
        tables::IDX_GROUP_DISPLAY_NAME,
        tables::IDX_USER_MODIFIED,
        tables::IDX_GROUP_MODIFIED,
    ] {
        index_entries += txn.open_multimap_table(def)?.len()?;
    }
    Ok((
        txn.open_table(tables::USERS)?.len()?,
        txn.open_table(tables::GROUPS)?.len()?,
        txn.open_multimap_table(tables::GROUP_MEMBERS)?.len()?,
        index_entries,
    ))
}

/// Copies `src` into a new file at `dest` (see [`ReadOnlyStore::backup_to`]).
fn copy_snapshot(src: &ReadTransaction, dest: &Path) -> Result<VerifyReport, StoreError> {
    if dest.exists() {
        return Err(io_error(
            dest,
            "it already exists (a backup never overwrites a file); choose a new name",
            std::io::ErrorKind::AlreadyExists.into(),
        ));
    }
    let tmp = partial_path(dest);
    // A leftover from an interrupted run of this same process id is ours to replace.
    let _ = std::fs::remove_file(&tmp);
    let outcome = (|| {
        create_private(&tmp).map_err(|e| io_error(&tmp, "cannot create it", e))?;
        // The whole copy is one transaction; redb's own 1 GiB cache would let it buffer that
        // much beside the running server.
        let db = Database::builder()
            .set_cache_size(super::mib_to_bytes(super::DEFAULT_CACHE_MIB))
            .create(&tmp)
            .map_err(|e| open_error(&tmp, e))?;
        let txn = db.begin_write()?;
        copy_tables(src, &txn)?;
        // Durability::Immediate (the default): the commit returns after an fsync.
        txn.commit()?;
        let report = verify::verify(&db.begin_read()?)?;
        if !report.is_healthy() {
            return Err(StoreError::Corrupt(format!(
                "the copy has {} problem(s), first: {}; run `scimd db verify` on the store",
                report.problem_count,
                report.problems.first().map(String::as_str).unwrap_or("?")
            )));
        }
        let expected = counts(src)?;
        let got = (
            report.users,
            report.groups,
            report.memberships,
            report.index_entries,
        );
        if got != expected {
            return Err(StoreError::Corrupt(format!(
                "the copy holds {got:?} (users, groups, memberships, index entries) but the \
                 snapshot held {expected:?}"
            )));
        }
        drop(db);
        std::fs::rename(&tmp, dest).map_err(|e| io_error(dest, "cannot rename the copy", e))?;
        sync_parent(dest)?;
        Ok(report)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome
}

/// Every table of the layout, copied from `src` into `dst`. A table in `src` that is not in
/// this list is refused rather than silently left out: whoever adds a table to `tables.rs`
/// adds it here too, and the backup tests fail until they do.
fn copy_tables(src: &ReadTransaction, dst: &WriteTransaction) -> Result<(), StoreError> {
    let mut copied: Vec<String> = Vec::new();
    copied.push(copy_table(src, dst, tables::META)?);
    for def in [tables::USERS, tables::GROUPS, tables::AUDIT] {
        copied.push(copy_table(src, dst, def)?);
    }
    copied.push(copy_table(src, dst, tables::IDX_USER_NAME)?);
    for def in [
        tables::IDX_USER_EXTERNAL_ID,
        tables::IDX_GROUP_EXTERNAL_ID,
        tables::IDX_GROUP_DISPLAY_NAME,
        tables::IDX_USER_MODIFIED,
        tables::IDX_GROUP_MODIFIED,
        tables::GROUP_MEMBERS,
        tables::MEMBER_GROUPS,
    ] {
        copied.push(copy_multimap(src, dst, def)?);
    }
    let mut unknown: Vec<String> = src
        .list_tables()?
        .map(|t| t.name().to_string())
        .chain(src.list_multimap_tables()?.map(|t| t.name().to_string()))
        .filter(|name| !copied.contains(name))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(StoreError::Corrupt(format!(
            "the store has table(s) this scimd does not know how to copy: {}",
            unknown.join(", ")
        )));
    }
    Ok(())
}

fn copy_table<K: Key + 'static, V: RedbValue + 'static>(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<'static, K, V>,
) -> Result<String, StoreError> {
    let from = src.open_table(def)?;
    let mut to = dst.open_table(def)?;
    for entry in from.iter()? {
        let (k, v) = entry?;
        to.insert(k.value(), v.value())?;
    }
    Ok(def.name().to_string())
}

fn copy_multimap<K: Key + 'static, V: Key + 'static>(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: MultimapTableDefinition<'static, K, V>,
) -> Result<String, StoreError> {
    let from = src.open_multimap_table(def)?;
    let mut to = dst.open_multimap_table(def)?;
    for entry in from.iter()? {
        let (k, values) = entry?;
        for v in values {
            to.insert(k.value(), v?.value())?;
        }
    }
    Ok(def.name().to_string())
}

/// `dest` with `.partial-<pid>` appended: beside it, so the final rename stays on one file
/// system and is atomic.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    dest.with_file_name(name)
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync the directory", e))?;
    #[cfg(not(unix))]
    let _ = (dir, File::open);
    Ok(())
}

/// Installs the backup `from` as the store at `live`.
///
/// The backup is opened read-only and verified first. The live store is then opened as the
/// writer, which fails with [`StoreError::AlreadyOpen`] while a server runs, and held until
/// the swap is done so no server can start in between. The backup is copied (and verified
/// again) beside `live`; the current file is kept as `<live>.before-restore-<UTC time>` (a
/// hard link, so `live` never goes missing), and the copy is renamed over `live` atomically.
pub fn restore(from: &Path, live: &Path) -> Result<Restored, StoreError> {
    let backup = ReadOnlyStore::open(from)?;
    let check = backup.verify()?;
    if !check.is_healthy() {
        return Err(StoreError::Corrupt(format!(
            "the backup {} has {} problem(s), first: {}; it was not installed",
            from.display(),
            check.problem_count,
            check.problems.first().map(String::as_str).unwrap_or("?")
        )));
    }
    let held = if live.exists() {
        Some(Store::open(live)?)
    } else {
        None
    };
    let staged = {
        let mut name = live.file_name().unwrap_or_default().to_os_string();
        name.push(".restoring");
        live.with_file_name(name)
    };
    // Only an interrupted restore leaves this name; nothing else writes it.
    let _ = std::fs::remove_file(&staged);
    let report = backup.backup_to(&staged)?;
    drop(backup);
    // The service runs as its own user: a restore run as root must not leave it a file it
    // cannot open. The copy takes the owner and mode of the file it replaces.
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(live) {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::fs::PermissionsExt;
        let owned =
            std::os::unix::fs::chown(&staged, Some(meta.uid()), Some(meta.gid())).and_then(|()| {
                std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(meta.mode()))
            });
        if let Err(e) = owned {
            let _ = std::fs::remove_file(&staged);
            return Err(io_error(
                &staged,
                "cannot give the restored copy the store's owner",
                e,
            ));
        }
    }
    let previous = match &held {
        Some(_) => {
            let stamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .unwrap_or_else(|_| "unknown-time".to_string());
            let mut name = live.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".before-restore-{stamp}"));
            let keep = live.with_file_name(name);
            if let Err(e) = std::fs::hard_link(live, &keep) {
                let _ = std::fs::remove_file(&staged);
                return Err(io_error(&keep, "cannot keep the current store", e));
            }
            Some(keep)
        }
        None => None,
    };
    if let Err(e) = std::fs::rename(&staged, live) {
        let _ = std::fs::remove_file(&staged);
        return Err(io_error(live, "cannot install the restored copy", e));
    }
    sync_parent(live)?;
    // The lock was on the replaced file; releasing it only now keeps a server from opening the
    // old file between the checks and the rename.
    drop(held);
    Ok(Restored { report, previous })
}
