//! The operations: create / get / replace / patch / delete / query for Users and Groups.
//!
//! Each applies SCIM rules (via `scim`) and turns them into store writes in one transaction.
//! Everything here is blocking (redb); the HTTP layer runs it off the async workers.

mod audit;
mod bulk;
mod deprovision;
mod members;
mod page;
mod plan;
mod query;
mod render;
mod spliced;
mod stream;
mod transfer;
mod view;
mod write;

use std::sync::Arc;

use crate::scim::{Registry, ResourceKind, ScimError};
use crate::store::{Kind, Store, StoreError};

pub use audit::{query_audit, Actor, AuditQuery};
pub use query::ListParams;
pub use stream::{GroupGet, GroupStream};
pub use transfer::{export, Rejection, TransferError, Transferred};
pub use write::Written;

/// The directory: a store plus the schema registry and the URL resources are published under.
///
/// Cloning is cheap (shared handles): a write hands a clone to the store's writer thread.
#[derive(Clone)]
pub struct Directory {
    store: Arc<Store>,
    reg: Arc<Registry>,
    base_url: String,
    max_page: usize,
    /// Filter, PATCH and member bounds (`[limits]`); the defaults unless [`Directory::with_limits`].
    limits: crate::scim::limits::Limits,
    /// The mass-deprovisioning guard, when `[guard]` is configured.
    guard: Option<Arc<crate::guard::live::Guard>>,
}

impl Directory {
    /// `base_url` is the public SCIM base (`https://host:8443/scim/v2`), used for
    /// `meta.location`, `$ref` and the `Location` header.
    pub fn new(store: Arc<Store>, reg: Registry, base_url: &str, max_page: usize) -> Directory {
        Directory {
            store,
            reg: Arc::new(reg),
            base_url: base_url.trim_end_matches('/').to_string(),
            max_page: max_page.max(1),
            limits: crate::scim::limits::Limits::default(),
            guard: None,
        }
    }

    /// The same directory with these request bounds.
    pub fn with_limits(mut self, limits: crate::scim::limits::Limits) -> Directory {
        self.limits = limits;
        self
    }

    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn max_page(&self) -> usize {
        self.max_page
    }

    /// Whether the store can take a write now (the readiness probe); the store's error if not.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        self.store.probe_write()
    }
}

pub(crate) fn store_kind(kind: ResourceKind) -> Kind {
    match kind {
        ResourceKind::User => Kind::User,
        ResourceKind::Group => Kind::Group,
    }
}

/// Storage failures become SCIM errors; a taken userName is the client's 409, anything else is
/// the server's fault and is logged with the cause.
pub(crate) fn from_store(e: StoreError) -> ScimError {
    match e {
        StoreError::NotFound => ScimError::not_found("the resource does not exist"),
        StoreError::UserNameTaken { user_name, existing_id } => ScimError::uniqueness(format!(
            "userName \"{}\" is already taken by User {existing_id} (userName is unique, ignoring case)",
            crate::scim::value::truncate(&user_name, 80)
        )),
        // Overload, not a fault: the client retries, and the queue metric shows it.
        StoreError::Busy { waiting } => ScimError::new(
            503,
            None,
            format!("the server is busy: {waiting} writes are already waiting for the store; nothing was changed, retry in a second"),
        )
        .retry_after(1),
        // The writer logged the cause once for the whole batch.
        StoreError::NotCommitted(_) => ScimError::new(
            503,
            None,
            "the directory store could not commit this write; nothing was changed, retry later",
        )
        .retry_after(5),
        other => {
            tracing::error!(error = %other, "store failure");
            // The cause goes to the log, not to the client.
            ScimError::new(
                503,
                None,
                "the directory store failed; nothing was changed, retry later",
            )
        }
    }
}

/// Lets `Store::write` closures return `ScimError` directly.
pub(crate) struct DirError(pub ScimError);

impl From<StoreError> for DirError {
    fn from(e: StoreError) -> Self {
        DirError(from_store(e))
    }
}

impl From<ScimError> for DirError {
    fn from(e: ScimError) -> Self {
        DirError(e)
    }
}

#[cfg(test)]
mod tests {
    mod batch;
    mod batch_props;
    mod planner;
    mod spliced_props;
}
