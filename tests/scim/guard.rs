//! The mass-deprovisioning guard over real TLS: user disables and deletes past the threshold are
//! held with 503 + Retry-After and change nothing, other writes flow, the control socket shows
//! and releases the hold, and a restart keeps it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{Reply, TestServer};
use scimd::config::{GuardSettings, MetricsSettings};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

fn guard(max: Option<u64>, percent_bp: Option<u32>) -> GuardSettings {
    GuardSettings {
        max_deprovisions: max,
        max_percent_bp: percent_bp,
        window: Duration::from_secs(3600),
    }
}

/// Entra's deprovision: `Replace` with the string "False".
fn entra_disable() -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
}

async fn users(s: &TestServer, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.user(&format!("user{i}@example.com")).await);
    }
    ids
}

fn assert_held(r: &Reply) {
    r.assert_error(503, None);
    assert_eq!(r.headers["retry-after"], "300", "{:?}", r.headers);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("deprovisioning guard"), "{detail}");
    assert!(detail.contains("scimd guard release"), "{detail}");
    assert!(detail.contains("Nothing was changed"), "{detail}");
}

fn socket(s: &TestServer) -> PathBuf {
    scimd::guard::live::control_socket(&s.store_path)
}

/// One control request over the real socket, as `scimd guard` sends it.
async fn control(s: &TestServer, request: Value) -> Value {
    let path = socket(s);
    tokio::task::spawn_blocking(move || scimd::control::call(&path, &request))
        .await
        .expect("join")
        .expect("the server answers on its control socket")
}

/// Runs the real `scimd` binary off the async worker (the server runs on it).
async fn scimd_cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args(&args)
            .output()
            .expect("run scimd")
    })
    .await
    .expect("join")
}

fn data_dir(s: &TestServer) -> String {
    s.store_path
        .parent()
        .map(Path::to_string_lossy)
        .expect("the store is in a directory")
        .to_string()
}

