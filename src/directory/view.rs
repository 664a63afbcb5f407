//! One read interface over a snapshot and over a write transaction's own state, so rendering
//! and validation code is written once.

use serde_json::Value;

use crate::store::{Kind, ReadTx, StoreError, WriteTx};

pub(crate) trait View {
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Value>, StoreError>;
    fn get_member(&self, kind: Kind, id: &str, name: &str) -> Result<Option<Value>, StoreError>;
    fn exists(&self, kind: Kind, id: &str) -> Result<bool, StoreError>;
    fn members(&self, group_id: &str) -> Result<Vec<String>, StoreError>;
    fn groups_of(&self, member_id: &str) -> Result<Vec<String>, StoreError>;
}

macro_rules! delegate_view {
    ($t:ty) => {
        impl View for $t {
            fn get(&self, kind: Kind, id: &str) -> Result<Option<Value>, StoreError> {
                <$t>::get(self, kind, id)
            }
            fn get_member(
                &self,
                kind: Kind,
                id: &str,
                name: &str,
            ) -> Result<Option<Value>, StoreError> {
                <$t>::get_member(self, kind, id, name)
            }
            fn exists(&self, kind: Kind, id: &str) -> Result<bool, StoreError> {
                <$t>::exists(self, kind, id)
            }
            fn members(&self, group_id: &str) -> Result<Vec<String>, StoreError> {
                <$t>::members(self, group_id)
            }
            fn groups_of(&self, member_id: &str) -> Result<Vec<String>, StoreError> {
                <$t>::groups_of(self, member_id)
            }
        }
    };
}

delegate_view!(ReadTx);
delegate_view!(WriteTx<'_>);

/// The stored document of `id`, or the SCIM 404 that names it.
pub(crate) fn stored(
    view: &dyn View,
    kind: crate::scim::ResourceKind,
    id: &str,
) -> Result<Value, crate::scim::ScimError> {
    view.get(super::store_kind(kind), id)
        .map_err(super::from_store)?
        .ok_or_else(|| super::write::not_found(kind, id))
}
