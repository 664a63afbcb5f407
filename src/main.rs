//! The `scimd` command line: parses arguments and wires the library's parts together.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 configuration or usage problem.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod cli;
mod log_format;
mod log_writer;
use scimd::bootstrap::{self, Bootstrap, BootstrapError};
use scimd::config::{self, Config, ConfigError};
use scimd::{auth, tls};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const DEFAULT_DATA_DIR: &str = "./scimd-data";

#[derive(Parser)]
#[command(
    name = "scimd",
    version,
    about = "A SCIM 2.0 service provider (RFC 7643/7644) in one binary"
)]
struct Cli {
    /// Format of the log lines written to stderr (filter them with RUST_LOG, default "info").
    /// Overrides `[log] format`; auto = JSON when stderr is not a terminal or under systemd.
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Auto,
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the SCIM server.
    ///
    /// Without --config, scimd runs the embedded default: HTTPS on 127.0.0.1:8443 with a
    /// self-signed certificate and a generated token, all kept in --data-dir.
    Serve {
        /// The configuration file (see config/scimd.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Where the embedded default keeps its certificate, token hash and database
        /// [default: ./scimd-data]. Only without --config.
        #[arg(long, value_name = "DIR", conflicts_with = "config")]
        data_dir: Option<PathBuf>,
    },
    /// Issue bearer tokens, or hash a secret you bring.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Inspect the directory store.
    #[command(subcommand)]
    Db(DbCommand),
    /// Add OAuth 2.0 clients that obtain tokens from POST /oauth/token (docs/OAUTH.md).
    #[command(subcommand, name = "oauth-client")]
    OAuthClient(OAuthClientCommand),
    /// Write every User and Group as SCIM JSON Lines (works while the server runs).
    Export {
        #[command(flatten)]
        at: cli::StoreLocation,
        /// The file to create (it must not exist).
        file: PathBuf,
    },
    /// Load SCIM JSON Lines: the whole file is checked first, nothing is written if a line is
    /// refused; then it is written in chunks of 10,000 (stop the server first).
    Import {
        #[command(flatten)]
        at: cli::StoreLocation,
        /// The JSON Lines file, e.g. from `scimd export`.
        file: PathBuf,
    },
    /// List the audit log, newest first: who changed what, when, through which token
    /// (works while the server runs).
    Audit(cli::audit::AuditArgs),
    /// The mass-deprovisioning guard of a running server: status, or release held
    /// disables and deletes (see docs/GUARD.md).
    #[cfg(unix)]
    #[command(subcommand)]
    Guard(cli::guard::GuardCommand),
    /// Validate a configuration file and report every problem in it.
    CheckConfig {
        /// The configuration file to check.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum OAuthClientCommand {
    /// Generate a client secret, print it once and print (or append) its [[oauth_clients]] stanza.
    Add {
        /// The client id the IdP sends (1-64 of A-Z a-z 0-9 . _ -), e.g. "entra-prod".
        client_id: String,
        /// A scope to grant, "read" or "write"; repeat for both [default: read and write].
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Append the stanza to this configuration file (comments and layout are kept).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Generate a new token secret, print it once and print its [[tokens]] stanza.
    Issue {
        /// The token's name, used in logs (1-64 of A-Z a-z 0-9 . _ -), e.g. "entra-prod".
        #[arg(long)]
        name: String,
        /// Append the stanza to this configuration file (comments and layout are kept).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[command(flatten)]
        access: cli::tokens::IssueAccess,
    },
    /// Read a secret from stdin and print its SHA-256, the value of a stanza's `sha256`.
    Hash,
    /// List the configured tokens (names and issue times, never secrets or hashes).
    List {
        #[command(flatten)]
        at: cli::StoreLocation,
    },
    /// Remove a token's stanza from the configuration (comments and layout are kept).
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        at: cli::StoreLocation,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Check the store's integrity: every index entry and membership edge against the records.
    ///
    /// Needs the store to itself: stop the server first.
    Verify {
        /// The configuration file naming the store.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// The embedded default's data directory [default: ./scimd-data]. Only without --config.
        #[arg(long, value_name = "DIR", conflicts_with = "config")]
        data_dir: Option<PathBuf>,
    },
    /// Write a verified, consistent copy of the store to FILE (works while the server runs).
    Backup {
        #[command(flatten)]
        at: cli::StoreLocation,
        /// The backup file to create (it must not exist).
        file: PathBuf,
    },
    /// Replace the store with a backup, after verifying it (stop the server first).
    ///
    /// The replaced store is kept beside it as <store>.before-restore-<time>.
    Restore {
        #[command(flatten)]
        at: cli::StoreLocation,
        /// The backup file, from `scimd db backup`.
        file: PathBuf,
    },
    /// Show counts, file size and schema version (works while the server runs).
    Stats {
        #[command(flatten)]
        at: cli::StoreLocation,
    },
    /// Give the store file's free space back to the filesystem, then verify it (stop the
    /// server first).
    ///
    /// redb reuses freed pages, but gives back to the filesystem only those at the file's end.
    /// If compacting is interrupted, the store stays consistent; its next open may repair it
    /// first, which takes longer.
    Compact {
        #[command(flatten)]
        at: cli::StoreLocation,
    },
}

/// Why a command failed, and so which exit code it gets.
enum Failure {
    /// A problem with the configuration or the command line: exit 2.
    Config(String),
    /// Something went wrong while running: exit 1.
    Runtime(String),
}

impl Failure {
    fn config_error(err: &ConfigError) -> Self {
        let n = err.problems.len();
        let plural = if n == 1 { "" } else { "s" };
        Failure::Config(format!(
            "{} has {n} problem{plural}:\n{err}",
            err.path.display()
        ))
    }
}

// mimalloc rather than the C library's malloc: serving a request allocates and frees many small
// JSON values on every worker thread, and glibc's arenas showed lock contention in the write
// path's profile (docs/PERFORMANCE.md, "Allocator"); musl's allocator is slower still.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's convention matches ours); --help and --version with 0.
    let cli = Cli::parse();
    // `serve` sets up logging once its configuration (and so `[log] format`) is loaded.
    if !matches!(cli.command, Command::Serve { .. }) {
        init_tracing(cli.log_format.unwrap_or(LogFormat::Text), false);
    }
    match run(cli.command, cli.log_format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(message)) => {
            eprintln!("scimd: error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("scimd: error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command, log_format: Option<LogFormat>) -> Result<(), Failure> {
    match command {
        Command::Serve { config, data_dir } => serve(config.as_deref(), data_dir, log_format),
        Command::Token(TokenCommand::Issue {
            name,
            config,
            access,
        }) => {
            let access = access.resolve()?;
            token_issue(&name, config.as_deref(), &access)
        }
        Command::Token(TokenCommand::Hash) => token_hash(),
        Command::OAuthClient(OAuthClientCommand::Add {
            client_id,
            scopes,
            config,
        }) => oauth_client_add(&client_id, scopes, config.as_deref()),
        Command::CheckConfig { config } => check_config(&config),
        Command::Db(DbCommand::Verify { config, data_dir }) => {
            db_verify(config.as_deref(), data_dir)
        }
        Command::Db(DbCommand::Backup { at, file }) => cli::db::backup(&at, &file),
        Command::Db(DbCommand::Restore { at, file }) => cli::db::restore(&at, &file),
        Command::Db(DbCommand::Stats { at }) => cli::db::stats(&at),
        Command::Db(DbCommand::Compact { at }) => cli::db::compact(&at),
        Command::Export { at, file } => cli::transfer::export(&at, &file),
        Command::Audit(args) => cli::audit::audit(&args),
        #[cfg(unix)]
        Command::Guard(command) => cli::guard::run(&command),
        Command::Import { at, file } => cli::transfer::import(&at, &file),
        Command::Token(TokenCommand::List { at }) => cli::tokens::list(&at),
        Command::Token(TokenCommand::Revoke { name, at }) => cli::tokens::revoke(&at, &name),
    }
}

// ---------------------------------------------------------------------------------------------
// db verify

fn db_verify(config_path: Option<&Path>, data_dir: Option<PathBuf>) -> Result<(), Failure> {
    let store_path = match config_path {
        Some(path) => {
            Config::load(path)
                .map_err(|e| Failure::config_error(&e))?
                .storage
                .path
        }
        None => data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
            .join("scimd.redb"),
    };
    if !store_path.exists() {
        return Err(Failure::Config(format!(
            "there is no store at {}",
            store_path.display()
        )));
    }
    // Stopped: open as the writer, which also repairs a file left by a crash. Running: the
    // server holds the writer, so check one snapshot through a read-only handle beside it.
    let report = match scimd::store::Store::open(&store_path) {
        Ok(store) => store.verify(),
        Err(scimd::store::StoreError::AlreadyOpen { .. }) => {
            scimd::store::ReadOnlyStore::open(&store_path).and_then(|s| s.verify())
        }
        Err(e) => Err(e),
    }
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!(
        "{}: {} users, {} groups, {} index entries, {} membership edges",
        store_path.display(),
        report.users,
        report.groups,
        report.index_entries,
        report.memberships
    );
    cli::db::verdict(&report, || {
        format!(
            "{} problem(s) found in {}",
            report.problem_count,
            store_path.display()
        )
    })
}

/// Sets up logging to stderr. With `batched` (`serve`, which logs a line per request) the lines
/// are written in batches by a background thread ([`log_writer`]); the returned guard writes
/// what is still queued when dropped, so the caller holds it until it returns.
fn init_tracing(format: LogFormat, batched: bool) -> Option<log_writer::Flusher> {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::EnvFilter;
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(e) => {
            if std::env::var_os(EnvFilter::DEFAULT_ENV).is_some() {
                eprintln!("scimd: warning: ignoring RUST_LOG ({e}); logging at info");
            }
            EnvFilter::new("info")
        }
    };
    let on_terminal = std::io::stderr().is_terminal();
    // Auto looks at stderr, where the lines go. JOURNAL_STREAM is set by systemd when stderr
    // is the journal: JSON there keeps each line's fields machine-readable.
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !on_terminal || std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    let (writer, guard) = match batched.then(log_writer::start).flatten() {
        Some((writer, flusher)) => (BoxMakeWriter::new(writer), Some(flusher)),
        None => (BoxMakeWriter::new(std::io::stderr), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(on_terminal && !json)
        .with_writer(writer);
    // try_init: only fails if a subscriber is already installed, which is harmless.
    let _ = if json {
        builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(log_format::JsonLine::new())
            .try_init()
    } else {
        builder.try_init()
    };
    guard
}

// ---------------------------------------------------------------------------------------------
// serve

fn serve(
    config_path: Option<&Path>,
    data_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
) -> Result<(), Failure> {
    // What SIGHUP re-reads.
    let source = match config_path {
        Some(path) => scimd::http::ConfigSource::File(path.to_path_buf()),
        None => scimd::http::ConfigSource::DataDir(
            data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        ),
    };
    let (config, boot) = match &source {
        scimd::http::ConfigSource::File(path) => (
            Config::load(path).map_err(|e| Failure::config_error(&e))?,
            None,
        ),
        scimd::http::ConfigSource::DataDir(dir) => match bootstrap::embedded_default(dir) {
            Ok((config, boot)) => (config, Some(boot)),
            Err(BootstrapError::Tokens(e)) => return Err(Failure::config_error(&e)),
            Err(e) => return Err(Failure::Runtime(e.to_string())),
        },
    };
    // Held to the end of `serve`: dropping it flushes the log lines still queued.
    let _log = init_tracing(
        log_format.unwrap_or(match config.log.format {
            config::LogFormat::Auto => LogFormat::Auto,
            config::LogFormat::Text => LogFormat::Text,
            config::LogFormat::Json => LogFormat::Json,
        }),
        true,
    );

    // The plain-HTTP warning is logged by http::start, next to the bound address.
    let names: Vec<&str> = config.tokens.iter().map(|t| t.name.as_str()).collect();
    tracing::info!(
        listen = %config.server.listen,
        tls = config.tls.is_some(),
        base_path = %config.server.base_path,
        tokens = ?names,
        storage = %config.storage.path.display(),
        "starting scimd {VERSION}"
    );
    let now = time::OffsetDateTime::now_utc();
    for t in config
        .tokens
        .iter()
        .filter(|t| t.expires_at.is_some_and(|at| at <= now))
    {
        tracing::warn!(token = %t.name, "token has expired; requests with it are refused (401)");
    }

    let banner = banner(&config, boot.as_ref());
    let print_banner = move || {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush())
        {
            tracing::warn!(error = %e, "could not print the start-up banner to stdout");
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("scimd-worker")
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    // The banner is printed once the listener is up and the store is open, so whoever reads
    // "URL:" can connect at once.
    let mut banner_slot = Some(print_banner);
    let outcome = runtime.block_on(scimd::http::serve(config, source, || {
        if let Some(p) = banner_slot.take() {
            p();
        }
    }));
    if let Err(e) = outcome {
        // A token generated on this very start must not be lost because the port was taken:
        // it is shown once, and only its hash is kept.
        if boot.as_ref().is_some_and(|b| b.new_token.is_some()) {
            if let Some(p) = banner_slot.take() {
                p();
            }
        }
        return Err(Failure::Runtime(e.to_string()));
    }
    Ok(())
}

/// The start-up banner, printed on stdout.
fn banner(config: &Config, boot: Option<&Bootstrap>) -> String {
    let host = tls::machine_hostname().unwrap_or_else(|| "localhost".to_string());
    let url = config.display_url(&host);
    let mut b = String::new();
    // Writing to a String cannot fail; the results are ignored below for that reason.
    let _ = writeln!(b, "scimd {VERSION} — SCIM 2.0 service provider");
    let _ = writeln!(b, "URL:   {url}");

    let token_for_example = match boot {
        Some(Bootstrap {
            new_token: Some(secret),
            tokens_path,
            ..
        }) => {
            let _ = writeln!(b, "Token: {secret}");
            let _ = writeln!(
                b,
                "       (shown only now: scimd keeps only its SHA-256, in {})",
                tokens_path.display()
            );
            secret.clone()
        }
        Some(boot) => {
            let _ = writeln!(
                b,
                "Token: printed at first start; only its hash is kept in {}",
                boot.tokens_path.display()
            );
            let _ = writeln!(
                b,
                "       (another one: scimd token issue --name NAME --config {}, then reload or restart)",
                boot.tokens_path.display()
            );
            "<token>".to_string()
        }
        None => {
            let names: Vec<&str> = config.tokens.iter().map(|t| t.name.as_str()).collect();
            let source = config
                .source
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "Tokens: {} configured in {source} ({})",
                names.len(),
                names.join(", ")
            );
            "<token>".to_string()
        }
    };

    let mut cacert = String::new();
    match (&config.tls, boot) {
        (Some(_), Some(boot)) => {
            let dir = boot.cert_path.parent().unwrap_or(Path::new("."));
            let _ = writeln!(b, "Certificate SHA-256: {}", boot.cert_fingerprint);
            let _ = writeln!(
                b,
                "       (self-signed{}, kept in {})",
                if boot.cert_created {
                    ", just created"
                } else {
                    ""
                },
                dir.display()
            );
            cacert = format!("--cacert {} ", boot.cert_path.display());
        }
        (Some(tls_settings), None) => {
            if let Ok(fp) = tls::fingerprint_sha256(&tls_settings.cert) {
                let _ = writeln!(b, "Certificate SHA-256: {fp}");
                let _ = writeln!(b, "       ({})", tls_settings.cert.display());
            }
        }
        (None, _) => {
            let _ = writeln!(
                b,
                "TLS:   off (plain HTTP; terminate TLS in a gateway in front of scimd)"
            );
        }
    }
    let _ = writeln!(
        b,
        "Try:   curl {cacert}-H \"Authorization: Bearer {token_for_example}\" {url}/Users"
    );
    let secret = if boot.is_some() {
        "the token above"
    } else {
        "a secret issued with `scimd token issue`"
    };
    let _ = writeln!(
        b,
        "Entra ID: Tenant URL = the URL above; Secret Token = {secret}. Entra connects only \
         to a publicly trusted HTTPS endpoint: use a CA-issued certificate in [tls], or a gateway \
         with one and server.public_url."
    );
    b
}

// ---------------------------------------------------------------------------------------------
// token issue / token hash

fn token_issue(
    name: &str,
    config_path: Option<&Path>,
    access: &config::NewToken,
) -> Result<(), Failure> {
    config::check_token_name(name)
        .map_err(|p| Failure::Config(format!("--name {name:?}: {} ({})", p.message, p.hint)))?;
    let secret = auth::generate_secret().map_err(|e| Failure::Runtime(e.to_string()))?;
    let hash = auth::sha256_hex(&secret);

    // Append first: a secret is shown only once it is registered, never for a failed edit.
    if let Some(path) = config_path {
        let now = time::OffsetDateTime::now_utc();
        let issued = now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .map(|t| format!("token {name:?} issued {t} by `scimd token issue`"))
            .unwrap_or_else(|_| format!("token {name:?} issued by `scimd token issue`"));
        config::append_token_to_file_with(path, name, &hash, access, &[issued.as_str()])
            .map_err(|e| Failure::config_error(&e))?;
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "New token {name:?}. Copy the secret now: it is not stored and will NOT be shown again."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{secret}");
    let _ = writeln!(out);
    stanza_destination(&mut out, config_path);
    let _ = writeln!(out);
    let _ = writeln!(out, "[[tokens]]");
    let _ = writeln!(out, "name = \"{name}\"");
    let _ = writeln!(out, "sha256 = \"{hash}\"");
    for (key, value) in config::access_keys(access) {
        let _ = writeln!(out, "{key} = {}", value.to_string().trim());
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Restart scimd (or reload its configuration) for the token to take effect."
    );
    print_stdout(&out)
}

/// Where a printed stanza goes: the file it was appended to, or the admin's paste.
fn stanza_destination(out: &mut String, config_path: Option<&Path>) {
    let _ = match config_path {
        Some(path) => writeln!(out, "Appended to {}:", path.display()),
        None => writeln!(
            out,
            "Add this stanza to the configuration file (or rerun with --config PATH):"
        ),
    };
}

fn oauth_client_add(
    client_id: &str,
    mut scopes: Vec<String>,
    config_path: Option<&Path>,
) -> Result<(), Failure> {
    if scopes.is_empty() {
        scopes = config::OAUTH_SCOPES.iter().map(|s| s.to_string()).collect();
    }
    let secret = auth::generate_secret().map_err(|e| Failure::Runtime(e.to_string()))?;
    let hash = auth::sha256_hex(&secret);
    let comment = format!("OAuth client {client_id:?} added by `scimd oauth-client add`");
    // Checks the id and scopes even when no file is given; a secret is shown only for a stanza
    // that is valid (and, with --config, registered).
    let stanza = config::append_oauth_client("", client_id, &hash, &scopes, &[])
        .map_err(|p| Failure::Config(format!("{}: {} ({})", p.key, p.message, p.hint)))?;
    if let Some(path) = config_path {
        config::append_oauth_client_to_file(path, client_id, &hash, &scopes, &[comment.as_str()])
            .map_err(|e| Failure::config_error(&e))?;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "New OAuth client {client_id:?}. Copy the secret now: it is not stored and will NOT be shown again."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Client Identifier: {client_id}");
    let _ = writeln!(out, "Client Secret:     {secret}");
    let _ = writeln!(out);
    stanza_destination(&mut out, config_path);
    let _ = write!(out, "{}", stanza.trim_start());
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Reload scimd (systemctl reload scimd) for the client to take effect; its Token Endpoint \
         is /oauth/token at the server's root."
    );
    print_stdout(&out)
}

fn token_hash() -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let mut secret = String::new();
    let read = if stdin.is_terminal() {
        eprintln!("Enter the secret, then press Enter:");
        stdin.lock().read_line(&mut secret)
    } else {
        stdin.lock().read_to_string(&mut secret)
    };
    read.map_err(|e| Failure::Runtime(format!("cannot read the secret from stdin: {e}")))?;
    // `echo secret | scimd token hash` adds a newline that is not part of the secret.
    let secret = secret.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(Failure::Config(
            "no secret on stdin (usage: printf %s \"$SECRET\" | scimd token hash)".to_string(),
        ));
    }
    if secret.chars().count() < 32 {
        eprintln!(
            "scimd: warning: the secret is only {} characters long; a long random secret \
             (as `scimd token issue` generates) is much harder to guess",
            secret.chars().count()
        );
    }
    print_stdout(&format!("{}\n", auth::sha256_hex(secret)))
}

// ---------------------------------------------------------------------------------------------
// check-config

fn check_config(path: &Path) -> Result<(), Failure> {
    let config = Config::load(path).map_err(|e| Failure::config_error(&e))?;
    let n = config.tokens.len();
    // A deployment that issues only OAuth clients has no static token; "0 tokens" alone would
    // read as "nobody can connect".
    let clients = match config.oauth.clients.len() {
        0 => String::new(),
        1 => ", 1 OAuth client".to_string(),
        c => format!(", {c} OAuth clients"),
    };
    let summary = format!(
        "OK: listen {}, TLS {}, base path {}, {n} token{}{clients}, storage {}\n",
        config.server.listen,
        if config.tls.is_some() { "on" } else { "off" },
        config.server.base_path,
        if n == 1 { "" } else { "s" },
        config.storage.path.display()
    );
    cli::tokens::warn_expired(&config.tokens);
    if config.plain_http_on_public_address() {
        eprintln!(
            "scimd: warning: plain HTTP on {}, which other hosts can reach: put a TLS-terminating \
             gateway in front, or configure [tls]",
            config.server.listen
        );
    }
    print_stdout(&summary)
}

fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Runtime(format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn data_dir_conflicts_with_config() {
        let r = Cli::try_parse_from(["scimd", "serve", "--config", "a", "--data-dir", "b"]);
        assert!(r.is_err());
        let r = Cli::try_parse_from(["scimd", "serve", "--log-format", "json"]);
        assert!(r.is_ok());
    }

    #[test]
    fn banner_for_first_start_shows_token_and_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let (config, boot) = bootstrap::embedded_default(tmp.path()).unwrap();
        let text = banner(&config, Some(&boot));
        let secret = boot.new_token.as_deref().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("scimd {VERSION} — SCIM 2.0 service provider")
        );
        assert_eq!(lines[1], "URL:   https://127.0.0.1:8443/scim/v2");
        assert_eq!(lines[2], format!("Token: {secret}"));
        assert!(text.contains(&format!("Certificate SHA-256: {}", boot.cert_fingerprint)));
        assert!(text.contains(&format!(
            "Try:   curl --cacert {} -H \"Authorization: Bearer {secret}\" https://127.0.0.1:8443/scim/v2/Users",
            boot.cert_path.display()
        )));
        assert!(text.contains("Entra ID: Tenant URL"));

        let (config, boot) = bootstrap::embedded_default(tmp.path()).unwrap();
        let text = banner(&config, Some(&boot));
        assert!(!text.contains(secret));
        assert!(text.contains("printed at first start"));
        assert!(text.contains("tokens.toml"));
    }
}
