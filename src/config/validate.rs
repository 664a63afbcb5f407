//! Stage 2 of loading: checks each raw value and turns it into its validated form, pushing a
//! [`Problem`] for everything wrong instead of stopping at the first.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{
    bad, Bad, LogFormat, LogSettings, Problem, RawLog, RawServer, RawStorage, RawTls, RawToken,
    ServerSettings, StorageSettings, TlsSettings, TokenSettings, DEFAULT_BASE_PATH, DEFAULT_LISTEN,
    DEFAULT_MAX_PAGE_SIZE, DEFAULT_STORE_FILE, MAX_PAGE_SIZE_LIMIT,
};

pub(super) fn validate_server(
    raw: RawServer,
    problems: &mut Vec<Problem>,
) -> Option<ServerSettings> {
    let before = problems.len();
    let listen = match raw.listen.as_deref() {
        None => DEFAULT_LISTEN,
        Some(s) => listen_addr(s)
            .map_err(|b| problems.push(b.at("server.listen")))
            .unwrap_or(DEFAULT_LISTEN),
    };
    let base_path = match raw.base_path.as_deref() {
        None => DEFAULT_BASE_PATH.to_string(),
        Some(s) => base_path(s)
            .map_err(|b| problems.push(b.at("server.base_path")))
            .unwrap_or_default(),
    };
    let public_url = raw.public_url.as_deref().and_then(|s| {
        public_url(s)
            .map_err(|b| problems.push(b.at("server.public_url")))
            .ok()
    });
    let max_page_size = match raw.max_page_size {
        None => DEFAULT_MAX_PAGE_SIZE,
        Some(n) => page_size(n)
            .map_err(|b| problems.push(b.at("server.max_page_size")))
            .unwrap_or(DEFAULT_MAX_PAGE_SIZE),
    };
    let mut trusted_proxies = Vec::new();
    for (i, entry) in raw.trusted_proxies.unwrap_or_default().iter().enumerate() {
        match crate::http::client_ip::parse_trusted(entry) {
            Ok(net) => trusted_proxies.push(net),
            Err(message) => problems.push(Problem::new(
                format!("server.trusted_proxies[{i}]"),
                message,
                "an IP address (\"192.168.1.5\") or a CIDR network (\"10.0.0.0/8\", \"fd00::/8\") \
                 of the gateways in front of scimd; host names are not resolved",
            )),
        }
    }
    (problems.len() == before).then_some(ServerSettings {
        listen,
        base_path,
        public_url,
        max_page_size,
        trusted_proxies,
    })
}

pub(super) fn validate_log(raw: Option<RawLog>, problems: &mut Vec<Problem>) -> LogSettings {
    let format = match raw.and_then(|r| r.format).as_deref() {
        None => LogFormat::default(),
        Some(s) if s.eq_ignore_ascii_case("auto") => LogFormat::Auto,
        Some(s) if s.eq_ignore_ascii_case("text") => LogFormat::Text,
        Some(s) if s.eq_ignore_ascii_case("json") => LogFormat::Json,
        Some(s) => {
            problems.push(Problem::new(
                "log.format",
                format!("{s:?} is not a log format"),
                "\"text\", \"json\" or \"auto\" (JSON when not on a terminal or under systemd; the default)",
            ));
            LogFormat::default()
        }
    };
    LogSettings { format }
}

pub(super) fn listen_addr(s: &str) -> Result<SocketAddr, Bad> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        bad(
            format!("{s:?} is not an IP address and port"),
            "e.g. 0.0.0.0:8443, 127.0.0.1:8443 or [::]:8443; host names are not resolved",
        )
    })
}

pub(super) fn base_path(s: &str) -> Result<String, Bad> {
    let hint = "a path such as \"/scim/v2\": starting with \"/\", no trailing \"/\", or \"/\" alone for the root";
    if s == "/" {
        return Ok(s.to_string());
    }
    if !s.starts_with('/') {
        return Err(bad(format!("{s:?} does not start with \"/\""), hint));
    }
    if s.ends_with('/') {
        return Err(bad(format!("{s:?} ends with \"/\""), hint));
    }
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '?' | '#' | '%' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(bad(format!("{s:?} contains {c:?}"), hint));
    }
    if s.split('/')
        .skip(1)
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(bad(
            format!("{s:?} has an empty, \".\" or \"..\" segment"),
            hint,
        ));
    }
    Ok(s.to_string())
}

