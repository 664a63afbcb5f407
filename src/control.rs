//! The local control channel `scimd guard status|release` talks to while the server runs: a
//! Unix domain socket beside the store file, mode 0600, so only the service user (and root)
//! may use it — the usual way a systemd service takes admin commands. The server holds the
//! store file, so a second process could not change the guard's state behind its back.
//!
//! Protocol: one JSON object per line each way, one request per connection.
//! `{"command":"status"}` → `{"ok":true,"status":{…}}`;
//! `{"command":"release","forSeconds":7200,"by":"alice"}` → `{"ok":true,"cleared":…,"release":…}`;
//! any failure → `{"ok":false,"error":"…"}`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::directory::Directory;

/// A request line longer than this is refused: the commands are a few dozen bytes.
const MAX_LINE: u64 = 4096;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A release lasts from a minute to 30 days, as `scimd guard release --for` accepts: an
/// unbounded one would switch the guard off for good (and overflow the clock past year 9999).
const RELEASE_SECONDS: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// How long the CLI waits for the server's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the socket at `path`, replacing a stale one (the server holds the store lock, so no
/// other server can be listening there), readable and writable by its owner only.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    // The file exists with the umask's mode until the chmod below; `connection` also refuses
    // peers that are neither this user nor root, so that window admits no one.
    // Connecting needs write permission on the socket: 0600 keeps it to the service user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers control connections until `stop` turns true, then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    dir: Arc<Directory>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::os::unix::fs::MetadataExt;
    // The socket file is created by, and so owned by, the user the server runs as.
    let owner = std::fs::metadata(&path).ok().map(|m| m.uid());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, dir.clone(), owner));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => break,
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn connection(stream: UnixStream, dir: Arc<Directory>, owner: Option<u32>) {
    // The kernel's word for who connected, not the client's.
    let uid = stream.peer_cred().ok().map(|c| c.uid());
    if !matches!(uid, Some(u) if u == 0 || Some(u) == owner) {
        tracing::warn!(
            ?uid,
            "control socket: refused a connection from another user"
        );
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read.take(MAX_LINE));
    let answer = match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => match serde_json::from_str::<Value>(&line) {
            Ok(request) => tokio::task::spawn_blocking(move || handle(&dir, &request, uid))
                .await
                .unwrap_or_else(|e| failure(&format!("the command failed: {e}"))),
            Err(e) => failure(&format!("the request is not a JSON object: {e}")),
        },
        Ok(Err(e)) => failure(&format!("cannot read the request: {e}")),
        Err(_) => failure("no request within 5 seconds"),
    };
    let mut bytes = answer.to_string().into_bytes();
    bytes.push(b'\n');
    let _ = write.write_all(&bytes).await;
    let _ = write.shutdown().await;
}

fn failure(message: &str) -> Value {
    json!({"ok": false, "error": message})
}

/// Carries out one control request; `uid` is the connecting user as the kernel reports it.
/// Blocking (a release writes an audit entry).
pub fn handle(dir: &Directory, request: &Value, uid: Option<u32>) -> Value {
    match request.get("command").and_then(Value::as_str) {
        Some("status") => match dir.guard_status() {
            Ok(Some(status)) => json!({"ok": true, "status": status}),
            Ok(None) => {
                failure("the deprovisioning guard is off: the configuration has no [guard]")
            }
            Err(e) => failure(&e.detail),
        },
        Some("release") => {
            let span = match request.get("forSeconds") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_u64().filter(|s| RELEASE_SECONDS.contains(s)) {
                    Some(s) => Some(Duration::from_secs(s)),
                    None => {
                        return failure(
                            "forSeconds must be a whole number of seconds from 60 (1 minute) \
                             to 2592000 (30 days)",
                        )
                    }
                },
            };
            let claimed = request
                .get("by")
                .and_then(Value::as_str)
                .map(|s| crate::scim::value::truncate(s, 64))
                .filter(|s| !s.is_empty());
            // The uid is what the kernel vouches for; the name is what the client says.
            let by = match (uid, claimed) {
                (Some(u), Some(n)) => format!("uid {u} ({n})"),
                (Some(u), None) => format!("uid {u}"),
                (None, Some(n)) => n,
                (None, None) => "unknown".to_string(),
            };
            match dir.guard_release(span, &by) {
                Some((cleared, release)) => {
                    json!({"ok": true, "cleared": cleared, "release": release})
                }
                None => {
                    failure("the deprovisioning guard is off: the configuration has no [guard]")
                }
            }
        }
        Some(other) => failure(&format!(
            "unknown command {:?}; use \"status\" or \"release\"",
            crate::scim::value::truncate(other, 40)
        )),
        None => failure("the request names no command"),
    }
}

/// Why the CLI could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing listens at the socket: the server is not running (or has no `[guard]`).
    #[error("no scimd server is listening at {0}")]
    NotRunning(PathBuf),
    #[error("the control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the server's answer is not JSON: {0}")]
    Answer(String),
}

/// Sends one request to the server listening at `socket` and returns its answer (blocking).
pub fn call(socket: &Path, request: &Value) -> Result<Value, CallError> {
    let io = |source| CallError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(CallError::NotRunning(socket.to_path_buf()))
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    let mut line = request.to_string().into_bytes();
    line.push(b'\n');
    stream.write_all(&line).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|e| CallError::Answer(e.to_string()))
}
