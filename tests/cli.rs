//! The real `scimd` binary: `check-config`, `token issue --config`, `token hash`, `serve` banner.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn scimd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A config with a valid TLS pair and storage directory, and `tokens` appended verbatim.
fn write_config(dir: &Path, tokens: &str) -> std::path::PathBuf {
    scimd::tls::ensure_self_signed(&dir.join("tls")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let path = dir.join("scimd.toml");
    std::fs::write(
        &path,
        format!(
            "# test config\n[server]\nlisten = \"127.0.0.1:8443\" # loopback\n\n[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\n\n[storage]\npath = \"data/scimd.redb\"\n{tokens}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn check_config_reports_every_bad_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"scim.example.com:8443\"\nbase_path = \"scim/\"\n[storage]\npath = \"missing/db.redb\"\n[[tokens]]\nname = \"entra\"\nsha256 = \"not-hex\"\n",
    )
    .unwrap();
    let out = scimd(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("scimd: error: "), "{stderr}");
    for key in [
        "server.listen",
        "server.base_path",
        "storage.path",
        "tokens[0].sha256",
    ] {
        assert!(
            stderr.contains(&format!("{}: {key}: ", path.display())),
            "{key} missing in:\n{stderr}"
        );
    }
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn check_config_on_a_syntax_error_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = 127.0.0.1:8443\n").unwrap();
    let out = scimd(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "\n[[tokens]]\nname = \"entra\"\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ),
    );
    let out = scimd(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "OK: listen 127.0.0.1:8443, TLS on, base path /scim/v2, 1 token, storage "
        ),
        "{stdout}"
    );
}

#[test]
fn check_config_counts_oauth_clients_when_there_are_no_static_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "\n[[oauth_clients]]\nclient_id = \"entra\"\nsecret_sha256 = \"{}\"\nscopes = [\"read\", \"write\"]\n",
            "ab".repeat(32)
        ),
    );
    let out = scimd(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(", 0 tokens, 1 OAuth client, storage "),
        "{stdout}"
    );
}

