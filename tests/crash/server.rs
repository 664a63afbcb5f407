//! The real `scimd` binary as a child process: start it on a free port, SIGKILL it, and run
//! `scimd db verify` on the stopped store.

use std::collections::VecDeque;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many of the server's last log lines a failure message shows.
const KEPT_LINES: usize = 40;

/// A temp dir with a configuration for plain HTTP on 127.0.0.1 (no TLS: the harness measures
/// crash safety, not handshakes) and a bearer token whose secret the harness holds.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub token: String,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let token = scimd::auth::generate_secret().expect("secret");
        let config = dir.path().join("scimd.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\npath = \"data/scimd.redb\"\n\n[[tokens]]\nname = \"crash\"\nsha256 = \"{}\"\n",
                scimd::auth::sha256_hex(&token)
            ),
        )
        .expect("write config");
        Setup { dir, config, token }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("data/scimd.redb")
    }
}

/// A running `scimd serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The last log lines (stderr), for failure messages.
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Starts the server and waits (up to 60 s: opening a large store after a crash takes time
    /// on a loaded machine) for the log line that names the bound address.
    pub fn start(config: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            // Info for the "listening" line; request lines are info too, and are drained below.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn scimd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let sink = log.clone();
        let (found, addr) = mpsc::channel();
        // The reader keeps draining after the address is found, so the server never blocks on
        // a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if found.is_some() {
                    if let Some(addr) = listening_addr(&line) {
                        if let Some(tx) = found.take() {
                            let _ = tx.send(addr);
                        }
                    }
                }
                let mut log = sink.lock().expect("log lock");
                if log.len() == KEPT_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        let addr = match addr.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "scimd did not start ({status:?}); its log:\n{}",
                    log.lock()
                        .expect("log lock")
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        };
        Server { child, addr, log }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then wait for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL scimd");
        let status = self.child.wait().expect("wait for scimd");
        assert!(
            !status.success(),
            "scimd exited cleanly instead of being killed"
        );
    }

    /// SIGTERM, the orderly stop, which must succeed.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let status = self.child.wait().expect("wait for scimd");
        assert!(
            status.success(),
            "scimd stopped with {status}:\n{}",
            self.log()
        );
    }

    pub fn log(&self) -> String {
        let log = self.log.lock().expect("log lock");
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing check must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["fields"]["message"] != "scimd is listening" {
        return None;
    }
    v["fields"]["addr"].as_str()?.parse().ok()
}

/// `scimd db verify --config` on the stopped store: it must exit 0 and say OK. Returns its
/// summary line (counts of users, groups, index entries and edges).
pub fn db_verify(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["db", "verify", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run scimd db verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK: every index entry"),
        "scimd db verify failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().next().unwrap_or_default().to_string()
}
