//! The real `scimd` binary on the data: `db backup | restore | stats`, `export`, `import`,
//! `token list | revoke`. A live server, where one is needed, is the binary too, over plain HTTP
//! on loopback, so that it holds the store the way production does: in another process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

fn scimd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A plain-HTTP loopback config with one token, its store in `dir/data`.
fn write_config(dir: &Path, port: u16) -> PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let path = dir.join("scimd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"data/scimd.redb\"\n\n\
             [[tokens]]\nname = \"test\"\nsha256 = \"{}\"\n",
            scimd::auth::sha256_hex(SECRET)
        ),
    )
    .unwrap();
    path
}

fn store_of(dir: &Path) -> PathBuf {
    dir.join("data").join("scimd.redb")
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn user(id: &str, name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id, "userName": name,
           "name": {"givenName": name}, "emails": [{"value": format!("{name}@example.com"), "primary": true}],
           "password": "never-exported",
           "meta": {"resourceType": "User", "created": "2020-01-01T00:00:00Z"}})
}

fn group(id: &str, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": id,
           "displayName": name, "members": members})
}

fn write_lines(path: &Path, lines: &[Value]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, body).unwrap();
}

/// Export lines without `meta`, which an import re-stamps, sorted by id.
fn comparable(path: &Path) -> Vec<Value> {
    let mut v: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("meta");
            v
        })
        .collect();
    v.sort_by_key(|r| r["id"].as_str().unwrap().to_string());
    v
}

fn stats(config: &Path) -> String {
    ok(&scimd(&["db", "stats", "--config", s(config)]))
}

/// A small directory: three users, a group holding two users and a nested group, listed with
/// the groups first so members refer forward.
fn seed(dir: &Path, config: &Path) -> Vec<String> {
    let ids: Vec<String> = (0..5).map(|_| uuid()).collect();
    let file = dir.join("seed.jsonl");
    write_lines(
        &file,
        &[
            group(&ids[3], "Staff", &[&ids[0], &ids[1], &ids[4]]),
            group(&ids[4], "Admins", &[&ids[2]]),
            user(&ids[0], "alice"),
            user(&ids[1], "bob"),
            user(&ids[2], "carol"),
        ],
    );
    let out = ok(&scimd(&["import", "--config", s(config), s(&file)]));
    assert!(
        out.contains("3 users and 2 groups (4 membership edges)"),
        "{out}"
    );
    assert!(out.contains("5 ids kept, 0 assigned"), "{out}");
    ids
}