pub(super) fn public_url(s: &str) -> Result<String, Bad> {
    let hint =
        "an absolute http(s) URL without query or fragment, e.g. https://scim.example.com/scim/v2";
    let rest = if let Some(rest) = s.strip_prefix("https://") {
        rest
    } else if let Some(rest) = s.strip_prefix("http://") {
        rest
    } else {
        return Err(bad(
            format!("{s:?} does not start with https:// or http://"),
            hint,
        ));
    };
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(bad(format!("{s:?} contains {c:?}"), hint));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad(format!("{s:?} has no host"), hint));
    }
    if authority.contains('@') {
        return Err(bad(
            "the URL contains user information (\"user@\")",
            "remove the credentials; clients authenticate with bearer tokens",
        ));
    }
    // A port, when present, must be a number (mind IPv6 literals like [::1]:8443).
    let host_end = authority.rfind(']').unwrap_or(0);
    if let Some(colon) = authority.get(host_end..).and_then(|s| s.rfind(':')) {
        let port = authority.get(host_end + colon + 1..).unwrap_or_default();
        if port.parse::<u16>().is_err() {
            return Err(bad(format!("{s:?} has an invalid port"), hint));
        }
    }
    let trimmed = s.trim_end_matches('/');
    Ok(trimmed.to_string())
}

pub(super) fn page_size(n: i64) -> Result<usize, Bad> {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_PAGE_SIZE_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad(
            format!("{n} is out of range"),
            format!(
                "a number from 1 to {MAX_PAGE_SIZE_LIMIT}; the default is {DEFAULT_MAX_PAGE_SIZE}"
            ),
        )),
    }
}

/// Resolves a configured path against the config file's directory. Checks only its form.
pub(super) fn config_path(s: &str, base: &Path) -> Result<PathBuf, Bad> {
    if s.trim().is_empty() {
        return Err(bad("is empty", "give a file path"));
    }
    if s.starts_with('~') {
        return Err(bad(
            format!("{s:?} starts with \"~\", which is not expanded"),
            "write the path out in full, or relative to the configuration file's directory",
        ));
    }
    let p = Path::new(s);
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    })
}

