//! Query benchmark (issue 4): list latency by plan at 10k / 100k / 1M users, and the time and
//! peak memory to load them. Not a test: run on demand and read the numbers.
//!
//!     cargo bench --bench query                 # 10000 100000 1000000
//!     cargo bench --bench query -- 10000 50000  # chosen sizes
//!
//! Each size runs in a child process of its own, so its peak RSS (VmHWM) is its own. Timings
//! are `Directory::list` in-process (planner, store reads, rendering, projection; no HTTP).

use std::sync::Arc;
use std::time::{Duration, Instant};

use scimd::directory::{Actor, Directory, ListParams};
use scimd::scim::cursor::{Binding, Cursor, Position};
use scimd::scim::{Registry, ResourceKind};
use scimd::store::Store;
use serde_json::{json, Value};

const CHUNK: usize = 10_000;
const NEWEST: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [flag, n] = args.as_slice() {
        if flag == "--one" {
            run_one(n.parse().expect("a size"));
            return;
        }
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("sizes are numbers"))
            .collect()
    };
    let exe = std::env::current_exe().expect("own path");
    for n in sizes {
        let status = std::process::Command::new(&exe)
            .args(["--one", &n.to_string()])
            .status()
            .expect("child runs");
        assert!(status.success(), "size {n} failed");
    }
}

fn user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("user{i:07}@example.com"),
        "externalId": format!("ext-{i}"),
        "active": !i.is_multiple_of(10),
        "displayName": format!("User {i}"),
        "name": {"givenName": format!("Given{}", i % 1000), "familyName": format!("Family{:05}", (i * 7919) % 100_000)},
        "emails": [{"value": format!("user{i:07}@example.com"), "type": "work", "primary": true}],
    })
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs `f` `reps` times; returns (median, p95, what the last run returned).
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut samples = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.95), last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn run_one(n: usize) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("scimd.redb");
    let store = Arc::new(Store::open(&path).expect("store"));
    let dir = Directory::new(store, Registry::new(), "https://bench/scim/v2", 1000);

    // Load: one transaction per 10k users (one fsync each).
    let t = Instant::now();
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut cut_stamp = String::new();
    // The newest 100 users come last, after a pause: `gt` the stamp before them selects them.
    let older = n - NEWEST;
    let mut starts: Vec<(usize, usize)> = (0..older)
        .step_by(CHUNK)
        .map(|s| (s, (s + CHUNK).min(older)))
        .collect();
    starts.push((older, n));
    for (start, end) in starts {
        if start == older {
            let (doc, _) = dir
                .get(
                    ResourceKind::User,
                    ids.last().expect("an earlier chunk"),
                    None,
                    None,
                )
                .expect("read back");
            cut_stamp = doc["meta"]["lastModified"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            std::thread::sleep(Duration::from_millis(2));
        }
        let bodies: Vec<Value> = (start..end).map(user).collect();
        ids.extend(
            dir.import(ResourceKind::User, &bodies, &Actor::local("bench"))
                .expect("import"),
        );
    }
    let load = t.elapsed();
    let file_mib = std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    println!(
        "\n## {n} users\nload: {:.1} s ({:.0} users/s), peak RSS {:.0} MiB, file {:.0} MiB",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64(),
        peak_rss_mib(),
        file_mib
    );

    let list = |p: ListParams| dir.list(ResourceKind::User, &p).expect("list");
    let filtered = |f: &str, count: i64| ListParams {
        filter: Some(f.to_string()),
        count: Some(count),
        ..ListParams::default()
    };
    let total = |v: &Value| {
        v["totalResults"]
            .as_u64()
            .map_or("—".into(), |t| t.to_string())
    };
    let items = |v: &Value| v["Resources"].as_array().map_or(0, Vec::len);

    println!("| query | plan | median ms | p95 ms | totalResults | returned |");
    println!("|---|---|---:|---:|---:|---:|");
    let row = |name: &str, plan: &str, reps: usize, p: &dyn Fn() -> ListParams| {
        let (med, p95, v) = time(reps, || list(p()));
        println!(
            "| {name} | {plan} | {} | {} | {} | {} |",
            ms(med),
            ms(p95),
            total(&v),
            items(&v)
        );
    };
    let probe = format!("user{:07}@example.com", n / 2);
    row("`userName eq` (one user)", "point lookup", 200, &|| {
        filtered(&format!("userName eq \"{probe}\""), 100)
    });
    let prefix = format!("user{:04}", (n / 2) / 1000);
    row(
        &format!("`userName sw \"{prefix}\"`"),
        "userName range",
        50,
        &|| filtered(&format!("userName sw \"{prefix}\""), 100),
    );
    row(
        "`meta.lastModified gt` (newest chunk)",
        "time index",
        20,
        &|| filtered(&format!("meta.lastModified gt \"{cut_stamp}\""), 100),
    );
    let scan_reps = if n >= 1_000_000 { 3 } else { 5 };
    row("`emails co \"@nowhere\"`", "full scan", scan_reps, &|| {
        filtered("emails co \"@nowhere\"", 100)
    });
    row(
        "first page, `sortBy=userName`",
        "userName index walk",
        50,
        &|| ListParams {
            sort_by: Some("userName".into()),
            count: Some(100),
            ..ListParams::default()
        },
    );
    row(
        "first page, `sortBy=name.familyName`",
        "scan + sort",
        scan_reps,
        &|| ListParams {
            sort_by: Some("name.familyName".into()),
            count: Some(100),
            ..ListParams::default()
        },
    );
    let deep_id = ids[n - 1000].clone();
    let binding = Binding::of(ResourceKind::User, None, None, None);
    let deep = Cursor::after(
        Position {
            key: None,
            id: deep_id,
        },
        &binding,
    )
    .encode();
    row("cursor page 1000 from the end", "id range", 50, &|| {
        ListParams {
            cursor: Some(deep.clone()),
            count: Some(100),
            ..ListParams::default()
        }
    });
    row(
        "`startIndex` 1000 from the end",
        "skip by counting",
        scan_reps,
        &|| ListParams {
            start_index: Some((n - 999) as i64),
            count: Some(100),
            ..ListParams::default()
        },
    );
    println!("peak RSS after queries: {:.0} MiB", peak_rss_mib());
}
