//! `scimd guard status|release`: the mass-deprovisioning guard of a running server, through its
//! control socket (see `scimd::control`). `status` falls back to the state file when the server
//! is not running.

use std::path::Path;

use serde_json::{json, Value};

use scimd::control::{call, CallError};
use scimd::guard::live::{control_socket, read_state};
use scimd::guard::{Release, Status, Trip};

use super::StoreLocation;
use crate::Failure;

#[derive(clap::Subcommand)]
pub enum GuardCommand {
    /// Show whether user disables and deletes are held, the count in the window, the
    /// threshold, and the first users held.
    Status {
        #[command(flatten)]
        at: StoreLocation,
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let held disables and deletes through: clears the trip, and the guard does not trip
    /// again for a while, so the identity provider's retries land.
    Release {
        #[command(flatten)]
        at: StoreLocation,
        /// How long the guard lets deprovisions through uncounted, e.g. "2h"
        /// [default: the guard's window]. Longer than the IdP's retry interval (Entra: ~40 min).
        #[arg(long = "for", value_name = "DURATION")]
        span: Option<String>,
    },
}

pub fn run(command: &GuardCommand) -> Result<(), Failure> {
    match command {
        GuardCommand::Status { at, json } => status(at, *json),
        GuardCommand::Release { at, span } => release(at, span.as_deref()),
    }
}

/// The socket, and whether the configuration turns the guard on (`None`: the embedded default,
/// whose server is asked all the same).
fn locate(
    at: &StoreLocation,
) -> Result<(std::path::PathBuf, std::path::PathBuf, Option<bool>), Failure> {
    let (store, _) = at.resolve()?;
    let configured = at.config()?.map(|c| c.guard.is_some());
    Ok((control_socket(&store), store, configured))
}

fn off() -> Failure {
    Failure::Config(
        "the deprovisioning guard is off: the configuration has no [guard] (see docs/GUARD.md)"
            .into(),
    )
}

fn status(at: &StoreLocation, as_json: bool) -> Result<(), Failure> {
    let (socket, store, configured) = locate(at)?;
    if configured == Some(false) {
        return Err(off());
    }
    match call(&socket, &json!({"command": "status"})) {
        Ok(answer) => {
            let answer = ok(answer)?;
            if as_json {
                println!("{answer}");
                return Ok(());
            }
            let status: Status = serde_json::from_value(answer["status"].clone())
                .map_err(|e| Failure::Runtime(format!("unexpected answer from the server: {e}")))?;
            print!("{}", describe(&status));
            Ok(())
        }
        Err(CallError::NotRunning(_)) => offline_status(&store, &socket, as_json),
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}

/// `status` without a server: what the state file says.
fn offline_status(store: &Path, socket: &Path, as_json: bool) -> Result<(), Failure> {
    let state = read_state(store).map_err(|e| {
        Failure::Runtime(format!(
            "the server is not running (no control socket at {}) and its guard state cannot be read: {e}",
            socket.display()
        ))
    })?;
    let trip = state.and_then(|s| s.trip);
    if as_json {
        println!("{}", json!({"ok": true, "running": false, "trip": trip}));
        return Ok(());
    }
    println!(
        "the server is not running (no control socket at {}); from the saved state:",
        socket.display()
    );
    match &trip {
        Some(t) => print!("{}", describe_trip(t, t.held_users.len() as u64)),
        None => println!("not tripped"),
    }
    Ok(())
}

fn release(at: &StoreLocation, span: Option<&str>) -> Result<(), Failure> {
    let (socket, _, configured) = locate(at)?;
    if configured == Some(false) {
        return Err(off());
    }
    let mut request = json!({"command": "release"});
    if let Some(s) = span {
        let d = scimd::config::parse_guard_window(s)
            .map_err(|e| Failure::Config(format!("--for: {e}")))?;
        request["forSeconds"] = json!(d.as_secs());
    }
    if let Some(user) = std::env::var_os("SUDO_USER").or_else(|| std::env::var_os("USER")) {
        request["by"] = json!(user.to_string_lossy());
    }
    let answer = match call(&socket, &request) {
        Ok(a) => ok(a)?,
        Err(CallError::NotRunning(p)) => {
            return Err(Failure::Runtime(format!(
                "the server is not running (no control socket at {}): start it, then release; \
                 a tripped guard stays tripped across restarts",
                p.display()
            )))
        }
        Err(e) => return Err(Failure::Runtime(e.to_string())),
    };
    let release: Release = serde_json::from_value(answer["release"].clone())
        .map_err(|e| Failure::Runtime(format!("unexpected answer from the server: {e}")))?;
    let cleared: Option<Trip> = serde_json::from_value(answer["cleared"].clone()).unwrap_or(None);
    match cleared {
        Some(t) => println!(
            "released: the guard held {} deprovision requests since {}; they go through when the identity provider retries them",
            t.held,
            fmt_time(t.since)
        ),
        None => println!("the guard was not tripped; the release window applies all the same"),
    }
    println!(
        "disables and deletes go through uncounted until {} (by {})",
        fmt_time(release.until),
        release.by
    );
    Ok(())
}

/// The answer's payload, or its error as a failure.
fn ok(answer: Value) -> Result<Value, Failure> {
    if answer["ok"] == json!(true) {
        return Ok(answer);
    }
    let error = answer["error"]
        .as_str()
        .unwrap_or("the server refused the command");
    Err(Failure::Runtime(error.to_string()))
}

fn fmt_time(t: time::OffsetDateTime) -> String {
    scimd::scim::value::format_datetime(t)
}

fn describe(s: &Status) -> String {
    let mut out = String::new();
    let window = humantime::format_duration(std::time::Duration::from_secs(s.window_seconds));
    let mut threshold = Vec::new();
    if let Some(n) = s.max_deprovisions {
        threshold.push(format!("{n} users"));
    }
    if let Some(p) = s.max_percent {
        threshold.push(format!("{p} % of {} users", s.users));
    }
    out.push_str(&format!(
        "threshold: more than {} within {window} (now: limit {})\n",
        threshold.join(" or "),
        s.limit
    ));
    out.push_str(&format!(
        "deprovisions counted in the window: {}\n",
        s.in_window
    ));
    match &s.trip {
        Some(t) => out.push_str(&describe_trip(t, s.distinct_held)),
        None => out.push_str("not tripped: disables and deletes go through\n"),
    }
    if let Some(r) = &s.release {
        out.push_str(&format!(
            "released by {} at {}: deprovisions go through uncounted until {}\n",
            r.by,
            fmt_time(r.at),
            fmt_time(r.until)
        ));
    }
    out
}

fn describe_trip(t: &Trip, distinct: u64) -> String {
    let mut out = format!(
        "TRIPPED since {}: {} deprovisions were already in the window (limit {}); \
         {} requests held since, for {} distinct users\n",
        fmt_time(t.since),
        t.in_window,
        t.limit,
        t.held,
        distinct
    );
    for d in &t.held_users {
        let name = d.user_name.as_deref().unwrap_or("-");
        // userNames come from clients: no control characters reach the terminal.
        let line = format!("  held: {:?} {} {}", d.how, d.id, name);
        out.push_str(&line.chars().filter(|c| !c.is_control()).collect::<String>());
        out.push('\n');
    }
    out.push_str(
        "release with `scimd guard release` (or fix the scoping in the identity provider first)\n",
    );
    out
}
