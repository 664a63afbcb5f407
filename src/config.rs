//! The TOML configuration, loaded in two stages: serde parses the file into raw structs that
//! refuse unknown keys, then validation turns them into a [`Config`], collecting *every* problem
//! (not just the first) with the key it concerns and what a right value looks like.
//!
//! See `config/scimd.toml` for the documented example.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod auth;
mod edit;
mod extensions;
mod guard;
mod limits;
mod metrics;
mod oauth;
#[cfg(test)]
mod tests;
mod token_file;
mod validate;

pub use auth::{parse_expiry, AuthSettings};
pub use edit::{
    access_keys, append_token, append_token_to_file, append_token_to_file_with, append_token_with,
    NewToken,
};
pub use extensions::{registry, ExtensionAttribute, ExtensionSettings};
pub use guard::{window as parse_guard_window, GuardSettings};
pub use limits::LimitsSettings;
pub use metrics::MetricsSettings;
pub use oauth::{
    append_oauth_client, append_oauth_client_to_file, OAuthClientSettings, OAuthSettings,
    SCOPES as OAUTH_SCOPES,
};
pub use token_file::{list_tokens, remove_token, remove_token_from_file, TokenEntry};
use validate::{
    token_hash, token_name, validate_log, validate_server, validate_storage, validate_tls,
    validate_tokens,
};

/// Listen address when `server.listen` is not set.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// Base path when `server.base_path` is not set.
pub const DEFAULT_BASE_PATH: &str = "/scim/v2";
/// Page size limit when `server.max_page_size` is not set.
pub const DEFAULT_MAX_PAGE_SIZE: usize = 1000;
/// Largest accepted `server.max_page_size`.
pub const MAX_PAGE_SIZE_LIMIT: usize = 10_000;
/// File name of the store inside the embedded default's data directory.
pub const DEFAULT_STORE_FILE: &str = "scimd.redb";

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub server: ServerSettings,
    /// `None`: plain HTTP (behind a TLS-terminating gateway).
    pub tls: Option<TlsSettings>,
    pub storage: StorageSettings,
    pub tokens: Vec<TokenSettings>,
    /// Extension schemas declared with `[[extensions]]`.
    pub extensions: Vec<ExtensionSettings>,
    /// `[metrics]`: where `/metrics` is served; `None`: nowhere.
    pub metrics: Option<MetricsSettings>,
    /// `[log]`: how log lines are written.
    pub log: LogSettings,
    /// `[auth]`: failed-authentication throttling.
    pub auth: AuthSettings,
    /// `[limits]`: request sizes and slow-client timeouts.
    pub limits: LimitsSettings,
    /// `[oauth]` and `[[oauth_clients]]`: the client credentials grant at `/oauth/token`.
    pub oauth: OAuthSettings,
    /// The file this was loaded from; `None` for the embedded default.
    pub source: Option<PathBuf>,
    /// `[guard]`: when user disables and deletes are held; `None`: never.
    pub guard: Option<GuardSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// `"/"` (serve at the root) or a path that starts with `/` and does not end with `/`.
    pub base_path: String,
    /// The externally visible base URL (scheme, host, path; no trailing `/`), used for
    /// `meta.location` when scimd sits behind a gateway.
    pub public_url: Option<String>,
    /// Most resources returned in one page; published as `filter.maxResults`.
    pub max_page_size: usize,
    /// Peers allowed to name the client in `X-Forwarded-For` / `Forwarded`; empty: none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl ServerSettings {
    /// `base_path` as a prefix to put in front of `/Users` etc.: empty for the root.
    pub fn path_prefix(&self) -> &str {
        if self.base_path == "/" {
            ""
        } else {
            &self.base_path
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// `[log] format`: `auto` (the default) writes JSON when the log stream is not a terminal or
/// goes to the systemd journal, human-readable text otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, server certificate first.
    pub cert: PathBuf,
    /// PEM private key of the server certificate.
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// The redb database file.
    pub path: PathBuf,
    /// Audit entries older than this many days are deleted (daily); 0 keeps them forever.
    pub audit_retention_days: u32,
    /// redb's page cache in MiB (filled only as pages are read); default
    /// [`DEFAULT_CACHE_MIB`](crate::store::DEFAULT_CACHE_MIB).
    pub cache_mib: u32,
    /// How many writes may wait for the store's writer before more are refused with 503.
    pub write_queue: usize,
}

/// How long the audit log is kept unless configured: a year covers most review cycles.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// A configured bearer token: its name (used in logs) and the SHA-256 of its secret, and what
/// it may do.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub name: String,
    pub sha256: [u8; 32],
    /// `scopes`; every scope unless configured.
    pub scopes: crate::auth::Scopes,
    /// `expires_at`; `None`: never.
    pub expires_at: Option<time::OffsetDateTime>,
    /// `requests_per_second` and `burst`; `None`: unlimited (the default).
    pub rate_limit: Option<crate::auth::RateLimit>,
}

