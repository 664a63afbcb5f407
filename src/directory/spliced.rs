//! Reads answered from the stored JSON itself (`scim::raw`): a GET of a user and Entra's
//! `userName eq` lookup, both without a projection. They are most of what a provisioning
//! cycle reads, and skipping the `Value` tree roughly halves their cost (docs/PERFORMANCE.md).
//! Anything else, and anything the splice declines, goes the `Value` way in `query.rs`.

use super::query::Listing;
use super::{from_store, Directory};
use crate::scim::projection::Projection;
use crate::scim::raw::{self, Spliced};
use crate::scim::{ResourceKind, ScimError};
use crate::store::{Kind, ReadTx};

/// A resource's JSON and its `meta.version` (for `ETag`).
pub type JsonWithVersion = (Vec<u8>, Option<String>);

/// A User's JSON is 0.5–1 KiB: starting there saves the doublings from a small buffer.
const TYPICAL: usize = 1024;

impl Directory {
    /// [`Directory::get`]'s answer as JSON bytes and `meta.version`, when it can be spliced:
    /// a user, no `attributes` or `excludedAttributes`. `None` means "ask `get`", which also
    /// gives the 404 of a missing record.
    pub fn get_json(
        &self,
        kind: ResourceKind,
        id: &str,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Option<JsonWithVersion>, ScimError> {
        if kind != ResourceKind::User
            || !Projection::parse(&self.reg, kind, attributes, excluded)?.is_default()
        {
            return Ok(None);
        }
        let tx = self.store.read().map_err(from_store)?;
        let mut out = Vec::with_capacity(TYPICAL);
        Ok(self
            .splice_user(&tx, id, &mut out)?
            .map(|s| (out, s.version)))
    }

    /// [`Directory::run_list`]'s answer as JSON bytes, when it can be spliced (see
    /// [`Listing::spliceable_user_name`]); `None` means "ask `run_list`".
    pub fn point_list_json(&self, listing: &Listing) -> Result<Option<Vec<u8>>, ScimError> {
        let Some(user_name) = listing.spliceable_user_name() else {
            return Ok(None);
        };
        let (start, count) = listing.index_window();
        let tx = self.store.read().map_err(from_store)?;
        // userName is unique: one id at most, so the window is that id or nothing.
        let ids: Vec<String> = tx
            .user_id_by_name(user_name)
            .map_err(from_store)?
            .into_iter()
            .collect();
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        let take = usize::try_from(count).unwrap_or(usize::MAX);
        let page: Vec<&String> = ids.iter().skip(skip).take(take).collect();
        let mut out = Vec::with_capacity(TYPICAL + 200);
        raw::open_list(&mut out, ids.len() as u64, page.len(), start);
        for (i, id) in page.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if self.splice_user(&tx, id, &mut out)?.is_none() {
                return Ok(None);
            }
        }
        raw::close_list(&mut out);
        Ok(Some(out))
    }

    /// Appends user `id`'s default representation to `out`; `None` (and `out` unchanged) when
    /// the record is missing or the splice declines it.
    fn splice_user(
        &self,
        tx: &ReadTx,
        id: &str,
        out: &mut Vec<u8>,
    ) -> Result<Option<Spliced>, ScimError> {
        let groups = self.derived_groups(tx, id)?;
        let location = self.location(ResourceKind::User, id);
        let spliced = tx
            .with_raw(Kind::User, id, |stored| {
                raw::write_default(
                    &self.reg,
                    ResourceKind::User,
                    stored,
                    groups.as_ref().map(|g| ("groups", g)),
                    &location,
                    out,
                )
            })
            .map_err(from_store)?;
        Ok(spliced.flatten())
    }
}
