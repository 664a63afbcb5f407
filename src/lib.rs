//! scimd: a SCIM 2.0 service provider (RFC 7643, RFC 7644) in one binary.
//!
//! Layers, top to bottom (dependencies point down only):
//! `http` (TLS, routing, auth) → `directory` (operations) → `scim` (pure protocol) and `store` (redb).

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod http;
pub mod tls;
