//! Records and their attribute indexes.

use serde_json::json;

use super::{group, insert_all, temp_store, user};
use crate::store::{Kind, StoreError};

#[test]
fn insert_then_get_returns_the_document() {
    let (_dir, store) = temp_store();
    let cases = [
        (Kind::User, "u1", user("u1", "alice", Some("ext-1"))),
        (Kind::Group, "g1", group("g1", "Admins", None)),
    ];
    for (kind, id, doc) in &cases {
        let (k, owned_id, owned_doc) = (*kind, id.to_string(), doc.clone());
        store
            .write(move |w| w.insert(k, &owned_id, &owned_doc))
            .unwrap();
        let r = store.read().unwrap();
        assert_eq!(r.get(*kind, id).unwrap().as_ref(), Some(doc), "{kind}");
        assert!(r.exists(*kind, id).unwrap(), "{kind}");
        assert_eq!(r.count(*kind).unwrap(), 1, "{kind}");
    }
    // Kinds are separate tables: a user id is not a group.
    let r = store.read().unwrap();
    assert_eq!(r.get(Kind::Group, "u1").unwrap(), None);
    assert!(!r.exists(Kind::User, "g1").unwrap());
    assert!(!r.exists(Kind::User, "nobody").unwrap());
}

#[test]
fn insert_refuses_a_taken_id() {
    let (_dir, store) = temp_store();
    insert_all(&store, &[(Kind::User, "u1", user("u1", "alice", None))]);
    let err = store
        .write(|w| w.insert(Kind::User, "u1", &user("u1", "bob", None)))
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    // Nothing of the refused record was indexed.
    assert_eq!(store.read().unwrap().user_id_by_name("bob").unwrap(), None);
}

#[test]
fn user_name_is_unique_case_insensitively_on_insert() {
    // (existing name, new name, refused?)
    let cases = [
        ("alice", "alice", true),
        ("alice", "ALICE", true),
        ("Alice", "aLiCe", true),
        ("straße", "STRASSE", false), // to_lowercase is not full case folding: distinct keys
        ("ÉLODIE", "élodie", true),
        ("alice", "alice2", false),
    ];
    for (existing, new, refused) in cases {
        let (_dir, store) = temp_store();
        insert_all(&store, &[(Kind::User, "u1", user("u1", existing, None))]);
        let result = store.write(|w| w.insert(Kind::User, "u2", &user("u2", new, None)));
        match (refused, result) {
            (
                true,
                Err(StoreError::UserNameTaken {
                    user_name,
                    existing_id,
                }),
            ) => {
                assert_eq!((user_name.as_str(), existing_id.as_str()), (new, "u1"));
                assert!(!store.read().unwrap().exists(Kind::User, "u2").unwrap());
            }
            (false, Ok(())) => {
                let r = store.read().unwrap();
                assert_eq!(r.user_id_by_name(new).unwrap().as_deref(), Some("u2"));
            }
            (_, other) => panic!("{existing:?} then {new:?}: got {other:?}"),
        }
    }
}

#[test]
fn user_name_is_unique_case_insensitively_on_update() {
    // (new name for u1 while u2 is "bob", expected outcome)
    let cases = [
        ("ALICE", Ok(())),  // its own name in another case
        ("alice", Ok(())),  // unchanged
        ("carol", Ok(())),  // a free name
        ("BOB", Err("u2")), // someone else's name, another case
        ("bob", Err("u2")),
    ];
    for (new_name, expected) in cases {
        let (_dir, store) = temp_store();
        insert_all(
            &store,
            &[
                (Kind::User, "u1", user("u1", "alice", None)),
                (Kind::User, "u2", user("u2", "bob", None)),
            ],
        );
        let result = store.write(|w| w.update(Kind::User, "u1", &user("u1", new_name, None)));
        let r = store.read().unwrap();
        match (expected, result) {
            (Ok(()), Ok(())) => {
                assert_eq!(r.user_id_by_name(new_name).unwrap().as_deref(), Some("u1"));
                let stored = r.get(Kind::User, "u1").unwrap().unwrap();
                assert_eq!(stored["userName"], json!(new_name));
            }
            (Err(holder), Err(StoreError::UserNameTaken { existing_id, .. })) => {
                assert_eq!(existing_id, holder);
                // The refused update changed nothing.
                assert_eq!(r.user_id_by_name("alice").unwrap().as_deref(), Some("u1"));
                assert_eq!(r.user_id_by_name("bob").unwrap().as_deref(), Some("u2"));
            }
            (_, other) => panic!("rename to {new_name:?}: got {other:?}"),
        }
    }
}

