//! Token scopes, expiry, failed-authentication throttling and per-token rate limits, over real
//! TLS against the real server.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Reply, TestServer};
use scimd::auth::{RateLimit, Scope, Scopes};
use scimd::config::{Config, TokenSettings};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A new secret, and a stanza for it named `name` that `adjust` may restrict.
fn extra_token(name: &str, adjust: impl FnOnce(&mut TokenSettings)) -> (String, TokenSettings) {
    let secret = scimd::auth::generate_secret().expect("secret");
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(scimd::auth::sha256_hex(&secret), &mut sha256).expect("hex");
    let mut settings = TokenSettings {
        name: name.to_string(),
        sha256,
        ..TokenSettings::default()
    };
    adjust(&mut settings);
    (secret, settings)
}

fn add(config: &mut Config, token: &TokenSettings) {
    config.tokens.push(token.clone());
}

/// A request with `secret` as the bearer token, from `forwarded_for` when given (the server
/// trusts 127.0.0.1 as a proxy in the tests that use it).
async fn call_as(
    s: &TestServer,
    secret: &str,
    forwarded_for: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = s.client.request(method, s.url(path)).bearer_auth(secret);
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/scim+json")
            .body(serde_json::to_vec(&b).expect("json"));
    }
    Reply::from(req.send().await.expect("request")).await
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn detail(r: &Reply) -> &str {
    r.body["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_read_token_reads_and_searches_but_every_write_is_refused_and_nothing_stored() {
    let (reader, stanza) = extra_token("auditor", |t| {
        t.scopes = Scopes::none().with(Scope::Read);
    });
    let s = TestServer::start_with(|c| add(c, &stanza)).await;
    let id = s.user("kept@example.com").await;
    let gid = s.group("kept-group").await;
    let path = format!("/Users/{id}");

    // Reads: GET a resource, list, filter, and POST .search (a read, RFC 7644 §3.4.3).
    assert_eq!(
        call_as(&s, &reader, None, Method::GET, &path, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call_as(&s, &reader, None, Method::GET, "/Users", None)
            .await
            .status,
        200
    );
    assert_eq!(
        call_as(
            &s,
            &reader,
            None,
            Method::GET,
            &format!("/Groups/{gid}"),
            None
        )
        .await
        .status,
        200
    );
    let search = json!({"schemas": [SEARCH], "filter": "userName eq \"kept@example.com\""});
    let found = call_as(
        &s,
        &reader,
        None,
        Method::POST,
        "/Users/.search",
        Some(search.clone()),
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(
        call_as(&s, &reader, None, Method::POST, "/.search", Some(search))
            .await
            .status,
        200
    );
    assert_eq!(
        call_as(
            &s,
            &reader,
            None,
            Method::GET,
            "/ServiceProviderConfig",
            None
        )
        .await
        .status,
        200
    );

    // Writes: each refused with 403 naming the missing scope.
    let new_user = json!({"schemas": [USER], "userName": "intruder@example.com"});
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "displayName", "value": "changed"}]});
    let bulk = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "b1",
         "data": {"schemas": [USER], "userName": "bulk@example.com"}}]});
    let writes = [
        (Method::POST, "/Users".to_string(), Some(new_user)),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"schemas": [USER], "userName": "renamed@example.com"})),
        ),
        (Method::PATCH, path.clone(), Some(patch.clone())),
        (Method::PATCH, format!("/Groups/{gid}"), Some(patch)),
        (Method::DELETE, path.clone(), None),
        (Method::DELETE, format!("/Groups/{gid}"), None),
        (Method::POST, "/Bulk".to_string(), Some(bulk)),
    ];
    for (method, p, body) in writes {
        let r = call_as(&s, &reader, None, method.clone(), &p, body).await;
        r.assert_error(403, None);
        assert!(
            detail(&r).contains("needs scope \"write\"") && detail(&r).contains("auditor"),
            "{method} {p}: {}",
            r.body
        );
        assert!(
            header(&r, "www-authenticate").contains("error=\"insufficient_scope\""),
            "{method} {p}: {:?}",
            r.headers
        );
    }

    // Nothing was stored: the full token sees the same user and group, and only them.
    let user = s.get(&path).await;
    assert_eq!(user.status, 200);
    assert_eq!(user.body["userName"], "kept@example.com");
    assert!(user.body.get("displayName").is_none(), "{}", user.body);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    let group = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(group.status, 200);
    assert_eq!(group.body["displayName"], "kept-group");
    // A method the endpoint does not support is still 405, not 403.
    let r = call_as(&s, &reader, None, Method::DELETE, "/Users", None).await;
    assert_eq!(r.status, 405, "{}", r.body);
}

