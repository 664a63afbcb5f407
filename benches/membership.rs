//! Membership at scale: the time of one member add, and of GET of the group, for groups of
//! 1k, 10k, 100k and 500k members. Run on demand, never in CI:
//!
//!     cargo bench --bench membership            # all sizes
//!     cargo bench --bench membership -- 1000 10000
//!
//! Each size gets a fresh store in a temp dir: users and memberships are seeded directly through
//! the store in large transactions, then the real server is started over TLS and measured with
//! real HTTP requests (PATCH add of a user that is not yet a member; GET with and without
//! members).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use scimd::config::{Config, TokenSettings};
use scimd::store::{Kind, Store, StoreError};

const GROUP: &str = "00000000-0000-7000-8000-000000000001";
const ADDS: usize = 50;

fn user_id(n: usize) -> String {
    format!("01000000-0000-7000-8000-{n:012}")
}

fn seed(path: &std::path::Path, members: usize) -> Result<Duration, StoreError> {
    let started = Instant::now();
    let store = Store::open(path)?;
    let meta = json!({"resourceType": "User", "created": "2026-01-01T00:00:00.000Z", "lastModified": "2026-01-01T00:00:00.000Z"});
    let total = members + ADDS;
    for start in (0..total).step_by(20_000) {
        let meta = meta.clone();
        store.write(move |tx| {
            for n in start..total.min(start + 20_000) {
                let id = user_id(n);
                let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id,
                                 "userName": format!("user{n}@example.com"), "active": true, "meta": meta});
                tx.insert(Kind::User, &id, &doc)?;
            }
            Ok::<_, StoreError>(())
        })?;
    }
    store.write(|tx| {
        let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": GROUP,
                         "displayName": "everyone", "meta": {"resourceType": "Group", "created": "2026-01-01T00:00:00.000Z", "lastModified": "2026-01-01T00:00:00.000Z"}});
        tx.insert(Kind::Group, GROUP, &doc)
    })?;
    for start in (0..members).step_by(50_000) {
        store.write(move |tx| {
            for n in start..members.min(start + 50_000) {
                tx.add_member(GROUP, &user_id(n))?;
            }
            Ok::<_, StoreError>(())
        })?;
    }
    Ok(started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn measure(members: usize) -> Result<String, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("scimd.redb");
    let seeded = seed(&db, members)?;
    let (cert, key, _) = scimd::tls::ensure_self_signed(&dir.path().join("tls"))?;
    let token = scimd::auth::generate_secret()?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(scimd::auth::sha256_hex(&token), &mut sha256)?;
    let mut config = Config::embedded_default(
        dir.path(),
        vec![TokenSettings {
            name: "bench".into(),
            sha256,
            ..TokenSettings::default()
        }],
        cert.clone(),
        key,
    );
    config.server.listen = "127.0.0.1:0".parse()?;
    let running = scimd::http::start(&config).await?;
    let base = running.base_url.clone();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&cert)?)?])
        .build()?;

    let mut adds = Vec::with_capacity(ADDS);
    for i in 0..ADDS {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id(members + i)}]}]});
        let t = Instant::now();
        let r = client
            .patch(format!("{base}/Groups/{GROUP}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(serde_json::to_vec(&body)?)
            .send()
            .await?;
        let status = r.status();
        r.bytes().await?;
        adds.push(t.elapsed());
        assert_eq!(status, 204, "member add failed");
    }
    adds.sort();

    let mut gets = Vec::new();
    let mut bytes = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let r = client
            .get(format!("{base}/Groups/{GROUP}"))
            .bearer_auth(&token)
            .send()
            .await?;
        let body = r.bytes().await?;
        gets.push(t.elapsed());
        bytes = body.len();
        let v: Value = serde_json::from_slice(&body)?;
        assert_eq!(v["members"].as_array().map(Vec::len), Some(members + ADDS));
    }
    gets.sort();
    let t = Instant::now();
    let r = client
        .get(format!("{base}/Groups/{GROUP}?excludedAttributes=members"))
        .bearer_auth(&token)
        .send()
        .await?;
    r.bytes().await?;
    let excluded = t.elapsed();
    running.stop().await;
    Ok(format!(
        "| {members:>7} | {:>8.1} s | {:>7} | {:>7} | {:>9} | {:>8.1} MB | {:>9} |",
        seeded.as_secs_f64(),
        ms(percentile(&adds, 0.5)),
        ms(percentile(&adds, 0.99)),
        ms(percentile(&gets, 0.5)),
        bytes as f64 / 1e6,
        ms(excluded),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000, 500_000]
    } else {
        sizes
    };
    println!("member add = PATCH add of one new member ({ADDS} runs); GET = full group, members streamed (3 runs)");
    println!("| members | seed time | add p50 ms | add p99 ms | GET p50 ms | GET body | GET excl. members ms |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        println!("{}", measure(n).await?);
    }
    Ok(())
}
