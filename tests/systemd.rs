//! The real `scimd serve` under a fake systemd: a Unix datagram socket named by NOTIFY_SOCKET.
#![cfg(target_os = "linux")]

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills the child if an assertion fails first, so no server outlives the test.
struct Server(Option<Child>);

impl Server {
    /// Sends SIGTERM (as systemd does to stop a unit) and waits for the exit.
    fn terminate(&mut self) -> Output {
        let child = self.0.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A plain-HTTP config on a loopback port that was free a moment ago (the config takes an
/// explicit port, not 0), with its store in `dir`.
fn write_config(dir: &Path) -> (PathBuf, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.join("scimd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\npath = \"scimd.redb\"\n\n\
             [[tokens]]\nname = \"test\"\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    (path, port)
}

/// The next notification datagram (one message may carry several `KEY=VALUE` lines).
fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the read timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads notifications until one has `line`, returning every message seen on the way.
fn wait_for(sock: &UnixDatagram, line: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let msg = next_message(sock);
        let done = msg.lines().any(|l| l == line);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

#[test]
fn serve_notifies_ready_after_binding_pings_the_watchdog_and_notifies_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path());
    let socket_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&socket_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("NOTIFY_SOCKET", &socket_path)
        // 200 ms: pings every 100 ms, so the test sees some without waiting long.
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(Some(child));

    // READY=1 is the first thing sent, and when it arrives the port already accepts.
    let first = next_message(&sock);
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    TcpStream::connect(("127.0.0.1", port)).expect("the port accepts once READY=1 is sent");

    // The watchdog pings while the store answers.
    let before_ping = wait_for(&sock, "WATCHDOG=1");
    assert!(
        before_ping.iter().all(|m| !m.contains("STOPPING=1")),
        "{before_ping:?}"
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    let out = server.terminate();
    assert!(out.status.success(), "{:?}", out.status);
    wait_for(&sock, "STOPPING=1");
}

#[test]
fn serve_without_notify_socket_ignores_the_watchdog_variable() {
    // The usual case outside systemd (a terminal, a container): nothing to notify, so no
    // watchdog task either, even if WATCHDOG_USEC leaked into the environment.
    let dir = tempfile::tempdir().unwrap();
    let (config, port) = write_config(dir.path());
    let child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(Some(child));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "scimd did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = server.terminate();
    assert!(out.status.success(), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scimd is listening"), "{stderr}");
    assert!(!stderr.contains("watchdog"), "{stderr}");
}