impl Default for TokenSettings {
    /// No name and a zero hash (to be filled in), every scope, no expiry, no rate limit.
    fn default() -> Self {
        TokenSettings {
            name: String::new(),
            sha256: [0; 32],
            scopes: crate::auth::Scopes::all(),
            expires_at: None,
            rate_limit: None,
        }
    }
}

impl fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSettings")
            .field("name", &self.name)
            // Not even the hash: a Debug print of a Config must be safe to log.
            .field("sha256", &"[redacted]")
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key concerned, e.g. `tokens[1].sha256`, or a `line L, column C` position for syntax
    /// errors; empty when the problem concerns the file as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What would be right.
    pub hint: String,
}

impl Problem {
    pub fn new(
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Why a configuration file was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    /// One problem per line: `path: key: message (hint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: ", self.path.display())?;
            if !p.key.is_empty() {
                write!(f, "{}: ", p.key)?;
            }
            write!(f, "{}", p.message)?;
            if !p.hint.is_empty() {
                write!(f, " ({})", p.hint)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(path: &Path, problem: Problem) -> Self {
        ConfigError {
            path: path.to_path_buf(),
            problems: vec![problem],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 1: raw, as written. Everything optional, so that a missing key is reported by validation
// together with all other problems instead of stopping serde at the first one.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: Option<RawServer>,
    tls: Option<RawTls>,
    storage: Option<RawStorage>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default)]
    extensions: Vec<extensions::RawExtension>,
    metrics: Option<metrics::RawMetrics>,
    log: Option<RawLog>,
    auth: Option<auth::RawAuth>,
    limits: Option<limits::RawLimits>,
    oauth: Option<oauth::RawOAuth>,
    #[serde(default)]
    oauth_clients: Vec<oauth::RawOAuthClient>,
    guard: Option<guard::RawGuard>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    base_path: Option<String>,
    public_url: Option<String>,
    max_page_size: Option<i64>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    path: Option<String>,
    audit_retention_days: Option<i64>,
    cache_mib: Option<i64>,
    write_queue: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Option<String>,
    sha256: Option<String>,
    scopes: Option<Vec<String>>,
    /// A TOML datetime or an RFC 3339 string: both are natural to write.
    expires_at: Option<toml::Value>,
    requests_per_second: Option<i64>,
    burst: Option<i64>,
}

/// A file holding only `[[tokens]]` stanzas (the embedded default's `tokens.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenFile {
    #[serde(default)]
    tokens: Vec<RawToken>,
}

// ---------------------------------------------------------------------------------------------
// Stage 2: validation.

/// A value that failed a check: what is wrong and what would be right.
struct Bad {
    message: String,
    hint: String,
}

fn bad(message: impl Into<String>, hint: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        hint: hint.into(),
    }
}

impl Bad {
    fn at(self, key: impl Into<String>) -> Problem {
        Problem::new(key, self.message, self.hint)
    }
}

