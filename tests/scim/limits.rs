//! `[limits]`: each limit set small, refused with a SCIM Error that names it, nothing stored;
//! and the slow-client defences (body and idle timeouts, the connection cap against slowloris).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{q, Reply, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Everything stored, to show a refusal changed nothing.
async fn snapshot(s: &TestServer) -> (Value, Value) {
    let users = s.get("/Users?count=1000").await;
    let groups = s.get("/Groups?count=1000").await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(groups.status, 200, "{}", groups.body);
    (users.body, groups.body)
}

fn detail(r: &Reply) -> &str {
    r.body["detail"].as_str().unwrap_or_default()
}

/// Asserts a SCIM error whose detail names the limit's key and its configured value.
fn assert_limit(r: &Reply, status: u16, scim_type: Option<&str>, key: &str, value: usize) {
    r.assert_error(status, scim_type);
    let d = detail(r);
    assert!(
        d.contains(key) && d.contains(&value.to_string()),
        "detail should name {key} = {value}: {d}"
    );
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413_and_stores_nothing() {
    let s = TestServer::start_with(|c| c.limits.max_body_bytes = 2048).await;
    let before = snapshot(&s).await;
    let big = json!({"schemas": [USER], "userName": "big@x", "title": "x".repeat(3000)});
    let r = s.post("/Users", big).await;
    assert_limit(&r, 413, None, "max_body_bytes", 2048);
    assert_eq!(snapshot(&s).await, before);
    // Just under the configured limit is fine: the limit is the configured one.
    let ok = json!({"schemas": [USER], "userName": "ok@x", "title": "x".repeat(1500)});
    assert_eq!(s.post("/Users", ok).await.status, 201);
}

#[tokio::test]
async fn a_bulk_body_over_max_bulk_body_bytes_is_413_and_published() {
    let s = TestServer::start_with(|c| c.limits.max_bulk_body_bytes = 4096).await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["bulk"]["maxPayloadSize"], 4096, "{}", spc.body);
    let before = snapshot(&s).await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a",
            "data": {"schemas": [USER], "userName": "bulk@x", "title": "x".repeat(5000)}}]
    });
    let r = s.post("/Bulk", body).await;
    r.assert_error(413, None);
    assert!(
        detail(&r).contains("maxPayloadSize (4096 bytes"),
        "{}",
        r.body
    );
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn a_head_over_max_header_bytes_or_max_headers_is_a_scim_431() {
    let s = TestServer::start_with(|c| {
        c.limits.max_header_bytes = 8192;
        c.limits.max_headers = 16;
    })
    .await;
    let before = snapshot(&s).await;
    let user = json!({"schemas": [USER], "userName": "head@x"});
    // Both HTTP/1.1 and h2 (the shared client negotiates h2): hyper's caps are twice these.
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&s.cert_pem).expect("pem")])
        .http1_only()
        .build()
        .expect("client");
    for client in [&s.client, &h1] {
        let r = client
            .post(s.url("/Users"))
            .bearer_auth(&s.token)
            .header("Content-Type", "application/scim+json")
            .header("X-Padding", "p".repeat(9000))
            .body(user.to_string())
            .send()
            .await
            .expect("an answer");
        assert_limit(&Reply::from(r).await, 431, None, "max_header_bytes", 8192);
        let mut req = client
            .post(s.url("/Users"))
            .bearer_auth(&s.token)
            .header("Content-Type", "application/scim+json");
        for i in 0..20 {
            req = req.header(format!("X-Extra-{i}"), "1");
        }
        let r = req.body(user.to_string()).send().await.expect("an answer");
        let r = Reply::from(r).await;
        r.assert_error(431, None);
        assert!(
            detail(&r).contains("limit is 16 (max_headers)"),
            "{}",
            r.body
        );
    }
    assert_eq!(snapshot(&s).await, before);
}