pub(super) fn validate_tls(
    raw: RawTls,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<TlsSettings> {
    let before = problems.len();
    // Each file on its own first, so problems with both are reported; then whether they match.
    let cert = tls_file(raw.cert, "tls.cert", base, problems, |p| {
        crate::tls::read_cert_chain(p).map(|_| ())
    });
    let key = tls_file(raw.key, "tls.key", base, problems, |p| {
        crate::tls::read_private_key(p).map(|_| ())
    });
    let (cert, key) = (cert?, key?);
    if let Err(e) = crate::tls::check_pair(&cert, &key) {
        let which = if e.path() == Some(cert.as_path()) {
            "tls.cert"
        } else {
            "tls.key"
        };
        problems.push(Problem::new(which, e.to_string(), e.hint()));
    }
    (problems.len() == before).then_some(TlsSettings { cert, key })
}

/// Resolves and checks one of the `[tls]` files; `None` (with a problem pushed) when unusable.
pub(super) fn tls_file(
    value: Option<String>,
    key: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
    check: impl FnOnce(&Path) -> Result<(), crate::tls::TlsError>,
) -> Option<PathBuf> {
    let Some(value) = value else {
        problems.push(Problem::new(
            key,
            "missing: [tls] needs both cert and key",
            {
                let short = key.trim_start_matches("tls.");
                format!(
                    "add {short} = \"/etc/scimd/tls/{short}.pem\" to [tls], or remove the [tls] table to serve plain HTTP behind a TLS gateway"
                )
            },
        ));
        return None;
    };
    let path = match config_path(&value, base) {
        Ok(p) => p,
        Err(b) => {
            problems.push(b.at(key));
            return None;
        }
    };
    match check(&path) {
        Ok(()) => Some(path),
        Err(e) => {
            problems.push(Problem::new(key, e.to_string(), e.hint()));
            None
        }
    }
}

pub(super) fn validate_storage(
    raw: Option<RawStorage>,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<StorageSettings> {
    let raw = raw.unwrap_or_default();
    let retention = match raw.audit_retention_days {
        None => Some(super::DEFAULT_AUDIT_RETENTION_DAYS),
        Some(d) if (0..=36_500).contains(&d) => u32::try_from(d).ok(),
        Some(d) => {
            problems.push(Problem::new(
                "storage.audit_retention_days",
                format!("{d} is not a number of days between 0 and 36500"),
                "e.g. audit_retention_days = 365 (0 keeps the audit log forever)",
            ));
            None
        }
    };
    let cache_mib = match raw.cache_mib {
        None => Some(crate::store::DEFAULT_CACHE_MIB),
        Some(m) if (16..=65_536).contains(&m) => u32::try_from(m).ok(),
        Some(m) => {
            problems.push(Problem::new(
                "storage.cache_mib",
                format!("{m} is not a cache size between 16 and 65536 MiB"),
                "e.g. cache_mib = 256 (leave it out for the default of 128)",
            ));
            None
        }
    };
    let write_queue = match raw.write_queue {
        None => Some(crate::store::DEFAULT_WRITE_QUEUE),
        Some(n) if (1..=65_536).contains(&n) => usize::try_from(n).ok(),
        Some(n) => {
            problems.push(Problem::new(
                "storage.write_queue",
                format!("{n} is not a queue length between 1 and 65536"),
                format!(
                    "e.g. write_queue = {} (the default)",
                    crate::store::DEFAULT_WRITE_QUEUE
                ),
            ));
            None
        }
    };
    let Some(s) = raw.path else {
        problems.push(Problem::new(
            "storage.path",
            "missing: where should scimd keep its database?",
            "add [storage] with path = \"/var/lib/scimd/scimd.redb\"",
        ));
        return None;
    };
    let path = match config_path(&s, base) {
        Ok(p) => p,
        Err(b) => {
            problems.push(b.at("storage.path"));
            return None;
        }
    };
    if path.is_dir() {
        problems.push(Problem::new(
            "storage.path",
            format!("{} is a directory", path.display()),
            format!(
                "name the database file, e.g. {}",
                path.join(DEFAULT_STORE_FILE).display()
            ),
        ));
        return None;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        problems.push(Problem::new(
            "storage.path",
            format!("directory {} does not exist", parent.display()),
            format!(
                "create it with `mkdir -p {}` and make it writable by the scimd user",
                parent.display()
            ),
        ));
        return None;
    }
    Some(StorageSettings {
        path,
        audit_retention_days: retention?,
        cache_mib: cache_mib?,
        write_queue: write_queue?,
    })
}

pub(super) fn token_name(name: &str) -> Result<(), Bad> {
    let hint = "1 to 64 characters from A-Z a-z 0-9 . _ -, e.g. \"entra-prod\"";
    if name.is_empty() {
        return Err(bad("is empty", hint));
    }
    if name.len() > 64 {
        return Err(bad(
            format!("is {} characters long", name.chars().count()),
            hint,
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(format!("{name:?} contains {c:?}"), hint));
    }
    Ok(())
}

pub(super) fn token_hash(value: &str) -> Result<[u8; 32], Bad> {
    // Never echo the value: an admin may have pasted the secret itself here.
    let hint = "the 64 hex digits of the SHA-256 of the secret, not the secret itself; \
                `scimd token hash` computes it";
    if value.starts_with(crate::auth::SECRET_PREFIX) {
        return Err(bad(
            "looks like a token secret, not its hash; remove it from this file",
            hint,
        ));
    }
    if value.len() != 64 {
        return Err(bad(
            format!(
                "is {} characters long, expected 64 hex digits",
                value.chars().count()
            ),
            hint,
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out)
        .map_err(|_| bad("contains characters other than hex digits", hint))?;
    Ok(out)
}

pub(super) fn validate_tokens(raw: &[RawToken], problems: &mut Vec<Problem>) -> Vec<TokenSettings> {
    let mut tokens = Vec::with_capacity(raw.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], usize> = HashMap::new();
    for (i, t) in raw.iter().enumerate() {
        let name = match t.name.as_deref() {
            None => {
                problems.push(Problem::new(
                    format!("tokens[{i}].name"),
                    "missing",
                    "every token needs a unique name, e.g. name = \"entra-prod\"; logs use it",
                ));
                None
            }
            Some(name) => match token_name(name) {
                Err(b) => {
                    problems.push(b.at(format!("tokens[{i}].name")));
                    None
                }
                Ok(()) => {
                    if let Some(first) = names.get(name) {
                        problems.push(Problem::new(
                            format!("tokens[{i}].name"),
                            format!("{name:?} is already the name of tokens[{first}]"),
                            "token names must be unique; rename one",
                        ));
                        None
                    } else {
                        names.insert(name, i);
                        Some(name)
                    }
                }
            },
        };
        let hash = match t.sha256.as_deref() {
            None => {
                problems.push(Problem::new(
                    format!("tokens[{i}].sha256"),
                    "missing",
                    "sha256 = the hex SHA-256 of the secret; `scimd token issue` prints the stanza",
                ));
                None
            }
            Some(v) => match token_hash(v) {
                Err(b) => {
                    problems.push(b.at(format!("tokens[{i}].sha256")));
                    None
                }
                Ok(h) => {
                    if let Some(first) = hashes.get(&h) {
                        problems.push(Problem::new(
                            format!("tokens[{i}].sha256"),
                            format!("is the same hash as tokens[{first}], so both names would share one secret"),
                            "issue a separate secret per client with `scimd token issue`",
                        ));
                        None
                    } else {
                        hashes.insert(h, i);
                        Some(h)
                    }
                }
            },
        };
        let access = super::auth::token_access(t, i, problems);
        if let (Some(name), Some(sha256), Some((scopes, expires_at, rate_limit))) =
            (name, hash, access)
        {
            tokens.push(TokenSettings {
                name: name.to_string(),
                sha256,
                scopes,
                expires_at,
                rate_limit,
            });
        }
    }
    tokens
}
