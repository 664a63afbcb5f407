//! Hot reload (SIGHUP, `systemctl reload`): re-reads the configuration and swaps in what can
//! change at run time — tokens, the TLS certificate, trusted proxies — without touching open
//! connections. Everything is prepared first and installed only when all of it succeeded, so an
//! invalid file changes nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::client_ip::TrustedProxies;
use super::router::App;
use crate::auth::TokenRegistry;
use crate::config::Config;
use crate::tls::LiveCert;

/// Called when a reload begins, before the configuration is read.
///
/// The one place to tell the service manager (sd_notify `RELOADING=1` + `MONOTONIC_USEC`).
pub fn on_reload_started() {
    crate::systemd::reloading();
}

/// Called when a reload has ended, whether it was applied or refused.
///
/// sd_notify `READY=1`: systemd waits for it to finish `systemctl reload`, and a refused reload
/// leaves the old configuration running, so the service is ready either way.
pub fn on_reload_finished() {
    crate::systemd::ready();
}

/// Where the configuration is re-read from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// `serve --config PATH`.
    File(PathBuf),
    /// The embedded default (`serve [--data-dir DIR]`): its tokens.toml and certificate files.
    DataDir(PathBuf),
}

impl ConfigSource {
    /// Reads and validates the configuration; the error is one line naming every problem.
    pub fn load(&self) -> Result<Config, String> {
        match self {
            ConfigSource::File(path) => Config::load(path).map_err(|e| one_line(&e.to_string())),
            ConfigSource::DataDir(dir) => {
                crate::bootstrap::reload_embedded(dir).map_err(|e| one_line(&e.to_string()))
            }
        }
    }
}

/// Joins a multi-line message (one problem per line) so a refusal is one log line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a reload can reach: the parts of the running server that may change.
pub(super) struct Reloader {
    pub(super) app: Arc<App>,
    pub(super) proxies: Arc<ArcSwap<TrustedProxies>>,
    pub(super) cert: Option<Arc<LiveCert>>,
    /// The configuration the server started with: settings only a restart applies are compared
    /// against it, so they are reported on every reload until the restart happens.
    pub(super) started: Config,
    /// The configuration last applied, to report what a reload changed.
    pub(super) applied: Mutex<Config>,
}

/// What a successful reload did, for its log line and for tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub tokens_added: Vec<String>,
    pub tokens_removed: Vec<String>,
    /// Same name, new secret.
    pub tokens_changed: Vec<String>,
    /// The new certificate's fingerprint, when it changed.
    pub certificate: Option<String>,
    pub trusted_proxies_changed: bool,
    /// OAuth clients removed or given a new secret or scopes: their issued tokens are revoked.
    pub oauth_clients_revoked: Vec<String>,
    /// Keys whose new value waits for a restart.
    pub needs_restart: Vec<&'static str>,
}

impl Reloader {
    /// Applies `new`, or refuses it (and changes nothing) with a message naming the problem.
    pub(super) fn apply(&self, new: &Config) -> Result<ReloadReport, String> {
        let needs_restart = restart_only_changes(&self.started, new);

        // Prepare every part; install nothing until all succeeded.
        let cert = match (&self.cert, &new.tls) {
            (Some(live), Some(tls)) => Some(
                live.load(&tls.cert, &tls.key)
                    .map_err(|e| format!("tls: {e} ({})", e.hint()))?,
            ),
            _ => None,
        };
        let tokens = TokenRegistry::new(&new.tokens);
        let proxies = TrustedProxies::new(new.server.trusted_proxies.clone());

        let mut applied = self
            .applied
            .lock()
            .map_err(|_| "a previous reload failed midway; restart scimd".to_string())?;
        let mut report = diff_tokens(&applied, new);
        if let (Some(live), Some(certified)) = (&self.cert, cert) {
            let before = live.fingerprint();
            let after = crate::tls::fingerprint_of(&certified);
            live.install(certified);
            if after != before {
                report.certificate = Some(after);
            }
        }
        self.app.tokens.replace(tokens);
        // New scopes, expiries and limits come with the registry; the throttle's counts and
        // the rate buckets of tokens still configured are kept.
        self.app.throttle.configure(new.auth.throttle);
        self.app
            .rates
            .retain(|name| new.tokens.iter().any(|t| t.name == name));
        report.oauth_clients_revoked = self.app.oauth.replace(&new.oauth);
        report.trusted_proxies_changed =
            applied.server.trusted_proxies != new.server.trusted_proxies;
        self.proxies.store(Arc::new(proxies));
        report.needs_restart = needs_restart;
        *applied = new.clone();
        Ok(report)
    }
}

