//! RFC 7644 protocol behaviour over real HTTP and TLS: authentication, media types, refusal of
//! bad input (never a 5xx, never a partial write), pagination, projection, PUT, discovery,
//! filters, groups, and the transport (HTTP/2, TLS 1.2, plain HTTP refused).
//!
//! Entra's request-by-request replay lives in `entra.rs`; nothing here repeats it.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{ids_of, q, resources, Reply, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SCIM_JSON: &str = "application/scim+json";

// =============================================================================================
// Helpers

fn field_set(body: &Value, field: &str) -> BTreeSet<String> {
    resources(body)
        .iter()
        .map(|r| r[field].as_str().unwrap_or_default().to_string())
        .collect()
}

fn set<I: IntoIterator<Item = S>, S: ToString>(items: I) -> BTreeSet<String> {
    items.into_iter().map(|s| s.to_string()).collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `scheme://host:port` of the server, without the SCIM base path.
fn origin(base: &str) -> String {
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[after_scheme..].find('/') {
        Some(i) => base[..after_scheme + i].to_string(),
        None => base.to_string(),
    }
}

/// A request with exactly the headers and body given: no automatic auth or Content-Type.
async fn raw(
    s: &TestServer,
    method: Method,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = s.client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    Reply::from(req.send().await.expect("request")).await
}

fn bearer(s: &TestServer) -> (&'static str, String) {
    ("Authorization", format!("Bearer {}", s.token))
}

/// An authenticated request with a raw body and an optional Content-Type.
async fn send_bytes(
    s: &TestServer,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut headers = vec![bearer(s)];
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct.to_string()));
    }
    raw(s, method, &s.url(path), &headers, Some(body)).await
}

/// Everything the store holds, as the API shows it: every User and Group with all attributes.
/// Any write (even one that only bumps `meta.lastModified`) changes it.
async fn snapshot(s: &TestServer) -> Value {
    let users = s.get("/Users?count=1000").await;
    let groups = s.get("/Groups?count=1000").await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert_eq!(groups.status, 200, "{}", groups.body);
    json!({"users": users.body, "groups": groups.body})
}

