//! Command implementations for `scimd`; `main.rs` only parses and dispatches.

pub mod audit;
pub mod db;
#[cfg(unix)]
pub mod guard;
pub mod tokens;
pub mod transfer;

use std::path::{Path, PathBuf};

use scimd::config::{self, Config};
use scimd::scim::Registry;

use crate::{Failure, DEFAULT_DATA_DIR};

/// Where the store is: from `--config`, else the embedded default's `--data-dir`.
#[derive(clap::Args, Clone)]
pub struct StoreLocation {
    /// The configuration file naming the store.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The embedded default's data directory [default: ./scimd-data]. Only without --config.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub data_dir: Option<PathBuf>,
}

impl StoreLocation {
    /// The embedded default's data directory.
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    pub(crate) fn config(&self) -> Result<Option<Config>, Failure> {
        self.config
            .as_deref()
            .map(|p| Config::load(p).map_err(|e| Failure::config_error(&e)))
            .transpose()
    }

    /// The store file, and the schema registry (with the config's extensions).
    pub fn resolve(&self) -> Result<(PathBuf, Registry), Failure> {
        Ok(match self.config()? {
            Some(c) => (c.storage.path.clone(), config::registry(&c.extensions)),
            None => (
                self.data_dir().join(config::DEFAULT_STORE_FILE),
                config::registry(&[]),
            ),
        })
    }

    /// The configured `[storage] cache_mib` in bytes (the default without a config): a command
    /// that writes a large directory (import) honours it as the server does.
    pub fn cache_bytes(&self) -> Result<usize, Failure> {
        let mib = self
            .config()?
            .map_or(scimd::store::DEFAULT_CACHE_MIB, |c| c.storage.cache_mib);
        Ok(scimd::store::mib_to_bytes(mib))
    }

    /// The store file, which must exist.
    pub fn existing_store(&self) -> Result<(PathBuf, Registry), Failure> {
        let (path, reg) = self.resolve()?;
        if !path.is_file() {
            return Err(Failure::Config(format!(
                "there is no store at {}",
                path.display()
            )));
        }
        Ok((path, reg))
    }

    /// The file holding the `[[tokens]]`: the configuration, or the embedded default's
    /// `tokens.toml`.
    pub fn tokens_file(&self) -> PathBuf {
        match &self.config {
            Some(p) => p.clone(),
            None => self.data_dir().join(scimd::bootstrap::TOKENS_FILE),
        }
    }
}

/// A store error as a runtime failure, naming the file.
pub fn store_failure(path: &Path, e: scimd::store::StoreError) -> Failure {
    let text = e.to_string();
    if text.contains(&path.display().to_string()) {
        Failure::Runtime(text)
    } else {
        Failure::Runtime(format!("{}: {text}", path.display()))
    }
}
