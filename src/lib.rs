//! scimd: a SCIM 2.0 service provider (RFC 7643, RFC 7644) in one binary.
//!
//! Layers, top to bottom (dependencies point down only):
//! `http` (TLS, routing, auth) → `directory` (operations) → `scim` (pure protocol) and `store` (redb).

// No input, disk state or network event may panic the server: these are denied outside tests.
// Any exception is local and commented.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod auth;
pub mod bootstrap;
pub mod config;
#[cfg(unix)]
pub mod control;
pub mod directory;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod scim;
pub mod store;
pub mod systemd;
pub mod tls;