async fn total(s: &TestServer, path: &str) -> u64 {
    let r = s.get(path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body["totalResults"]
        .as_u64()
        .unwrap_or_else(|| panic!("{path}: totalResults is a number: {}", r.body))
}

async fn create(s: &TestServer, endpoint: &str, body: Value) -> Value {
    let r = s.post(endpoint, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn create_user(s: &TestServer, body: Value) -> String {
    create(s, "/Users", body).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn create_group(s: &TestServer, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    create(
        s,
        "/Groups",
        json!({"schemas": [GROUP], "displayName": name, "members": members}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn member_ids(s: &TestServer, gid: &str) -> BTreeSet<String> {
    let r = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().expect("member value").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn group_ids_of_user(s: &TestServer, uid: &str) -> BTreeSet<String> {
    let r = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|g| g["value"].as_str().expect("group value").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A server started with its own configuration, for what `TestServer` does not expose: the
/// certificate (to build TLS clients), the store file, and a small page size.
struct OwnServer {
    base: String,
    addr: std::net::SocketAddr,
    token: String,
    cert_pem: Vec<u8>,
    store_path: std::path::PathBuf,
    server: TestServer,
}

impl OwnServer {
    async fn start(max_page_size: usize) -> OwnServer {
        let server = TestServer::start_with(|c| c.server.max_page_size = max_page_size).await;
        OwnServer {
            base: server.base.clone(),
            addr: server.addr,
            token: server.token.clone(),
            cert_pem: server.cert_pem.clone(),
            store_path: server.store_path.clone(),
            server,
        }
    }

    /// The SCIM base path, e.g. `/scim/v2`.
    fn base_path(&self) -> &str {
        &self.base[origin(&self.base).len()..]
    }

    async fn stop(&mut self) {
        self.server.shutdown().await;
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&self.cert_pem).expect("pem")])
            .build()
            .expect("client")
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .client()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", SCIM_JSON)
                .body(serde_json::to_vec(&b).expect("json"));
        }
        Reply::from(req.send().await.expect("request")).await
    }

    fn roots(&self) -> rustls::RootCertStore {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&self.cert_pem) {
            roots.add(c.expect("cert")).expect("root");
        }
        roots
    }

    /// A rustls client config that trusts only the test certificate.
    fn tls_client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        suites: Option<Vec<rustls::SupportedCipherSuite>>,
        alpn: &[&[u8]],
    ) -> rustls::ClientConfig {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(s) = suites {
            provider.cipher_suites = s;
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(self.roots())
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }

    /// Connects and completes a TLS handshake with `cfg`.
    async fn handshake(
        &self,
        cfg: rustls::ClientConfig,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
            .expect("name")
            .to_owned();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
    }
}

// =============================================================================================
// Authentication

#[tokio::test]
async fn auth_missing_wrong_or_non_bearer_credentials_are_401_with_a_scim_error() {
    // 54 failures from one address: with the failure throttle on, most would be 429
    // (tests/scim/tokens.rs covers that); this test is about the 401s.
    let s = TestServer::start_with(|c| c.auth.throttle.limit = 0).await;
    let uid = s.user("auth@x").await;
    let before = snapshot(&s).await;
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no credentials", vec![]),
        (
            "wrong token",
            vec![("Authorization", "Bearer scimd_not-the-token".into())],
        ),
        (
            "right token with a suffix",
            vec![("Authorization", format!("Bearer {}x", s.token))],
        ),
        ("empty bearer", vec![("Authorization", "Bearer ".into())]),
        ("scheme only", vec![("Authorization", "Bearer".into())]),
        (
            "bare token without scheme",
            vec![("Authorization", s.token.clone())],
        ),
        (
            "basic",
            vec![("Authorization", "Basic dXNlcjpwYXNz".into())],
        ),
        (
            "basic carrying the real token",
            vec![("Authorization", format!("Basic {}", s.token))],
        ),
        (
            "wrong netskope token",
            vec![("Netskope-Api-Token", "nope".into())],
        ),
    ];
    let targets = [
        (Method::GET, "/Users".to_string(), None),
        (Method::GET, format!("/Users/{uid}"), None),
        (Method::GET, "/ServiceProviderConfig".to_string(), None),
        (Method::GET, "/Schemas".to_string(), None),
        (
            Method::POST,
            "/Users".to_string(),
            Some(json!({"userName": "intruder"})),
        ),
        (Method::DELETE, format!("/Users/{uid}"), None),
    ];
    for (what, headers) in &cases {
        for (method, path, body) in &targets {
            let mut headers = headers.clone();
            let body = body.as_ref().map(|b| {
                headers.push(("Content-Type", SCIM_JSON.into()));
                serde_json::to_vec(b).expect("json")
            });
            let r = raw(&s, method.clone(), &s.url(path), &headers, body).await;
            r.assert_error(401, None);
            assert!(
                header(&r, "www-authenticate").starts_with("Bearer"),
                "{what} {method} {path}: WWW-Authenticate is {:?}",
                header(&r, "www-authenticate")
            );
            assert!(
                r.body.get("scimType").is_none(),
                "{what}: 401 has no scimType"
            );
        }
    }
    assert_eq!(snapshot(&s).await, before, "nothing was created or deleted");
    s.stop().await;
}

#[tokio::test]
async fn auth_accepts_bearer_in_any_case_and_the_netskope_header() {
    let s = TestServer::start().await;
    let accepted = [
        ("Authorization", format!("Bearer {}", s.token)),
        ("Authorization", format!("bearer {}", s.token)),
        ("Authorization", format!("BEARER {}", s.token)),
        ("Netskope-Api-Token", s.token.clone()),
        ("netskope-api-token", s.token.clone()),
    ];
    for (i, (name, value)) in accepted.iter().enumerate() {
        let h = [(*name, value.clone())];
        let r = raw(&s, Method::GET, &s.url("/Users"), &h, None).await;
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        // A write works with it too.
        let h = [
            (*name, value.clone()),
            ("Content-Type", SCIM_JSON.to_string()),
        ];
        let body = serde_json::to_vec(&json!({"userName": format!("auth{i}@x")})).expect("json");
        let r = raw(&s, Method::POST, &s.url("/Users"), &h, Some(body)).await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
    assert_eq!(total(&s, "/Users").await, accepted.len() as u64);
    s.stop().await;
}

#[tokio::test]
async fn auth_the_token_never_appears_in_a_response() {
    let s = TestServer::start().await;
    let uid = s.user("leak@x").await;
    let mut replies = Vec::new();
    for path in [
        "/Users".to_string(),
        format!("/Users/{uid}"),
        "/Users/nope".to_string(),
        "/ServiceProviderConfig".to_string(),
        "/Schemas".to_string(),
        "/ResourceTypes".to_string(),
        "/Nope".to_string(),
        format!("/Users?filter={}", q("userName eq")),
    ] {
        replies.push(s.get(&path).await);
    }
    replies.push(s.post("/Users", json!({"userName": "leak@x"})).await);
    replies.push(s.post("/Users", json!({"title": "no userName"})).await);
    replies.push(
        s.patch(
            &format!("/Users/{uid}"),
            patch_body(json!([{"op": "replace", "path": "nosuch", "value": 1}])),
        )
        .await,
    );
    for h in [
        ("Authorization", format!("Bearer {}x", s.token)),
        ("Authorization", format!("Basic {}", s.token)),
        ("Authorization", s.token.clone()),
        ("Netskope-Api-Token", format!("{}x", s.token)),
    ] {
        replies.push(raw(&s, Method::GET, &s.url("/Users"), &[h], None).await);
    }
    for r in &replies {
        let text = r.body.to_string();
        assert!(!text.contains(&s.token), "token in body: {text}");
        for (name, value) in &r.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(&s.token),
                "token in header {name}"
            );
        }
    }
    s.stop().await;
}

// =============================================================================================
// Media types

#[tokio::test]
async fn content_types_json_variants_are_accepted_and_form_data_is_415() {
    let s = TestServer::start().await;
    let accepted = [
        Some("application/json"),
        Some("application/scim+json"),
        Some("application/scim+json; charset=utf-8"),
        Some("application/json;charset=UTF-8"),
        Some("Application/SCIM+JSON"),
        None,
    ];
    for (i, ct) in accepted.iter().enumerate() {
        let body = serde_json::to_vec(&json!({"userName": format!("ct{i}@x")})).expect("json");
        let r = send_bytes(&s, Method::POST, "/Users", *ct, body).await;
        assert_eq!(r.status, 201, "{ct:?}: {}", r.body);
        assert_eq!(r.content_type(), SCIM_JSON, "{ct:?}");
    }
    let n = total(&s, "/Users").await;
    assert_eq!(n, accepted.len() as u64);

    let uid = s.user("target@x").await;
    let before = snapshot(&s).await;
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let body = serde_json::to_vec(&json!({"userName": "refused@x"})).expect("json");
        let r = send_bytes(&s, Method::POST, "/Users", Some(ct), body).await;
        r.assert_error(415, None);
        let patch = serde_json::to_vec(&patch_body(
            json!([{"op": "replace", "path": "title", "value": "T"}]),
        ))
        .expect("json");
        let r = send_bytes(&s, Method::PATCH, &format!("/Users/{uid}"), Some(ct), patch).await;
        r.assert_error(415, None);
        let put = serde_json::to_vec(&json!({"userName": "target@x", "title": "T"})).expect("json");
        let r = send_bytes(&s, Method::PUT, &format!("/Users/{uid}"), Some(ct), put).await;
        r.assert_error(415, None);
    }
    assert_eq!(snapshot(&s).await, before, "refused writes change nothing");
    s.stop().await;
}

#[tokio::test]
async fn content_type_every_response_with_a_body_is_scim_json() {
    let s = TestServer::start().await;
    let uid = s.user("ct@x").await;
    let gid = s.group("ct-group").await;
    let base = s.url("");
    let outside = format!("{}/Users", origin(&s.base));
    let mut replies: Vec<(String, Reply)> = Vec::new();
    for path in [
        "/Users".to_string(),
        format!("/Users/{uid}"),
        format!("/Groups/{gid}"),
        "/Groups".to_string(),
        "/ServiceProviderConfig".to_string(),
        "/ResourceTypes".to_string(),
        "/ResourceTypes/User".to_string(),
        "/Schemas".to_string(),
        format!("/Schemas/{USER}"),
        "/Schemas/urn:nope".to_string(),
        "/Users/nope".to_string(),
        "/Nope".to_string(),
        format!("/Users?filter={}", q("userName eq")),
        "/Users?count=x".to_string(),
    ] {
        replies.push((format!("GET {path}"), s.get(&path).await));
    }
    replies.push((
        "POST".into(),
        s.post("/Users", json!({"userName": "ct2@x"})).await,
    ));
    replies.push((
        "POST 409".into(),
        s.post("/Users", json!({"userName": "CT@x"})).await,
    ));
    replies.push(("POST 400".into(), s.post("/Users", json!([])).await));
    replies.push((
        "PUT".into(),
        s.put(&format!("/Users/{uid}"), json!({"userName": "ct@x"}))
            .await,
    ));
    replies.push((
        "PATCH user".into(),
        s.patch(
            &format!("/Users/{uid}"),
            patch_body(json!([{"op": "replace", "path": "title", "value": "T"}])),
        )
        .await,
    ));
    replies.push(("405".into(), s.call(Method::DELETE, "/Users", None).await));
    replies.push(("405 discovery".into(), s.post("/Schemas", json!({})).await));
    replies.push((
        "401".into(),
        raw(&s, Method::GET, &s.url("/Users"), &[], None).await,
    ));
    replies.push((
        "415".into(),
        send_bytes(
            &s,
            Method::POST,
            "/Users",
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await,
    ));
    replies.push((
        "413".into(),
        send_bytes(
            &s,
            Method::POST,
            "/Users",
            None,
            vec![b' '; 1024 * 1024 + 1],
        )
        .await,
    ));
    replies.push((
        "outside the base".into(),
        raw(&s, Method::GET, &outside, &[bearer(&s)], None).await,
    ));
    replies.push((
        "the base itself".into(),
        raw(&s, Method::GET, &base, &[bearer(&s)], None).await,
    ));
    for (what, r) in &replies {
        assert!(r.status != StatusCode::NO_CONTENT, "{what}");
        assert!(!r.body.is_null(), "{what}: a body");
        assert_eq!(r.content_type(), SCIM_JSON, "{what}: {}", r.body);
        assert!(r.status.as_u16() < 500, "{what}: {}", r.body);
    }
    s.stop().await;
}

// =============================================================================================
// Bad input: a 4xx SCIM error, never a 5xx, and nothing written

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let uid = create_user(
        &s,
        json!({"userName": "keep@x", "title": "Keeper", "name": {"givenName": "K"}}),
    )
    .await;
    let gid = create_group(&s, "keepers", &[&uid]).await;
    let user_path = format!("/Users/{uid}");
    let group_path = format!("/Groups/{gid}");
    let before = snapshot(&s).await;

    let nested = format!(
        "{{\"userName\":\"deep@x\",\"title\":{}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let nested_obj = format!(
        "{{\"userName\":\"deep@x\",\"name\":{}{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let json_cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "invalid JSON",
            b"{\"userName\": ".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        (
            "trailing garbage",
            b"{\"userName\": \"x\"} x".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        ("empty body", Vec::new(), 400, Some("invalidSyntax")),
        (
            "whitespace body",
            b"  \n ".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        ("JSON array", b"[]".to_vec(), 400, Some("invalidSyntax")),
        (
            "JSON array of object",
            b"[{\"userName\":\"arr@x\"}]".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        (
            "JSON string",
            b"\"userName\"".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        ("JSON number", b"5".to_vec(), 400, Some("invalidSyntax")),
        ("JSON null", b"null".to_vec(), 400, Some("invalidSyntax")),
        ("JSON true", b"true".to_vec(), 400, Some("invalidSyntax")),
        (
            "not UTF-8",
            vec![b'{', 0xff, 0xfe, b'}'],
            400,
            Some("invalidSyntax"),
        ),
        (
            "deeply nested array",
            nested.into_bytes(),
            400,
            Some("invalidSyntax"),
        ),
        (
            "deeply nested object",
            nested_obj.into_bytes(),
            400,
            Some("invalidSyntax"),
        ),
        ("huge body", huge_body(), 413, None),
    ];
    for (what, bytes, status, scim_type) in &json_cases {
        for (method, path) in [
            (Method::POST, "/Users"),
            (Method::POST, "/Groups"),
            (Method::PUT, user_path.as_str()),
            (Method::PUT, group_path.as_str()),
            (Method::PATCH, user_path.as_str()),
            (Method::PATCH, group_path.as_str()),
        ] {
            let r = send_bytes(&s, method.clone(), path, Some(SCIM_JSON), bytes.clone()).await;
            assert!(
                r.status.as_u16() < 500,
                "{what} {method} {path}: {}",
                r.body
            );
            r.assert_error(*status, *scim_type);
        }
    }

    let typed_cases: Vec<(&str, Value, &str)> = vec![
        (
            "active maybe",
            json!({"userName": "t1@x", "active": "maybe"}),
            "invalidValue",
        ),
        (
            "active number",
            json!({"userName": "t1@x", "active": 2}),
            "invalidValue",
        ),
        (
            "emails number",
            json!({"userName": "t1@x", "emails": 5}),
            "invalidValue",
        ),
        (
            "emails string array",
            json!({"userName": "t1@x", "emails": [true]}),
            "invalidValue",
        ),
        (
            "name string",
            json!({"userName": "t1@x", "name": "x"}),
            "invalidValue",
        ),
        (
            "name array of two",
            json!({"userName": "t1@x", "name": [{"givenName": "a"}, {"givenName": "b"}]}),
            "invalidValue",
        ),
        (
            "title object",
            json!({"userName": "t1@x", "title": {"a": 1}}),
            "invalidValue",
        ),
        (
            "userName object",
            json!({"userName": {"a": 1}}),
            "invalidValue",
        ),
        ("no userName", json!({"title": "no name"}), "invalidValue"),
        ("empty userName", json!({"userName": "  "}), "invalidValue"),
        ("null userName", json!({"userName": null}), "invalidValue"),
        (
            "extension not an object",
            json!({"userName": "t1@x", ENT: "Sales"}),
            "invalidValue",
        ),
        (
            "manager number array",
            json!({"userName": "t1@x", ENT: {"manager": [1, 2]}}),
            "invalidValue",
        ),
    ];
    for (what, body, scim_type) in &typed_cases {
        let r = s.post("/Users", body.clone()).await;
        assert!(r.status.as_u16() < 500, "{what}: {}", r.body);
        r.assert_error(400, Some(scim_type));
        // The same body as a PUT over the existing user.
        s.put(&user_path, body.clone())
            .await
            .assert_error(400, Some(scim_type));
    }
    // The existing userName in another case.
    s.post("/Users", json!({"userName": "KEEP@x"}))
        .await
        .assert_error(409, Some("uniqueness"));
    for (what, body) in [
        ("no displayName", json!({"schemas": [GROUP]})),
        ("empty displayName", json!({"displayName": ""})),
        (
            "members not objects",
            json!({"displayName": "g", "members": [5]}),
        ),
        (
            "member without value",
            json!({"displayName": "g", "members": [{"type": "User"}]}),
        ),
        (
            "unknown member",
            json!({"displayName": "g", "members": [{"value": "no-such-id"}]}),
        ),
    ] {
        let r = s.post("/Groups", body.clone()).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        r.assert_error(400, None);
    }
    assert_eq!(
        snapshot(&s).await,
        before,
        "no refused write changed the store"
    );
    s.stop().await;
}

fn huge_body() -> Vec<u8> {
    let pad = "x".repeat(2 * 1024 * 1024);
    serde_json::to_vec(&json!({"userName": "huge@x", "title": pad})).expect("json")
}

#[tokio::test]
async fn bad_patches_are_refused_with_the_right_scim_type_and_change_nothing() {
    let s = TestServer::start().await;
    let uid = create_user(
        &s,
        json!({"userName": "p@x", "title": "T", "emails": [{"type": "work", "value": "p@x"}]}),
    )
    .await;
    let gid = create_group(&s, "pg", &[&uid]).await;
    let user_path = format!("/Users/{uid}");
    let group_path = format!("/Groups/{gid}");
    let before = snapshot(&s).await;

    // (what, body, status, scimType). A valid first operation rides along where it can, to
    // prove the request is all-or-nothing.
    let good = json!({"op": "replace", "path": "title", "value": "CHANGED"});
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "no Operations",
            json!({"schemas": [PATCH_OP]}),
            400,
            "invalidSyntax",
        ),
        (
            "Operations not an array",
            json!({"schemas": [PATCH_OP], "Operations": {"op": "add"}}),
            400,
            "invalidSyntax",
        ),
        (
            "empty Operations",
            patch_body(json!([])),
            400,
            "invalidValue",
        ),
        (
            "operation not an object",
            patch_body(json!([good, 5])),
            400,
            "invalidSyntax",
        ),
        (
            "unknown op",
            patch_body(json!([good, {"op": "move", "path": "title", "value": "x"}])),
            400,
            "invalidSyntax",
        ),
        (
            "missing op",
            patch_body(json!([good, {"path": "title", "value": "x"}])),
            400,
            "invalidSyntax",
        ),
        (
            "unknown path",
            patch_body(json!([good, {"op": "replace", "path": "nosuch", "value": 1}])),
            400,
            "invalidPath",
        ),
        (
            "unknown sub-attribute",
            patch_body(json!([good, {"op": "replace", "path": "name.nosuch", "value": 1}])),
            400,
            "invalidPath",
        ),
        (
            "malformed path",
            patch_body(json!([good, {"op": "replace", "path": "emails[type eq", "value": 1}])),
            400,
            "invalidPath",
        ),
        (
            "path too deep",
            patch_body(json!([good, {"op": "replace", "path": "a.b.c", "value": 1}])),
            400,
            "invalidPath",
        ),
        (
            "path not a string",
            patch_body(json!([good, {"op": "replace", "path": 5, "value": 1}])),
            400,
            "invalidPath",
        ),
        (
            "readOnly id",
            patch_body(json!([good, {"op": "replace", "path": "id", "value": "new-id"}])),
            400,
            "mutability",
        ),
        (
            "readOnly meta",
            patch_body(
                json!([good, {"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            ),
            400,
            "mutability",
        ),
        (
            "readOnly groups",
            patch_body(json!([good, {"op": "add", "path": "groups", "value": [{"value": gid}]}])),
            400,
            "mutability",
        ),
        (
            "path-less remove",
            patch_body(json!([good, {"op": "remove"}])),
            400,
            "noTarget",
        ),
        (
            "path-less remove with value",
            patch_body(json!([good, {"op": "remove", "value": {"title": "T"}}])),
            400,
            "noTarget",
        ),
        (
            "path-less replace with a string",
            patch_body(json!([good, {"op": "replace", "value": "x"}])),
            400,
            "invalidValue",
        ),
        (
            "replace without value",
            patch_body(json!([good, {"op": "replace", "path": "title"}])),
            400,
            "invalidValue",
        ),
        (
            "wrong type",
            patch_body(json!([good, {"op": "replace", "path": "active", "value": "maybe"}])),
            400,
            "invalidValue",
        ),
        (
            "remove required userName",
            patch_body(json!([good, {"op": "remove", "path": "userName"}])),
            400,
            "mutability",
        ),
        (
            "filter matches nothing and cannot seed",
            patch_body(
                json!([good, {"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
            ),
            400,
            "noTarget",
        ),
    ];
    for (what, body, status, scim_type) in &cases {
        let r = s.patch(&user_path, body.clone()).await;
        assert!(r.status.as_u16() < 500, "{what}: {}", r.body);
        r.assert_error(*status, Some(scim_type));
    }
    let group_cases: Vec<(&str, Value, &str)> = vec![
        (
            "members sub-attribute",
            patch_body(json!([{"op": "replace", "path": "members.value", "value": "x"}])),
            "invalidPath",
        ),
        (
            "replace members through a filter",
            patch_body(
                json!([{"op": "replace", "path": format!("members[value eq \"{uid}\"]"), "value": {"value": uid}}]),
            ),
            "invalidPath",
        ),
        (
            "add self as member",
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": gid}]}])),
            "invalidValue",
        ),
        (
            "add unknown member",
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "nope"}]}])),
            "invalidValue",
        ),
        (
            "remove displayName",
            patch_body(json!([{"op": "remove", "path": "displayName"}])),
            "mutability",
        ),
        (
            "path-less remove",
            patch_body(json!([{"op": "remove"}])),
            "noTarget",
        ),
    ];
    for (what, body, scim_type) in &group_cases {
        let r = s.patch(&group_path, body.clone()).await;
        assert!(r.status.as_u16() < 500, "{what}: {}", r.body);
        r.assert_error(400, Some(scim_type));
    }
    // More operations than the PATCH limit: refused as a whole.
    let ops: Vec<Value> = (0..=scimd::scim::compat::MAX_OPERATIONS)
        .map(|i| json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
        .collect();
    let r = s.patch(&user_path, patch_body(Value::Array(ops))).await;
    // 400 tooMany naming the key since `[limits] max_patch_operations` (docs/LIMITS.md).
    r.assert_error(400, Some("tooMany"));
    // Unknown ids are 404 whatever the body.
    s.patch(
        "/Users/no-such-id",
        patch_body(json!([{"op": "replace", "path": "title", "value": "x"}])),
    )
    .await
    .assert_error(404, None);
    assert_eq!(snapshot(&s).await, before);
    s.stop().await;
}

#[tokio::test]
async fn bad_filters_are_400_invalid_filter_with_the_position() {
    let s = TestServer::start().await;
    s.user("f@x").await;
    let malformed = [
        "userName eq \"x",
        "userName zz \"x\"",
        "userName eq \"x\" and",
        "(userName eq \"x\"",
        "userName eq \"x\")",
        "emails[type eq \"work\"",
        "userName eq \"x\" userName",
        "userName eq",
        "userName",
        "not userName eq \"x\"",
        "and",
        ")",
        "userName eq \"bad \\q escape\"",
        "emails[type eq \"work\"][value eq \"x\"]",
        "1userName eq \"x\"",
        "userName eq \"x\" or or userName eq \"y\"",
    ];
    for f in malformed {
        for path in ["/Users", "/Groups"] {
            let r = s.get(&format!("{path}?filter={}", q(f))).await;
            r.assert_error(400, Some("invalidFilter"));
            let detail = r.body["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("position"),
                "{f}: detail names the position: {detail}"
            );
        }
    }
    let unknown = [
        ("nosuch eq \"x\"", "nosuch"),
        ("name.nosuch eq \"x\"", "nosuch"),
        ("emails[nosuch eq \"x\"]", "nosuch"),
        ("active gt true", "active"),
        ("active eq \"maybe\"", "active"),
        ("meta.created gt \"yesterday\"", "yesterday"),
        ("name eq \"x\"", "name"),
        ("userName gt null", "null"),
    ];
    for (f, named) in unknown {
        let r = s.get(&format!("/Users?filter={}", q(f))).await;
        r.assert_error(400, Some("invalidFilter"));
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(named), "{f}: {detail}");
    }
    // A group attribute is unknown on Users and a user attribute on Groups.
    s.get(&format!("/Users?filter={}", q("members eq \"x\"")))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.get(&format!("/Groups?filter={}", q("userName eq \"x\"")))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.stop().await;
}

fn nested_filter(depth: usize) -> String {
    format!(
        "{}userName eq \"x\"{}",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

/// A filter in a query string with only spaces and quotes escaped: parentheses are legal in a
/// query and keep a 5000-deep filter near 10 KB.
fn lightly_encoded(f: &str) -> String {
    f.replace(' ', "%20").replace('"', "%22")
}

#[tokio::test]
async fn deeply_nested_and_oversized_filters_are_refused_not_a_crash() {
    let s = TestServer::start().await;
    s.user("deep@x").await;
    let not_deep = |n: usize| format!("{}active eq true{}", "not (".repeat(n), ")".repeat(n));
    let cases = [
        ("5000 parentheses", lightly_encoded(&nested_filter(5000))),
        (
            "4000 parentheses (under the length limit)",
            lightly_encoded(&nested_filter(4000)),
        ),
        ("100 parentheses", lightly_encoded(&nested_filter(100))),
        ("100 parentheses, percent-encoded", q(&nested_filter(100))),
        ("1000 nots", lightly_encoded(&not_deep(1000))),
        ("1000 nots, percent-encoded", q(&not_deep(1000))),
        (
            "12000 characters",
            q(&format!("userName eq \"{}\"", "a".repeat(12_000))),
        ),
    ];
    for (what, query) in &cases {
        let r = s.get(&format!("/Users?filter={query}")).await;
        assert!(r.status.as_u16() < 500, "{what}: {}", r.body);
        r.assert_error(400, Some("invalidFilter"));
    }
    // Nesting within the limit still works.
    let r = s
        .get(&format!("/Users?filter={}", q(&nested_filter(10))))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    // The server is still up.
    assert_eq!(total(&s, "/Users").await, 1);
    s.stop().await;
}

/// Query strings longer than 16 KiB: a 5000-deep filter with its parentheses percent-encoded is
/// 30 KB. Over HTTP/1.1 it reaches the filter parser (400 invalidFilter); over HTTP/2 hyper's
/// header-list limit answers first. Either way a 4xx, never a 5xx or a dropped connection.
#[tokio::test]
async fn very_long_query_strings_are_a_4xx_on_both_protocols() {
    let mut s = OwnServer::start(100).await;
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&s.cert_pem).expect("pem")])
        .http1_only()
        .build()
        .expect("client");
    let queries = [
        q(&nested_filter(5000)),
        q(&format!("userName eq \"{}\"", "a".repeat(20_000))),
    ];
    for query in &queries {
        let url = format!("{}/Users?filter={query}", s.base);
        let resp = h1.get(&url).bearer_auth(&s.token).send().await.expect("h1");
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        let r = Reply::from(resp).await;
        r.assert_error(400, Some("invalidFilter"));

        let resp = s
            .client()
            .get(&url)
            .bearer_auth(&s.token)
            .send()
            .await
            .expect("h2");
        assert_eq!(resp.version(), reqwest::Version::HTTP_2);
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "h2: {status}");
    }
    assert_eq!(s.call(Method::GET, "/Users", None).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn very_long_query_strings_get_a_scim_error_over_http2_too() {
    let s = TestServer::start().await;
    let r = s
        .get(&format!("/Users?filter={}", q(&nested_filter(5000))))
        .await;
    r.assert_error(400, Some("invalidFilter"));
    s.stop().await;
}

#[tokio::test]
async fn non_numeric_paging_parameters_are_400_invalid_value() {
    let s = TestServer::start().await;
    s.user("n@x").await;
    for query in [
        "startIndex=abc",
        "count=ten",
        "count=1.5",
        "startIndex=1e3",
        "count=0x10",
        "StartIndex=x",
        "COUNT=x",
    ] {
        for path in ["/Users", "/Groups"] {
            let r = s.get(&format!("{path}?{query}")).await;
            r.assert_error(400, Some("invalidValue"));
            let detail = r.body["detail"].as_str().unwrap_or_default().to_lowercase();
            let param = query.split('=').next().unwrap_or_default().to_lowercase();
            assert!(
                detail.contains(&param),
                "{query}: the detail names the parameter: {detail}"
            );
        }
    }
    // Empty values mean "not given".
    let r = s.get("/Users?startIndex=&count=").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    s.stop().await;
}

// =============================================================================================
// Pagination

async fn page(s: &TestServer, query: &str) -> Value {
    let r = s.get(&format!("/Users?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    assert_eq!(r.body["schemas"], json!([LIST]), "{query}");
    for k in ["totalResults", "itemsPerPage", "startIndex"] {
        assert!(
            r.body[k].is_u64(),
            "{query}: {k} is a JSON number: {}",
            r.body
        );
    }
    assert_eq!(
        r.body["itemsPerPage"].as_u64(),
        Some(resources(&r.body).len() as u64),
        "{query}: itemsPerPage counts this page"
    );
    r.body
}

async fn walk_pages(s: &TestServer, filter: Option<&str>, all: &BTreeSet<String>) {
    let f = filter
        .map(|f| format!("&filter={}", q(f)))
        .unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    for (start, want) in [(1, 5), (6, 5), (11, 2)] {
        let query = format!("startIndex={start}&count=5{f}");
        let body = page(s, &query).await;
        assert_eq!(body["itemsPerPage"], want, "{query}");
        assert_eq!(body["startIndex"], start, "{query}: startIndex is echoed");
        assert_eq!(body["totalResults"], 12, "{query}");
        let ids = ids_of(&body);
        // Stable order: the same request gives the same page.
        for _ in 0..2 {
            assert_eq!(ids_of(&page(s, &query).await), ids, "{query}: stable order");
        }
        seen.extend(ids);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "pages are disjoint: {seen:?}");
    assert_eq!(&unique, all, "the pages together are every match");
    // The concatenated pages are the one-page listing, in the same order.
    let whole = page(s, &format!("count=100{f}")).await;
    assert_eq!(
        ids_of(&whole),
        seen,
        "pages follow the full listing's order"
    );
}

#[tokio::test]
async fn pagination_pages_are_disjoint_complete_stable_and_numeric() {
    let s = TestServer::start().await;
    let mut all = BTreeSet::new();
    for i in 0..12 {
        all.insert(s.user(&format!("user{i:02}@x")).await);
    }
    walk_pages(&s, None, &all).await;

    // count=0: only the total.
    let body = page(&s, "count=0").await;
    assert_eq!(body["totalResults"], 12);
    assert_eq!(body["Resources"], json!([]));
    assert_eq!(body["itemsPerPage"], 0);
    // Negative count reads as 0.
    let body = page(&s, "count=-3").await;
    assert_eq!(
        (body["totalResults"].clone(), body["Resources"].clone()),
        (json!(12), json!([]))
    );
    // startIndex below 1 reads as 1.
    let first = ids_of(&page(&s, "startIndex=1&count=5").await);
    for start in ["0", "-1", "-9999"] {
        let body = page(&s, &format!("startIndex={start}&count=5")).await;
        assert_eq!(body["startIndex"], 1, "startIndex={start}");
        assert_eq!(ids_of(&body), first, "startIndex={start}");
    }
    // Past the end: an empty page, still 200 with the total.
    let body = page(&s, "startIndex=13&count=5").await;
    assert_eq!(body["totalResults"], 12);
    assert_eq!(body["Resources"], json!([]));
    assert_eq!(body["startIndex"], 13);
    // Beyond i64: either refused as a bad value or read as past the end; never a 5xx.
    let r = s.get("/Users?startIndex=99999999999999999999999").await;
    if r.status == 200 {
        assert_eq!(r.body["Resources"], json!([]), "{}", r.body);
    } else {
        r.assert_error(400, Some("invalidValue"));
    }
    for start in ["9223372036854775807", "4294967296"] {
        let body = page(&s, &format!("startIndex={start}&count=1000")).await;
        assert_eq!(body["Resources"], json!([]), "startIndex={start}");
        assert_eq!(body["totalResults"], 12);
        assert_eq!(body["startIndex"].to_string(), start);
        let f = q("userName sw \"user\"");
        let body = page(&s, &format!("startIndex={start}&count=1000&filter={f}")).await;
        assert_eq!(body["Resources"], json!([]), "filtered startIndex={start}");
    }
    let body = page(&s, "startIndex=12").await;
    assert_eq!(body["itemsPerPage"], 1);
    // No count: everything (12 is under the maximum).
    assert_eq!(page(&s, "").await["itemsPerPage"], 12);

    // A count above the maximum is clamped to ServiceProviderConfig's filter.maxResults.
    let spc = s.get("/ServiceProviderConfig").await.body;
    let max = spc["filter"]["maxResults"].as_u64().expect("maxResults");
    let body = page(&s, &format!("count={}", max * 10)).await;
    assert!(body["itemsPerPage"].as_u64().expect("n") <= max);
    assert_eq!(body["itemsPerPage"], 12);
    let body = page(&s, "count=99999999999").await;
    assert_eq!(body["itemsPerPage"], 12);

    // With a filter, and non-matching users in between.
    for i in 0..3 {
        s.user(&format!("zed{i}@x")).await;
    }
    assert_eq!(total(&s, "/Users").await, 15);
    walk_pages(&s, Some("userName sw \"user\""), &all).await;
    // An indexed equality also pages (one hit, then nothing).
    let one = format!("filter={}", q("userName eq \"user03@x\""));
    assert_eq!(page(&s, &format!("{one}&count=1")).await["itemsPerPage"], 1);
    let body = page(&s, &format!("{one}&startIndex=2")).await;
    assert_eq!(
        (body["totalResults"].clone(), body["itemsPerPage"].clone()),
        (json!(1), json!(0))
    );
    s.stop().await;
}

#[tokio::test]
async fn pagination_groups_page_too() {
    let s = TestServer::start().await;
    let mut all = BTreeSet::new();
    for i in 0..3 {
        all.insert(s.group(&format!("g{i}")).await);
    }
    let mut seen = BTreeSet::new();
    for (start, want) in [(1, 2), (3, 1)] {
        let r = s
            .get(&format!(
                "/Groups?startIndex={start}&count=2&excludedAttributes=members"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["itemsPerPage"], want);
        assert_eq!(r.body["totalResults"], 3);
        assert_eq!(r.body["startIndex"], start);
        seen.extend(ids_of(&r.body));
    }
    assert_eq!(seen, all);
    s.stop().await;
}

#[tokio::test]
async fn pagination_count_is_clamped_to_a_configured_maximum() {
    let mut s = OwnServer::start(5).await;
    let spc = s.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(spc.body["filter"]["maxResults"], 5, "{}", spc.body);
    for i in 0..7 {
        let r = s
            .call(
                Method::POST,
                "/Users",
                Some(json!({"userName": format!("c{i}@x")})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for query in ["", "?count=6", "?count=1000", "?startIndex=1&count=50"] {
        let r = s.call(Method::GET, &format!("/Users{query}"), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["itemsPerPage"], 5, "{query}");
        assert_eq!(r.body["totalResults"], 7, "{query}");
    }
    let r = s
        .call(Method::GET, "/Users?startIndex=6&count=50", None)
        .await;
    assert_eq!(r.body["itemsPerPage"], 2);
    s.stop().await;
}

// =============================================================================================
// Projection: attributes / excludedAttributes

async fn projection_fixture(s: &TestServer) -> String {
    create_user(
        s,
        json!({"schemas": [USER, ENT], "userName": "proj@x", "displayName": "Pro J", "title": "Chief",
               "name": {"givenName": "Pro", "familyName": "Jection", "formatted": "Pro Jection"},
               "emails": [{"type": "work", "value": "proj@x", "primary": true}],
               ENT: {"department": "Sales", "employeeNumber": "42"}}),
    )
    .await
}

#[tokio::test]
async fn projection_on_a_user_by_id_and_in_lists() {
    let s = TestServer::start().await;
    let uid = projection_fixture(&s).await;
    let gid = create_group(&s, "projected", &[&uid]).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("attributes=userName,emails", vec!["schemas", "id", "userName", "emails"]),
        ("attributes=USERNAME,Emails", vec!["schemas", "id", "userName", "emails"]),
        ("attributes=name.givenName", vec!["schemas", "id", "name"]),
        ("attributes=id", vec!["schemas", "id"]),
        ("attributes=password", vec!["schemas", "id"]),
        ("attributes=groups", vec!["schemas", "id", "groups"]),
        ("attributes=meta", vec!["schemas", "id", "meta"]),
        (
            "attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            vec!["schemas", "id", ENT],
        ),
        (
            "attributes=urn:ietf:params:scim:schemas:core:2.0:User:userName",
            vec!["schemas", "id", "userName"],
        ),
        (
            "excludedAttributes=emails,name.familyName",
            vec!["schemas", "id", "userName", "name", "displayName", "title", "groups", ENT, "meta"],
        ),
        (
            "excludedAttributes=id,schemas,groups,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            vec!["schemas", "id", "userName", "name", "displayName", "title", "emails", "meta"],
        ),
    ];
    for (query, want) in &cases {
        let r = s.get(&format!("/Users/{uid}?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(keys(&r.body), set(want.iter()), "{query}: {}", r.body);
        assert_eq!(r.body["id"], uid.as_str(), "{query}: id is always returned");
        let r = s.get(&format!("/Users?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert_eq!(
            keys(&resources(&r.body)[0]),
            set(want.iter()),
            "list {query}"
        );
    }
    // The values themselves.
    let r = s
        .get(&format!("/Users/{uid}?attributes=name.givenName"))
        .await;
    assert_eq!(r.body["name"], json!({"givenName": "Pro"}));
    let r = s
        .get(&format!(
            "/Users/{uid}?excludedAttributes=emails,name.familyName"
        ))
        .await;
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Pro", "formatted": "Pro Jection"})
    );
    let r = s
        .get(&format!("/Users/{uid}?attributes={ENT}:department"))
        .await;
    assert_eq!(r.body[ENT], json!({"department": "Sales"}));
    let r = s.get(&format!("/Users/{uid}?attributes={ENT}")).await;
    assert_eq!(
        r.body[ENT],
        json!({"department": "Sales", "employeeNumber": "42"})
    );
    let r = s
        .get(&format!("/Users/{uid}?attributes=emails.value"))
        .await;
    assert_eq!(r.body["emails"], json!([{"value": "proj@x"}]));
    let r = s.get(&format!("/Users/{uid}?attributes=groups")).await;
    assert_eq!(r.body["groups"][0]["value"], gid.as_str());
    // With a filter.
    let r = s
        .get(&format!(
            "/Users?filter={}&attributes=userName",
            q("title eq \"chief\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(
        keys(&resources(&r.body)[0]),
        set(["schemas", "id", "userName"])
    );
    s.stop().await;
}

#[tokio::test]
async fn projection_on_groups_leaves_members_out_when_asked() {
    let s = TestServer::start().await;
    let u = s.user("m@x").await;
    let gid = create_group(&s, "team", &[&u]).await;
    let r = s
        .get(&format!("/Groups/{gid}?attributes=displayName"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), set(["schemas", "id", "displayName"]));
    let r = s.get(&format!("/Groups/{gid}?attributes=members")).await;
    assert_eq!(keys(&r.body), set(["schemas", "id", "members"]));
    assert_eq!(r.body["members"][0]["value"], u.as_str());
    let r = s
        .get(&format!("/Groups/{gid}?attributes=members.value"))
        .await;
    assert_eq!(r.body["members"], json!([{"value": u}]));
    let r = s
        .get(&format!("/Groups/{gid}?excludedAttributes=members.$ref"))
        .await;
    assert_eq!(r.body["members"], json!([{"value": u, "type": "User"}]));
    let r = s.get("/Groups?excludedAttributes=members").await;
    assert_eq!(r.body["totalResults"], 1);
    let g = &resources(&r.body)[0];
    assert!(g.get("members").is_none(), "{g}");
    assert_eq!(g["displayName"], "team");
    assert!(g.get("meta").is_some());
    let r = s.get("/Groups?attributes=displayName").await;
    assert_eq!(
        keys(&resources(&r.body)[0]),
        set(["schemas", "id", "displayName"])
    );
    // Without projection the members are there.
    let r = s.get("/Groups").await;
    assert_eq!(resources(&r.body)[0]["members"][0]["value"], u.as_str());
    s.stop().await;
}

// =============================================================================================
// PUT

#[tokio::test]
async fn put_replaces_everything_writable_and_ignores_read_only_input() {
    let s = TestServer::start().await;
    let uid = create_user(
        &s,
        json!({"schemas": [USER, ENT], "userName": "put@x", "externalId": "ext-put", "title": "Old",
               "active": false, "name": {"givenName": "Old", "familyName": "Name"},
               "emails": [{"type": "work", "value": "put@x"}], ENT: {"department": "Old"}}),
    )
    .await;
    let other = s.user("other@x").await;
    let gid = create_group(&s, "put-group", &[&uid]).await;
    let path = format!("/Users/{uid}");
    let created = s.get(&path).await.body;

    let r = s
        .put(
            &path,
            json!({"schemas": [USER], "id": other, "userName": "Put@x", "displayName": "New",
                   "password": "hunter2-secret",
                   "meta": {"created": "2001-01-01T00:00:00Z", "resourceType": "Group", "location": "http://evil/"},
                   "groups": [{"value": "forged-group"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(header(&r, "location"), s.url(&path));
    let got = s.get(&path).await.body;
    assert_eq!(r.body, got, "the PUT response is the stored resource");
    assert_eq!(got["id"], uid.as_str(), "id comes from the URL");
    assert_eq!(got["userName"], "Put@x", "own userName in another case");
    assert_eq!(got["displayName"], "New");
    for gone in ["title", "name", "emails", "externalId", ENT, "password"] {
        assert!(got.get(gone).is_none(), "{gone} is replaced away: {got}");
    }
    assert_eq!(got["schemas"], json!([USER]));
    assert_eq!(got["active"], false, "absent active keeps its state");
    assert_eq!(got["meta"]["created"], created["meta"]["created"]);
    assert_eq!(got["meta"]["resourceType"], "User");
    assert_eq!(got["meta"]["location"], s.url(&path));
    assert_eq!(
        group_ids_of_user(&s, &uid).await,
        set([&gid]),
        "groups is derived"
    );
    assert!(!got.to_string().contains("hunter2"), "{got}");
    assert!(!r.body.to_string().contains("hunter2"));
    // The other user named in the body's id is untouched.
    assert_eq!(
        s.get(&format!("/Users/{other}")).await.body["userName"],
        "other@x"
    );
    // A filter cannot find the password.
    for f in [
        "password eq \"hunter2-secret\"",
        "password pr",
        "password co \"hunter\"",
    ] {
        let r = s.get(&format!("/Users?filter={}", q(f))).await;
        if r.status == 200 {
            assert_eq!(r.body["totalResults"], 0, "{f}: {}", r.body);
        } else {
            r.assert_error(400, Some("invalidFilter"));
        }
    }
    let r = s.get(&format!("/Users/{uid}?attributes=password")).await;
    assert!(r.body.get("password").is_none());
    s.stop().await;
}

#[tokio::test]
async fn put_password_is_never_written_to_the_store_file() {
    let mut s = OwnServer::start(100).await;
    let r = s
        .call(
            Method::POST,
            "/Users",
            Some(json!({"userName": "pw-user-marker@x", "password": "Zq9-post-password-marker"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.to_string().contains("password-marker"));
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = s
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"userName": "pw-user-marker@x", "title": "title-marker", "password": "Zq9-put-password-marker"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch_body(json!([{"op": "replace", "path": "password", "value": "Zq9-patch-password-marker"}]))),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{}", r.body);
    assert!(
        !r.body.to_string().contains("password-marker"),
        "{}",
        r.body
    );
    s.stop().await;
    let bytes = std::fs::read(&s.store_path).expect("store file");
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        contains("title-marker"),
        "sanity: stored strings are visible in the file"
    );
    for pw in [
        "post-password-marker",
        "put-password-marker",
        "patch-password-marker",
    ] {
        assert!(!contains(pw), "{pw} was written to the store");
    }
}

#[tokio::test]
async fn put_refusals_change_nothing() {
    let s = TestServer::start().await;
    let a = create_user(&s, json!({"userName": "alpha@x", "title": "A"})).await;
    s.user("Bravo@x").await;
    let gid = s.group("grp").await;
    let before = snapshot(&s).await;
    let path = format!("/Users/{a}");
    s.put(&path, json!({"title": "no userName"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.put(&path, json!({"userName": "", "title": "empty"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.put(&path, json!({"userName": "bRAVO@X", "title": "taken"}))
        .await
        .assert_error(409, Some("uniqueness"));
    s.put(&format!("/Groups/{gid}"), json!({"members": []}))
        .await
        .assert_error(400, Some("invalidValue"));
    for (p, body) in [
        ("/Users/no-such-id", json!({"userName": "ghost@x"})),
        ("/Groups/no-such-id", json!({"displayName": "ghost"})),
        (
            &format!("/Groups/{a}") as &str,
            json!({"displayName": "user id as group"}),
        ),
        (
            &format!("/Users/{gid}") as &str,
            json!({"userName": "group id as user"}),
        ),
    ] {
        s.put(p, body).await.assert_error(404, None);
    }
    assert_eq!(snapshot(&s).await, before);
    s.stop().await;
}

#[tokio::test]
async fn put_group_members_absent_keeps_and_empty_list_clears() {
    let s = TestServer::start().await;
    let u1 = s.user("u1@x").await;
    let u2 = s.user("u2@x").await;
    let gid = create_group(&s, "g", &[&u1]).await;
    let path = format!("/Groups/{gid}");
    let r = s
        .put(&path, json!({"schemas": [GROUP], "displayName": "renamed"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "renamed");
    assert_eq!(
        member_ids(&s, &gid).await,
        set([&u1]),
        "absent members: kept"
    );
    let r = s
        .put(
            &path,
            json!({"displayName": "renamed", "members": [{"value": u2}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(member_ids(&s, &gid).await, set([&u2]), "a list replaces");
    assert_eq!(group_ids_of_user(&s, &u1).await, BTreeSet::new());
    let r = s
        .put(&path, json!({"displayName": "renamed", "members": []}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"], json!([]));
    assert_eq!(member_ids(&s, &gid).await, BTreeSet::new(), "[] empties");
    assert_eq!(group_ids_of_user(&s, &u2).await, BTreeSet::new());
    // A PUT naming a member that does not exist is refused and keeps the old state.
    let r = s
        .put(
            &path,
            json!({"displayName": "x", "members": [{"value": u1}, {"value": "nope"}]}),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let got = s.get(&path).await.body;
    assert_eq!(
        (got["displayName"].as_str(), got["members"].clone()),
        (Some("renamed"), json!([]))
    );
    s.stop().await;
}

#[tokio::test]
async fn put_okta_style_get_modify_put_round_trips() {
    let s = TestServer::start().await;
    let uid = create_user(
        &s,
        json!({"schemas": [USER, ENT], "userName": "okta@x", "name": {"givenName": "O", "familyName": "K"},
               "emails": [{"type": "work", "value": "okta@x", "primary": true}], "active": true,
               ENT: {"department": "Eng"}}),
    )
    .await;
    let peer = s.user("peer@x").await;
    let gid = create_group(&s, "okta-group", &[&uid]).await;
    let path = format!("/Users/{uid}");

    let mut body = s.get(&path).await.body;
    assert!(body.get("groups").is_some() && body.get("meta").is_some());
    body["name"]["givenName"] = json!("Olivia");
    body["active"] = json!(false);
    body["password"] = json!("Okta-sends-this-1");
    let r = s.put(&path, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(got["name"]["givenName"], "Olivia");
    assert_eq!(got["active"], false);
    assert_eq!(got["emails"], body["emails"]);
    assert_eq!(got[ENT], json!({"department": "Eng"}));
    assert_eq!(got["groups"], body["groups"]);
    assert_eq!(got["meta"]["created"], body["meta"]["created"]);
    assert!(got.get("password").is_none());
    // The same PUT again is accepted and changes nothing.
    let again = s.put(&path, got.clone()).await;
    assert_eq!(again.status, 200);
    assert_eq!(s.get(&path).await.body, got, "an identical PUT is a no-op");

    // Groups: GET, rename, PUT back with the echoed members.
    let gpath = format!("/Groups/{gid}");
    let r = s
        .patch(
            &gpath,
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": peer}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut g = s.get(&gpath).await.body;
    g["displayName"] = json!("okta-renamed");
    let r = s.put(&gpath, g).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "okta-renamed");
    assert_eq!(member_ids(&s, &gid).await, set([&uid, &peer]));
    s.stop().await;
}

// =============================================================================================
// Uniqueness under concurrency

#[tokio::test]
async fn uniqueness_holds_under_concurrent_creates_and_renames() {
    let s = Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        let name = if i % 2 == 0 { "Race@X" } else { "race@x" };
        tasks.push(tokio::spawn(async move {
            s.post("/Users", json!({"userName": name}))
                .await
                .status
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|c| **c == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|c| *c == 201 || *c == 409),
        "{statuses:?}"
    );
    assert_eq!(total(&s, "/Users").await, 1);

    // Eight users race to rename themselves onto one free name: exactly one wins.
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(s.user(&format!("renamer{i}@x")).await);
    }
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let s = s.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let r = if i % 2 == 0 {
                s.put(&format!("/Users/{id}"), json!({"userName": "winner@x"}))
                    .await
            } else {
                s.patch(
                    &format!("/Users/{id}"),
                    patch_body(json!([{"op": "replace", "path": "userName", "value": "WINNER@x"}])),
                )
                .await
            };
            r.status.as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|c| *c == 200 || *c == 409),
        "{statuses:?}"
    );
    let f = q("userName eq \"winner@x\"");
    assert_eq!(total(&s, &format!("/Users?filter={f}")).await, 1);
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
}

// =============================================================================================
// Discovery

fn check_attribute_definitions(attrs: &Value, at: &str) {
    let list = attrs
        .as_array()
        .unwrap_or_else(|| panic!("{at}: attributes array"));
    assert!(!list.is_empty(), "{at}");
    for a in list {
        let name = a["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: name in {a}"));
        let here = format!("{at}.{name}");
        for (k, allowed) in [
            (
                "type",
                &[
                    "string",
                    "boolean",
                    "decimal",
                    "integer",
                    "dateTime",
                    "binary",
                    "reference",
                    "complex",
                ][..],
            ),
            (
                "mutability",
                &["readOnly", "readWrite", "immutable", "writeOnly"][..],
            ),
            ("returned", &["always", "never", "default", "request"][..]),
            ("uniqueness", &["none", "server", "global"][..]),
        ] {
            let v = a[k]
                .as_str()
                .unwrap_or_else(|| panic!("{here}: {k} in {a}"));
            assert!(allowed.contains(&v), "{here}: {k} = {v}");
        }
        for k in ["multiValued", "required"] {
            assert!(a[k].is_boolean(), "{here}: {k}");
        }
        assert!(a["description"].is_string(), "{here}: description");
        if a["type"] == "string" || a["type"] == "reference" {
            assert!(a["caseExact"].is_boolean(), "{here}: caseExact");
        }
        if a["type"] == "complex" {
            check_attribute_definitions(&a["subAttributes"], &here);
        } else {
            assert!(a.get("subAttributes").is_none(), "{here}");
        }
        assert!(!a.to_string().contains("null"), "{here}: no nulls: {a}");
    }
}

fn find_attr<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("{name} in {}", schema["id"]))
}

#[tokio::test]
async fn discovery_service_provider_config() {
    let s = TestServer::start().await;
    let r = s.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.content_type(), SCIM_JSON);
    let b = &r.body;
    assert_eq!(
        b["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(b["patch"]["supported"], true);
    assert_eq!(b["filter"]["supported"], true);
    assert!(
        b["filter"]["maxResults"].as_u64().is_some_and(|n| n > 0),
        "{b}"
    );
    assert_eq!(b["etag"]["supported"], true);
    for k in ["bulk", "changePassword", "sort"] {
        assert!(b[k]["supported"].is_boolean(), "{k}");
    }
    let schemes = b["authenticationSchemes"].as_array().expect("schemes");
    assert!(!schemes.is_empty());
    assert!(
        schemes.iter().any(|a| a["type"] == "oauthbearertoken"),
        "{b}"
    );
    for a in schemes {
        assert!(a["name"].is_string() && a["description"].is_string(), "{a}");
    }
    assert_eq!(b["meta"]["location"], s.url("/ServiceProviderConfig"));
    // Case-insensitive path, trailing slash.
    assert_eq!(s.get("/serviceproviderconfig/").await.body, r.body);
    s.stop().await;
}

#[tokio::test]
async fn discovery_resource_types() {
    let s = TestServer::start().await;
    let r = s.get("/ResourceTypes").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 2);
    let rts = resources(&r.body);
    let by_name = |n: &str| -> Value {
        rts.iter()
            .find(|t| t["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n}"))
    };
    let user = by_name("User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER);
    let exts = user["schemaExtensions"].as_array().expect("extensions");
    assert!(
        exts.iter()
            .any(|e| e["schema"] == ENT && e["required"] == false),
        "{user}"
    );
    let group = by_name("Group");
    assert_eq!(group["endpoint"], "/Groups");
    assert_eq!(group["schema"], GROUP);
    assert_eq!(
        rts[0]["endpoint"], "/Users",
        "Postman #4 reads Resources[0]"
    );
    for (id, rt) in [("User", &user), ("Group", &group)] {
        let one = s.get(&format!("/ResourceTypes/{id}")).await;
        assert_eq!(one.status, 200, "{}", one.body);
        assert_eq!(&one.body, rt);
        assert_eq!(one.body["id"], id);
        assert_eq!(one.body["meta"]["resourceType"], "ResourceType");
    }
    assert_eq!(s.get("/resourcetypes/user").await.body, user);
    s.get("/ResourceTypes/Nope").await.assert_error(404, None);
    s.stop().await;
}

#[tokio::test]
async fn discovery_schemas() {
    let s = TestServer::start().await;
    let r = s.get("/Schemas").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(field_set(&r.body, "id"), set([USER, GROUP, ENT]));
    assert!(
        r.body.to_string().contains("\"User Account\""),
        "Postman #6"
    );
    for schema in resources(&r.body) {
        let id = schema["id"].as_str().expect("id");
        check_attribute_definitions(&schema["attributes"], id);
        let one = s.get(&format!("/Schemas/{id}")).await;
        assert_eq!(one.status, 200, "{id}: {}", one.body);
        assert_eq!(&one.body, schema);
        assert_eq!(one.body["meta"]["resourceType"], "Schema");
    }
    let user = resources(&r.body)
        .iter()
        .find(|x| x["id"] == USER)
        .expect("User schema");
    assert_eq!(user["description"], "User Account");
    assert_eq!(user["name"], "User");
    let user_name = find_attr(user, "userName");
    assert_eq!(
        (
            user_name["required"].clone(),
            user_name["uniqueness"].clone(),
            user_name["caseExact"].clone()
        ),
        (json!(true), json!("server"), json!(false))
    );
    assert_eq!(find_attr(user, "password")["returned"], "never");
    assert_eq!(find_attr(user, "password")["mutability"], "writeOnly");
    assert_eq!(find_attr(user, "groups")["mutability"], "readOnly");
    assert_eq!(find_attr(user, "active")["type"], "boolean");
    let emails = find_attr(user, "emails");
    assert_eq!(emails["multiValued"], true);
    let subs: BTreeSet<String> = emails["subAttributes"]
        .as_array()
        .expect("subAttributes")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        subs.is_superset(&set(["value", "type", "primary"])),
        "{subs:?}"
    );
    let name_subs = find_attr(user, "name")["subAttributes"]
        .as_array()
        .map(Vec::len);
    assert!(name_subs.is_some_and(|n| n >= 6));
    let group = resources(&r.body)
        .iter()
        .find(|x| x["id"] == GROUP)
        .expect("Group");
    assert_eq!(find_attr(group, "displayName")["required"], true);
    assert_eq!(find_attr(group, "members")["multiValued"], true);
    let ent = resources(&r.body)
        .iter()
        .find(|x| x["id"] == ENT)
        .expect("ent");
    assert!(find_attr(ent, "manager")["subAttributes"].is_array());
    let encoded = USER.replace(':', "%3A");
    let r = s.get(&format!("/Schemas/{encoded}")).await;
    assert_eq!(
        (r.status.as_u16(), r.body["id"].as_str()),
        (200, Some(USER))
    );
    // Case-insensitive lookups of a schema id; unknown ones are a SCIM 404.
    assert_eq!(
        s.get(&format!("/Schemas/{}", USER.to_uppercase()))
            .await
            .status,
        200
    );
    for unknown in ["urn:ietf:params:scim:schemas:core:2.0:Nope", "nope"] {
        s.get(&format!("/Schemas/{unknown}"))
            .await
            .assert_error(404, None);
    }
    s.stop().await;
}

#[tokio::test]
async fn discovery_endpoints_are_read_only_and_unknown_paths_are_404() {
    let s = TestServer::start().await;
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas",
        &format!("/Schemas/{USER}") as &str,
    ] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = s.call(method.clone(), path, Some(json!({"x": 1}))).await;
            r.assert_error(405, None);
        }
    }
    // Resource endpoints name what they support.
    for (method, path, allow) in [
        (Method::DELETE, "/Users", "GET, POST"),
        (Method::PUT, "/Groups", "GET, POST"),
        (Method::PATCH, "/Users", "GET, POST"),
        (Method::POST, "/Users/some-id", "GET, PUT, PATCH, DELETE"),
    ] {
        let r = s.call(method.clone(), path, Some(json!({}))).await;
        r.assert_error(405, None);
        assert_eq!(header(&r, "allow"), allow, "{method} {path}");
    }
    for path in [
        "/Nope",
        "/Users/a/b",
        "/Bulk/x/y",
        "/",
        "",
        "/Me/x",
        "/Userz",
    ] {
        let r = s.get(path).await;
        r.assert_error(404, None);
    }
    // Outside the base path: 404, also without credentials; nothing is served at the root.
    let origin = origin(&s.base);
    assert_ne!(origin, s.base, "the test server has a base path");
    for url in [
        format!("{origin}/Users"),
        format!("{origin}/"),
        format!("{origin}/ServiceProviderConfig"),
        format!("{}x/Users", s.base),
    ] {
        for headers in [vec![bearer(&s)], vec![]] {
            let r = raw(&s, Method::GET, &url, &headers, None).await;
            r.assert_error(404, None);
        }
    }
    s.stop().await;
}

// =============================================================================================
// Filters over HTTP

async fn filter_fixture(s: &TestServer) -> [String; 4] {
    let alice = create_user(
        s,
        json!({"userName": "alice@x.com", "title": "Engineer", "active": true,
               "name": {"givenName": "Alice", "familyName": "Smith"},
               "emails": [{"type": "work", "value": "alice@x.com"}, {"type": "home", "value": "alice@home.org"}],
               ENT: {"department": "R&D + Ops"}}),
    )
    .await;
    let bob = create_user(
        s,
        json!({"userName": "bob@y.org", "title": "Manager", "active": false,
               "emails": [{"type": "work", "value": "bob@y.org"}]}),
    )
    .await;
    let carol = create_user(s, json!({"userName": "carol@x.com", "active": true})).await;
    let dave = create_user(
        s,
        json!({"userName": "Dave.Jones@Z.net", "active": true,
               "emails": [{"type": "home", "value": "dave@x.com"}]}),
    )
    .await;
    [alice, bob, carol, dave]
}

/// The filter as clients encode it: with `+` for spaces (Entra) and with `%20`.
fn encodings(f: &str) -> Vec<String> {
    let plus = q(f);
    let pct20 = plus.replace('+', "%20");
    vec![plus, pct20]
}

#[tokio::test]
async fn filters_over_http_return_exactly_the_matches() {
    let s = TestServer::start().await;
    filter_fixture(&s).await;
    let all = [
        "alice@x.com",
        "bob@y.org",
        "carol@x.com",
        "Dave.Jones@Z.net",
    ];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("userName eq \"alice@x.com\" or userName eq \"bob@y.org\"", vec!["alice@x.com", "bob@y.org"]),
        ("not (active eq true)", vec!["bob@y.org"]),
        ("active eq false", vec!["bob@y.org"]),
        ("active eq \"False\"", vec!["bob@y.org"]),
        ("active ne false", vec!["alice@x.com", "carol@x.com", "Dave.Jones@Z.net"]),
        ("(userName sw \"a\" or userName sw \"b\") and active eq true", vec!["alice@x.com"]),
        ("userName sw \"a\" or userName sw \"b\" and active eq true", vec!["alice@x.com"]),
        ("(userName sw \"a\" or userName sw \"b\") and not (active eq true)", vec!["bob@y.org"]),
        ("userName co \"@x.\"", vec!["alice@x.com", "carol@x.com"]),
        ("userName sw \"CAROL\"", vec!["carol@x.com"]),
        ("userName ew \".NET\"", vec!["Dave.Jones@Z.net"]),
        ("userName eq \"dave.jones@z.net\"", vec!["Dave.Jones@Z.net"]),
        ("USERNAME Eq \"ALICE@X.COM\"", vec!["alice@x.com"]),
        ("UserName EQ \"alice@x.com\" AND Active EQ TRUE", vec!["alice@x.com"]),
        ("title pr", vec!["alice@x.com", "bob@y.org"]),
        ("not (title pr)", vec!["carol@x.com", "Dave.Jones@Z.net"]),
        ("emails pr", vec!["alice@x.com", "bob@y.org", "Dave.Jones@Z.net"]),
        ("name pr", vec!["alice@x.com"]),
        ("title eq \"engineer\" or title eq \"MANAGER\"", vec!["alice@x.com", "bob@y.org"]),
        ("userName ne \"alice@x.com\"", vec!["bob@y.org", "carol@x.com", "Dave.Jones@Z.net"]),
        ("meta.lastModified gt \"2000-01-01T00:00:00Z\"", all.to_vec()),
        ("meta.lastModified gt \"2999-01-01T00:00:00Z\"", vec![]),
        ("meta.created lt \"2999-01-01T00:00:00+02:00\"", all.to_vec()),
        ("meta.lastModified ge \"2000-01-01T00:00:00Z\" and meta.lastModified le \"2999-01-01T00:00:00Z\"", all.to_vec()),
        ("emails[type eq \"work\" and value co \"@x.com\"]", vec!["alice@x.com"]),
        ("emails[type eq \"home\"]", vec!["alice@x.com", "Dave.Jones@Z.net"]),
        ("emails[TYPE EQ \"WORK\"]", vec!["alice@x.com", "bob@y.org"]),
        ("emails[not (type eq \"work\")]", vec!["alice@x.com", "Dave.Jones@Z.net"]),
        ("emails.value ew \"@x.com\"", vec!["alice@x.com", "Dave.Jones@Z.net"]),
        ("emails co \"home\"", vec!["alice@x.com"]),
        ("name.familyName eq \"smith\"", vec!["alice@x.com"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"R&D + Ops\"", vec!["alice@x.com"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr", vec!["alice@x.com"]),
        ("userName eq \"nobody\"", vec![]),
        ("userName eq \"alice@x.com\" and userName eq \"bob@y.org\"", vec![]),
        ("title eq null", vec!["carol@x.com", "Dave.Jones@Z.net"]),
    ];
    for (f, want) in &cases {
        for enc in encodings(f) {
            let r = s.get(&format!("/Users?filter={enc}")).await;
            assert_eq!(r.status, 200, "{f} ({enc}): {}", r.body);
            assert_eq!(
                field_set(&r.body, "userName"),
                set(want.iter()),
                "{f} ({enc})"
            );
            assert_eq!(r.body["totalResults"], want.len(), "{f} ({enc})");
        }
    }
    // dateTime comparisons against one user's own timestamp (no clock involved).
    let alice = s
        .get(&format!(
            "/Users?filter={}",
            q("userName eq \"alice@x.com\"")
        ))
        .await;
    let lm = resources(&alice.body)[0]["meta"]["lastModified"]
        .as_str()
        .expect("lastModified")
        .to_string();
    for (op, has_alice) in [
        ("eq", true),
        ("ge", true),
        ("le", true),
        ("gt", false),
        ("lt", false),
    ] {
        let f = format!("meta.lastModified {op} \"{lm}\"");
        let r = s.get(&format!("/Users?filter={}", q(&f))).await;
        assert_eq!(r.status, 200, "{f}: {}", r.body);
        assert_eq!(
            field_set(&r.body, "userName").contains("alice@x.com"),
            has_alice,
            "{f}"
        );
    }
    // The filter parameter name is case-insensitive; an empty filter lists everything.
    let r = s
        .get(&format!(
            "/Users?FILTER={}",
            q("userName eq \"carol@x.com\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(total(&s, "/Users?filter=").await, 4);
    assert_eq!(total(&s, "/Users?filter=%20%20").await, 4);
    // Disabled users come back by every route: id, filter and list.
    let r = s
        .get(&format!("/Users?filter={}", q("userName eq \"BOB@Y.ORG\"")))
        .await;
    assert_eq!(resources(&r.body)[0]["active"], false);
    s.stop().await;
}

#[tokio::test]
async fn filters_on_groups_by_member_and_name() {
    let s = TestServer::start().await;
    let [alice, bob, carol, dave] = filter_fixture(&s).await;
    let g1 = create_group(&s, "Engineering", &[&alice, &bob]).await;
    let g2 = create_group(&s, "Sales", &[&carol]).await;
    let g3 = create_group(&s, "Empty", &[]).await;
    let nested = create_group(&s, "Parent", &[&g1]).await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("members eq \"{alice}\""), vec![&g1]),
        (format!("members eq \"{carol}\""), vec![&g2]),
        (format!("members.value eq \"{bob}\""), vec![&g1]),
        (format!("members[value eq \"{bob}\"]"), vec![&g1]),
        (format!("members eq \"{g1}\""), vec![&nested]),
        ("members[type eq \"Group\"]".to_string(), vec![&nested]),
        (
            format!("members eq \"{alice}\" or members eq \"{carol}\""),
            vec![&g1, &g2],
        ),
        (format!("id eq \"{g1}\" and members eq \"{carol}\""), vec![]),
        ("members eq \"no-such-id\"".into(), vec![]),
        ("members pr".into(), vec![&g1, &g2, &nested]),
        ("not (members pr)".into(), vec![&g3]),
        ("displayName sw \"e\"".into(), vec![&g1, &g3]),
        ("displayName eq \"SALES\"".into(), vec![&g2]),
        ("DisplayName Co \"ar\"".into(), vec![&nested]),
    ];
    let user_cases: Vec<(String, Vec<&str>)> = vec![
        (format!("groups eq \"{g1}\""), vec![&alice, &bob]),
        (format!("groups.value eq \"{g2}\""), vec![&carol]),
        (
            format!("groups[value eq \"{g1}\"] and active eq false"),
            vec![&bob],
        ),
        ("groups.display eq \"sales\"".into(), vec![&carol]),
        ("not (groups pr)".into(), vec![&dave]),
    ];
    for (f, want) in &user_cases {
        for query in [
            format!("filter={}", q(f)),
            format!("filter={}&excludedAttributes=groups", q(f)),
            format!("filter={}&attributes=userName", q(f)),
        ] {
            let r = s.get(&format!("/Users?{query}")).await;
            assert_eq!(r.status, 200, "{f}: {}", r.body);
            assert_eq!(field_set(&r.body, "id"), set(want.iter()), "{query}");
            assert_eq!(r.body["totalResults"], want.len(), "{query}");
        }
    }
    for (f, want) in &cases {
        for query in [
            format!("filter={}", q(f)),
            format!("filter={}&excludedAttributes=members", q(f)),
        ] {
            let r = s.get(&format!("/Groups?{query}")).await;
            assert_eq!(r.status, 200, "{f}: {}", r.body);
            assert_eq!(field_set(&r.body, "id"), set(want.iter()), "{query}");
            assert_eq!(r.body["totalResults"], want.len(), "{query}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn filters_match_special_characters_through_index_and_scan_alike() {
    let s = TestServer::start().await;
    let names = [
        "o'brien+tag&co#1%25@x.com",
        "q\"uote\\d@x",
        "ZOË@Bücher.de",
        "sp ace@x",
        "semi;colon=eq?@x",
        "(paren) [bracket] and or not@x",
    ];
    for name in names {
        let id = create_user(&s, json!({"userName": name})).await;
        for v in [name.to_string(), name.to_uppercase(), name.to_lowercase()] {
            let lit = serde_json::to_string(&v).expect("json string");
            // The first is answered from the userName index, the others by a scan.
            for f in [
                format!("userName eq {lit}"),
                format!("userName eq {lit} or userName eq \"zzz\""),
                format!("userName co {lit}"),
            ] {
                for enc in encodings(&f) {
                    let r = s.get(&format!("/Users?filter={enc}")).await;
                    assert_eq!(r.status, 200, "{f}: {}", r.body);
                    assert_eq!(ids_of(&r.body), vec![id.clone()], "{f} ({enc})");
                }
            }
        }
        // The same name is taken in any case.
        s.post("/Users", json!({"userName": name.to_uppercase()}))
            .await
            .assert_error(409, Some("uniqueness"));
    }
    assert_eq!(total(&s, "/Users").await, names.len() as u64);
    s.stop().await;
}

// =============================================================================================
// Groups

#[tokio::test]
async fn groups_created_with_members_echo_them_and_refuse_unknown_ones() {
    let s = TestServer::start().await;
    let u1 = s.user("a@x").await;
    let u2 = s.user("b@x").await;
    let r = s
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "with-members",
                   "members": [{"value": u1, "display": "A"}, {"value": u2, "type": "User"}, {"value": u1}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let gid = r.body["id"].as_str().expect("id").to_string();
    let members = r.body["members"].as_array().expect("members");
    assert_eq!(
        members.len(),
        2,
        "a member listed twice is one member: {}",
        r.body
    );
    for m in members {
        let v = m["value"].as_str().expect("value");
        assert_eq!(m["type"], "User");
        assert_eq!(m["$ref"], s.url(&format!("/Users/{v}")));
    }
    assert_eq!(member_ids(&s, &gid).await, set([&u1, &u2]));
    assert_eq!(group_ids_of_user(&s, &u1).await, set([&gid]));
    let g = s.get(&format!("/Users/{u2}")).await.body["groups"][0].clone();
    assert_eq!(g["display"], "with-members");
    assert_eq!(g["$ref"], s.url(&format!("/Groups/{gid}")));

    // A bad member refuses the whole group.
    let before = snapshot(&s).await;
    for members in [
        json!([{"value": "does-not-exist"}]),
        json!([{"value": u1}, {"value": "does-not-exist"}]),
    ] {
        let r = s
            .post(
                "/Groups",
                json!({"displayName": "refused", "members": members}),
            )
            .await;
        r.assert_error(400, Some("invalidValue"));
    }
    assert_eq!(snapshot(&s).await, before);
    assert_eq!(
        total(
            &s,
            &format!("/Groups?filter={}", q("displayName eq \"refused\""))
        )
        .await,
        0
    );
    s.stop().await;
}

#[tokio::test]
async fn groups_nested_groups_and_deletion_cleans_every_reference() {
    let s = TestServer::start().await;
    let u = s.user("nest@x").await;
    let child = create_group(&s, "child", &[&u]).await;
    let r = s
        .post(
            "/Groups",
            json!({"displayName": "parent", "members": [{"value": child, "type": "Group"}, {"value": u, "type": "User"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let parent = r.body["id"].as_str().expect("id").to_string();
    let members = r.body["members"].as_array().expect("members");
    let child_entry = members
        .iter()
        .find(|m| m["value"] == child.as_str())
        .expect("child");
    assert_eq!(child_entry["type"], "Group");
    assert_eq!(child_entry["$ref"], s.url(&format!("/Groups/{child}")));
    let user_entry = members
        .iter()
        .find(|m| m["value"] == u.as_str())
        .expect("user");
    assert_eq!(user_entry["type"], "User");
    assert_eq!(group_ids_of_user(&s, &u).await, set([&child, &parent]));

    // Deleting the child removes it from the parent and from the user's groups.
    assert_eq!(s.delete(&format!("/Groups/{child}")).await.status, 204);
    assert_eq!(member_ids(&s, &parent).await, set([&u]));
    assert_eq!(group_ids_of_user(&s, &u).await, set([&parent]));
    assert_eq!(
        total(
            &s,
            &format!("/Groups?filter={}", q(&format!("members eq \"{child}\"")))
        )
        .await,
        0
    );
    // Deleting the parent leaves the user with no groups at all.
    assert_eq!(s.delete(&format!("/Groups/{parent}")).await.status, 204);
    let got = s.get(&format!("/Users/{u}")).await.body;
    assert!(got.get("groups").is_none(), "{got}");
    assert_eq!(total(&s, "/Groups").await, 0);
    assert_eq!(
        total(&s, "/Users").await,
        1,
        "members are not deleted with their group"
    );

    // A membership cycle is harmless: listing, filtering and deleting all work.
    let a = s.group("cycle-a").await;
    let b = create_group(&s, "cycle-b", &[&a]).await;
    let r = s
        .patch(
            &format!("/Groups/{a}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": b}]}])),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{}", r.body);
    if r.status == 204 {
        assert_eq!(member_ids(&s, &a).await, set([&b]));
    } else {
        r.assert_error(400, Some("invalidValue"));
    }
    assert_eq!(total(&s, "/Groups").await, 2);
    assert_eq!(s.delete(&format!("/Groups/{a}")).await.status, 204);
    assert_eq!(member_ids(&s, &b).await, BTreeSet::new());
    s.stop().await;
}

#[tokio::test]
async fn groups_replace_members_and_okta_pathless_rename() {
    let s = TestServer::start().await;
    let u1 = s.user("r1@x").await;
    let u2 = s.user("r2@x").await;
    let u3 = s.user("r3@x").await;
    let gid = create_group(&s, "replace-me", &[&u1, &u2]).await;
    let path = format!("/Groups/{gid}");

    let r = s
        .patch(&path, patch_body(json!([{"op": "replace", "path": "members", "value": [{"value": u2}, {"value": u3}]}])))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_null());
    assert_eq!(member_ids(&s, &gid).await, set([&u2, &u3]));
    assert_eq!(group_ids_of_user(&s, &u1).await, BTreeSet::new());

    // Okta's rename: path-less, with the group's id inside the value. Members stay.
    let r = s
        .patch(
            &path,
            patch_body(json!([{"op": "replace", "value": {"id": gid, "displayName": "New Name"}}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = s.get(&path).await.body;
    assert_eq!(got["displayName"], "New Name");
    assert_eq!(got["id"], gid.as_str());
    assert_eq!(member_ids(&s, &gid).await, set([&u2, &u3]));
    assert_eq!(
        s.get(&format!("/Users/{u3}")).await.body["groups"][0]["display"],
        "New Name",
        "User.groups shows the new name"
    );
    // Okta path-less with a members list replaces them.
    let r = s
        .patch(&path, patch_body(json!([{"op": "replace", "value": {"id": gid, "displayName": "New Name", "members": [{"value": u1}]}}])))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(member_ids(&s, &gid).await, set([&u1]));

    // Replace with an empty list empties the group.
    let r = s
        .patch(
            &path,
            patch_body(json!([{"op": "replace", "path": "members", "value": []}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(member_ids(&s, &gid).await, BTreeSet::new());
    assert_eq!(s.get(&path).await.body["members"], json!([]));
    // Several member operations in one request apply in order.
    let r = s
        .patch(
            &path,
            patch_body(json!([
            {"op": "add", "path": "members", "value": [{"value": u1}, {"value": u2}]},
            {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
            {"op": "add", "path": "members", "value": [{"value": u3}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(member_ids(&s, &gid).await, set([&u2, &u3]));
    s.stop().await;
}

// =============================================================================================
// Transport

#[tokio::test]
async fn transport_http2_is_negotiated_by_alpn_and_http1_still_works() {
    let s = TestServer::start().await;
    // The harness client offers h2 and http/1.1; the server picks h2.
    let resp = s
        .client
        .get(s.url("/ServiceProviderConfig"))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    s.stop().await;

    let mut own = OwnServer::start(100).await;
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&own.cert_pem).expect("pem")])
        .http1_only()
        .build()
        .expect("client");
    let resp = h1
        .get(format!("{}/Users", own.base))
        .bearer_auth(&own.token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(resp.status(), 200);
    assert_eq!(own.call(Method::GET, "/Users", None).await.status, 200);

    // ALPN as seen by a bare TLS client.
    for (offer, want) in [
        (&[&b"h2"[..], b"http/1.1"][..], Some(&b"h2"[..])),
        (&[&b"http/1.1"[..]][..], Some(&b"http/1.1"[..])),
        (&[&b"h2"[..]][..], Some(&b"h2"[..])),
        (&[][..], None),
    ] {
        let cfg = own.tls_client(rustls::DEFAULT_VERSIONS, None, offer);
        let tls = own.handshake(cfg).await.expect("handshake");
        let (_, conn) = tls.get_ref();
        assert_eq!(conn.alpn_protocol(), want, "offered {offer:?}");
        assert_eq!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
    }
    own.stop().await;
}

#[tokio::test]
async fn transport_a_tls12_only_client_connects_with_an_ecdhe_gcm_suite() {
    use rustls::crypto::ring::cipher_suite as cs;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut s = OwnServer::start(100).await;
    // Entra's cipher floor (INTEROP A §1.3), the ECDSA ones since the test certificate is ECDSA.
    for suite in [
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ] {
        let cfg = s.tls_client(
            &[&rustls::version::TLS12],
            Some(vec![suite]),
            &[b"http/1.1"],
        );
        let mut tls = s.handshake(cfg).await.expect("TLS 1.2 handshake");
        {
            let (_, conn) = tls.get_ref();
            assert_eq!(
                conn.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_2)
            );
            assert_eq!(
                conn.negotiated_cipher_suite().map(|c| c.suite()),
                Some(suite.suite())
            );
        }
        // A real HTTP/1.1 request over that connection.
        let host = s.addr;
        let req = format!(
            "GET {}/ServiceProviderConfig HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            s.base_path(),
            s.token
        );
        tls.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await.expect("read");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text
            .to_ascii_lowercase()
            .contains("content-type: application/scim+json"));
        assert!(text.contains("\"patch\""), "{text}");
    }

    // reqwest with a TLS 1.2-only rustls config, h2 offered.
    let cfg = s.tls_client(&[&rustls::version::TLS12], None, &[b"h2", b"http/1.1"]);
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .tls_info(true)
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}/Users", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("request over TLS 1.2");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let info = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info");
    assert_eq!(info.version(), Some(reqwest::tls::Version::TLS_1_2));
    // TLS 1.1 and older cannot be tested from here: rustls implements only 1.2 and 1.3, and the
    // server is rustls too, so it cannot speak 1.1 either.
    s.stop().await;
}

#[tokio::test]
async fn transport_plain_http_to_the_tls_port_gets_no_http_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut s = OwnServer::start(100).await;
    let plain_url = format!("http://{}{}/Users", s.addr, s.base_path());
    let client = reqwest::Client::builder().build().expect("client");
    let r = client.get(&plain_url).bearer_auth(&s.token).send().await;
    assert!(
        r.is_err(),
        "plain HTTP got an HTTP answer: {:?}",
        r.map(|x| x.status())
    );

    let mut tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let req = format!(
        "GET {}/Users HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s.base_path(),
        s.addr,
        s.token
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tcp.read_to_end(&mut out),
    )
    .await;
    assert!(read.is_ok(), "the server closes a non-TLS connection");
    assert!(
        !out.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(!String::from_utf8_lossy(&out).contains("Resources"));
    // The server still serves TLS afterwards.
    assert_eq!(s.call(Method::GET, "/Users", None).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn transport_a_refused_oversized_body_leaves_the_connection_usable() {
    let mut s = OwnServer::start(100).await;
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&s.cert_pem).expect("pem")])
        .http1_only()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    for (name, client) in [("HTTP/1.1", h1), ("HTTP/2", s.client())] {
        for (size, ct) in [
            (1024 * 1024 + 1, "application/json"),
            (4 * 1024 * 1024, "application/scim+json"),
        ] {
            let resp = client
                .post(format!("{}/Users", s.base))
                .bearer_auth(&s.token)
                .header("Content-Type", ct)
                .body(vec![b' '; size])
                .send()
                .await
                .expect("an answer, not a reset");
            Reply::from(resp).await.assert_error(413, None);
            let resp = client
                .get(format!("{}/Users", s.base))
                .bearer_auth(&s.token)
                .send()
                .await
                .expect("next request");
            assert_eq!(resp.status(), 200, "{name}: the next request works");
        }
    }
    assert_eq!(
        s.call(Method::GET, "/Users", None).await.body["totalResults"],
        0
    );
    s.stop().await;
}
