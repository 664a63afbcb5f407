//! Integration tests: the real server over real TLS and HTTP, with a real redb file.

mod audit;
mod bulk;
mod clients;
mod common;
mod entra;
mod etags;
mod extensions;
mod guard;
mod hardening;
mod health;
mod limits;
mod metrics;
mod oauth;
mod paging;
mod patch_rfc;
mod protocol;
mod search;
mod tokens;
