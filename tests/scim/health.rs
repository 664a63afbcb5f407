//! `/healthz` and `/readyz`: at the root whatever the base path, without a token, over TLS.

use crate::common::TestServer;

/// The server's origin (`https://127.0.0.1:port`), without the SCIM base path.
fn origin(s: &TestServer) -> String {
    format!("https://{}", s.addr)
}

#[tokio::test]
async fn health_endpoints_answer_without_a_token_at_the_root() {
    for base_path in ["/scim/v2", "/", "/custom/path"] {
        let s = TestServer::start_with(|c| c.server.base_path = base_path.to_string()).await;
        for (path, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
            let resp = s
                .client
                .get(format!("{}{path}", origin(&s)))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{base_path} {path}");
            assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
            assert_eq!(resp.headers()["cache-control"], "no-store");
            assert_eq!(resp.text().await.unwrap(), body);
        }
        // A bad token does not matter either: probes are not authenticated.
        let resp = s
            .client
            .get(format!("{}/readyz", origin(&s)))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // The SCIM endpoints still need one.
        let resp = s.client.get(s.url("/Users")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{base_path}");
        s.stop().await;
    }
}

#[tokio::test]
async fn health_endpoints_refuse_other_methods_and_writes_still_work_after_probes() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .post(format!("{}/readyz", origin(&s)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    let resp = s
        .client
        .head(format!("{}/healthz", origin(&s)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Probes run concurrently with writes and leave nothing behind.
    let probes = (0..8).map(|_| {
        let client = s.client.clone();
        let url = format!("{}/readyz", origin(&s));
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    });
    let id = s.user("probe.user").await;
    for p in probes {
        assert_eq!(p.await.unwrap(), 200);
    }
    let r = s.get("/Users").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    s.stop().await;
}