#[test]
fn user_id_by_name_lower_cases_its_argument() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[(Kind::User, "u1", user("u1", "Alice@Example.COM", None))],
    );
    let r = store.read().unwrap();
    for q in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "Alice@Example.COM",
    ] {
        assert_eq!(r.user_id_by_name(q).unwrap().as_deref(), Some("u1"), "{q}");
    }
    assert_eq!(r.user_id_by_name("alice").unwrap(), None);
}

#[test]
fn external_id_is_non_unique_case_exact_and_per_kind() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u2", user("u2", "b", Some("X-1"))),
            (Kind::User, "u1", user("u1", "a", Some("X-1"))),
            (Kind::User, "u3", user("u3", "c", Some("x-1"))),
            (Kind::Group, "g1", group("g1", "G", Some("X-1"))),
        ],
    );
    let r = store.read().unwrap();
    // (kind, query, expected ids, sorted)
    let cases: [(Kind, &str, &[&str]); 5] = [
        (Kind::User, "X-1", &["u1", "u2"]),
        (Kind::User, "x-1", &["u3"]),
        (Kind::User, "X-2", &[]),
        (Kind::Group, "X-1", &["g1"]),
        (Kind::Group, "x-1", &[]),
    ];
    for (kind, q, expected) in cases {
        assert_eq!(
            r.ids_by_external_id(kind, q).unwrap(),
            expected,
            "{kind} {q}"
        );
    }
}

#[test]
fn display_name_lookup_is_case_insensitive_and_non_unique() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::Group, "g2", group("g2", "Admins", None)),
            (Kind::Group, "g1", group("g1", "ADMINS", None)),
            (Kind::Group, "g3", group("g3", "Users", None)),
        ],
    );
    let r = store.read().unwrap();
    let cases: [(&str, &[&str]); 4] = [
        ("admins", &["g1", "g2"]),
        ("AdMiNs", &["g1", "g2"]),
        ("users", &["g3"]),
        ("nobody", &[]),
    ];
    for (q, expected) in cases {
        assert_eq!(r.group_ids_by_display_name(q).unwrap(), expected, "{q}");
    }
}

#[test]
fn update_moves_index_entries() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[
            (Kind::User, "u1", user("u1", "alice", Some("e-old"))),
            (Kind::Group, "g1", group("g1", "Old Name", Some("ge-old"))),
        ],
    );
    store
        .write(|w| {
            w.update(Kind::User, "u1", &user("u1", "alicia", Some("e-new")))?;
            w.update(Kind::Group, "g1", &group("g1", "New Name", Some("ge-new")))
        })
        .unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.user_id_by_name("alice").unwrap(), None);
    assert_eq!(r.user_id_by_name("alicia").unwrap().as_deref(), Some("u1"));
    assert!(r
        .ids_by_external_id(Kind::User, "e-old")
        .unwrap()
        .is_empty());
    assert_eq!(r.ids_by_external_id(Kind::User, "e-new").unwrap(), ["u1"]);
    assert!(r.group_ids_by_display_name("old name").unwrap().is_empty());
    assert_eq!(r.group_ids_by_display_name("new name").unwrap(), ["g1"]);
    assert!(r
        .ids_by_external_id(Kind::Group, "ge-old")
        .unwrap()
        .is_empty());
    assert_eq!(r.ids_by_external_id(Kind::Group, "ge-new").unwrap(), ["g1"]);
    drop(r);

    // Dropping the attribute drops the entry.
    store
        .write(|w| w.update(Kind::User, "u1", &user("u1", "alicia", None)))
        .unwrap();
    let r = store.read().unwrap();
    assert!(r
        .ids_by_external_id(Kind::User, "e-new")
        .unwrap()
        .is_empty());
    assert!(store.verify().unwrap().is_healthy());
}

#[test]
fn update_of_an_absent_record_is_not_found() {
    let (_dir, store) = temp_store();
    for kind in [Kind::User, Kind::Group] {
        let err = store
            .write(move |w| w.update(kind, "nope", &user("nope", "x", None)))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{kind}: {err:?}");
    }
    assert_eq!(store.read().unwrap().user_id_by_name("x").unwrap(), None);
}

#[test]
fn invalid_records_are_refused_before_anything_is_written() {
    let (_dir, store) = temp_store();
    let cases = [
        (Kind::User, json!(["not", "an", "object"])),
        (Kind::User, json!({"userName": 42})),
        (
            Kind::User,
            json!({"userName": "ok", "externalId": {"a": 1}}),
        ),
        (Kind::Group, json!({"displayName": true})),
    ];
    for (kind, doc) in cases {
        let stored = doc.clone();
        let err = store
            .write(move |w| w.insert(kind, "x", &stored))
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRecord(_)),
            "{doc}: {err:?}"
        );
        assert!(!store.read().unwrap().exists(kind, "x").unwrap(), "{doc}");
    }
    // Null and absent attributes are simply not indexed.
    store
        .write(|w| {
            w.insert(
                Kind::User,
                "u1",
                &json!({"userName": "a", "externalId": null}),
            )
        })
        .unwrap();
    assert!(store.verify().unwrap().is_healthy());
}

