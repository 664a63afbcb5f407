//! `scimd db backup | restore | stats | compact`.

use std::path::Path;

use scimd::store::{self, ReadOnlyStore, StoreError, VerifyReport};

use super::{store_failure, StoreLocation};
use crate::Failure;

/// Opens the store read-only, beside a running server if there is one.
pub(crate) fn open_read_only(path: &Path) -> Result<ReadOnlyStore, Failure> {
    ReadOnlyStore::open(path).map_err(|e| match e {
        // This scimd's server shares the file with readers; only an exclusive holder (a scimd
        // from before online backup, or another tool) refuses them.
        StoreError::AlreadyOpen { .. } => Failure::Runtime(format!(
            "{} is held exclusively by another process (a scimd older than this one?); \
             stop it, or upgrade it, and retry",
            path.display()
        )),
        e => store_failure(path, e),
    })
}

/// `db backup FILE`: a verified copy of one consistent snapshot, taken while the server runs.
pub fn backup(at: &StoreLocation, dest: &Path) -> Result<(), Failure> {
    let (path, _) = at.existing_store()?;
    if dest.exists() {
        return Err(Failure::Config(format!(
            "{} already exists; a backup never overwrites a file, choose a new name",
            dest.display()
        )));
    }
    let source = open_read_only(&path)?;
    let report = source.backup_to(dest).map_err(|e| store_failure(dest, e))?;
    println!(
        "Backed up {} to {}: {} users, {} groups, {} membership edges, {} index entries; \
         verified OK",
        path.display(),
        dest.display(),
        report.users,
        report.groups,
        report.memberships,
        report.index_entries
    );
    Ok(())
}

/// `db restore FILE`: installs a verified backup in place of the (stopped) store.
pub fn restore(at: &StoreLocation, from: &Path) -> Result<(), Failure> {
    let (live, _) = at.resolve()?;
    if !from.is_file() {
        return Err(Failure::Config(format!(
            "there is no backup file at {}",
            from.display()
        )));
    }
    let done = store::restore(from, &live).map_err(|e| match e {
        StoreError::AlreadyOpen { .. } => Failure::Runtime(format!(
            "{} is in use by a running scimd; stop it first (e.g. `systemctl stop scimd`), \
             restore, then start it again. Nothing was changed",
            live.display()
        )),
        e => Failure::Runtime(format!("restore refused, nothing was changed: {e}")),
    })?;
    let r = &done.report;
    println!(
        "Restored {} from {}: {} users, {} groups, {} membership edges; verified OK",
        live.display(),
        from.display(),
        r.users,
        r.groups,
        r.memberships
    );
    match &done.previous {
        Some(p) => println!("The previous store is kept as {}", p.display()),
        None => println!("There was no previous store."),
    }
    Ok(())
}

/// `db stats`: counts and sizes from one snapshot; works while the server runs.
pub fn stats(at: &StoreLocation) -> Result<(), Failure> {
    let (path, _) = at.existing_store()?;
    let s = open_read_only(&path)?
        .stats()
        .map_err(|e| store_failure(&path, e))?;
    println!("store:          {}", path.display());
    println!("schema version: {}", s.schema_version);
    println!("file size:      {} bytes", s.file_bytes);
    println!("users:          {}", s.users);
    println!("groups:         {}", s.groups);
    println!("memberships:    {}", s.memberships);
    println!("index entries:  {}", s.index_entries);
    Ok(())
}

/// `db compact`: gives the (stopped) store's free space back to the filesystem, then verifies.
pub fn compact(at: &StoreLocation) -> Result<(), Failure> {
    let (path, _) = at.existing_store()?;
    let done = store::compact(&path).map_err(|e| match e {
        StoreError::AlreadyOpen { .. } => Failure::Runtime(format!(
            "{} is in use by a running scimd; stop it first (e.g. `systemctl stop scimd`), \
             compact, then start it again. Nothing was changed",
            path.display()
        )),
        e @ StoreError::BeingRead { .. } => Failure::Runtime(format!("{e}. No record was changed")),
        e => store_failure(&path, e),
    })?;
    println!(
        "Compacted {} in {:.1} s: {} -> {}",
        path.display(),
        done.took.as_secs_f64(),
        size(done.bytes_before),
        size(done.bytes_after)
    );
    let r = &done.report;
    println!(
        "Verified in {:.1} s: {} users, {} groups, {} index entries, {} membership edges",
        done.verify_took.as_secs_f64(),
        r.users,
        r.groups,
        r.index_entries,
        r.memberships
    );
    verdict(r, || {
        format!(
            "{} problem(s) found in {} after compacting it; they were there before (compaction \
             moves pages, not entries): see `scimd db verify`",
            r.problem_count,
            path.display()
        )
    })
}

/// A file size for people: MiB, or KiB for the few kilobytes of an empty store.
fn size(bytes: u64) -> String {
    let bytes = bytes as f64;
    if bytes < f64::from(1u32 << 20) {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
    }
}

/// Prints a verification's verdict: OK, or every problem it lists, and then fails with the
/// message `failure` makes.
pub(crate) fn verdict(
    report: &VerifyReport,
    failure: impl FnOnce() -> String,
) -> Result<(), Failure> {
    if report.is_healthy() {
        println!("OK: every index entry and membership edge matches the records");
        return Ok(());
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    Err(Failure::Runtime(failure()))
}
