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
