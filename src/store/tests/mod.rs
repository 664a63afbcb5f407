//! Store tests against real redb files in temporary directories.

mod lifecycle;
mod membership;
mod observe;
mod records;
mod time_index;
mod verify;
mod writer;

use serde_json::{json, Value};
use tempfile::TempDir;

use super::{Kind, Store, StoreError};

/// A fresh store in its own temporary directory (kept alive by the returned `TempDir`).
fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("scimd.redb")).unwrap();
    (dir, store)
}

/// A user record; `external_id` is omitted when `None`.
fn user(id: &str, user_name: &str, external_id: Option<&str>) -> Value {
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": user_name,
    });
    if let Some(e) = external_id {
        v["externalId"] = json!(e);
    }
    v
}

/// A group record; `external_id` is omitted when `None`.
fn group(id: &str, display_name: &str, external_id: Option<&str>) -> Value {
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": id,
        "displayName": display_name,
    });
    if let Some(e) = external_id {
        v["externalId"] = json!(e);
    }
    v
}

/// Inserts records in one committed transaction.
fn insert_all(store: &Store, records: &[(Kind, &str, Value)]) {
    let records: Vec<(Kind, String, Value)> = records
        .iter()
        .map(|(kind, id, doc)| (*kind, id.to_string(), doc.clone()))
        .collect();
    store
        .write(move |w| {
            for (kind, id, doc) in &records {
                w.insert(*kind, id, doc)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

/// Adds membership edges in one committed transaction.
fn add_members(store: &Store, edges: &[(&str, &str)]) {
    let edges: Vec<(String, String)> = edges
        .iter()
        .map(|(g, m)| (g.to_string(), m.to_string()))
        .collect();
    store
        .write(move |w| {
            for (g, m) in &edges {
                w.add_member(g, m)?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn store_error_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<StoreError>();
    assert_send_sync::<Store>();
}
