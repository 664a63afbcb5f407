//! Whatever path the planner picks, a list answers exactly what evaluating the filter on every
//! record answers: random filters over indexed and unindexed attributes, on a real store.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::directory::{Actor, Directory, ListParams};
use crate::scim::filter;
use crate::scim::{Registry, ResourceKind};
use crate::store::Store;

struct Fixture {
    _dir: tempfile::TempDir,
    dir: Directory,
    user_ids: Vec<String>,
    group_ids: Vec<String>,
    stamps: Vec<String>,
}

const USERS: usize = 60;

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&tmp.path().join("scimd.redb")).unwrap());
        let dir = Directory::new(store, Registry::new(), "https://h/scim/v2", 10_000);
        let prefixes = ["Alice", "alan", "BOB", "bo", "Zoë"];
        let mut user_ids = Vec::new();
        let mut stamps = Vec::new();
        for i in 0..USERS {
            let mut body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("{}{}", prefixes[i % prefixes.len()], i),
                "active": i % 3 != 0,
                "emails": [{"value": format!("u{i}@x{}.com", i % 4), "type": "work"}],
            });
            if i % 4 != 0 {
                body["externalId"] = json!(format!("ext{}", i % 7));
            }
            if i % 2 == 0 {
                body["name"] = json!({"familyName": format!("F{}", i % 5)});
            }
            let w = dir
                .create(ResourceKind::User, &body, &Actor::local("test"))
                .unwrap();
            user_ids.push(w.resource["id"].as_str().unwrap().to_string());
            stamps.push(
                w.resource["meta"]["lastModified"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let mut group_ids = Vec::new();
        for i in 0..12 {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": format!("{}", ["Sales", "sales", "Ops"][i % 3]),
                "externalId": format!("g{}", i % 5),
            });
            let w = dir
                .create(ResourceKind::Group, &body, &Actor::local("test"))
                .unwrap();
            group_ids.push(w.resource["id"].as_str().unwrap().to_string());
            stamps.push(
                w.resource["meta"]["lastModified"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        Fixture {
            _dir: tmp,
            dir,
            user_ids,
            group_ids,
            stamps,
        }
    })
}

/// What a scan with the evaluator finds: the reference answer.
fn brute_force(f: &Fixture, kind: ResourceKind, text: &str) -> BTreeSet<String> {
    let parsed = filter::parse(text).unwrap();
    let ids = match kind {
        ResourceKind::User => &f.user_ids,
        ResourceKind::Group => &f.group_ids,
    };
    ids.iter()
        .filter(|id| {
            let (doc, _) = f.dir.get(kind, id, None, None).unwrap();
            parsed.matches(&doc, f.dir.registry(), kind)
        })
        .cloned()
        .collect()
}

fn listed(f: &Fixture, kind: ResourceKind, text: &str) -> (BTreeSet<String>, u64) {
    let params = ListParams {
        filter: Some(text.to_string()),
        attributes: Some("id".into()),
        ..ListParams::default()
    };
    let list = f.dir.list(kind, &params).unwrap();
    let ids = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| r["id"].as_str().unwrap().to_string())
        .collect();
    (ids, list["totalResults"].as_u64().unwrap())
}

fn mixed_case(s: &str, mask: u32) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask & (1 << (i % 32)) != 0 {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect()
}

fn user_atom() -> impl Strategy<Value = String> {
    let f = fixture();
    let n_stamps = f.stamps.len();
    let n_users = f.user_ids.len();
    prop_oneof![
        (0..USERS + 3, any::<u32>()).prop_map(|(i, mask)| {
            let names = ["Alice", "alan", "BOB", "bo", "Zoë"];
            format!(
                "userName eq \"{}\"",
                mixed_case(&format!("{}{}", names[i % names.len()], i), mask)
            )
        }),
        (prop::sample::select(vec![
            "a", "al", "ALI", "b", "bo", "BOB1", "z", "zo", "zoë", "x", ""
        ]))
        .prop_map(|p| format!("userName sw \"{p}\"")),
        (0..9usize).prop_map(|i| format!("externalId eq \"ext{i}\"")),
        (0..n_users + 1).prop_map(move |i| {
            let id = fixture().user_ids.get(i).cloned().unwrap_or("nope".into());
            format!("id eq \"{id}\"")
        }),
        (
            0..n_stamps,
            prop::sample::select(vec!["eq", "gt", "ge", "lt", "le"]),
            prop::sample::select(vec!["Z", "+02:00", "-05:30"])
        )
            .prop_map(|(i, op, zone)| {
                let stamp = &fixture().stamps[i];
                let t = crate::scim::value::parse_datetime(stamp).unwrap();
                let shifted = match zone {
                    "Z" => stamp.clone(),
                    z => {
                        let offset = time::UtcOffset::parse(
                            z,
                            time::macros::format_description!(
                                "[offset_hour sign:mandatory]:[offset_minute]"
                            ),
                        )
                        .unwrap();
                        t.to_offset(offset)
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap()
                    }
                };
                format!("meta.lastModified {op} \"{shifted}\"")
            }),
        Just("active eq true".to_string()),
        Just("emails co \"x1\"".to_string()),
        Just("name.familyName pr".to_string()),
        Just("emails[type eq \"work\" and value ew \".com\"]".to_string()),
    ]
}

fn combine(atom: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    atom.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn group_atom() -> impl Strategy<Value = String> {
    let n_stamps = fixture().stamps.len();
    prop_oneof![
        (prop::sample::select(vec!["Sales", "SALES", "ops", "none"]))
            .prop_map(|n| format!("displayName eq \"{n}\"")),
        (0..6usize).prop_map(|i| format!("externalId eq \"g{i}\"")),
        (0..n_stamps, prop::sample::select(vec!["gt", "le"]))
            .prop_map(|(i, op)| { format!("meta.lastModified {op} \"{}\"", fixture().stamps[i]) }),
        Just("displayName co \"ale\"".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn user_lists_match_the_evaluator_whatever_the_plan(text in combine(user_atom().boxed())) {
        let f = fixture();
        let (ids, total) = listed(f, ResourceKind::User, &text);
        let expected = brute_force(f, ResourceKind::User, &text);
        prop_assert_eq!(total, expected.len() as u64, "{}", text);
        prop_assert_eq!(ids, expected, "{}", text);
    }

    #[test]
    fn group_lists_match_the_evaluator_whatever_the_plan(text in combine(group_atom().boxed())) {
        let f = fixture();
        let (ids, total) = listed(f, ResourceKind::Group, &text);
        let expected = brute_force(f, ResourceKind::Group, &text);
        prop_assert_eq!(total, expected.len() as u64, "{}", text);
        prop_assert_eq!(ids, expected, "{}", text);
    }
}