#[test]
fn backup_then_restore_round_trips_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    seed(dir.path(), &config);
    let before = stats(&config);
    assert!(before.contains("users:          3"), "{before}");
    assert!(before.contains("memberships:    4"), "{before}");
    assert!(before.contains("schema version: 2"), "{before}");

    let backup = dir.path().join("backup.redb");
    let out = ok(&scimd(&[
        "db",
        "backup",
        "--config",
        s(&config),
        s(&backup),
    ]));
    assert!(
        out.contains("3 users, 2 groups, 4 membership edges"),
        "{out}"
    );
    assert!(out.contains("verified OK"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup must be private: {mode:o}");
    }
    // Never overwrites.
    let again = scimd(&["db", "backup", "--config", s(&config), s(&backup)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));

    // Change the store, then restore the backup over it.
    let more = dir.path().join("more.jsonl");
    write_lines(&more, &[user(&uuid(), "dave")]);
    ok(&scimd(&["import", "--config", s(&config), s(&more)]));
    assert!(stats(&config).contains("users:          4"));

    let out = ok(&scimd(&[
        "db",
        "restore",
        "--config",
        s(&config),
        s(&backup),
    ]));
    assert!(
        out.contains("3 users, 2 groups, 4 membership edges"),
        "{out}"
    );
    let kept = out
        .lines()
        .find_map(|l| l.strip_prefix("The previous store is kept as "))
        .expect("names the kept file");
    assert!(Path::new(kept).is_file(), "{kept}");
    assert!(kept.contains("scimd.redb.before-restore-"), "{kept}");

    let after = stats(&config);
    for line in [
        "users:          3",
        "groups:         2",
        "memberships:    4",
    ] {
        assert!(after.contains(line), "{after}");
    }
    let verify = ok(&scimd(&["db", "verify", "--config", s(&config)]));
    assert!(verify.contains("OK"), "{verify}");
    // The kept file is the store as it was just before: with dave.
    let kept_dir = tempfile::tempdir().unwrap();
    std::fs::copy(kept, kept_dir.path().join("scimd.redb")).unwrap();
    let out = ok(&scimd(&["db", "stats", "--data-dir", s(kept_dir.path())]));
    assert!(out.contains("users:          4"), "{out}");

    // A file that is not a store is refused, and the store is left alone.
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a database").unwrap();
    let out = scimd(&["db", "restore", "--config", s(&config), s(&junk)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert!(stats(&config).contains("users:          3"));
}

#[test]
fn restore_and_import_are_refused_while_another_process_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    seed(dir.path(), &config);
    let backup = dir.path().join("backup.redb");
    ok(&scimd(&[
        "db",
        "backup",
        "--config",
        s(&config),
        s(&backup),
    ]));

    // This test process is "the server": it holds the store as the writer.
    let held = scimd::store::Store::open(&store_of(dir.path())).unwrap();
    let out = scimd(&["db", "restore", "--config", s(&config), s(&backup)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("in use by a running scimd"), "{stderr}");
    assert!(stderr.contains("stop it first"), "{stderr}");
    assert!(stderr.contains("Nothing was changed"), "{stderr}");

    let more = dir.path().join("more.jsonl");
    write_lines(&more, &[user(&uuid(), "dave")]);
    let out = scimd(&["import", "--config", s(&config), s(&more)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("in use by a running scimd"));

    // Reading is allowed beside the writer.
    assert!(stats(&config).contains("users:          3"));
    drop(held);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["scimd.redb".to_string()]);
}

#[test]
fn export_then_import_into_an_empty_store_reproduces_the_directory() {
    let a = tempfile::tempdir().unwrap();
    let config_a = write_config(a.path(), 8443);
    let ids = seed(a.path(), &config_a);
    let exported = a.path().join("export.jsonl");
    let out = ok(&scimd(&["export", "--config", s(&config_a), s(&exported)]));
    assert!(
        out.contains("3 users and 2 groups (4 membership edges)"),
        "{out}"
    );
    let body = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(body.lines().count(), 5);
    assert!(!body.contains("never-exported"), "a password was exported");
    assert!(
        !body.contains("\"groups\""),
        "User.groups is derived, not exported"
    );
    let staff: Value = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == ids[3].as_str())
        .unwrap();
    assert_eq!(staff["members"].as_array().unwrap().len(), 3);
    assert!(staff["members"]
        .as_array()
        .unwrap()
        .contains(&json!({"value": ids[4], "type": "Group"})));

    let b = tempfile::tempdir().unwrap();
    let config_b = write_config(b.path(), 8443);
    let out = ok(&scimd(&["import", "--config", s(&config_b), s(&exported)]));
    assert!(out.contains("5 ids kept, 0 assigned"), "{out}");
    let reexported = b.path().join("export.jsonl");
    ok(&scimd(&[
        "export",
        "--config",
        s(&config_b),
        s(&reexported),
    ]));
    assert_eq!(comparable(&exported), comparable(&reexported));
    assert!(ok(&scimd(&["db", "verify", "--config", s(&config_b)])).contains("OK"));

    // The same file again into the same store: the ids are taken, so they would be reassigned,
    // but every userName is taken too: all refused, nothing written.
    let out = scimd(&["import", "--config", s(&config_b), s(&exported)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already taken"),
        "{}",
        text(&out.stderr)
    );
    assert!(stats(&config_b).contains("users:          3"));
}

#[test]
fn import_reports_every_bad_line_by_number_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    let file = dir.path().join("bad.jsonl");
    let (u1, g1) = (uuid(), uuid());
    let lines = [
        user(&u1, "alice").to_string(), // 1 good
        "{not json".to_string(),        // 2
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}).to_string(), // 3 no userName
        user(&uuid(), "ALICE").to_string(), // 4 name taken by line 1
        String::new(),                      // 5 blank: skipped
        group(&g1, "Staff", &[&u1, "no-such-member"]).to_string(), // 6 unknown member
        json!({"displayName": "what am I"}).to_string(), // 7 no schema
        user(&u1, "dup").to_string(),       // 8 duplicate id
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = scimd(&["import", "--config", s(&config), s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let name = s(&file);
    for (line, says) in [
        (2, "not JSON"),
        (3, "userName"),
        (4, "already taken by the User on line 1"),
        (6, "no-such-member"),
        (7, "neither a User nor a Group"),
        (8, "already used by line 1"),
    ] {
        assert!(
            stderr.contains(&format!("{name}:{line}: "))
                && stderr
                    .lines()
                    .any(|l| l.starts_with(&format!("{name}:{line}: ")) && l.contains(says)),
            "line {line} ({says}) not reported in:\n{stderr}"
        );
    }
    for line in [1, 5] {
        assert!(!stderr.contains(&format!("{name}:{line}: ")), "{stderr}");
    }
    assert!(stderr.contains("6 line(s)"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let after = stats(&config);
    assert!(after.contains("users:          0"), "{after}");
    assert!(after.contains("groups:         0"), "{after}");
}

/// An id the importing server cannot keep (not a UUID) gets a new one, and members naming it
/// follow it.
#[test]
fn import_reassigns_foreign_ids_and_resolves_members_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    let file = dir.path().join("okta.jsonl");
    write_lines(
        &file,
        &[
            user("00u1abcd", "erin"),
            group("00g1abcd", "Ops", &["00u1abcd"]),
        ],
    );
    let out = ok(&scimd(&["import", "--config", s(&config), s(&file)]));
    assert!(out.contains("0 ids kept, 2 assigned"), "{out}");
    assert!(out.contains("(1 membership edges)"), "{out}");
    let exported = dir.path().join("export.jsonl");
    ok(&scimd(&["export", "--config", s(&config), s(&exported)]));
    let rows = comparable(&exported);
    let erin = rows.iter().find(|r| r["userName"] == "erin").unwrap();
    let ops = rows.iter().find(|r| r["displayName"] == "Ops").unwrap();
    assert_eq!(ops["members"][0]["value"], erin["id"]);
}

// ---- a live server ----------------------------------------------------------------------

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(config: &Path, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--config", s(config)])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The banner's URL line is printed once the store is open and the listener bound.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("URL:") => break,
            Some(Ok(_)) => {}
            _ => panic!("the server exited before it was ready"),
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// One POST over a fresh HTTP/1.1 connection; returns the status and the body.
fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut conn = TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {SECRET}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let status: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = reply
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| {
            // Accept a chunked body too: the JSON object is between the outer braces.
            let start = b.find('{')?;
            let end = b.rfind('}')?;
            serde_json::from_str(b.get(start..=end)?).ok()
        })
        .unwrap_or(Value::Null);
    (status, json)
}

#[test]
fn backup_while_serving_holds_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let server = serve(&config, port);
    let addr = server.addr;

    let (status, group) = post(
        addr,
        "/scim/v2/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All"}),
    );
    assert_eq!(status, 201, "{group}");

    // A writer keeps creating users while the backup runs; `acked` are the ids it has been
    // answered 201 for.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (status, body) = post(
                    addr,
                    "/scim/v2/Users",
                    &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                            "userName": format!("load{n}")}),
                );
                assert_eq!(status, 201, "{body}");
                acked
                    .lock()
                    .unwrap()
                    .push(body["id"].as_str().unwrap().to_string());
            }
        })
    };
    while acked.lock().unwrap().len() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    let live = stats(&config);
    assert!(
        live.contains("groups:         1"),
        "db stats beside the server: {live}"
    );

    let before: Vec<String> = acked.lock().unwrap().clone();
    let backup_dir = tempfile::tempdir().unwrap();
    let backup = backup_dir.path().join("scimd.redb");
    let out = ok(&scimd(&[
        "db",
        "backup",
        "--config",
        s(&config),
        s(&backup),
    ]));
    assert!(out.contains("verified OK"), "{out}");
    let exported = dir.path().join("live.jsonl");
    ok(&scimd(&["export", "--config", s(&config), s(&exported)]));
    // The audit log reads beside the server too: one entry per acknowledged create.
    let audit = ok(&scimd(&[
        "audit",
        "--config",
        s(&config),
        "--json",
        "--limit",
        "0",
        "--token",
        "test",
    ]));
    let entries: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for id in &before {
        assert!(
            entries
                .iter()
                .any(|e| e["id"] == id.as_str() && e["operation"] == "create"),
            "no audit entry for {id}"
        );
    }
    let one = ok(&scimd(&[
        "audit",
        "--config",
        s(&config),
        "--resource",
        &before[0],
    ]));
    assert_eq!(one.lines().count(), 1, "{one}");
    // db verify checks a snapshot beside the running server.
    let live_verify = ok(&scimd(&["db", "verify", "--config", s(&config)]));
    assert!(live_verify.contains("OK"), "{live_verify}");
    // token list reads each token's last change from the same log.
    let tokens = ok(&scimd(&["token", "list", "--config", s(&config)]));
    let row = tokens
        .lines()
        .find(|l| l.starts_with("test "))
        .unwrap_or_default();
    assert!(row.trim_end().ends_with('Z'), "{tokens}");
    assert!(one.contains("create") && one.contains("userName"), "{one}");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    drop(server);

    let verify = ok(&scimd(&[
        "db",
        "verify",
        "--data-dir",
        s(backup_dir.path()),
    ]));
    assert!(verify.contains("OK"), "{verify}");
    let store = scimd::store::Store::open(&backup).unwrap();
    let tx = store.read().unwrap();
    for id in &before {
        assert!(
            tx.exists(scimd::store::Kind::User, id).unwrap(),
            "user {id}, acknowledged before the backup began, is missing from it"
        );
    }
    let users = tx.count(scimd::store::Kind::User).unwrap() as usize;
    assert!(users >= before.len());
    assert!(std::fs::read_to_string(&exported).unwrap().lines().count() > before.len());
}

