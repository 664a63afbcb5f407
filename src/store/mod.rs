//! The storage layer: records, secondary indexes and group membership in one redb file.
//!
//! The store knows stored records (canonical SCIM JSON objects) and the index keys derived from
//! them; it knows nothing of HTTP or SCIM rules. Each [`Store::write`] is one operation of a
//! durable redb transaction that the writer thread shares among the operations waiting at the
//! same time (group commit, `writer.rs`): a record, its index entries and its membership edges
//! commit together or not at all.
//!
//! Layout (see `tables.rs`): `users` and `groups` map id → JSON bytes; `idx_user_name`
//! (lower-cased, unique), `idx_user_external_id`, `idx_group_external_id` and
//! `idx_group_display_name` (lower-cased) map keys to ids; `group_members` and `member_groups`
//! hold each membership edge in both directions, so adding a member costs O(log n) whatever the
//! group's size and a user's groups are found without scanning; `meta` holds `schema_version`.

mod backup;
mod compact;
mod error;
mod query;
mod read;
mod record;
mod tables;
#[cfg(test)]
pub(crate) mod testing;
mod verify;
mod write;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redb::{Builder, ConcurrencyMode, Database, ReadableDatabase, ReadableTable};

pub use backup::{restore, ReadOnlyStore, Restored, Stats};
pub use compact::{compact, Compacted};
pub use error::StoreError;
pub use read::ReadTx;
pub use record::time_key;
pub use verify::{VerifyReport, MAX_REPORTED_PROBLEMS};
pub use write::WriteTx;
pub use writer::{Batch, Ended, MAX_BATCH};

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

/// How many operations may wait for the writer before more are refused with
/// [`StoreError::Busy`]; `[storage] write_queue` when configured.
pub const DEFAULT_WRITE_QUEUE: usize = 256;

/// redb's page cache when `[storage] cache_mib` is not set, in MiB.
///
/// Not redb's own default (1 GiB): redb reads through the OS page cache, so its cache holds a
/// second copy of the pages it has read, and a larger one bought no measurable speed here:
/// deactivations, member adds, creates and lookups at 10,000 users and lookups at one million
/// ran as fast with 128 MiB as with 1 GiB, and `scimd import` of a million users as fast with
/// 64 to 256 MiB, while resident memory under lookups at one million was 206 MB instead of
/// 1,059 MB. Groups of hundreds of thousands of members are slower to read and change with
/// it (docs/PERFORMANCE.md, "The page cache's default").
pub const DEFAULT_CACHE_MIB: u32 = 128;

/// How a store is opened; [`Options::default`] is the default cache and queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// redb's page cache in bytes (see [`DEFAULT_CACHE_MIB`]).
    pub cache_bytes: usize,
    /// The writer's queue (see [`DEFAULT_WRITE_QUEUE`]); at least 1.
    pub write_queue: usize,
}

/// A cache size in MiB, as bytes (saturating: a 32-bit target cannot address more anyway).
pub fn mib_to_bytes(mib: u32) -> usize {
    usize::try_from(mib)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20)
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_bytes: mib_to_bytes(DEFAULT_CACHE_MIB),
            write_queue: DEFAULT_WRITE_QUEUE,
        }
    }
}

