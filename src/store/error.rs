//! The one error type of the store.

use std::path::PathBuf;

/// Everything a store operation can refuse or fail with.
///
/// The first variants are logical outcomes the caller is expected to turn into SCIM responses
/// (404, 409); the rest are operational failures (corruption, I/O, a second process) that the
/// caller reports as a server error, with this type's message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record named by the operation does not exist.
    #[error("no such record")]
    NotFound,
    /// A record with this id already exists.
    #[error("a record with this id already exists")]
    AlreadyExists,
    /// Another user already holds this userName (compared case-insensitively).
    #[error("userName {user_name:?} is already taken by user {existing_id}")]
    UserNameTaken {
        /// The userName that was asked for, as given.
        user_name: String,
        /// The id of the user that holds it.
        existing_id: String,
    },
    /// The record handed to the store cannot be stored: it is not a JSON object, or an indexed
    /// attribute (userName, externalId, displayName) is not a string.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// Another process (or another `Store` in this one) holds the database file.
    #[error(
        "the store {} is already open in another scimd process; stop that process \
         (or use a different data directory) and try again",
        path.display()
    )]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// Another process is inside a read snapshot of the file (`db backup`, `db stats`,
    /// `export`), which an operation that moves pages (compaction) must not pull them from under.
    #[error(
        "another process is reading the store {} (a `scimd db backup`, `db stats` or `export`); \
         try again once it has finished",
        path.display()
    )]
    BeingRead {
        /// The database file.
        path: PathBuf,
    },
    /// The database file was written by a newer scimd whose layout this build does not know.
    #[error(
        "the store {} has schema version {found}, but this scimd understands only version \
         {supported}; run the scimd release that wrote it (or a newer one)",
        path.display()
    )]
    UnsupportedSchemaVersion {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: String,
        /// The newest version this build understands.
        supported: u64,
    },
    /// The database file could not be opened or created.
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What redb (or the OS) reported.
        #[source]
        source: Box<redb::Error>,
    },
    /// Stored data does not decode, or the meta table holds something this build cannot read.
    #[error("the store is corrupt: {0}; run `scimd db verify` and restore from a backup")]
    Corrupt(String),
    /// A database or I/O error from redb.
    #[error("store database error: {0}")]
    Db(#[source] Box<redb::Error>),
    /// The writer's queue is full: more writes are waiting than it takes at once. Nothing was
    /// done; the client should retry shortly.
    #[error("{waiting} writes are already waiting for the store; this one was not queued")]
    Busy {
        /// The queue's capacity.
        waiting: usize,
    },
    /// The operation's own part succeeded, but the transaction it shared with other writes did
    /// not commit, so nothing of it was stored. The writer logs the cause once for the batch.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    /// The writer thread has stopped (the store is closing, or the thread died).
    #[error("the store's writer has stopped")]
    WriterStopped,
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Db(Box::new(e))
    }
}

/// The specific redb error types all fold into `redb::Error`, so `?` works on every redb call.
macro_rules! from_redb {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);
