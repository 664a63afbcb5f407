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
    println!("{:width$}  {:20}  LAST USED", "NAME", "CREATED");
    for t in &tokens {
        println!(
            "{:width$}  {:20}  not tracked yet",
            t.name,
            t.created.as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
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