#[test]
fn token_issue_appends_to_the_config_which_then_checks_ok() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "");
    let path_str = path.to_str().unwrap();
    // No tokens yet: refused, with the way out in the hint.
    let out = scimd(&["check-config", "--config", path_str]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("scimd token issue --name entra --config"));

    let out = scimd(&["token", "issue", "--name", "entra", "--config", path_str]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("will NOT be shown again"), "{stdout}");
    let secret = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("scimd_"))
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), "scimd_".len() + 43);

    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.starts_with("# test config\n"), "{file}");
    assert!(file.contains("listen = \"127.0.0.1:8443\" # loopback"));
    assert!(file.contains(&scimd::auth::sha256_hex(&secret)), "{file}");
    assert!(!file.contains(&secret));

    let out = scimd(&["check-config", "--config", path_str]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The loaded config authenticates the issued secret under its name.
    let config = scimd::config::Config::load(&path).unwrap();
    let registry = scimd::auth::TokenRegistry::new(&config.tokens);
    assert_eq!(registry.authenticate(&secret), Some("entra"));

    // A second token with the same name is refused and the file is left alone.
    let out = scimd(&["token", "issue", "--name", "entra", "--config", path_str]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"));
    assert!(!text(&out.stdout).contains("scimd_"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), file);
}

#[test]
fn token_issue_with_scope_and_expiry_is_listed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "");
    let path_str = path.to_str().unwrap();
    let out = scimd(&[
        "token",
        "issue",
        "--name",
        "auditor",
        "--scope",
        "read",
        "--expires-at",
        "2099-06-30T00:00:00Z",
        "--requests-per-second",
        "5",
        "--config",
        path_str,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("scopes = [\"read\"]"), "{stdout}");
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(
        file.contains("expires_at = \"2099-06-30T00:00:00Z\""),
        "{file}"
    );
    let config = scimd::config::Config::load(&path).unwrap();
    assert!(!config.tokens[0].scopes.contains(scimd::auth::Scope::Write));

    // An expired stanza, written by hand: check-config passes but warns; list marks it.
    let mut file = file;
    file.push_str(&format!(
        "\n[[tokens]]\nname = \"old\"\nsha256 = \"{}\"\nexpires_at = 2020-01-01T00:00:00Z\n",
        "a".repeat(64)
    ));
    std::fs::write(&path, &file).unwrap();
    let out = scimd(&["check-config", "--config", path_str]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("token \"old\" expired at 2020-01-01T00:00:00Z"),
        "{}",
        text(&out.stderr)
    );
    let out = scimd(&["token", "list", "--config", path_str]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {listing}"))
            .to_string()
    };
    let auditor = line("auditor");
    assert!(
        auditor.contains(" read ") && auditor.contains("2099-06-30T00:00:00Z"),
        "{auditor}"
    );
    assert!(
        auditor.contains("5/s") && !auditor.contains("EXPIRED"),
        "{auditor}"
    );
    let old = line("old");
    assert!(
        old.contains("read,write") && old.contains("(EXPIRED)"),
        "{old}"
    );

    // Bad flags are usage errors and leave the file alone.
    for args in [
        ["--scope", "admin"],
        ["--expires-at", "tomorrow"],
        ["--expires-at", "2020-01-01T00:00:00Z"],
    ] {
        let mut all = vec!["token", "issue", "--name", "x", "--config", path_str];
        all.extend(args);
        let out = scimd(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!text(&out.stdout).contains("scimd_"), "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), file);
}

#[test]
fn token_issue_without_config_prints_a_stanza() {
    let out = scimd(&["token", "issue", "--name", "okta"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[[tokens]]\nname = \"okta\"\nsha256 = \""),
        "{stdout}"
    );
    let out = scimd(&["token", "issue", "--name", "bad name"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn token_hash_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );
    assert!(text(&out.stderr).contains("warning"));
}

#[test]
fn usage_errors_exit_2() {
    let out = scimd(&["serve", "--config", "a.toml", "--data-dir", "b"]);
    assert_eq!(out.status.code(), Some(2));
    let out = scimd(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Starts `scimd serve` with `args`, reads the banner up to its last line, and stops the server.
/// (The banner is printed before the server binds, so this works whether or not the port is free.)
fn serve_banner(args: &[&str]) -> String {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let stdout = child.stdout.take().unwrap();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Entra ID:") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    banner
}

#[test]
fn serve_embedded_default_prints_the_token_only_at_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_str = data.to_str().unwrap();
    let stdout = serve_banner(&["--data-dir", data_str]);
    assert!(
        stdout.starts_with(&format!(
            "scimd {} — SCIM 2.0 service provider\nURL:   https://127.0.0.1:8443/scim/v2\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Token: scimd_"))
        .map(|rest| format!("scimd_{rest}"))
        .unwrap();
    assert!(stdout.contains("Certificate SHA-256: "));
    assert!(stdout.contains("Entra ID: Tenant URL"));
    let tokens = std::fs::read_to_string(data.join("tokens.toml")).unwrap();
    assert!(tokens.contains(&scimd::auth::sha256_hex(&secret)));

    // Second start: same data, no secret shown.
    let stdout = serve_banner(&["--data-dir", data_str]);
    assert!(!stdout.contains("scimd_"), "{stdout}");
    assert!(stdout.contains("printed at first start"), "{stdout}");

    // tokens.toml takes `token issue --config` like a configuration file does.
    let out = scimd(&[
        "token",
        "issue",
        "--name",
        "second",
        "--config",
        data.join("tokens.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (config, boot) = scimd::bootstrap::embedded_default(&data).unwrap();
    assert!(boot.new_token.is_none());
    assert_eq!(config.tokens.len(), 2);
}

#[test]
fn serve_with_a_bad_config_exits_2_before_printing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nlisten = \"nope\"\n").unwrap();
    let out = scimd(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty());
    assert!(text(&out.stderr).contains("server.listen"));
}

#[test]
fn db_verify_reports_a_healthy_store_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = scimd::store::Store::open(&dir.path().join("scimd.redb")).unwrap();
        store
            .write(|tx| {
                tx.insert(
                    scimd::store::Kind::User,
                    "u1",
                    &serde_json::json!({"id": "u1", "userName": "Alice"}),
                )?;
                tx.insert(
                    scimd::store::Kind::Group,
                    "g1",
                    &serde_json::json!({"id": "g1", "displayName": "Staff"}),
                )?;
                tx.add_member("g1", "u1")?;
                Ok::<_, scimd::store::StoreError>(())
            })
            .unwrap();
    }
    let data_dir = dir.path().to_str().unwrap();
    let out = scimd(&["db", "verify", "--data-dir", data_dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("1 users, 1 groups"), "{stdout}");
    assert!(stdout.contains("1 membership edges"), "{stdout}");
    assert!(stdout.contains("OK"), "{stdout}");

    let empty = tempfile::tempdir().unwrap();
    let out = scimd(&["db", "verify", "--data-dir", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no store"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The running server: SIGHUP reload and SIGTERM drain, against the real binary.

/// A `scimd serve` child whose JSON log lines (stderr) are collected as they arrive.
struct Served {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    addr: std::net::SocketAddr,
}

impl Served {
    fn start(config: &Path) -> Served {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimd"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"raw": line}));
                sink.lock().unwrap().push(value);
            }
        });
        let mut served = Served {
            child,
            lines,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = served.wait_for("scimd is listening", 0);
        served.addr = listening["fields"]["addr"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        served
    }

    /// The `n`-th (0-based) log line whose message is `message`, waiting up to 20 s for it.
    fn wait_for(&self, message: &str, n: usize) -> serde_json::Value {
        for _ in 0..400 {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l["fields"]["message"] == message)
                .nth(n)
            {
                return line.clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "no log line {message:?} (#{n}) in:\n{:#?}",
            self.lines.lock().unwrap()
        );
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }
}

fn tls_config(dir: &Path, tls_dir: &str, token_hashes: &[(&str, String)], extra: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n[tls]\ncert = \"{tls_dir}/cert.pem\"\nkey = \"{tls_dir}/key.pem\"\n\n[storage]\npath = \"{}\"\n",
        dir.join("data/scimd.redb").display()
    );
    for (name, hash) in token_hashes {
        text.push_str(&format!(
            "\n[[tokens]]\nname = \"{name}\"\nsha256 = \"{hash}\"\n"
        ));
    }
    text
}

fn sha256(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// SHA-256 of the certificate the connection that carried `resp` was shown.
fn fingerprint_of_response(resp: &reqwest::Response) -> String {
    let info = resp.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    sha256(info.peer_certificate().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_tokens_and_certificate_and_refuses_a_bad_file() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    let (cert, key, _) = scimd::tls::ensure_self_signed(&root.join("tls")).unwrap();
    let (new_cert, new_key, _) = scimd::tls::ensure_self_signed(&root.join("renewed")).unwrap();
    let old_pem = std::fs::read(&cert).unwrap();
    let new_pem = std::fs::read(&new_cert).unwrap();
    let der = |pem: &[u8]| {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(pem).unwrap()
    };
    let old_fp = sha256(&der(&old_pem));
    let new_fp = sha256(&der(&new_pem));

    let (a, b) = (
        scimd::auth::generate_secret().unwrap(),
        scimd::auth::generate_secret().unwrap(),
    );
    let hash = scimd::auth::sha256_hex;
    let path = root.join("scimd.toml");
    std::fs::write(&path, tls_config(root, "tls", &[("a", hash(&a))], "")).unwrap();
    let served = Served::start(&path);
    let users = format!("https://localhost:{}/scim/v2/Users", served.addr.port());

    // One client trusts both certificates, so it can tell which one a connection was shown.
    let client = || {
        reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(&old_pem).unwrap(),
                reqwest::Certificate::from_pem(&new_pem).unwrap(),
            ])
            .tls_info(true)
            .resolve("localhost", served.addr)
            .build()
            .unwrap()
    };
    let kept = client();
    let resp = kept.get(&users).bearer_auth(&a).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fingerprint_of_response(&resp), old_fp);

    // Revoke A, add B and renew the certificate (replaced in place, as certbot would).
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::write(&path, tls_config(root, "tls", &[("b", hash(&b))], "")).unwrap();
    served.signal("HUP");
    let reloaded = served.wait_for("configuration reloaded", 0);
    assert_eq!(reloaded["fields"]["tokens_added"], "[\"b\"]", "{reloaded}");
    assert_eq!(
        reloaded["fields"]["tokens_removed"], "[\"a\"]",
        "{reloaded}"
    );

    // The connection opened before the reload is still up (it still shows the old
    // certificate) and checks tokens against the new list.
    let resp = kept.get(&users).bearer_auth(&a).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = kept.get(&users).bearer_auth(&b).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fingerprint_of_response(&resp), old_fp);

    // A new connection gets the renewed certificate.
    let fresh = client();
    let resp = fresh.get(&users).bearer_auth(&b).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fingerprint_of_response(&resp), new_fp);

    // An invalid file is refused in one line naming the problem; B keeps working.
    std::fs::write(&path, "[server\nlisten = 1\n").unwrap();
    served.signal("HUP");
    let refused = served.wait_for(
        "reload refused; the previous configuration stays in force",
        0,
    );
    assert_eq!(refused["level"], "ERROR");
    let problem = refused["fields"]["problem"].as_str().unwrap();
    assert!(
        problem.contains("line 1") && !problem.contains('\n'),
        "{problem}"
    );
    // A missing certificate is refused too.
    let broken = tls_config(root, "missing", &[("b", hash(&b))], "");
    std::fs::write(&path, broken).unwrap();
    served.signal("HUP");
    let refused = served.wait_for(
        "reload refused; the previous configuration stays in force",
        1,
    );
    let problem = refused["fields"]["problem"].as_str().unwrap();
    assert!(
        problem.contains("tls.cert") && problem.contains("missing/cert.pem"),
        "{problem}"
    );
    for c in [&kept, &fresh, &client()] {
        let resp = c.get(&users).bearer_auth(&b).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }

    // Settings fixed at start are reported, not applied; the rest of the file still is.
    let moved = tls_config(
        root,
        "tls",
        &[("b", hash(&b)), ("a", hash(&a))],
        "base_path = \"/other\"",
    );
    std::fs::write(&path, moved).unwrap();
    served.signal("HUP");
    served.wait_for("configuration reloaded", 1);
    let warned = served.wait_for(
        "changed settings need a restart to take effect; until then the running values stay",
        0,
    );
    assert_eq!(warned["fields"]["keys"], "server.base_path");
    let resp = fresh.get(&users).bearer_auth(&a).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    // Request lines name the token and the client, never the secret.
    let line = served.wait_for("request", 0);
    assert_eq!(line["fields"]["client_ip"], "127.0.0.1", "{line}");
    assert_eq!(line["fields"]["token"], "a", "{line}");
    for field in ["request_id", "method", "path", "status", "latency_ms"] {
        assert!(!line["fields"][field].is_null(), "{field} in {line}");
    }
    // No secret reached the log.
    let log = format!("{:?}", served.lines.lock().unwrap());
    assert!(!log.contains(&a) && !log.contains(&b));
    assert!(served.stop().success());
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_refuses_new_connections() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let secret = scimd::auth::generate_secret().unwrap();
    let path = dir.path().join("scimd.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"data/scimd.redb\"\n[[tokens]]\nname = \"t\"\nsha256 = \"{}\"\n",
            scimd::auth::sha256_hex(&secret)
        ),
    )
    .unwrap();
    let served = Served::start(&path);

    // A slow client: headers and half the body now, the rest after SIGTERM.
    let body = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"slow"}"#;
    let (first, rest) = body.split_at(20);
    let mut conn = std::net::TcpStream::connect(served.addr).unwrap();
    write!(
        conn,
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(first).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    served.signal("TERM");
    served.wait_for(
        "no longer accepting connections; draining in-flight requests",
        0,
    );
    let refused = std::net::TcpStream::connect(served.addr);
    assert!(
        refused.is_err(),
        "a new connection was accepted while draining"
    );

    conn.write_all(rest).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"userName\":\"slow\""), "{response}");

    let mut served = served;
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    served.wait_for("stopped; the store is closed", 0);
    // The store was closed cleanly: it opens again and holds the user.
    let store = scimd::store::Store::open(&dir.path().join("data/scimd.redb")).unwrap();
    assert_eq!(store.verify().unwrap().users, 1);
}
