//! `/metrics` on its own plain-HTTP listener: scraped after real SCIM calls over TLS.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::common::TestServer;
use scimd::config::MetricsSettings;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// A server with `[metrics]` on a free loopback port, whose token is named "entra".
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.tokens[0].name = "entra".into();
        c.metrics = Some(MetricsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
        });
    })
    .await
}

fn metrics_addr(s: &TestServer) -> SocketAddr {
    s.metrics_addr.expect("[metrics] is configured")
}

/// Scrapes `/metrics` and returns the text, checking the status and content type.
async fn scrape(s: &TestServer) -> String {
    let resp = reqwest::Client::new()
        .get(format!("http://{}/metrics", metrics_addr(s)))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    resp.text().await.expect("text")
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(|v| v.parse().expect("a number"))
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn scraping_after_scim_calls_shows_requests_writes_and_counts() {
    let s = server().await;
    let first = scrape(&s).await;
    // Configured names and every failure reason start at 0; no write has happened yet.
    assert_eq!(
        value(&first, "scimd_token_requests_total{token=\"entra\"}"),
        0.0
    );
    assert_eq!(
        value(
            &first,
            "scimd_auth_failures_total{reason=\"unknown_token\"}"
        ),
        0.0
    );
    assert_eq!(
        sample(
            &first,
            "scimd_last_successful_write_timestamp_seconds{token=\"entra\"}"
        ),
        None
    );
    assert_eq!(value(&first, "scimd_users"), 0.0);
    assert!(value(&first, "process_start_time_seconds") <= now());
    assert_eq!(
        value(
            &first,
            &format!(
                "scimd_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );

    let before = now();
    let alice = s.user("alice").await;
    let group = s.group("Staff").await;
    // The second add is Entra re-sending it: answered 204, but it changes nothing, so it is
    // not a changed write.
    for _ in 0..2 {
        let r = s
            .patch(
                &format!("/Groups/{group}"),
                json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": alice}]}]}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "b",
                 "data": {"schemas": [USER], "userName": "bob"}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.get("/Users").await.status, 200);
    assert_eq!(s.get("/ServiceProviderConfig").await.status, 200);
    assert_eq!(s.get(&format!("/Users/{group}")).await.status, 404);
    let after = now();

    // One refusal of each kind, over the same TLS port.
    let url = s.url("/Users");
    let anonymous = s.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let basic = s
        .client
        .get(&url)
        .basic_auth("entra", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let wrong = s
        .client
        .get(&url)
        .bearer_auth("scimd_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let text = scrape(&s).await;
    let requests = |resource: &str, method: &str, status: u16| {
        value(
            &text,
            &format!(
                "scimd_http_requests_total{{resource=\"{resource}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("Users", "POST", 201), 1.0);
    assert_eq!(requests("Groups", "POST", 201), 1.0);
    assert_eq!(requests("Groups", "PATCH", 204), 2.0);
    assert_eq!(requests("Bulk", "POST", 200), 1.0);
    assert_eq!(requests("Users", "GET", 200), 1.0);
    assert_eq!(requests("Users", "GET", 404), 1.0);
    assert_eq!(requests("discovery", "GET", 200), 1.0);
    assert_eq!(requests("Users", "GET", 401), 3.0);
    assert_eq!(
        value(
            &text,
            "scimd_http_request_duration_seconds_count{resource=\"Users\",method=\"POST\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "scimd_http_request_duration_seconds_bucket{resource=\"Users\",method=\"POST\",le=\"+Inf\"}"
        ),
        1.0
    );

    for reason in ["missing_header", "malformed", "unknown_token"] {
        assert_eq!(
            value(
                &text,
                &format!("scimd_auth_failures_total{{reason=\"{reason}\"}}")
            ),
            1.0,
            "{reason}"
        );
    }
    // The refused requests belong to no token.
    assert_eq!(
        value(&text, "scimd_token_requests_total{token=\"entra\"}"),
        8.0
    );
    let last = value(
        &text,
        "scimd_last_successful_write_timestamp_seconds{token=\"entra\"}",
    );
    assert!(
        before <= last && last <= after,
        "{before} <= {last} <= {after}"
    );

    assert_eq!(value(&text, "scimd_users"), 2.0);
    assert_eq!(value(&text, "scimd_groups"), 1.0);
    assert_eq!(value(&text, "scimd_group_memberships"), 1.0);
    // user, group, PATCH and Bulk: at least one commit each.
    assert!(value(&text, "scimd_store_commit_duration_seconds_count") >= 4.0);
    // Every commit carried at least one write, and nothing waits once the requests answered.
    let commits = value(&text, "scimd_store_commit_operations_count");
    assert_eq!(
        commits,
        value(&text, "scimd_store_commit_duration_seconds_count")
    );
    assert!(value(&text, "scimd_store_commit_operations_sum") >= commits);
    // Two creates, one member add and the Bulk create; not the re-add (alone, it commits
    // nothing; in a batch with real writes it would ride along uncounted, see store::tests).
    assert_eq!(value(&text, "scimd_store_changed_writes_total"), 4.0);
    assert_eq!(value(&text, "scimd_store_queued_writes"), 0.0);
    // Nothing writes between the scrape and this look at the file.
    let file_bytes = std::fs::metadata(&s.store_path).unwrap().len();
    assert!(file_bytes > 0);
    assert_eq!(value(&text, "scimd_store_file_bytes"), file_bytes as f64);

    // Names only: the secret never appears.
    assert!(!text.contains(&s.token));
    assert!(!text.contains(&scimd::auth::sha256_hex(&s.token)));
    s.stop().await;
}

#[tokio::test]
async fn reads_searches_and_refused_writes_leave_the_last_write_alone() {
    let s = server().await;
    assert_eq!(s.get("/Users").await.status, 200);
    let search = s
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    let invalid = s.post("/Users", json!({"schemas": [USER]})).await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    let missing = s.delete("/Groups/nope").await;
    assert_eq!(missing.status, 404);

    let text = scrape(&s).await;
    assert_eq!(
        sample(
            &text,
            "scimd_last_successful_write_timestamp_seconds{token=\"entra\"}"
        ),
        None,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "scimd_http_requests_total{resource=\"Users\",method=\"POST\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&text, "scimd_token_requests_total{token=\"entra\"}"),
        4.0
    );
    s.stop().await;
}

#[tokio::test]
async fn metrics_are_not_served_on_the_scim_port() {
    let s = server().await;
    assert_ne!(metrics_addr(&s).port(), s.addr.port());
    // At the origin of the SCIM listener, with or without a token.
    let origin = format!("https://127.0.0.1:{}/metrics", s.addr.port());
    let anonymous = s.client.get(&origin).send().await.unwrap();
    assert_eq!(anonymous.status(), 404);
    let authed = s
        .client
        .get(&origin)
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(authed.status(), 404);
    assert!(!authed
        .text()
        .await
        .unwrap()
        .contains("scimd_http_requests_total"));
    // And under the SCIM base path.
    s.get("/metrics").await.assert_error(404, None);
    s.stop().await;

    let off = TestServer::start().await;
    assert_eq!(off.metrics_addr, None, "no [metrics], no listener");
    off.stop().await;
}

#[tokio::test]
async fn the_metrics_listener_serves_only_get_metrics() {
    let s = server().await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", metrics_addr(&s));
    let other = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let post = client.post(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let head = client.head(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn stopping_closes_the_store_even_with_a_scraper_connected() {
    let mut s = server().await;
    let client = reqwest::Client::new();
    // Keep-alive: the scraper's connection stays open in the client's pool.
    let url = format!("http://{}/metrics", metrics_addr(&s));
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    s.shutdown().await;
    scimd::store::Store::open(&s.store_path).expect("the store was closed at stop");
    assert!(
        client.get(&url).send().await.is_err(),
        "the listener is gone"
    );
}

#[tokio::test]
async fn a_bulk_request_commits_all_its_operations_in_one_transaction() {
    let s = server().await;
    let before = scrape(&s).await;
    let commits = |text: &str| value(text, "scimd_store_commit_operations_count");
    let carried = |text: &str| value(text, "scimd_store_commit_operations_sum");
    let operations: Vec<_> = (0..20)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": {"schemas": [USER], "userName": format!("bulk{i}@example.com")}})
        })
        .collect();
    let r = s
        .post(
            "/Bulk",
            json!({"schemas": [BULK_REQUEST], "Operations": operations}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let statuses: Vec<_> = r.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, vec!["201"; 20]);
    let after = scrape(&s).await;
    // One fsync for twenty creates, where a commit each would have cost twenty.
    assert_eq!(commits(&after) - commits(&before), 1.0);
    assert_eq!(carried(&after) - carried(&before), 1.0);
    assert_eq!(value(&after, "scimd_users"), 20.0);
    s.stop().await;
}
