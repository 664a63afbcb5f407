//! The storage layer: records, secondary indexes and group membership in one redb file.
//!
//! The store knows stored records (canonical SCIM JSON objects) and the index keys derived from
//! them; it knows nothing of HTTP or SCIM rules. Each [`Store::write`] is one redb transaction:
//! a record, its index entries and its membership edges commit together or not at all.
//!
//! Layout (see `tables.rs`): `users` and `groups` map id → JSON bytes; `idx_user_name`
//! (lower-cased, unique), `idx_user_external_id`, `idx_group_external_id` and
//! `idx_group_display_name` (lower-cased) map keys to ids; `group_members` and `member_groups`
//! hold each membership edge in both directions, so adding a member costs O(log n) whatever the
//! group's size and a user's groups are found without scanning; `meta` holds `schema_version`.

mod backup;
mod error;
mod query;
mod read;
mod record;
mod tables;
mod verify;
mod write;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{Builder, ConcurrencyMode, Database, ReadableDatabase, ReadableTable};

pub use backup::{restore, ReadOnlyStore, Restored, Stats};
pub use error::StoreError;
pub use read::ReadTx;
pub use record::time_key;
pub use verify::{VerifyReport, MAX_REPORTED_PROBLEMS};
pub use write::WriteTx;

/// The two resource types the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A SCIM User.
    User,
    /// A SCIM Group.
    Group,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::User => "User",
            Kind::Group => "Group",
        })
    }
}

/// Called with the duration of each committed write transaction (see [`Store::observe_commits`]).
type CommitObserver = Box<dyn Fn(Duration) + Send + Sync>;

/// An open store: one redb database file, held exclusively by this process.
pub struct Store {
    db: Database,
    path: PathBuf,
    on_commit: Option<CommitObserver>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file if it does not exist (its directory must).
    ///
    /// All tables are created here, in one write transaction, so that reads never meet a missing
    /// table. A file written by a newer scimd (higher `schema_version`) is refused, as is a file
    /// another process has open.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, None)
    }

    /// [`Store::open`] with redb's page cache capped at `cache_bytes` (`None`: redb's default).
    /// The cache is what a large directory's resident memory is made of; a smaller one trades
    /// memory for reads from the OS page cache.
    pub fn open_with_cache(path: &Path, cache_bytes: Option<usize>) -> Result<Store, StoreError> {
        create_private(path).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(redb::Error::Io(e)),
        })?;
        let mut b = builder();
        if let Some(bytes) = cache_bytes {
            b.set_cache_size(bytes);
        }
        let db = b.create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                path: path.to_path_buf(),
            },
            e => StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e.into()),
            },
        })?;
        init(&db, path)?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
            on_commit: None,
        })
    }

    /// Calls `f` after every committed [`Store::write`] with how long the transaction took, from
    /// acquiring the write lock to the end of its durable commit (fsync included); waiting for
    /// the lock and aborted transactions are not counted. Every write goes through
    /// [`Store::write`], so this one hook sees them all (the metrics use it).
    pub fn observe_commits(&mut self, f: impl Fn(Duration) + Send + Sync + 'static) {
        self.on_commit = Some(Box::new(f));
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Begins a read-only snapshot. Keep it short-lived (see [`ReadTx`]).
    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx {
            txn: self.db.begin_read()?,
        })
    }

    /// Runs `f` in one write transaction: if it returns `Ok` the transaction commits durably
    /// (redb's default `Durability::Immediate`, one fsync) before this returns; if it returns
    /// `Err` the transaction is aborted and nothing `f` did is persisted.
    ///
    /// Only one write transaction exists at a time; this blocks until the previous one ends.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let started = Instant::now();
        // The tables borrow `txn`; they must be closed (dropped) before it can commit, which the
        // end of this block does.
        let outcome = match WriteTx::open(&txn) {
            Ok(mut w) => f(&mut w),
            Err(e) => Err(E::from(e)),
        };
        match outcome {
            Ok(value) => {
                txn.commit().map_err(StoreError::from)?;
                if let Some(observe) = &self.on_commit {
                    observe(started.elapsed());
                }
                Ok(value)
            }
            Err(e) => {
                // An abort that fails still persists nothing: the commit never happened, and
                // dropping the transaction rolls back too. The caller's error is the one to report.
                let _ = txn.abort();
                Err(e)
            }
        }
    }

    /// Proves the store can take a write right now: begins a write transaction and aborts it.
    ///
    /// Nothing is written and nothing is fsynced, so a readiness probe can call this often. It
    /// waits for a write in progress to finish (redb has one writer), which is what a client
    /// would wait for too.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.abort()?;
        Ok(())
    }

    /// Checks that every index entry points at a live record whose derived key matches, every
    /// record's keys are indexed, userName is unique, `group_members` and `member_groups` are
    /// exact mirrors and every membership endpoint exists. Reads one snapshot.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let txn = self.db.begin_read()?;
        verify::verify(&txn)
    }
}

/// The audit-log key of an entry written at `time` (RFC 3339): its [`time_key`], then a
/// UUIDv7 so entries written in the same nanosecond stay distinct and in order.
pub fn audit_key(time: &str) -> String {
    let t = time_key(time).unwrap_or_default();
    format!("{t}/{}", uuid::Uuid::now_v7())
}

/// How every scimd handle opens a store file. `SingleWriter`: one process (the server) writes,
/// and others may open the file read-only at the same time and read consistent snapshots, which
/// is what lets `db backup`, `db stats` and `export` run while the server does (see
/// `backup.rs`). A second writer is still refused, as with redb's default exclusive mode; the
/// mode needs byte-range locks, which Linux, macOS and Windows have.
fn builder() -> Builder {
    let mut b = Database::builder();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b
}

/// Creates the file, if it does not exist yet, readable by its owner only: it holds the
/// directory's personal data. redb initializes an empty file as a new database.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Checks or writes `schema_version`, then creates every table, all in one transaction.
fn init(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let mut upgrade = false;
    {
        // Version first: a newer layout may have tables of other types, which opening with ours
        // would report as a confusing type mismatch.
        let mut meta = txn.open_table(tables::META)?;
        let found = meta
            .get(tables::SCHEMA_VERSION_KEY)?
            .map(|v| v.value().to_owned());
        match found {
            None => {
                meta.insert(
                    tables::SCHEMA_VERSION_KEY,
                    tables::SCHEMA_VERSION.to_string().as_str(),
                )?;
            }
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n == tables::SCHEMA_VERSION => {}
                Ok(1) => upgrade = true,
                Ok(n) if n > tables::SCHEMA_VERSION => {
                    return Err(StoreError::UnsupportedSchemaVersion {
                        path: path.to_path_buf(),
                        found: v,
                        supported: tables::SCHEMA_VERSION,
                    })
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "{}: unknown schema_version {v:?}",
                        path.display()
                    )))
                }
            },
        }
    }
    // Opening a table in a write transaction creates it; the handles close at once.
    {
        let mut w = WriteTx::open(&txn)?;
        if upgrade {
            // Version 1 had no lastModified index: build it from the records, in the same
            // transaction that records version 2, so a crash leaves either layout whole.
            w.backfill_modified()?;
        }
    }
    if upgrade {
        let mut meta = txn.open_table(tables::META)?;
        meta.insert(
            tables::SCHEMA_VERSION_KEY,
            tables::SCHEMA_VERSION.to_string().as_str(),
        )?;
    }
    txn.commit()?;
    Ok(())
}