#[tokio::test]
async fn a_filter_over_max_filter_length_or_depth_is_invalid_filter() {
    let s = TestServer::start_with(|c| {
        c.limits.max_filter_length = 64;
        c.limits.max_filter_depth = 3;
    })
    .await;
    s.user("f@x").await;
    let long = format!("userName eq \"{}\"", "a".repeat(60));
    let r = s.get(&format!("/Users?filter={}", q(&long))).await;
    assert_limit(&r, 400, Some("invalidFilter"), "max_filter_length", 64);
    let r = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": long}),
        )
        .await;
    assert_limit(&r, 400, Some("invalidFilter"), "max_filter_length", 64);

    // Depth counts the whole expression and each parenthesized group: 4 levels here.
    let deep = "(((userName pr)))";
    let r = s.get(&format!("/Users?filter={}", q(deep))).await;
    assert_limit(&r, 400, Some("invalidFilter"), "max_filter_depth", 3);
    let r = s
        .get(&format!("/Users?filter={}", q("((userName pr))")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
}

#[tokio::test]
async fn a_patch_over_max_patch_operations_is_too_many_and_changes_nothing() {
    let s = TestServer::start_with(|c| c.limits.max_patch_operations = 3).await;
    let id = s.user("p@x").await;
    let before = snapshot(&s).await;
    let ops = |n: usize| -> Value {
        let ops: Vec<Value> = (0..n)
            .map(|i| json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
            .collect();
        json!({"schemas": [PATCH_OP], "Operations": ops})
    };
    let r = s.patch(&format!("/Users/{id}"), ops(4)).await;
    assert_limit(&r, 400, Some("tooMany"), "max_patch_operations", 3);
    assert!(detail(&r).contains("4 operations"), "{}", r.body);
    assert_eq!(snapshot(&s).await, before);
    let r = s.patch(&format!("/Users/{id}"), ops(3)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["title"], "t2");
}

#[tokio::test]
async fn members_over_max_members_per_request_are_refused_in_post_put_and_patch() {
    let s = TestServer::start_with(|c| c.limits.max_members_per_request = 2).await;
    let mut ids = Vec::new();
    for n in ["m1@x", "m2@x", "m3@x"] {
        ids.push(s.user(n).await);
    }
    let gid = s.group("g").await;
    let members = |n: usize| -> Value {
        Value::Array(ids.iter().take(n).map(|i| json!({"value": i})).collect())
    };
    let before = snapshot(&s).await;

    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "big", "members": members(3)}),
        )
        .await;
    assert_limit(&r, 400, Some("invalidValue"), "max_members_per_request", 2);
    let r = s
        .put(
            &format!("/Groups/{gid}"),
            json!({"schemas": [GROUP], "displayName": "g", "members": members(3)}),
        )
        .await;
    assert_limit(&r, 400, Some("invalidValue"), "max_members_per_request", 2);
    let add = |n: usize| json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members(n)}]});
    let r = s.patch(&format!("/Groups/{gid}"), add(3)).await;
    assert_limit(&r, 400, Some("tooMany"), "max_members_per_request", 2);
    assert!(detail(&r).contains("3 members"), "{}", r.body);
    assert_eq!(snapshot(&s).await, before);

    // At the limit, accepted.
    assert_eq!(s.patch(&format!("/Groups/{gid}"), add(2)).await.status, 204);
    let g = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(
        g.body["members"].as_array().map(Vec::len),
        Some(2),
        "{}",
        g.body
    );
}

#[tokio::test]
async fn max_page_size_clamps_count() {
    let s = TestServer::start_with(|c| c.server.max_page_size = 2).await;
    for n in ["a@x", "b@x", "c@x"] {
        s.user(n).await;
    }
    let r = s.get("/Users?count=10").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"].as_array().map(Vec::len), Some(2));
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["filter"]["maxResults"], 2, "{}", spc.body);
}

// ---------------------------------------------------------------------------------------------
// Slow clients, over raw TLS (HTTP/1.1 by ALPN) so the test controls every byte and its pace.

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(s: &TestServer) -> Tls {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&s.cert_pem) {
        roots.add(c.expect("cert")).expect("root");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .expect("name")
        .to_owned();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("handshake")
}

/// Reads one response (Content-Length framed): its status and body.
async fn read_response(tls: &mut Tls) -> (u16, Value) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("status line");
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = tls.read(&mut chunk).await.expect("read body");
                assert!(n > 0, "connection closed mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or(Value::Null);
            return (status, body);
        }
        let n = tls.read(&mut chunk).await.expect("read head");
        assert!(n > 0, "connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until the server closes the connection (EOF or an error).
async fn until_closed(tls: &mut Tls) {
    let mut chunk = [0u8; 1024];
    while let Ok(n) = tls.read(&mut chunk).await {
        if n == 0 {
            break;
        }
    }
}

#[tokio::test]
async fn a_body_that_trickles_past_body_read_timeout_is_408() {
    let s = TestServer::start_with(|c| c.limits.body_read_timeout = Duration::from_secs(1)).await;
    let before = snapshot(&s).await;
    let mut tls = connect(&s).await;
    let head = format!(
        "POST {}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{\"user",
        base_path(&s),
        s.token
    );
    tls.write_all(head.as_bytes()).await.expect("write");
    tls.flush().await.expect("flush");
    let (status, body) = tokio::time::timeout(Duration::from_secs(30), read_response(&mut tls))
        .await
        .expect("an answer after the body timeout");
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["status"], "408");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("body_read_timeout")),
        "{body}"
    );
    drop(tls);
    assert_eq!(snapshot(&s).await, before);
}

/// The path part of the base URL (`/scim/v2`).
fn base_path(s: &TestServer) -> String {
    let after_scheme = s.base.split_once("://").map_or("", |(_, r)| r);
    after_scheme
        .find('/')
        .map_or(String::new(), |i| after_scheme[i..].to_string())
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let idle = Duration::from_secs(1);
    let s = TestServer::start_with(|c| c.limits.idle_timeout = idle).await;
    let mut tls = connect(&s).await;
    let req = format!(
        "GET {}/ServiceProviderConfig HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        base_path(&s),
        s.token
    );
    tls.write_all(req.as_bytes()).await.expect("write");
    let (status, _) = read_response(&mut tls).await;
    assert_eq!(status, 200);
    // Kept alive, then idle: closed by the server within a generous 3x the timeout.
    let idle_from = Instant::now();
    tokio::time::timeout(idle * 10, until_closed(&mut tls))
        .await
        .expect("the idle connection is closed");
    let waited = idle_from.elapsed();
    assert!(waited <= idle * 3, "closed after {waited:?}");
}

