//! `POST /oauth/token` (client credentials) and the tokens it issues, over real TLS.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::common::{Reply, TestServer};
use scimd::config::{Config, MetricsSettings, OAuthClientSettings};
use scimd::directory::{AuditQuery, Directory};
use scimd::scim::Registry;
use scimd::store::Store;

const ENTRA_SECRET: &str = "scimd_entra-client-secret-for-tests";
const READER_SECRET: &str = "scimd_reader-client-secret-for-tests";
const SHORT_SECRET: &str = "scimd_short-lived-client-secret";

fn client(id: &str, secret: &str, scopes: &[&str], lifetime: Option<u64>) -> OAuthClientSettings {
    let mut secret_sha256 = [0u8; 32];
    hex::decode_to_slice(scimd::auth::sha256_hex(secret), &mut secret_sha256).expect("hex");
    OAuthClientSettings {
        client_id: id.into(),
        secret_sha256,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        token_lifetime: lifetime.map(Duration::from_secs),
    }
}

fn with_clients(config: &mut Config) {
    config.oauth.clients = vec![
        client("entra", ENTRA_SECRET, &["read", "write"], None),
        client("reader", READER_SECRET, &["read"], None),
        client("short", SHORT_SECRET, &["read", "write"], Some(1)),
    ];
}

async fn server() -> TestServer {
    TestServer::start_with(with_clients).await
}

fn token_url(s: &TestServer) -> String {
    format!("https://{}/oauth/token", s.addr)
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        f.append_pair(k, v);
    }
    f.finish()
}

/// Posts a token request; `basic` authenticates with HTTP Basic.
async fn request(s: &TestServer, fields: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut req = s
        .client
        .post(token_url(s))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(fields));
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    Reply::from(req.send().await.expect("request")).await
}

/// `client_secret_post` for `id`; returns the access token.
async fn obtain(s: &TestServer, id: &str, secret: &str) -> String {
    let r = request(
        s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"].as_str().expect("token").to_string()
}

async fn with_token(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = s.client.request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/scim+json")
            .body(b.to_string());
    }
    Reply::from(req.send().await.expect("request")).await
}

fn assert_oauth_error(r: &Reply, status: u16, error: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"], error, "{}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        r.body
    );
    assert_eq!(r.headers["cache-control"], "no-store");
}

fn new_user(name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name
    })
}

#[tokio::test]
async fn basic_and_post_authentication_both_issue_a_working_token() {
    let mut s = server().await;
    s.user("existing@example.com").await;

    let basic = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_eq!(basic.status, 200, "{}", basic.body);
    assert_eq!(basic.body["token_type"], "Bearer");
    assert_eq!(basic.body["expires_in"], 3600);
    assert_eq!(basic.body["scope"], "read write");
    assert_eq!(basic.headers["cache-control"], "no-store");
    assert_eq!(basic.headers["pragma"], "no-cache");
    assert!(basic.content_type().starts_with("application/json"));
    let via_basic = basic.body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(via_basic.starts_with("scimd_at_"));

    let via_post = obtain(&s, "entra", ENTRA_SECRET).await;
    assert_ne!(via_basic, via_post);

    for token in [&via_basic, &via_post] {
        let r = with_token(&s, Method::GET, "/Users", token, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["totalResults"].as_u64() >= Some(1), "{}", r.body);
        let r = with_token(
            &s,
            Method::POST,
            "/Users",
            token,
            Some(new_user(&format!("u{}@example.com", &token[9..15]))),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // The audit names the client, never the token.
    s.shutdown().await;
    let store = Arc::new(Store::open(&s.store_path).expect("store reopens"));
    let dir = Directory::new(store, Registry::new(), "https://x/scim/v2", 100);
    let entries = dir.audit(&AuditQuery::default()).expect("audit");
    let by: Vec<&str> = entries.iter().filter_map(|e| e["token"].as_str()).collect();
    assert_eq!(by, ["oauth:entra", "oauth:entra", "test"], "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(&via_basic) && !text.contains(&via_post));
}

#[tokio::test]
async fn wrong_secret_and_unknown_client_are_invalid_client() {
    let s = TestServer::start_with(|c| {
        with_clients(c);
        c.metrics = Some(MetricsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
        });
    })
    .await;
    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("entra", "scimd_wrong")),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert!(!r.body.to_string().contains("scimd_wrong"));

    let r = request(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "entra"),
            ("client_secret", READER_SECRET),
        ],
        None,
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    // client_secret_post failed: no Basic challenge is owed.
    assert!(r.headers.get("www-authenticate").is_none());

    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("nobody", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");

    // No client authentication at all.
    let r = request(&s, &[("grant_type", "client_credentials")], None).await;
    assert_oauth_error(&r, 401, "invalid_client");
    assert!(r.headers.contains_key("www-authenticate"));

    // Each of the four refusals is counted; the issued token below is not.
    obtain(&s, "entra", ENTRA_SECRET).await;
    let addr = s.metrics_addr.expect("metrics listener");
    let text = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("scimd_auth_failures_total{reason=\"oauth_client\"} 4\n"),
        "{text}"
    );
    s.stop().await;
}