/// Settings fixed at start: the listener, the store, the URL layout, the schema registry and the
/// log subscriber are built once and shared by every connection.
fn restart_only_changes(started: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let (a, b) = (&started.server, &new.server);
    if a.listen != b.listen {
        keys.push("server.listen");
    }
    if a.base_path != b.base_path {
        keys.push("server.base_path");
    }
    if a.public_url != b.public_url {
        keys.push("server.public_url");
    }
    if a.max_page_size != b.max_page_size {
        keys.push("server.max_page_size");
    }
    if started.storage.path != new.storage.path {
        keys.push("storage.path");
    }
    if started.storage.audit_retention_days != new.storage.audit_retention_days {
        keys.push("storage.audit_retention_days");
    }
    if started.metrics != new.metrics {
        keys.push("metrics");
    }
    if started.guard != new.guard {
        keys.push("guard");
    }
    if started.tls.is_some() != new.tls.is_some() {
        keys.push("tls (turning TLS on or off)");
    }
    if started.extensions != new.extensions {
        keys.push("extensions");
    }
    if started.limits != new.limits {
        keys.push("limits");
    }
    if started.log != new.log {
        keys.push("log.format");
    }
    keys
}

fn diff_tokens(old: &Config, new: &Config) -> ReloadReport {
    let mut report = ReloadReport::default();
    for t in &new.tokens {
        match old.tokens.iter().find(|o| o.name == t.name) {
            None => report.tokens_added.push(t.name.clone()),
            // Scopes, expiry and rate limit count as a change too: the log should say so.
            Some(o) if o != t => report.tokens_changed.push(t.name.clone()),
            Some(_) => {}
        }
    }
    for o in &old.tokens {
        if !new.tokens.iter().any(|t| t.name == o.name) {
            report.tokens_removed.push(o.name.clone());
        }
    }
    report
}

/// Logs a reload's outcome: one line when applied, one line when refused.
pub(super) fn log_outcome(outcome: &Result<ReloadReport, String>, tokens_in_force: usize) {
    match outcome {
        Ok(r) => {
            tracing::info!(
                tokens = tokens_in_force,
                tokens_added = ?r.tokens_added,
                tokens_removed = ?r.tokens_removed,
                tokens_changed = ?r.tokens_changed,
                certificate = r.certificate.as_deref().unwrap_or("unchanged"),
                trusted_proxies_changed = r.trusted_proxies_changed,
                oauth_clients_revoked = ?r.oauth_clients_revoked,
                "configuration reloaded"
            );
            if !r.needs_restart.is_empty() {
                tracing::warn!(
                    keys = %r.needs_restart.join(", "),
                    "changed settings need a restart to take effect; until then the running values stay"
                );
            }
        }
        Err(problem) => {
            tracing::error!(
                problem = %problem,
                "reload refused; the previous configuration stays in force"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenSettings;

    fn config(tokens: &[(&str, u8)]) -> Config {
        Config::embedded_default(
            std::path::Path::new("/data"),
            tokens
                .iter()
                .map(|(n, b)| TokenSettings {
                    name: n.to_string(),
                    sha256: [*b; 32],
                    ..TokenSettings::default()
                })
                .collect(),
            "/c.pem".into(),
            "/k.pem".into(),
        )
    }

    #[test]
    fn token_changes_are_named() {
        let old = config(&[("a", 1), ("b", 2), ("c", 3)]);
        let new = config(&[("b", 2), ("c", 9), ("d", 4)]);
        let r = diff_tokens(&old, &new);
        assert_eq!(r.tokens_added, ["d"]);
        assert_eq!(r.tokens_removed, ["a"]);
        assert_eq!(r.tokens_changed, ["c"]);
    }

    #[test]
    fn restart_only_settings_are_listed() {
        let old = config(&[("a", 1)]);
        let mut new = old.clone();
        assert!(restart_only_changes(&old, &new).is_empty());
        new.server.listen = "0.0.0.0:9443".parse().unwrap();
        new.server.base_path = "/".into();
        new.storage.path = "/elsewhere.redb".into();
        new.tls = None;
        new.server.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        new.tokens.clear();
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "server.listen",
                "server.base_path",
                "storage.path",
                "tls (turning TLS on or off)"
            ]
        );
    }

    #[test]
    fn multi_line_errors_become_one_line() {
        assert_eq!(one_line("a: x (y)\nb: z\n"), "a: x (y); b: z");
    }
}