impl Config {
    /// Reads, parses and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::one(
                path,
                Problem::new(
                    "",
                    format!("cannot read the configuration file: {e}"),
                    "check the path given with --config and that the scimd user may read it",
                ),
            )
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses and validates configuration text as if read from `source` (relative paths are
    /// resolved against `source`'s directory).
    pub fn from_toml(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = parse_toml(text, source)?;
        let base = base_dir(source);
        let mut problems = Vec::new();

        let server_page = raw.server.as_ref().and_then(|s| s.max_page_size);
        let mut server = validate_server(raw.server.unwrap_or_default(), &mut problems);
        let raw_limits = raw.limits.unwrap_or_default();
        let limits_page =
            limits::page_size_key(raw_limits.max_page_size, server_page, &mut problems);
        if let (Some(s), Some(n)) = (server.as_mut(), limits_page) {
            s.max_page_size = n;
        }
        let limits = limits::validate_limits(raw_limits, &mut problems);
        let tls = raw
            .tls
            .and_then(|tls| validate_tls(tls, &base, &mut problems));
        let storage = validate_storage(raw.storage, &base, &mut problems);
        let tokens = validate_tokens(&raw.tokens, &mut problems);
        let extensions = extensions::validate_extensions(raw.extensions, &mut problems);
        let metrics = raw.metrics.and_then(|m| {
            let server_listen = server.as_ref().map(|s| s.listen);
            metrics::validate_metrics(m, server_listen, &mut problems)
        });
        let log = validate_log(raw.log, &mut problems);
        let auth = auth::validate_auth(raw.auth, &mut problems);
        let no_oauth_clients = raw.oauth_clients.is_empty();
        let oauth = oauth::validate_oauth(raw.oauth, raw.oauth_clients, &mut problems);
        let guard = raw
            .guard
            .and_then(|g| guard::validate_guard(g, &mut problems));
        if raw.tokens.is_empty() && no_oauth_clients {
            problems.push(Problem::new(
                "tokens",
                "no [[tokens]] or [[oauth_clients]] are configured, so every request would be refused",
                format!(
                    "run `scimd token issue --name entra --config {}`",
                    source.display()
                ),
            ));
        }

        match (server, storage) {
            (Some(server), Some(storage)) if problems.is_empty() => Ok(Config {
                server,
                tls,
                storage,
                tokens,
                extensions,
                metrics,
                log,
                auth,
                limits,
                oauth,
                source: Some(source.to_path_buf()),
                guard,
            }),
            _ => Err(ConfigError {
                path: source.to_path_buf(),
                problems,
            }),
        }
    }

    /// The configuration of `scimd serve` without `--config`: HTTPS on 127.0.0.1:8443 under
    /// `/scim/v2`, the store in `data_dir/scimd.redb`.
    pub fn embedded_default(
        data_dir: &Path,
        tokens: Vec<TokenSettings>,
        cert: PathBuf,
        key: PathBuf,
    ) -> Config {
        Config {
            server: ServerSettings {
                listen: DEFAULT_LISTEN,
                base_path: DEFAULT_BASE_PATH.to_string(),
                public_url: None,
                max_page_size: DEFAULT_MAX_PAGE_SIZE,
                trusted_proxies: Vec::new(),
            },
            tls: Some(TlsSettings { cert, key }),
            storage: StorageSettings {
                path: data_dir.join(DEFAULT_STORE_FILE),
                audit_retention_days: DEFAULT_AUDIT_RETENTION_DAYS,
                cache_mib: crate::store::DEFAULT_CACHE_MIB,
                write_queue: crate::store::DEFAULT_WRITE_QUEUE,
            },
            tokens,
            extensions: Vec::new(),
            metrics: None,
            log: LogSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitsSettings::default(),
            oauth: OAuthSettings::default(),
            source: None,
            guard: None,
        }
    }

    /// True when the server would speak plain HTTP on an address other hosts can reach. That is
    /// allowed (a TLS-terminating gateway in front), but worth a warning at start.
    pub fn plain_http_on_public_address(&self) -> bool {
        self.tls.is_none() && !self.server.listen.ip().is_loopback()
    }

    /// The base URL clients use: `public_url` when set, else built from the listen address
    /// (scheme per TLS). An unspecified listen IP (0.0.0.0, ::) is shown as `unspecified_host`.
    pub fn display_url(&self, unspecified_host: &str) -> String {
        if let Some(url) = &self.server.public_url {
            return url.clone();
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let listen = self.server.listen;
        let host = if listen.ip().is_unspecified() {
            unspecified_host.to_string()
        } else {
            match listen.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            }
        };
        format!(
            "{scheme}://{host}:{}{}",
            listen.port(),
            self.server.path_prefix()
        )
    }
}

/// Loads a file that holds only `[[tokens]]` stanzas. Unlike a full configuration, an empty
/// list is not an error here: the caller decides.
pub fn load_token_file(path: &Path) -> Result<Vec<TokenSettings>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::one(
            path,
            Problem::new(
                "",
                format!("cannot read the token file: {e}"),
                "check that the scimd user may read it",
            ),
        )
    })?;
    let raw: RawTokenFile = parse_toml(&text, path)?;
    let mut problems = Vec::new();
    let tokens = validate_tokens(&raw.tokens, &mut problems);
    if problems.is_empty() {
        Ok(tokens)
    } else {
        Err(ConfigError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Checks a token name: 1 to 64 of `A-Z a-z 0-9 . _ -`. The problem's key is `name`.
pub fn check_token_name(name: &str) -> Result<(), Problem> {
    token_name(name).map_err(|b| b.at("name"))
}

/// Parses a `sha256` value (64 hex digits) into bytes. The problem's key is `sha256`.
pub fn parse_token_hash(value: &str) -> Result<[u8; 32], Problem> {
    token_hash(value).map_err(|b| b.at("sha256"))
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, source: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!("line {line}, column {column}")
            })
            .unwrap_or_default();
        let message = e.message().trim_end().to_string();
        let hint = if message.starts_with("unknown field") {
            "remove it or correct its spelling; config/scimd.toml documents every key"
        } else if message.starts_with("invalid type") {
            "see config/scimd.toml for the type each key takes"
        } else {
            "fix the TOML syntax at that position"
        };
        ConfigError::one(source, Problem::new(key, message, hint))
    })
}

/// 1-based line and column (in characters) of byte offset `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The directory relative paths in `source` are resolved against, made absolute when possible.
fn base_dir(source: &Path) -> PathBuf {
    let dir = match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}