/// Secrets guessed at the token endpoint block the address like guessed tokens do; the 429 is
/// in OAuth's shape, for the OAuth client library that reads it.
#[tokio::test]
async fn repeated_wrong_secrets_block_the_address_with_an_oauth_429() {
    let s = TestServer::start_with(|c| {
        with_clients(c);
        c.auth.throttle.limit = 3;
    })
    .await;
    for i in 0..3 {
        let r = request(
            &s,
            &[("grant_type", "client_credentials")],
            Some(("entra", "scimd_guess")),
        )
        .await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    // Blocked: even the right secret is refused, before it is checked.
    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 429, "temporarily_unavailable");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    let detail = r.body["error_description"].as_str().unwrap();
    assert!(
        detail.contains("too many failed authentications") && detail.contains("client secret"),
        "{detail}"
    );
    // The SCIM endpoints answer the same address with a SCIM Error.
    let scim = with_token(&s, Method::GET, "/Users", &s.token, None).await;
    scim.assert_error(429, None);
    s.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_oauth_error() {
    let s = server().await;
    let r = request(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "x"),
            ("password", "y"),
        ],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 400, "unsupported_grant_type");

    let r = request(&s, &[], Some(("entra", ENTRA_SECRET))).await;
    assert_oauth_error(&r, 400, "invalid_request");

    // Both authentication methods at once.
    let r = request(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "entra"),
            ("client_secret", ENTRA_SECRET),
        ],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");

    // A repeated parameter is ambiguous.
    let r = request(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request");

    // JSON instead of a form.
    let r = s
        .client
        .post(token_url(&s))
        .basic_auth("entra", Some(ENTRA_SECRET))
        .header("Content-Type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_oauth_error(&Reply::from(r).await, 400, "invalid_request");

    // A body far larger than any token request.
    let big = "x".repeat(64 * 1024);
    let r = request(
        &s,
        &[("grant_type", "client_credentials"), ("pad", &big)],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 413, "invalid_request");

    let r = Reply::from(s.client.get(token_url(&s)).send().await.unwrap()).await;
    assert_oauth_error(&r, 405, "invalid_request");
    assert_eq!(r.headers["allow"], "POST");
    s.stop().await;
}

#[tokio::test]
async fn scopes_are_checked_and_read_only_tokens_cannot_write() {
    let s = server().await;
    let r = request(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read write"),
        ],
        Some(("reader", READER_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_scope");

    let r = request(
        &s,
        &[("grant_type", "client_credentials"), ("scope", "read")],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "read");
    let narrowed = r.body["access_token"].as_str().unwrap().to_string();
    let reader = obtain(&s, "reader", READER_SECRET).await;

    for token in [&narrowed, &reader] {
        let r = with_token(&s, Method::GET, "/Users", token, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // A search is a POST that only reads.
        let search = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]
        });
        let r = with_token(&s, Method::POST, "/Users/.search", token, Some(search)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = with_token(
            &s,
            Method::POST,
            "/Users",
            token,
            Some(new_user("ro@example.com")),
        )
        .await;
        r.assert_error(403, None);
        assert!(
            r.body["detail"].as_str().unwrap().contains("write"),
            "{}",
            r.body
        );
    }
    // Nothing was created.
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
    s.stop().await;
}

#[tokio::test]
async fn an_expired_or_unknown_token_gets_401() {
    let s = server().await;
    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("short", SHORT_SECRET)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], 1);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    // The lifetime is one second; twice that (plus slack) has surely passed it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = with_token(&s, Method::GET, "/Users", &token, None).await;
    r.assert_error(401, None);

    let r = with_token(&s, Method::GET, "/Users", "scimd_at_never-issued", None).await;
    r.assert_error(401, None);
    s.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_stays_at_the_root_when_scim_is_served_there() {
    let s = TestServer::start_with(|c| {
        with_clients(c);
        c.server.base_path = "/".into();
    })
    .await;
    let token = obtain(&s, "entra", ENTRA_SECRET).await;
    let r = Reply::from(
        s.client
            .get(format!("https://{}/Users", s.addr))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.stop().await;
}

#[tokio::test]
async fn without_clients_every_token_request_is_invalid_client() {
    let s = TestServer::start().await;
    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("entra", ENTRA_SECRET)),
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client");
    // Static tokens work as before.
    assert_eq!(s.get("/Users").await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_client_added_with_the_cli_obtains_a_token_with_the_printed_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scimd.toml");
    std::fs::write(&path, "[storage]\npath = \"scimd.redb\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args([
            "oauth-client",
            "add",
            "cli-client",
            "--scope",
            "read",
            "--config",
        ])
        .arg(&path)
        .output()
        .expect("scimd runs");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Client Secret:"))
        .expect("the secret is printed")
        .trim()
        .to_string();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&secret), "the file holds only the hash");
    let loaded = Config::load(&path).expect("the edited file loads");

    let s = TestServer::start_with(|c| c.oauth = loaded.oauth.clone()).await;
    let r = request(
        &s,
        &[("grant_type", "client_credentials")],
        Some(("cli-client", &secret)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["scope"], "read");
    s.stop().await;
}
