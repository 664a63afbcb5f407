//! A real scimd server in-process: real TLS (a generated certificate), real HTTP, a real redb
//! file in a temp dir, talked to with reqwest.

use std::sync::Once;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

use scimd::config::{Config, TokenSettings};
use scimd::http::Running;

pub struct TestServer {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub addr: std::net::SocketAddr,
    /// The generated certificate, for tests that build their own TLS clients.
    pub cert_pem: Vec<u8>,
    pub store_path: std::path::PathBuf,
    /// Where `/metrics` is served, when the configuration has `[metrics]`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Held so the temp dir (store, certificate) lives as long as the server.
    _dir: TempDir,
    running: Option<Running>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

static CRYPTO: Once = Once::new();

pub fn install_crypto() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose embedded-default configuration `adjust` may change first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        install_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key, _) = scimd::tls::ensure_self_signed(&dir.path().join("tls")).expect("cert");
        let token = scimd::auth::generate_secret().expect("secret");
        let sha = scimd::auth::sha256_hex(&token);
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&sha, &mut sha256).expect("hex");
        let tokens = vec![TokenSettings {
            name: "test".into(),
            sha256,
            ..TokenSettings::default()
        }];
        let mut config = Config::embedded_default(dir.path(), tokens, cert.clone(), key);
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        adjust(&mut config);
        let store_path = config.storage.path.clone();
        let running = scimd::http::start(&config).await.expect("server starts");
        let base = running.base_url.clone();
        let pem = std::fs::read(&cert).expect("read cert");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
            .build()
            .expect("client");
        TestServer {
            base,
            token,
            client,
            addr: running.addr,
            cert_pem: pem,
            store_path,
            metrics_addr: running.metrics_addr,
            _dir: dir,
            running: Some(running),
        }
    }

    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Stops the server, keeping the value (and its temp dir) alive.
    pub async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    /// Applies `config` as a reload (SIGHUP) would.
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let running = self.running.as_ref().ok_or("the server is stopped")?;
        running.reload(config).map(drop)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(serde_json::to_vec(&b).expect("json"));
        }
        let resp = req.send().await.expect("request");
        Reply::from(resp).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post("/Users", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str) -> String {
        let r = self
            .post("/Groups", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Asserts a SCIM error with this status (and scimType, when given).
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.to_string(), "{}", self.body);
        if let Some(t) = scim_type {
            assert_eq!(self.body["scimType"], t, "{}", self.body);
        }
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.body
        );
        assert_eq!(self.content_type(), "application/scim+json");
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// An attribute of a test extension schema declared in the configuration.
pub fn ext_attr(
    name: &str,
    ty: &str,
    multi: bool,
    mutability: &str,
    returned: &str,
) -> scimd::config::ExtensionAttribute {
    scimd::config::ExtensionAttribute {
        name: name.into(),
        ty: ty.into(),
        multi_valued: multi,
        case_exact: false,
        mutability: mutability.into(),
        returned: returned.into(),
        description: format!("{name} of the Acme extension"),
    }
}

/// The `Resources` of a ListResponse.
pub fn resources(body: &Value) -> &Vec<Value> {
    body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("Resources is an array: {body}"))
}

/// The ids in a ListResponse, in order.
pub fn ids_of(body: &Value) -> Vec<String> {
    resources(body)
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .expect("every resource has an id")
                .to_string()
        })
        .collect()
}

/// URL-encodes a filter the way Entra sends it (`+` for spaces, `%22` for quotes).
pub fn q(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}
