//! The SCIM protocol core: schemas, attribute rules, filter and path grammar, PATCH,
//! projection, list responses and errors. Pure: no I/O, no async, no hyper, no redb.

pub mod audit;
pub mod bulk;
pub mod compat;
pub mod cursor;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod limits;
pub mod patch;
pub mod path;
pub mod projection;
pub mod raw;
pub mod resource;
pub mod schema;
pub mod search;
pub mod sort;
pub mod value;

pub use error::{ScimError, ScimType};
pub use schema::{Registry, ResourceKind};