#[test]
fn scan_visits_in_id_order_and_resumes_after() {
    let (_dir, store) = temp_store();
    let ids = ["c", "a", "e", "b", "d"];
    insert_all(
        &store,
        &ids.map(|id| (Kind::User, id, user(id, &format!("n-{id}"), None))),
    );
    let r = store.read().unwrap();
    let collect = |after: Option<&str>, limit: usize| {
        let mut seen = Vec::new();
        r.scan(Kind::User, after, &mut |id, doc| {
            assert_eq!(doc["id"], json!(id));
            seen.push(id.to_owned());
            Ok(seen.len() < limit)
        })
        .unwrap();
        seen
    };
    let cases: [(Option<&str>, usize, &[&str]); 5] = [
        (None, 10, &["a", "b", "c", "d", "e"]),
        (None, 2, &["a", "b"]),
        (Some("b"), 2, &["c", "d"]),
        (Some("bb"), 10, &["c", "d", "e"]), // a cursor need not be a live id
        (Some("e"), 10, &[]),
    ];
    for (after, limit, expected) in cases {
        assert_eq!(
            collect(after, limit),
            expected,
            "after {after:?} limit {limit}"
        );
    }
    // An error from the callback is returned as is.
    let err = r
        .scan(Kind::User, None, &mut |_, _| Err(StoreError::NotFound))
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    // Groups are a separate table.
    let mut n = 0;
    r.scan(Kind::Group, None, &mut |_, _| {
        n += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn write_tx_reads_its_own_uncommitted_state() {
    let (_dir, store) = temp_store();
    store
        .write(|w| {
            w.insert(Kind::User, "u1", &user("u1", "Alice", Some("e1")))?;
            w.insert(Kind::Group, "g1", &group("g1", "Team", Some("ge")))?;
            w.add_member("g1", "u1")?;
            assert!(w.exists(Kind::User, "u1")?);
            assert_eq!(
                w.get(Kind::User, "u1")?,
                Some(user("u1", "Alice", Some("e1")))
            );
            assert_eq!(w.user_id_by_name("ALICE")?.as_deref(), Some("u1"));
            assert_eq!(w.ids_by_external_id(Kind::User, "e1")?, ["u1"]);
            assert_eq!(w.group_ids_by_display_name("team")?, ["g1"]);
            assert_eq!(w.members("g1")?, ["u1"]);
            assert_eq!(w.groups_of("u1")?, ["g1"]);
            assert!(w.is_member("g1", "u1")?);
            assert_eq!(w.member_count("g1")?, 1);
            assert_eq!(w.count(Kind::User)?, 1);
            // A second insert in the same transaction sees the first one's name.
            let err = w.insert(Kind::User, "u2", &user("u2", "alice", None));
            assert!(matches!(err, Err(StoreError::UserNameTaken { .. })));
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

#[test]
fn get_member_reads_one_member_as_get_would() {
    let (_dir, store) = temp_store();
    insert_all(
        &store,
        &[(Kind::Group, "g1", group("g1", "Admins \"EU\"", None))],
    );
    let r = store.read().unwrap();
    let whole = r.get(Kind::Group, "g1").unwrap().unwrap();
    assert_eq!(
        r.get_member(Kind::Group, "g1", "displayName")
            .unwrap()
            .as_ref(),
        whole.get("displayName")
    );
    assert_eq!(
        r.get_member(Kind::Group, "g1", "meta").unwrap().as_ref(),
        whole.get("meta"),
        "an object member comes back whole"
    );
    assert_eq!(r.get_member(Kind::Group, "g1", "nickName").unwrap(), None);
    assert_eq!(
        r.get_member(Kind::Group, "nobody", "displayName").unwrap(),
        None
    );
    assert_eq!(r.get_member(Kind::User, "g1", "displayName").unwrap(), None);
}

#[test]
fn decode_member_keeps_the_last_duplicate_and_refuses_what_decode_refuses() {
    use crate::store::record::{decode, decode_member};
    let dup = br#"{"displayName":"old","x":[1,{"a":2}],"displayName":"new"}"#;
    assert_eq!(
        decode_member(Kind::Group, "g", dup, "displayName").unwrap(),
        decode(Kind::Group, "g", dup)
            .unwrap()
            .get("displayName")
            .cloned()
    );
    for bad in [
        &b"[1]"[..],
        b"\"s\"",
        b"{\"displayName\":",
        b"{} x",
        b"",
        b"{\"a\":tru}",
    ] {
        assert!(
            matches!(
                decode_member(Kind::Group, "g", bad, "displayName"),
                Err(StoreError::Corrupt(_))
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert!(decode(Kind::Group, "g", bad).is_err());
    }
}