/// An open store: one redb database file, held exclusively by this process.
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    observer: Arc<RwLock<Option<writer::CommitObserver>>>,
    /// The snapshot reads share until the next commit, tagged with the commit count it holds.
    snapshot: Mutex<Option<(u64, Arc<redb::ReadTransaction>)>>,
    /// Declared last: dropped after nothing else can submit, it drains and joins the thread.
    writer: writer::Writer,
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
        Store::open_with(path, Options::default())
    }

    /// [`Store::open`] with these options. A smaller page cache (`cache_bytes`) trades memory
    /// for reads from the OS page cache: the cache is what a large directory's resident memory
    /// is made of.
    pub fn open_with(path: &Path, options: Options) -> Result<Store, StoreError> {
        create_private(path).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(redb::Error::Io(e)),
        })?;
        let mut b = builder();
        b.set_cache_size(options.cache_bytes);
        let db = b
            .create(path)
            .map_err(|e| backup::database_error(path, e))?;
        init(&db, path)?;
        let db = Arc::new(db);
        let observer = Arc::new(RwLock::new(None));
        let writer = writer::Writer::start(
            Arc::clone(&db),
            options.write_queue.max(1),
            Arc::clone(&observer),
        )?;
        Ok(Store {
            db,
            path: path.to_path_buf(),
            observer,
            snapshot: Mutex::new(None),
            writer,
        })
    }

    /// Calls `f` after every committed batch of writes (see [`Batch`]); waiting in the queue
    /// and aborted batches are not counted. Every write goes through the writer, so this one
    /// hook sees them all (the metrics use it).
    pub fn observe_batches(&self, f: impl Fn(&Batch) + Send + Sync + 'static) {
        if let Ok(mut slot) = self.observer.write() {
            *slot = Some(Arc::new(f));
        }
    }

    /// [`Store::observe_batches`] without the batch size.
    pub fn observe_commits(&mut self, f: impl Fn(Duration) + Send + Sync + 'static) {
        self.observe_batches(move |b| f(b.took));
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only snapshot that includes every write acknowledged so far. Keep it
    /// short-lived (see [`ReadTx`]).
    ///
    /// Reads between two commits share one snapshot: beginning a redb read transaction takes
    /// file locks (the `SingleWriter` mode that lets `db backup` read the live file), which
    /// was the largest single cost of a lookup. A snapshot is tagged with the writer's commit
    /// count read *before* it began, so it holds at least that commit; the writer counts a
    /// commit before it answers any of its writes, so a read that starts after an answer
    /// sees a higher count and begins a newer snapshot.
    pub fn read(&self) -> Result<ReadTx, StoreError> {
        let commits = self.writer.commits();
        let mut shared = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((tag, txn)) = shared.as_ref() {
            if *tag == commits {
                return Ok(ReadTx {
                    txn: Arc::clone(txn),
                });
            }
        }
        let txn = Arc::new(self.db.begin_read()?);
        *shared = Some((commits, Arc::clone(&txn)));
        Ok(ReadTx { txn })
    }

    /// Runs `f` as one operation of a durable write transaction and returns once that
    /// transaction has committed (redb's `Durability::Immediate`: an fsync). If `f` returns
    /// `Err` it must have written nothing (check, then write; see `write.rs`): the other
    /// operations of its batch still commit.
    ///
    /// `f` runs on the writer thread, after the operations queued before it, and sees their
    /// writes. A full queue is [`StoreError::Busy`] at once; a batch that fails to commit is
    /// [`StoreError::NotCommitted`] for each of its operations.
    pub fn write<T, E>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit(false, f).into_result()
    }

    /// [`Store::write`], telling apart a refusal from a failure and handing back what a failed
    /// operation returned, for callers that reserved something for it outside the store.
    pub fn write_ended<T, E>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Ended<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.writer.submit(false, f)
    }

    /// [`Store::write_ended`] for async callers (see [`Writer::submit_async`]): the answer is
    /// awaited instead of waited for on a blocking thread.
    ///
    /// [`Writer::submit_async`]: writer::Writer::submit_async
    pub fn write_ended_async<T, E>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    ) -> impl std::future::Future<Output = Ended<T, E>> + Send + 'static
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        self.writer.submit_async(false, f)
    }

    /// [`Store::write`] in a transaction of its own, for an all-or-nothing operation that may
    /// refuse after it has written (an import): its `Err` aborts everything it did. It waits
    /// for the batch before it and delays the one after, so keep it for such operations.
    pub fn write_alone<T, E>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.submit(true, f).into_result()
    }

    /// How many writes are queued for the writer right now (at most the queue's capacity).
    pub fn queued_writes(&self) -> usize {
        self.writer.waiting()
    }

    /// Proves the store can take a write right now: the writer thread is running, and a write
    /// transaction can begin (it is aborted at once).
    ///
    /// Nothing is written and nothing is fsynced, so a readiness probe can call this often. It
    /// waits for a batch in progress to finish (redb has one writer), which is what a client
    /// would wait for too.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::WriterStopped);
        }
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
///
/// The page cache starts at [`DEFAULT_CACHE_MIB`] for every handle (and the backup's new file
/// sets the same), so that a `db backup` beside the server or a compaction does not take
/// redb's own 1 GiB; the server sets its configured size over it.
fn builder() -> Builder {
    let mut b = Database::builder();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b.set_cache_size(mib_to_bytes(DEFAULT_CACHE_MIB));
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
