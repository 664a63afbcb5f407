//! `scimd audit`: lists the audit log, newest first, while the server runs or not.

use scimd::directory::{query_audit, AuditQuery};
use serde_json::Value;

use super::db::open_read_only;
use super::{store_failure, StoreLocation};
use crate::Failure;

/// What to list.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub at: StoreLocation,
    /// Only changes to this resource id.
    #[arg(long, value_name = "ID")]
    pub resource: Option<String>,
    /// Only changes made with this token name (as in [[tokens]] name).
    #[arg(long, value_name = "NAME")]
    pub token: Option<String>,
    /// Only changes at or after this time (RFC 3339, e.g. 2026-11-30T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only changes before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many entries [default: 100; 0 = all].
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per line instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn audit(args: &AuditArgs) -> Result<(), Failure> {
    let (path, _) = args.at.existing_store()?;
    let store = open_read_only(&path)?;
    let tx = store.read().map_err(|e| store_failure(&path, e))?;
    let q = AuditQuery {
        resource: args.resource.clone(),
        token: args.token.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        limit: args.limit,
    };
    let entries = query_audit(&tx, &q).map_err(|e| Failure::Config(e.detail))?;
    if args.json {
        for e in &entries {
            println!("{e}");
        }
        return Ok(());
    }
    if entries.is_empty() {
        println!("no audit entries match");
        return Ok(());
    }
    for e in &entries {
        println!("{}", line(e));
    }
    Ok(())
}

/// One entry as a line a person reads: when, who, what, and the names of what changed.
fn line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("-");
    let mut what: Vec<String> = e
        .get("changes")
        .and_then(Value::as_object)
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(m) = e.get("members") {
        let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
        what.push(format!(
            "members +{} -{}",
            n("addedCount"),
            n("removedCount")
        ));
    }
    for name in ["userName", "displayName"] {
        if let Some(v) = e.get(name).and_then(Value::as_str) {
            what.push(format!("{name}={v}"));
        }
    }
    // Attribute values come from clients: no control characters reach the terminal.
    let line = format!(
        "{}  {:<16} {:<8} {:<5} {}  {}  request {}",
        s("time"),
        s("token"),
        s("operation"),
        s("resourceType"),
        s("id"),
        what.join(", "),
        s("requestId"),
    );
    line.chars().filter(|c| !c.is_control()).collect()
}
