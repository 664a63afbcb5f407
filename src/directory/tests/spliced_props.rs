//! The spliced answers (`spliced.rs`, `scim::raw`) equal the `Value` path's, as JSON, for
//! random stored users: canonical ones, and ones an older version or a hand-edited import
//! could have left (a stored password, unknown keys, stale `groups`, `meta` out of place or
//! not an object, extensions holding unknown attributes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::directory::{Actor, Directory, ListParams};
use crate::scim::{Registry, ResourceKind};
use crate::store::{Kind, Store};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

struct Fixture {
    _tmp: tempfile::TempDir,
    store: Arc<Store>,
    dir: Directory,
    group_ids: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&tmp.path().join("scimd.redb")).unwrap());
        let dir = Directory::new(store.clone(), Registry::new(), "https://h/scim/v2", 100);
        let group_ids = ["Sales", "Ops \"EU\""]
            .iter()
            .map(|name| {
                let w = dir
                    .create(
                        ResourceKind::Group,
                        &json!({"displayName": name}),
                        &Actor::local("test"),
                    )
                    .unwrap();
                w.resource["id"].as_str().unwrap().to_string()
            })
            .collect();
        Fixture {
            _tmp: tmp,
            store,
            dir,
            group_ids,
        }
    })
}

/// Text with the characters JSON escapes.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\/\u{1}\u{e9}\u{1F600}]{0,12}"
}

/// Optional members of a stored user, in an order of their own.
fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
    let member = prop_oneof![
        text().prop_map(|t| ("displayName".to_string(), json!(t))),
        any::<bool>().prop_map(|b| ("active".to_string(), json!(b))),
        (text(), text())
            .prop_map(|(g, f)| ("name".to_string(), json!({"givenName": g, "familyName": f}))),
        text().prop_map(|t| (
            "emails".to_string(),
            json!([{"value": t, "type": "work", "primary": true}])
        )),
        text().prop_map(|t| ("password".to_string(), json!(t))),
        text().prop_map(|t| ("notAnAttribute".to_string(), json!(t))),
        text().prop_map(|t| ("externalId".to_string(), json!(t))),
        Just(("groups".to_string(), json!([{"value": "stale"}]))),
        (text(), any::<bool>()).prop_map(|(t, bogus)| {
            let mut ext = json!({"department": t});
            if bogus {
                ext["bogus"] = json!(1);
            }
            (ENTERPRISE.to_string(), ext)
        }),
        Just((ENTERPRISE.to_string(), json!("not an object"))),
        Just((ENTERPRISE.to_string(), json!({"bogus": 1}))),
        text().prop_map(|t| ("urn:example:custom:2.0:User".to_string(), json!({"x": t}))),
        text().prop_map(|t| ("schemas".to_string(), json!([t]))),
    ];
    prop::collection::vec(member, 0..8)
}

#[derive(Debug, Clone)]
enum Meta {
    Last,
    First,
    Missing,
    NotAnObject,
    /// Holding a stale `location` of its own.
    WithLocation,
}

fn meta() -> impl Strategy<Value = Meta> {
    prop_oneof![
        4 => Just(Meta::Last),
        1 => Just(Meta::First),
        1 => Just(Meta::Missing),
        1 => Just(Meta::NotAnObject),
        1 => Just(Meta::WithLocation),
    ]
}

