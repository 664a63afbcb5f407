//! `scimd token list` and `scimd token revoke NAME`.

use scimd::config;

use super::StoreLocation;
use crate::Failure;

/// `token list`: names and issue times; never a hash or a secret.
pub fn list(at: &StoreLocation) -> Result<(), Failure> {
    let path = at.tokens_file();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::Config(format!("cannot read {}: {e}", path.display())))?;
    let tokens = config::list_tokens(&text).map_err(|p| {
        Failure::Config(format!(
            "{}: {}: {} ({})",
            path.display(),
            p.key,
            p.message,
            p.hint
        ))
    })?;
    if tokens.is_empty() {
        println!("{}: no tokens", path.display());
        return Ok(());
    }
    let width = tokens
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
    let last = last_changes(at, &names);
    println!("{:width$}  {:20}  LAST CHANGE", "NAME", "CREATED");
    for t in &tokens {
        let change = match &last {
            Some(found) => found
                .get(&t.name)
                .map_or("none in the audit log", String::as_str),
            None => "unknown (no store to read)",
        };
        println!(
            "{:width$}  {:20}  {change}",
            t.name,
            t.created.as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
}

/// The time of each token's newest audit entry: the last change it made (reads are not
/// logged). `None` when the store cannot be read, which is not this command's concern.
fn last_changes(
    at: &StoreLocation,
    names: &[&str],
) -> Option<std::collections::HashMap<String, String>> {
    let (path, _) = at.existing_store().ok()?;
    let store = scimd::store::ReadOnlyStore::open(&path).ok()?;
    let tx = store.read().ok()?;
    let mut out = std::collections::HashMap::new();
    let all = (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded);
    // Newest first: the first entry seen for a token is its last change; stop once every
    // configured token has one, so a long log is not read to its end.
    tx.audit_in(all, true, &mut |_, e| {
        if let (Some(tok), Some(time)) = (e["token"].as_str(), e["time"].as_str()) {
            if names.contains(&tok) {
                out.entry(tok.to_string())
                    .or_insert_with(|| time.to_string());
            }
        }
        Ok(out.len() < names.len())
    })
    .ok()?;
    Some(out)
}

/// `token revoke NAME`: removes the stanza, keeping the rest of the file as it was.
pub fn revoke(at: &StoreLocation, name: &str) -> Result<(), Failure> {
    let path = at.tokens_file();
    config::remove_token_from_file(&path, name).map_err(|e| Failure::config_error(&e))?;
    println!(
        "Removed token {name:?} from {}. A running scimd still accepts it until it reloads \
         its configuration: `systemctl reload scimd` (or restart it).",
        path.display()
    );
    Ok(())
}