#[tokio::test]
async fn an_expired_token_gets_401_saying_so_and_when() {
    let (old, stanza) = extra_token("retired", |t| {
        t.expires_at = Some(time::macros::datetime!(2020-01-01 00:00 UTC));
    });
    let (current, future) = extra_token("current", |t| {
        t.expires_at = Some(time::OffsetDateTime::now_utc() + time::Duration::days(365));
    });
    let s = TestServer::start_with(|c| {
        add(c, &stanza);
        add(c, &future);
    })
    .await;
    let r = call_as(&s, &old, None, Method::GET, "/Users", None).await;
    r.assert_error(401, None);
    assert!(
        detail(&r).contains("expired at 2020-01-01T00:00:00Z"),
        "{}",
        r.body
    );
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains("error=\"invalid_token\"")
            && challenge
                .contains("error_description=\"the token expired at 2020-01-01T00:00:00Z\""),
        "{challenge}"
    );
    // A token that expires later works now.
    let ok = call_as(&s, &current, None, Method::GET, "/Users", None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn repeated_failures_block_the_address_but_not_another_one() {
    let s = TestServer::start_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.auth.throttle.limit = 3;
    })
    .await;
    let attacker = Some("192.0.2.66");
    let neighbour = Some("198.51.100.7");
    for i in 0..3 {
        let r = call_as(&s, "scimd_guess", attacker, Method::GET, "/Users", None).await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    // Blocked: even the valid token is refused from that address, before it is checked.
    for secret in ["scimd_guess", s.token.as_str()] {
        let r = call_as(&s, secret, attacker, Method::GET, "/Users", None).await;
        r.assert_error(429, None);
        let retry: u64 = header(&r, "retry-after")
            .parse()
            .expect("Retry-After seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        assert!(
            detail(&r).contains("too many failed authentications"),
            "{}",
            r.body
        );
    }
    // Another address is not affected, and a success there does not unblock the attacker.
    let ok = call_as(&s, &s.token, neighbour, Method::GET, "/Users", None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let still = call_as(&s, &s.token, attacker, Method::GET, "/Users", None).await;
    assert_eq!(still.status, 429, "{}", still.body);
}

#[tokio::test]
async fn a_rate_limited_token_gets_429_with_retry_after_and_others_do_not() {
    let (limited, stanza) = extra_token("slow", |t| {
        t.rate_limit = Some(RateLimit {
            per_second: 1,
            burst: 1,
        });
    });
    let s = TestServer::start_with(|c| add(c, &stanza)).await;
    let first = call_as(&s, &limited, None, Method::GET, "/Users", None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // One request a second: back-to-back requests hit the limit unless each took over a second.
    let mut refused = None;
    for _ in 0..20 {
        let r = call_as(&s, &limited, None, Method::GET, "/Users", None).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a request over the limit is refused");
    r.assert_error(429, None);
    assert_eq!(header(&r, "retry-after"), "1");
    assert!(
        detail(&r).contains("limited to 1 request per second"),
        "{}",
        r.body
    );
    // The unlimited token is not throttled by it.
    for _ in 0..5 {
        assert_eq!(s.get("/Users").await.status, 200);
    }
}

#[tokio::test]
async fn a_reload_applies_new_scopes_and_expiry_to_the_next_request() {
    let (secret, stanza) = extra_token("promoted", |t| {
        t.scopes = Scopes::none().with(Scope::Read);
    });
    let mut config = None;
    let s = TestServer::start_with(|c| {
        add(c, &stanza);
        config = Some(c.clone());
    })
    .await;
    let mut config = config.expect("config");
    let user = json!({"schemas": [USER], "userName": "after-reload@example.com"});
    let r = call_as(
        &s,
        &secret,
        None,
        Method::POST,
        "/Users",
        Some(user.clone()),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);

    let promoted = config.tokens.iter_mut().find(|t| t.name == "promoted");
    promoted.expect("token").scopes = Scopes::all();
    s.reload(&config).expect("reload");
    let r = call_as(&s, &secret, None, Method::POST, "/Users", Some(user)).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let promoted = config.tokens.iter_mut().find(|t| t.name == "promoted");
    promoted.expect("token").expires_at = Some(time::macros::datetime!(2021-01-01 00:00 UTC));
    s.reload(&config).expect("reload");
    let r = call_as(&s, &secret, None, Method::GET, "/Users", None).await;
    r.assert_error(401, None);
    assert!(detail(&r).contains("expired"), "{}", r.body);
}