/// Stores `doc` as user `id` as it is, past the write path's normalization.
fn store_user(f: &Fixture, id: &str, doc: Value, groups: &[bool]) {
    let id = id.to_string();
    let group_ids: Vec<String> = f
        .group_ids
        .iter()
        .zip(groups)
        .filter(|(_, on)| **on)
        .map(|(g, _)| g.clone())
        .collect();
    f.store
        .write(move |w| -> Result<(), crate::store::StoreError> {
            w.insert(Kind::User, &id, &doc)?;
            for g in &group_ids {
                w.add_member(g, &id)?;
            }
            Ok(())
        })
        .unwrap();
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("a spliced answer is JSON")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn spliced_reads_equal_the_value_path(
        name in text(),
        extras in extras(),
        meta in meta(),
        groups in prop::collection::vec(any::<bool>(), 2),
        start in 0i64..3,
        count in prop::option::of(0i64..3),
    ) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let f = fixture();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("u-{n}");
        // Unique per case, whatever the generated part.
        let user_name = format!("{name}#{n}");
        let meta_value = json!({
            "resourceType": "User",
            "created": "2026-12-01T00:00:00Z",
            "lastModified": "2026-12-01T00:00:00Z",
            "version": format!("W/\"{n}\""),
        });
        let mut doc = Map::new();
        if matches!(meta, Meta::First) {
            doc.insert("meta".into(), meta_value.clone());
        }
        doc.insert("id".into(), json!(id));
        doc.insert("userName".into(), json!(user_name));
        for (k, v) in extras {
            doc.insert(k, v);
        }
        match meta {
            Meta::Last => {
                doc.insert("meta".into(), meta_value);
            }
            Meta::NotAnObject => {
                doc.insert("meta".into(), json!("W/\"1\""));
            }
            Meta::WithLocation => {
                let mut m = meta_value;
                m["location"] = json!("https://old/Users/x");
                doc.insert("meta".into(), m);
            }
            Meta::First | Meta::Missing => {}
        }
        store_user(f, &id, Value::Object(doc), &groups);

        // GET by id.
        let (slow, slow_version) = f.dir.get(ResourceKind::User, &id, None, None).unwrap();
        let (fast, fast_version) = f
            .dir
            .get_json(ResourceKind::User, &id, None, None)
            .unwrap()
            .expect("a stored user is spliced");
        let keys = crate::scim::raw::top_level_keys(&fast).unwrap();
        let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
        prop_assert_eq!(distinct.len(), keys.len(), "duplicate keys in {:?}", keys);
        prop_assert_eq!(parse(&fast), slow);
        prop_assert_eq!(fast_version, slow_version);

        // Entra's lookup, with the paging parameters varied, and with the name's case changed.
        for lookup in [user_name.clone(), user_name.to_uppercase()] {
            let params = ListParams {
                filter: Some(format!("userName eq {}", json!(lookup))),
                start_index: Some(start),
                count,
                ..ListParams::default()
            };
            let listing = f.dir.prepare_list(ResourceKind::User, &params).unwrap();
            let fast = f
                .dir
                .point_list_json(&listing)
                .unwrap()
                .expect("a userName lookup is spliced");
            prop_assert_eq!(parse(&fast), f.dir.run_list(&listing).unwrap());
        }
    }
}

#[test]
fn what_is_not_spliced_is_left_to_the_value_path() {
    let f = fixture();
    let dir = &f.dir;
    let g = &f.group_ids[0];
    // Groups, projections, a missing user.
    assert!(dir
        .get_json(ResourceKind::Group, g, None, None)
        .unwrap()
        .is_none());
    assert!(dir
        .get_json(ResourceKind::User, "nobody", None, None)
        .unwrap()
        .is_none());
    let w = dir
        .create(
            ResourceKind::User,
            &json!({"userName": "spliced.check"}),
            &Actor::local("test"),
        )
        .unwrap();
    let id = w.resource["id"].as_str().unwrap();
    assert!(dir
        .get_json(ResourceKind::User, id, Some("userName"), None)
        .unwrap()
        .is_none());
    assert!(dir
        .get_json(ResourceKind::User, id, None, Some("groups"))
        .unwrap()
        .is_none());
    assert!(dir
        .get_json(ResourceKind::User, id, None, None)
        .unwrap()
        .is_some());
    // Lookups other than a bare `userName eq "…"`, and cursor paging.
    for (filter, cursor) in [
        ("userName eq \"spliced.check\" and active eq true", None),
        ("userName sw \"spliced\"", None),
        ("externalId eq \"x\"", None),
        (&*format!("id eq \"{id}\""), None),
        ("userName eq \"spliced.check\"", Some(String::new())),
    ] {
        let params = ListParams {
            filter: Some(filter.to_string()),
            cursor,
            ..ListParams::default()
        };
        let listing = dir.prepare_list(ResourceKind::User, &params).unwrap();
        assert!(
            dir.point_list_json(&listing).unwrap().is_none(),
            "{filter} is not spliced"
        );
    }
}