#[tokio::test]
async fn deprovisions_past_the_threshold_are_held_until_released() {
    let s = TestServer::start_with(|c| {
        c.guard = Some(guard(Some(3), None));
        c.metrics = Some(MetricsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
        });
    })
    .await;
    let ids = users(&s, 6).await;
    for id in &ids[..3] {
        let r = s.patch(&format!("/Users/{id}"), entra_disable()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["active"], false);
    }

    // The 4th trips the guard; a delete and a PUT disable are held as well.
    let r = s
        .patch(&format!("/Users/{}", ids[3]), entra_disable())
        .await;
    assert_held(&r);
    assert_held(&s.delete(&format!("/Users/{}", ids[4])).await);
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": "user5@example.com", "active": false});
    assert_held(&s.put(&format!("/Users/{}", ids[5]), put.clone()).await);
    let bulk = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "PATCH", "path": format!("/Users/{}", ids[3]), "data": entra_disable()}]});
    let r = s.post("/Bulk", bulk.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["Operations"][0]["status"], "503", "{}", r.body);

    // Nothing changed.
    assert_ne!(
        s.get(&format!("/Users/{}", ids[3])).await.body["active"],
        false,
        "not disabled"
    );
    assert_eq!(s.get(&format!("/Users/{}", ids[4])).await.status, 200);
    assert_ne!(
        s.get(&format!("/Users/{}", ids[5])).await.body["active"],
        false,
        "not disabled"
    );

    // Everything that deprovisions nobody keeps flowing.
    s.user("new.hire@example.com").await;
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Four"}]});
    let r = s.patch(&format!("/Users/{}", ids[3]), rename).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Four");
    let reactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]});
    let r = s.patch(&format!("/Users/{}", ids[0]), reactivate).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let group = s.group("staff").await;
    assert_eq!(s.delete(&format!("/Groups/{group}")).await.status, 204);

    // status over the real control socket.
    let status = control(&s, json!({"command": "status"})).await;
    assert_eq!(status["ok"], true, "{status}");
    let st = &status["status"];
    assert_eq!(st["tripped"], true, "{st}");
    assert_eq!(st["limit"], 3, "{st}");
    assert_eq!(st["inWindow"], 3, "{st}");
    assert_eq!(st["trip"]["held"], 4, "{st}");
    assert_eq!(st["distinctHeld"], 3, "{st}");
    let listed: Vec<&str> = st["trip"]["heldUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[3], &ids[4], &ids[5]]);
    assert_eq!(st["trip"]["heldUsers"][0]["userName"], "user3@example.com");

    let scrape = reqwest::get(format!("http://{}/metrics", s.metrics_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scrape.contains("scimd_guard_tripped 1"), "{scrape}");
    assert!(
        scrape.contains("scimd_guard_held_deprovisions_total 4"),
        "{scrape}"
    );
    assert!(
        scrape.contains("scimd_guard_admitted_deprovisions_total 3"),
        "{scrape}"
    );

    // A release for longer than 30 days (or a century) is refused: it would switch the guard
    // off for good.
    for too_long in [
        json!(300_000_000_000u64),
        json!(3_000_000),
        json!(59),
        json!("1h"),
    ] {
        let refused = control(&s, json!({"command": "release", "forSeconds": too_long})).await;
        assert_eq!(refused["ok"], false, "{too_long}: {refused}");
        assert!(
            refused["error"]
                .as_str()
                .unwrap_or("")
                .contains("forSeconds"),
            "{refused}"
        );
    }

    // Release: the IdP's retries now go through, past the threshold.
    let released = control(
        &s,
        json!({"command": "release", "forSeconds": 7200, "by": "alice"}),
    )
    .await;
    assert_eq!(released["ok"], true, "{released}");
    assert_eq!(released["cleared"]["held"], 4, "{released}");
    assert!(
        released["release"]["by"]
            .as_str()
            .unwrap()
            .contains("alice"),
        "{released}"
    );
    let r = s
        .patch(&format!("/Users/{}", ids[3]), entra_disable())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.delete(&format!("/Users/{}", ids[4])).await.status, 204);
    assert_eq!(
        s.put(&format!("/Users/{}", ids[5]), put).await.body["active"],
        false
    );
    for id in &ids[..3] {
        let r = s.delete(&format!("/Users/{id}")).await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let st = control(&s, json!({"command": "status"})).await;
    assert_eq!(st["status"]["tripped"], false, "{st}");

    // The trip and the release are in the audit log, read by the real binary.
    let out = scimd_cli(vec![
        "audit".into(),
        "--json".into(),
        "--data-dir".into(),
        data_dir(&s),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("\"guard-trip\""), "{log}");
    assert!(log.contains("\"guard-release\""), "{log}");
    s.stop().await;
}

#[tokio::test]
async fn a_percentage_of_the_users_trips_the_guard() {
    // 50 % of 4 users: two deletes go through, the third is held.
    let s = TestServer::start_with(|c| c.guard = Some(guard(None, Some(5000)))).await;
    let ids = users(&s, 4).await;
    assert_eq!(s.delete(&format!("/Users/{}", ids[0])).await.status, 204);
    assert_eq!(s.delete(&format!("/Users/{}", ids[1])).await.status, 204);
    assert_held(&s.delete(&format!("/Users/{}", ids[2])).await);
    assert_eq!(s.get(&format!("/Users/{}", ids[2])).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn without_a_guard_nothing_is_held() {
    let s = TestServer::start().await;
    let ids = users(&s, 12).await;
    for id in &ids[..6] {
        let r = s.patch(&format!("/Users/{id}"), entra_disable()).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for id in &ids {
        assert_eq!(s.delete(&format!("/Users/{id}")).await.status, 204);
    }
    assert!(!socket(&s).exists(), "no control socket without [guard]");
    s.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_guard_tripped() {
    let mut first = TestServer::start_with(|c| c.guard = Some(guard(Some(1), None))).await;
    let ids = users(&first, 3).await;
    assert_eq!(
        first
            .patch(&format!("/Users/{}", ids[0]), entra_disable())
            .await
            .status,
        200
    );
    assert_held(
        &first
            .patch(&format!("/Users/{}", ids[1]), entra_disable())
            .await,
    );
    first.shutdown().await;
    assert!(!socket(&first).exists(), "the socket is removed at stop");

    let store = first.store_path.clone();
    let s = TestServer::start_with(|c| {
        c.storage.path = store;
        c.guard = Some(guard(Some(1), None));
    })
    .await;
    assert_held(
        &s.patch(&format!("/Users/{}", ids[2]), entra_disable())
            .await,
    );
    assert_ne!(
        s.get(&format!("/Users/{}", ids[2])).await.body["active"],
        false,
        "not disabled"
    );

    // The real CLI against the real socket: status shows the hold, release lets it through.
    let dir = data_dir(&s);
    let out = scimd_cli(vec![
        "guard".into(),
        "status".into(),
        "--data-dir".into(),
        dir.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TRIPPED since"), "{stdout}");
    assert!(stdout.contains(&ids[1]), "{stdout}");
    let out = scimd_cli(vec![
        "guard".into(),
        "release".into(),
        "--for".into(),
        "2h".into(),
        "--data-dir".into(),
        dir.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("released:"), "{stdout}");
    assert_eq!(
        s.patch(&format!("/Users/{}", ids[2]), entra_disable())
            .await
            .status,
        200
    );
    s.stop().await;

    // Stopped: status reads the saved state; release needs the server.
    let out = scimd_cli(vec![
        "guard".into(),
        "status".into(),
        "--data-dir".into(),
        dir.clone(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the server is not running"), "{stdout}");
    assert!(stdout.contains("not tripped"), "{stdout}");
    let out = scimd_cli(vec![
        "guard".into(),
        "release".into(),
        "--data-dir".into(),
        dir,
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the server is not running"));
}
