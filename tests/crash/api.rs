//! The SCIM calls the harness makes, over plain HTTP with reqwest.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// A complete response: a kill during the body makes the call an error, not a reply.
pub struct Reply {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub body: Value,
}

impl Api {
    pub fn new(addr: SocketAddr, token: &str) -> Api {
        // reqwest is built without a default crypto provider; plain HTTP still needs one set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // Generous: only a hung server would reach it, and that is a failure to report.
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Api {
            client,
            base: format!("http://{addr}/scim/v2"),
            token: token.to_string(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply { status, etag, body })
    }

    /// Every resource of a list endpoint ("/Users", "/Groups"), page by page.
    pub async fn list_all(&self, endpoint: &str) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        loop {
            let path = format!("{endpoint}?startIndex={}&count=1000", all.len() + 1);
            let reply = self
                .call(Method::GET, &path, None)
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            if reply.status != StatusCode::OK {
                return Err(format!("GET {path}: {} {}", reply.status, reply.body));
            }
            let page = reply.body["Resources"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = reply.body["totalResults"].as_u64().unwrap_or(0);
            let empty = page.is_empty();
            all.extend(page);
            if all.len() as u64 >= total || empty {
                return Ok(all);
            }
        }
    }
}
