//! Opening, reopening, atomicity.

use super::{add_members, group, insert_all, temp_store, user};
use crate::store::{tables, Kind, Options, Store, StoreError};

#[test]
fn an_error_from_the_closure_persists_nothing() {
    let (_dir, store) = temp_store();
    #[derive(Debug)]
    enum AppError {
        Refused,
        Store(StoreError),
    }
    impl From<StoreError> for AppError {
        fn from(e: StoreError) -> Self {
            AppError::Store(e)
        }
    }
    let result: Result<(), AppError> = store.write(|w| {
        w.insert(Kind::User, "u1", &user("u1", "alice", Some("e1")))?;
        w.insert(Kind::Group, "g1", &group("g1", "G", Some("ge1")))?;
        w.add_member("g1", "u1")?;
        Err(AppError::Refused)
    });
    match result {
        Err(AppError::Refused) => {}
        Err(AppError::Store(e)) => panic!("the store refused: {e}"),
        Ok(()) => panic!("the closure's error was lost"),
    }

    // A store error that stops the closure half-way rolls back what came before it, too.
    let result = store.write(|w| {
        w.insert(Kind::User, "u2", &user("u2", "bob", None))?;
        w.insert(Kind::User, "u3", &user("u3", "BOB", None))
    });
    assert!(matches!(result, Err(StoreError::UserNameTaken { .. })));

    let r = store.read().unwrap();
    for (kind, id) in [(Kind::User, "u1"), (Kind::Group, "g1"), (Kind::User, "u2")] {
        assert!(!r.exists(kind, id).unwrap(), "{kind} {id}");
    }
    assert_eq!(r.user_id_by_name("alice").unwrap(), None);
    assert_eq!(r.user_id_by_name("bob").unwrap(), None);
    assert!(r.ids_by_external_id(Kind::User, "e1").unwrap().is_empty());
    assert!(r.ids_by_external_id(Kind::Group, "ge1").unwrap().is_empty());
    assert!(r.group_ids_by_display_name("g").unwrap().is_empty());
    assert!(r.members("g1").unwrap().is_empty());
    assert!(r.groups_of("u1").unwrap().is_empty());
    assert_eq!(r.count(Kind::User).unwrap(), 0);
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scimd.redb");
    {
        let store = Store::open(&path).unwrap();
        insert_all(
            &store,
            &[
                (Kind::User, "u1", user("u1", "Alice", Some("e1"))),
                (Kind::Group, "g1", group("g1", "Team", None)),
            ],
        );
        add_members(&store, &[("g1", "u1")]);
    }
    // Reopened with a small page cache (`[storage] cache_mib`): the same data.
    let store = Store::open_with(
        &path,
        Options {
            cache_bytes: 16 << 20,
            ..Options::default()
        },
    )
    .unwrap();
    let r = store.read().unwrap();
    assert_eq!(
        r.get(Kind::User, "u1").unwrap(),
        Some(user("u1", "Alice", Some("e1")))
    );
    assert_eq!(r.user_id_by_name("alice").unwrap().as_deref(), Some("u1"));
    assert_eq!(r.ids_by_external_id(Kind::User, "e1").unwrap(), ["u1"]);
    assert_eq!(r.group_ids_by_display_name("TEAM").unwrap(), ["g1"]);
    assert_eq!(r.members("g1").unwrap(), ["u1"]);
    assert_eq!(r.groups_of("u1").unwrap(), ["g1"]);
}

#[test]
fn a_fresh_store_reads_empty_without_missing_tables() {
    let (_dir, store) = temp_store();
    let r = store.read().unwrap();
    for kind in [Kind::User, Kind::Group] {
        assert_eq!(r.count(kind).unwrap(), 0);
        assert_eq!(r.get(kind, "x").unwrap(), None);
        assert!(r.ids_by_external_id(kind, "x").unwrap().is_empty());
    }
    assert_eq!(r.user_id_by_name("x").unwrap(), None);
    assert!(r.group_ids_by_display_name("x").unwrap().is_empty());
    assert!(r.groups_of("x").unwrap().is_empty());
    assert!(!r.is_member("g", "x").unwrap());
    let report = store.verify().unwrap();
    assert!(report.is_healthy());
    assert_eq!((report.users, report.groups, report.memberships), (0, 0, 0));
}

#[test]
fn a_second_open_of_the_same_file_is_refused_clearly() {
    let (dir, _store) = temp_store();
    let path = dir.path().join("scimd.redb");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyOpen { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("already open in another scimd process"),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn open_in_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("scimd.redb");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn schema_version_is_written_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scimd.redb");
    drop(Store::open(&path).unwrap());
    // (version written by hand, outcome of the next open)
    let cases = [
        ("2", "ok"),
        ("1", "ok"), // upgraded in place (time_index.rs checks the upgrade itself)
        ("0", "corrupt"),
        ("3", "newer"),
        ("17", "newer"),
        ("banana", "corrupt"),
    ];
    for (version, expected) in cases {
        {
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(tables::META).unwrap();
                let before = meta.insert(tables::SCHEMA_VERSION_KEY, version).unwrap();
                // The first open wrote "2", and every case restores it below.
                assert_eq!(before.unwrap().value(), "2");
            }
            txn.commit().unwrap();
        }
        let result = Store::open(&path);
        match (expected, &result) {
            ("ok", Ok(_)) => {}
            (
                "newer",
                Err(StoreError::UnsupportedSchemaVersion {
                    found, supported, ..
                }),
            ) => {
                assert_eq!((found.as_str(), *supported), (version, 2));
            }
            ("corrupt", Err(StoreError::Corrupt(msg))) => assert!(msg.contains(version), "{msg}"),
            _ => panic!("version {version:?}: got {result:?}"),
        }
        drop(result);
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_VERSION_KEY, "2")
            .unwrap();
        txn.commit().unwrap();
    }
}