// ---- tokens -----------------------------------------------------------------------------

#[test]
fn token_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    {
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.insert_str(0, "# operator notes stay\n");
        std::fs::write(&config, text).unwrap();
    }
    let issued = ok(&scimd(&[
        "token",
        "issue",
        "--name",
        "entra",
        "--config",
        s(&config),
    ]));
    let secret = issued.lines().nth(2).unwrap().trim().to_string();
    let hash = scimd::auth::sha256_hex(&secret);

    let out = ok(&scimd(&["token", "list", "--config", s(&config)]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[1].starts_with("test ") && lines[1].contains("unknown"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("entra") && lines[2].contains("Z "),
        "{out}"
    );
    assert!(out.contains("LAST CHANGE"), "{out}");
    assert!(out.contains("unknown (no store to read)"), "{out}");
    assert!(!out.contains(&hash) && !out.contains(&secret), "{out}");

    let out = ok(&scimd(&[
        "token",
        "revoke",
        "entra",
        "--config",
        s(&config),
    ]));
    assert!(out.contains("systemctl reload scimd"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains(&hash) && !text.contains("entra"), "{text}");
    assert!(text.starts_with("# operator notes stay\n"), "{text}");
    ok(&scimd(&["check-config", "--config", s(&config)]));

    let out = scimd(&["token", "revoke", "nope", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text_of(&out).contains("no token named \"nope\""),
        "{}",
        text_of(&out)
    );
    let out = scimd(&["token", "revoke", "test", "--config", s(&config)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text_of(&out).contains("only token"), "{}", text_of(&out));
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("name = \"test\""));
}

fn text_of(out: &Output) -> String {
    text(&out.stderr)
}

// ---- imports larger than one transaction ------------------------------------------------

/// More lines than one write transaction takes (10,000): a refusal on the last line still
/// leaves the store untouched, because the whole file is checked before anything is written;
/// without it, every line is written, and a group listed first gets members from every chunk.
#[test]
fn import_larger_than_a_chunk_is_checked_whole_before_any_chunk_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    let ids: Vec<String> = (0..12_000).map(|_| uuid()).collect();
    let group_id = uuid();
    let mut lines = vec![group(
        &group_id,
        "Everyone sampled",
        &[&ids[0], &ids[6_789], &ids[11_999], &ids[0]],
    )
    .to_string()];
    lines.extend(
        ids.iter()
            .enumerate()
            .map(|(i, id)| user(id, &format!("bulk.user.{i}")).to_string()),
    );
    let good = lines.join("\n");
    let file = dir.path().join("big.jsonl");
    std::fs::write(&file, format!("{good}\n{}\n", user(&uuid(), "BULK.USER.7"))).unwrap();

    let out = scimd(&["import", "--config", s(&config), s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:12002: ", s(&file)))
            && stderr.contains("already taken by the User on line 9"),
        "{stderr}"
    );
    assert!(stderr.contains("1 line(s)"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(stats(&config).contains("users:          0"));

    std::fs::write(&file, format!("{good}\n")).unwrap();
    let out = ok(&scimd(&["import", "--config", s(&config), s(&file)]));
    assert!(
        out.contains("12000 users and 1 groups (3 membership edges)"),
        "{out}"
    );
    assert!(out.contains("12001 ids kept, 0 assigned"), "{out}");
    let after = stats(&config);
    assert!(after.contains("users:          12000"), "{after}");
    assert!(after.contains("memberships:    3"), "{after}");
    assert!(ok(&scimd(&["db", "verify", "--config", s(&config)])).contains("OK"));
}

fn directory_at(dir: &Path) -> Arc<scimd::directory::Directory> {
    let store = scimd::store::Store::open(&dir.join("scimd.redb")).unwrap();
    Arc::new(scimd::directory::Directory::new(
        Arc::new(store),
        scimd::scim::Registry::new(),
        "",
        1,
    ))
}

/// Tiny chunks: resources and memberships spread over many transactions, foreign ids
/// reassigned in one chunk and named as members in another.
#[test]
fn import_in_small_chunks_resolves_members_across_transactions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory_at(tmp.path());
    let lines: Vec<String> = vec![
        group(
            "okta-g1",
            "Ops",
            &["okta-u1", "okta-u2", "okta-u3", "okta-u4", "okta-u5"],
        )
        .to_string(),
        user("okta-u1", "u1").to_string(),
        user("okta-u2", "u2").to_string(),
        String::new(),
        user("okta-u3", "u3").to_string(),
        user("okta-u4", "u4").to_string(),
        user("okta-u5", "u5").to_string(),
    ];
    let body = lines.join("\n");
    let c = dir
        .import_in_chunks(|| Ok(std::io::Cursor::new(body.clone())), 2)
        .unwrap();
    assert_eq!((c.users, c.groups, c.memberships), (5, 1, 5));
    assert_eq!((c.ids_kept, c.ids_assigned), (0, 6));
    drop(dir);
    let store = scimd::store::Store::open(&tmp.path().join("scimd.redb")).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_healthy(), "{:?}", report.problems);
    assert_eq!((report.users, report.groups, report.memberships), (5, 1, 5));
}

/// When writing stops after some chunks were committed (here: the file changed between the
/// check and the write), the error says so and how much is in the store, rather than
/// claiming nothing was imported.
#[test]
fn an_import_interrupted_after_a_commit_says_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = directory_at(tmp.path());
    let good: Vec<String> = (0..5)
        .map(|i| user(&uuid(), &format!("u{i}")).to_string())
        .collect();
    let mut changed = good.clone();
    changed[3] = "{not json".to_string();
    let (good, changed) = (good.join("\n"), changed.join("\n"));
    let reads = std::cell::Cell::new(0);
    let open = || {
        reads.set(reads.get() + 1);
        let text = if reads.get() == 1 { &good } else { &changed };
        Ok(std::io::Cursor::new(text.clone()))
    };
    match dir.import_in_chunks(open, 2) {
        Err(scimd::directory::TransferError::Interrupted {
            imported,
            chunk,
            reason,
        }) => {
            assert_eq!((imported.users, chunk), (2, 2));
            assert!(reason.contains("line 4"), "{reason}");
        }
        other => panic!("expected an interrupted import, got {other:?}"),
    }
    assert_eq!(reads.get(), 2);
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// A purge of leavers frees pages in the middle of the file, which redb reuses but does not give
/// back; `db compact` gives them back and keeps every record and edge. It is refused, with no
/// record changed, while a server holds the store or another process is reading it.
#[test]
fn compact_returns_the_space_of_deleted_users_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 8443);
    let ids = seed(dir.path(), &config);
    // Leavers with a large attribute each, so that their records fill a few megabytes.
    let leavers: Vec<String> = (0..600).map(|_| uuid()).collect();
    let lines: Vec<Value> = leavers
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut u = user(id, &format!("leaver{i}"));
            u["title"] = json!("x".repeat(6000));
            u
        })
        .collect();
    let file = dir.path().join("leavers.jsonl");
    write_lines(&file, &lines);
    ok(&scimd(&["import", "--config", s(&config), s(&file)]));
    {
        let directory = directory_at(&dir.path().join("data"));
        let actor = scimd::directory::Actor::local("test");
        for id in &leavers {
            directory
                .delete(scimd::scim::ResourceKind::User, id, None, &actor)
                .unwrap();
        }
    }
    let store = store_of(dir.path());
    let before = file_size(&store);
    let seeded = stats(&config);
    let seeded = seeded.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert!(seeded.contains("users:          3"), "{seeded}");

    let refused = |why: &[&str]| {
        let out = scimd(&["db", "compact", "--config", s(&config)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        for part in why {
            assert!(stderr.contains(part), "{part:?} in {stderr}");
        }
    };
    // Refused while another process holds the store as the writer (a server)...
    let held = scimd::store::Store::open(&store).unwrap();
    refused(&["in use by a running scimd", "Nothing was changed"]);
    drop(held);
    // ...and while one reads a snapshot of it (a `db backup` beside the server).
    let reader = scimd::store::ReadOnlyStore::open(&store).unwrap();
    let snapshot = reader.read().unwrap();
    refused(&["another process is reading", "No record was changed"]);
    drop(snapshot);
    drop(reader);
    let unchanged = stats(&config);
    assert_eq!(
        unchanged.lines().skip(3).collect::<Vec<_>>().join("\n"),
        seeded,
        "{unchanged}"
    );

    let out = ok(&scimd(&["db", "compact", "--config", s(&config)]));
    assert!(out.contains("3 users, 2 groups"), "{out}");
    assert!(out.contains("4 membership edges"), "{out}");
    assert!(
        out.contains("OK: every index entry and membership edge matches"),
        "{out}"
    );
    let after = file_size(&store);
    // The leavers' records alone took 600 x 6 KB; their import's audit entries stay.
    assert!(
        before.saturating_sub(after) > 3_000_000,
        "{before} bytes before, {after} after: the leavers' pages were not given back\n{out}"
    );
    // Every record, edge and index entry as before; stats' first lines name the file and size.
    let now = stats(&config);
    assert_eq!(
        now.lines().skip(3).collect::<Vec<_>>().join("\n"),
        seeded,
        "{now}"
    );
    let exported = dir.path().join("after.jsonl");
    ok(&scimd(&["export", "--config", s(&config), s(&exported)]));
    let kept: Vec<String> = comparable(&exported)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(kept, expected);
    assert!(ok(&scimd(&["db", "verify", "--config", s(&config)])).contains("OK"));

    // No store, no compaction: a configuration error.
    let empty = tempfile::tempdir().unwrap();
    let out = scimd(&["db", "compact", "--data-dir", s(empty.path())]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
