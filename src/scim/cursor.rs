//! Cursor tokens for cursor-based pagination (RFC 9865).
//!
//! What RFC 9865 asks, and what this server does about it:
//! - §2: the `cursor` query parameter (or `.search` body member, §3) is empty or omitted on
//!   the first request of a cursor walk and otherwise carries a `nextCursor` or
//!   `previousCursor` value returned earlier. Cursor values are opaque to clients and use only
//!   RFC 3986 §2.3 unreserved characters: these are base64url without padding.
//! - §2: later requests repeat every other parameter of the first one unchanged. A cursor is
//!   therefore bound to the endpoint, `filter`, `sortBy` and `sortOrder` of the request that
//!   produced it ([`Binding`]); replayed with another query it is refused with 400
//!   `invalidCursor`. `count` and `attributes` are not bound: they change neither the order
//!   nor where the next page starts.
//! - §2: `count` is the most results per page; the server MUST NOT return more and MAY return
//!   fewer. Without it the server picks the page size (`defaultPageSize`, §4).
//! - §2: `nextCursor` is in every page but the last, and its absence is what says "last page".
//!   `previousCursor` is OPTIONAL and is not returned with the first page.
//! - §2 (citing RFC 7644 §3.4.1): `totalResults` SHOULD be accurate; a provider unable to
//!   estimate it MAY omit it in cursor mode. `startIndex` belongs to index paging and is not
//!   part of a cursor-mode response.
//! - §2.1: pagination errors are 400 with scimType `invalidCursor` (not a value this server
//!   issued for this query) or `expiredCursor` (valid once, no longer). These tokens are
//!   stateless and hold a position (sort key and id), not an offset or a server-side
//!   snapshot, so they never expire: `expiredCursor` is never sent and the
//!   ServiceProviderConfig states no `cursorTimeout` (§4: no value may mean no timeout).
//!   A resource created or deleted between pages shifts nothing: the walk resumes after the
//!   last key it returned.
//! - §2.2: when sorting is supported, cursor pages are sorted (by `sortBy`, else by id).
//! - §2.4: a provider supporting both methods picks a default for requests naming neither,
//!   and one that used to page by index keeps index as that default, as this server does.
//!   The RFC gives no rule for a request carrying both `startIndex` and `cursor`.
//! - §4: ServiceProviderConfig gains `pagination` {`cursor`, `index` (both REQUIRED),
//!   `defaultPaginationMethod` ("cursor" | "index"), `defaultPageSize`, `maxPageSize`,
//!   `cursorTimeout`}.
//! - §5.2: a forged cursor is to be detected and answered with `invalidCursor`. The checksum
//!   here catches damage and casual edits; it is not keyed, so a determined client can forge
//!   a position, but a position only chooses where a walk of a query the client may already
//!   run resumes, so forging one reveals nothing.

use std::cmp::Ordering;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ScimError, ScimType};
use super::schema::ResourceKind;
use super::sort::{SortKey, SortSpec};

/// The token format; bumped when the payload changes meaning, so old tokens are refused
/// instead of misread.
const VERSION: u32 = 1;
/// Tokens longer than this are refused before decoding. A token carries one attribute value
/// as its sort key, and a stored resource may be 256 KiB: the limit leaves room for such a
/// value after JSON escaping and base64, so every token this server issues is accepted back.
pub const MAX_CURSOR_LEN: usize = 1024 * 1024;
const CHECK_LEN: usize = 8;
const BINDING_LEN: usize = 16;

/// Which way from the position the requested page lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// `nextCursor`: the page starts just after the position.
    #[serde(rename = "a")]
    After,
    /// `previousCursor`: the page ends just before the position.
    #[serde(rename = "b")]
    Before,
}

/// A place in the sorted result: the sort key (`None` when the query has no `sortBy`, so the
/// order is by id alone) and the id of the resource there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SortKey>,
    #[serde(rename = "i")]
    pub id: String,
}

impl Position {
    /// Orders two positions the way the query orders resources.
    pub fn compare(spec: Option<&SortSpec>, a: &Position, b: &Position) -> Ordering {
        match spec {
            None => a.id.cmp(&b.id),
            Some(spec) => {
                let missing = SortKey::Missing;
                let ka = a.key.as_ref().unwrap_or(&missing);
                let kb = b.key.as_ref().unwrap_or(&missing);
                spec.compare_keys(ka, kb).then_with(|| a.id.cmp(&b.id))
            }
        }
    }
}

/// The query a cursor belongs to, as a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    digest: [u8; BINDING_LEN],
    sorted: bool,
}