#[tokio::test]
async fn slowloris_cannot_exhaust_the_connection_slots() {
    let header_timeout = Duration::from_secs(1);
    let slots = 4;
    let s = TestServer::start_with(|c| {
        c.limits.max_connections = slots;
        c.limits.header_read_timeout = header_timeout;
    })
    .await;
    let path = base_path(&s);
    // Every slot taken by a client that trickles its request head a byte at a time.
    let mut slow = Vec::new();
    for _ in 0..slots {
        let tls = connect(&s).await;
        let path = path.clone();
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut rd, mut wr) = tokio::io::split(tls);
            let trickle = async move {
                let head = format!("GET {path}/Users HTTP/1.1\r\nHost: x\r\n");
                for b in head.bytes().chain(std::iter::repeat(b'X')) {
                    if wr.write_all(&[b]).await.is_err() || wr.flush().await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let closed = async move {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = rd.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = closed => {}
                _ = trickle => {}
            }
            started.elapsed()
        }));
    }
    // A normal client is still served: it waits in the accept queue until the header timeout
    // frees a slot.
    let r = tokio::time::timeout(Duration::from_secs(30), s.get("/Users"))
        .await
        .expect("the normal client is served");
    assert_eq!(r.status, 200, "{}", r.body);
    for t in slow {
        let open_for = tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("the slow connection is closed")
            .expect("task");
        // The handshake and the head share the timeout's budget: a generous 3x.
        assert!(open_for <= header_timeout * 3, "open for {open_for:?}");
    }
}

/// A client that speaks h2 only (prior knowledge; over TLS that is ALPN `h2`), with its own
/// connection pool, so each one holds its own connection.
fn h2_client(s: &TestServer) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&s.cert_pem).expect("pem")])
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

/// Fills every slot with h2 connections that each send one request and then go silent (their
/// clients stay alive and answer pings), then shows a new client is still served.
async fn idle_h2_connections_give_back_their_slots(plain: bool) {
    let idle = Duration::from_secs(1);
    let slots = 2;
    let s = TestServer::start_with(|c| {
        c.limits.max_connections = slots;
        c.limits.idle_timeout = idle;
        if plain {
            c.tls = None;
        }
    })
    .await;
    assert_eq!(s.base.starts_with("http://"), plain, "{}", s.base);
    let mut held = Vec::new();
    for _ in 0..slots {
        let client = h2_client(&s);
        let r = client
            .get(s.url("/ServiceProviderConfig"))
            .bearer_auth(&s.token)
            .send()
            .await
            .expect("an answer");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        held.push(client);
    }
    // Every slot is taken by a live, idle h2 connection; a newcomer waits in the accept queue
    // until the idle watchdog closes one (generous: 3x the timeout plus 2 s).
    let newcomer = h2_client(&s);
    let r = tokio::time::timeout(
        idle * 3 + Duration::from_secs(2),
        newcomer
            .get(s.url("/ServiceProviderConfig"))
            .bearer_auth(&s.token)
            .send(),
    )
    .await
    .expect("the newcomer is served once an idle h2 connection is closed")
    .expect("an answer");
    assert_eq!(r.status(), 200);
    // The idle clients are still alive; they reconnect (their connections were closed).
    drop(held);
}

#[tokio::test]
async fn idle_h2_connections_over_tls_give_back_their_slots() {
    idle_h2_connections_give_back_their_slots(false).await;
}

#[tokio::test]
async fn idle_h2_connections_over_plain_http_give_back_their_slots() {
    idle_h2_connections_give_back_their_slots(true).await;
}

#[tokio::test]
async fn a_plain_http_client_stalled_in_the_h2_preface_is_closed_and_frees_its_slot() {
    let header_timeout = Duration::from_secs(1);
    let s = TestServer::start_with(|c| {
        c.limits.max_connections = 1;
        c.limits.header_read_timeout = header_timeout;
        c.tls = None;
    })
    .await;
    assert!(s.base.starts_with("http://"), "{}", s.base);
    // Three bytes of the 24-byte h2 preface, then nothing: the protocol sniff waits for more.
    let mut stalled = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    stalled.write_all(b"PRI").await.expect("write");
    let started = Instant::now();
    let closed = async {
        let mut chunk = [0u8; 64];
        while let Ok(n) = stalled.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(header_timeout * 10, closed)
        .await
        .expect("the stalled connection is closed");
    let open_for = started.elapsed();
    assert!(open_for <= header_timeout * 3, "open for {open_for:?}");
    // The only slot is free again: a normal client is served.
    let r = tokio::time::timeout(Duration::from_secs(30), s.get("/Users"))
        .await
        .expect("the normal client is served");
    assert_eq!(r.status, 200, "{}", r.body);
}
