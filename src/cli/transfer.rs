//! `scimd export FILE` and `scimd import FILE`: SCIM JSON Lines.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use scimd::directory::{self, Directory, TransferError};
use scimd::store::{ReadOnlyStore, Store, StoreError};

use super::{store_failure, StoreLocation};
use crate::Failure;

/// `export FILE`: every User and Group of one snapshot; works while the server runs.
pub fn export(at: &StoreLocation, dest: &Path) -> Result<(), Failure> {
    let (path, reg) = at.existing_store()?;
    if dest.exists() {
        return Err(Failure::Config(format!(
            "{} already exists; choose a new name (an export never overwrites a file)",
            dest.display()
        )));
    }
    let store = ReadOnlyStore::open(&path).map_err(|e| store_failure(&path, e))?;
    let tx = store.read().map_err(|e| store_failure(&path, e))?;
    // The export holds personal data: owner-only, like the store.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(dest)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dest.display())))?;
    let mut out = BufWriter::new(file);
    let outcome = directory::export(&reg, &tx, &mut out).and_then(|counts| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(counts)
    });
    match outcome {
        Ok(c) => {
            println!(
                "Exported {} users and {} groups ({} membership edges) to {}",
                c.users,
                c.groups,
                c.memberships,
                dest.display()
            );
            Ok(())
        }
        Err(e) => {
            // A partial export is worse than none: it looks complete.
            let _ = std::fs::remove_file(dest);
            Err(Failure::Runtime(format!("export failed: {e}")))
        }
    }
}

/// `import FILE`: the whole file checked, then written in chunks (see `directory::transfer`).
pub fn import(at: &StoreLocation, from: &Path) -> Result<(), Failure> {
    let (path, reg) = at.resolve()?;
    // The file is read twice (check, then write), streaming; open it once here so that a
    // missing or unreadable file is reported before the store is touched.
    let open = || std::fs::File::open(from).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
    open().map_err(|e| Failure::Config(format!("cannot read {}: {e}", from.display())))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(Failure::Config(format!(
                "the store's directory {} does not exist",
                dir.display()
            )));
        }
    }
    let options = scimd::store::Options {
        cache_bytes: at.cache_bytes()?,
        ..Default::default()
    };
    let store = Store::open_with(&path, options).map_err(|e| match e {
        StoreError::AlreadyOpen { .. } => Failure::Runtime(format!(
            "{} is in use by a running scimd; stop it first (e.g. `systemctl stop scimd`), \
             import, then start it again (or load the data through its SCIM API)",
            path.display()
        )),
        e => store_failure(&path, e),
    })?;
    // The base URL only shapes rendered output, which an import never produces.
    let dir = Arc::new(Directory::new(Arc::new(store), reg, "", 1));
    match dir.import_lines(open) {
        Ok(c) => {
            println!(
                "Imported {} users and {} groups ({} membership edges) from {} into {}; \
                 {} ids kept, {} assigned",
                c.users,
                c.groups,
                c.memberships,
                from.display(),
                path.display(),
                c.ids_kept,
                c.ids_assigned
            );
            Ok(())
        }
        Err(TransferError::Rejected(lines)) => {
            let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
            for r in &lines {
                let _ = writeln!(stderr, "{}:{}: {}", from.display(), r.line, r.reason);
            }
            let _ = stderr.flush();
            Err(Failure::Runtime(format!(
                "{} line(s) of {} refused; nothing was imported (the whole file is checked \
                 before anything is written: fix or remove those lines and run it again)",
                lines.len(),
                from.display()
            )))
        }
        Err(e @ TransferError::Interrupted { chunk, .. }) => Err(Failure::Runtime(format!(
            "{e}. Those are in the store (the file is written in transactions of {chunk} \
             resources); to start over, restore the backup taken before the import"
        ))),
        Err(e) => Err(Failure::Runtime(format!(
            "import failed, nothing was imported: {e}"
        ))),
    }
}