impl Binding {
    /// The binding of a list on one resource type's endpoint.
    pub fn of(
        kind: ResourceKind,
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> Binding {
        Self::build(kind.name(), filter, sort_by, sort_order)
    }

    /// The binding of a search at the root (`POST /.search`), which spans resource types.
    pub fn of_root(
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> Binding {
        Self::build("", filter, sort_by, sort_order)
    }

    fn build(
        scope: &str,
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
    ) -> Binding {
        // Spellings that mean the same query bind the same: attribute names and sortOrder are
        // case-insensitive, an omitted sortOrder is ascending, and sortOrder without sortBy is
        // ignored. Filter text is kept as sent, since its values may be case-exact.
        let sort_by = sort_by
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase);
        let sort_order =
            sort_by.as_ref().map(
                |_| match sort_order.map(str::trim).filter(|s| !s.is_empty()) {
                    None => "ascending".to_string(),
                    Some(s) => s.to_ascii_lowercase(),
                },
            );
        let mut h = Sha256::new();
        h.update(b"scimd cursor binding v1");
        for part in [
            Some(scope),
            filter,
            sort_by.as_deref(),
            sort_order.as_deref(),
        ] {
            // Length-prefixed, so no two different field splits hash alike.
            match part {
                None => h.update([0u8]),
                Some(p) => {
                    h.update([1u8]);
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p.as_bytes());
                }
            }
        }
        let full: [u8; 32] = h.finalize().into();
        let mut digest = [0u8; BINDING_LEN];
        for (d, f) in digest.iter_mut().zip(full.iter()) {
            *d = *f;
        }
        Binding {
            digest,
            sorted: sort_by.is_some(),
        }
    }
}

/// A decoded cursor: where the requested page starts (or ends) in the query's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub direction: Direction,
    pub position: Position,
    binding: Binding,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    d: Direction,
    q: String,
    #[serde(flatten)]
    p: Position,
}

impl Cursor {
    pub fn new(direction: Direction, position: Position, binding: &Binding) -> Cursor {
        Cursor {
            direction,
            position,
            binding: binding.clone(),
        }
    }

    /// `nextCursor` for a page whose last resource is at `last`.
    pub fn after(last: Position, binding: &Binding) -> Cursor {
        Self::new(Direction::After, last, binding)
    }

    /// `previousCursor` for a page whose first resource is at `first`.
    pub fn before(first: Position, binding: &Binding) -> Cursor {
        Self::new(Direction::Before, first, binding)
    }

    /// The token: base64url (no padding) of compact JSON followed by a short checksum.
    pub fn encode(&self) -> String {
        let wire = Wire {
            v: VERSION,
            d: self.direction,
            q: URL_SAFE_NO_PAD.encode(self.binding.digest),
            p: self.position.clone(),
        };
        // Serializing plain strings, numbers and enums cannot fail; an empty payload would be
        // refused by decode, never misread.
        let mut bytes = serde_json::to_vec(&wire).unwrap_or_default();
        let check = checksum(&bytes);
        bytes.extend_from_slice(&check);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a token issued by [`Cursor::encode`] for the query `binding` describes.
    ///
    /// An empty `cursor` asks for the first page (RFC 9865 §2): callers handle it before
    /// calling this, which refuses it like any other value that is not a token.
    pub fn decode(s: &str, binding: &Binding) -> Result<Cursor, ScimError> {
        if s.is_empty() {
            return Err(invalid(
                "the cursor is empty; an empty cursor asks for the first page".into(),
            ));
        }
        if s.len() > MAX_CURSOR_LEN {
            return Err(invalid(format!(
                "the cursor is {} characters long, longer than any this server issues",
                s.len()
            )));
        }
        let damaged = || {
            invalid(
                "the cursor is damaged or was altered; send the nextCursor or previousCursor \
                 value exactly as it was returned"
                    .into(),
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| {
                invalid(
                    "the cursor is not one this server issued: it is not base64url text; send the \
                 nextCursor or previousCursor value exactly as it was returned"
                        .into(),
                )
            })?;
        let (payload, check) = bytes
            .split_at_checked(bytes.len().saturating_sub(CHECK_LEN))
            .ok_or_else(damaged)?;
        if payload.is_empty() || check != checksum(payload).as_slice() {
            return Err(damaged());
        }
        let wire: Wire = serde_json::from_slice(payload).map_err(|_| damaged())?;
        if wire.v != VERSION {
            return Err(invalid(
                "the cursor comes from another version of this server; start again with an \
                 empty cursor"
                    .into(),
            ));
        }
        let bound = URL_SAFE_NO_PAD.decode(&wire.q).map_err(|_| damaged())?;
        if bound.as_slice() != binding.digest.as_slice() {
            return Err(invalid(
                "the cursor belongs to a different query; repeat the endpoint, filter, sortBy \
                 and sortOrder of the request that returned it, or start again with an empty \
                 cursor"
                    .into(),
            ));
        }
        if wire.p.key.is_some() != binding.sorted {
            return Err(damaged());
        }
        Ok(Cursor {
            direction: wire.d,
            position: wire.p,
            binding: binding.clone(),
        })
    }
}

fn checksum(payload: &[u8]) -> [u8; CHECK_LEN] {
    let full: [u8; 32] = Sha256::digest(payload).into();
    let mut out = [0u8; CHECK_LEN];
    for (o, f) in out.iter_mut().zip(full.iter()) {
        *o = *f;
    }
    out
}

fn invalid(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidCursor, detail)
}

#[cfg(test)]
#[path = "tests/cursor.rs"]
mod tests;
