//! Unit tests for loading, validating and editing configurations.

use super::validate::public_url;
use super::*;

const HASH_A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const HASH_B: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// A directory with a valid TLS pair, a `data/` directory and helpers to write configs.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        crate::tls::ensure_self_signed(&dir.path().join("tls")).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        Fixture { dir }
    }

    fn good(&self) -> String {
        format!(
            r#"
[server]
listen = "0.0.0.0:8443"
base_path = "/scim/v2"
public_url = "https://scim.example.com/scim/v2/"
max_page_size = 500

[tls]
cert = "tls/cert.pem"
key = "{}"

[storage]
path = "data/scimd.redb"

[[tokens]]
name = "entra-prod"
sha256 = "{HASH_A}"

[[tokens]]
name = "okta"
sha256 = "{}"
"#,
            self.dir.path().join("tls/key.pem").display(),
            HASH_B.to_uppercase()
        )
    }

    fn source(&self) -> PathBuf {
        self.dir.path().join("scimd.toml")
    }

    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        let path = self.source();
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }
}

fn keys(err: &ConfigError) -> Vec<&str> {
    err.problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn good_config_loads_with_resolved_paths() {
    let fx = Fixture::new();
    let config = fx.load(&fx.good()).unwrap();
    let base = std::path::absolute(fx.dir.path()).unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(config.server.base_path, "/scim/v2");
    assert_eq!(
        config.server.public_url.as_deref(),
        Some("https://scim.example.com/scim/v2")
    );
    assert_eq!(config.server.max_page_size, 500);
    let tls = config.tls.as_ref().unwrap();
    assert_eq!(tls.cert, base.join("tls/cert.pem"));
    assert_eq!(tls.key, fx.dir.path().join("tls/key.pem"));
    assert_eq!(config.storage.path, base.join("data/scimd.redb"));
    assert_eq!(config.tokens.len(), 2);
    assert_eq!(config.tokens[0].name, "entra-prod");
    assert_eq!(hex::encode(config.tokens[1].sha256), HASH_B);
    assert_eq!(config.source.as_deref(), Some(fx.source().as_path()));
    assert!(!config.plain_http_on_public_address());
    assert_eq!(config.display_url("x"), "https://scim.example.com/scim/v2");
}

#[test]
fn defaults_apply_and_plain_http_is_allowed() {
    let fx = Fixture::new();
    let config = fx
        .load(&format!(
            "[storage]\npath = \"data/s.redb\"\n[[tokens]]\nname = \"a\"\nsha256 = \"{HASH_A}\"\n"
        ))
        .unwrap();
    assert_eq!(config.server.listen, DEFAULT_LISTEN);
    assert_eq!(config.server.base_path, DEFAULT_BASE_PATH);
    assert_eq!(config.server.public_url, None);
    assert_eq!(config.server.max_page_size, DEFAULT_MAX_PAGE_SIZE);
    assert_eq!(config.tls, None);
    assert!(!config.plain_http_on_public_address());
    assert_eq!(config.display_url("h"), "http://127.0.0.1:8443/scim/v2");

    let config = fx
        .load(&format!(
            "[server]\nlisten = \"[::]:80\"\nbase_path = \"/\"\n[storage]\npath = \"data/s.redb\"\n[[tokens]]\nname = \"a\"\nsha256 = \"{HASH_A}\"\n"
        ))
        .unwrap();
    assert!(config.plain_http_on_public_address());
    assert_eq!(config.server.path_prefix(), "");
    assert_eq!(config.display_url("scim.local"), "http://scim.local:80");
}

/// Each case replaces one line of the good config and expects a problem at one key.
#[test]
fn each_bad_value_is_reported_at_its_key() {
    let fx = Fixture::new();
    let good = fx.good();
    let long_name = format!("name = \"{}\"", "x".repeat(65));
    let cases: &[(&str, &str, &str)] = &[
        (
            "listen = \"0.0.0.0:8443\"",
            "listen = \"scim.example.com:8443\"",
            "server.listen",
        ),
        (
            "listen = \"0.0.0.0:8443\"",
            "listen = \"0.0.0.0\"",
            "server.listen",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"scim/v2\"",
            "server.base_path",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"/scim/v2/\"",
            "server.base_path",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"/scim?v=2\"",
            "server.base_path",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"/scim v2\"",
            "server.base_path",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"/scim//v2\"",
            "server.base_path",
        ),
        (
            "base_path = \"/scim/v2\"",
            "base_path = \"\"",
            "server.base_path",
        ),
        (
            "public_url = \"https://scim.example.com/scim/v2/\"",
            "public_url = \"scim.example.com\"",
            "server.public_url",
        ),
        (
            "public_url = \"https://scim.example.com/scim/v2/\"",
            "public_url = \"https://x.example/scim?a=b\"",
            "server.public_url",
        ),
        (
            "public_url = \"https://scim.example.com/scim/v2/\"",
            "public_url = \"https:///scim\"",
            "server.public_url",
        ),
        (
            "public_url = \"https://scim.example.com/scim/v2/\"",
            "public_url = \"https://u:p@x.example\"",
            "server.public_url",
        ),
        (
            "public_url = \"https://scim.example.com/scim/v2/\"",
            "public_url = \"https://x.example:http\"",
            "server.public_url",
        ),
        (
            "max_page_size = 500",
            "max_page_size = 0",
            "server.max_page_size",
        ),
        (
            "max_page_size = 500",
            "max_page_size = 10001",
            "server.max_page_size",
        ),
        (
            "max_page_size = 500",
            "max_page_size = -1",
            "server.max_page_size",
        ),
        (
            "cert = \"tls/cert.pem\"",
            "cert = \"tls/missing.pem\"",
            "tls.cert",
        ),
        (
            "cert = \"tls/cert.pem\"",
            "cert = \"tls/key.pem\"",
            "tls.cert",
        ),
        ("cert = \"tls/cert.pem\"", "", "tls.cert"),
        (
            "cert = \"tls/cert.pem\"",
            "cert = \"~/cert.pem\"",
            "tls.cert",
        ),
        (
            "cert = \"tls/cert.pem\"",
            "cert = \"other/cert.pem\"",
            "tls.key",
        ),
        (
            "path = \"data/scimd.redb\"",
            "path = \"nowhere/scimd.redb\"",
            "storage.path",
        ),
        (
            "path = \"data/scimd.redb\"",
            "path = \"data\"",
            "storage.path",
        ),
        ("path = \"data/scimd.redb\"", "", "storage.path"),
        (
            "name = \"entra-prod\"",
            "name = \"entra prod\"",
            "tokens[0].name",
        ),
        ("name = \"entra-prod\"", "name = \"\"", "tokens[0].name"),
        ("name = \"entra-prod\"", "", "tokens[0].name"),
        ("name = \"okta\"", "name = \"entra-prod\"", "tokens[1].name"),
        ("name = \"okta\"", &long_name, "tokens[1].name"),
        (HASH_A, "abc", "tokens[0].sha256"),
        (HASH_A, &"g".repeat(64), "tokens[0].sha256"),
        (
            HASH_A,
            "scimd_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "tokens[0].sha256",
        ),
        (HASH_A, HASH_B, "tokens[1].sha256"),
    ];
    // A second, unrelated key pair, for the mismatch case.
    crate::tls::ensure_self_signed(&fx.dir.path().join("other")).unwrap();
    for (from, to, key) in cases {
        assert!(good.contains(from), "{from}");
        let text = good.replacen(from, to, 1);
        let err = fx.load(&text).unwrap_err();
        assert_eq!(keys(&err), vec![*key], "{from} -> {to}: {err}");
        assert!(!err.problems[0].hint.is_empty());
    }
}

#[test]
fn bad_hash_message_never_echoes_the_value() {
    let fx = Fixture::new();
    let secret = "scimd_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let err = fx.load(&fx.good().replacen(HASH_A, secret, 1)).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("not the secret itself"), "{text}");
    let err = fx
        .load(&fx.good().replacen(HASH_A, "hunter2", 1))
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let fx = Fixture::new();
    let text = r#"
[server]
listen = "localhost:8443"
base_path = "scim"
max_page_size = 0
[tls]
cert = "nope.pem"
[storage]
path = "missing-dir/db.redb"
[[tokens]]
name = "a b"
sha256 = "xyz"
[[tokens]]
sha256 = "xyz"
"#;
    let err = fx.load(text).unwrap_err();
    assert_eq!(
        keys(&err),
        vec![
            "server.listen",
            "server.base_path",
            "server.max_page_size",
            "tls.cert",
            "tls.key",
            "storage.path",
            "tokens[0].name",
            "tokens[0].sha256",
            "tokens[1].name",
            "tokens[1].sha256",
        ],
        "{err}"
    );
    // Display: one line per problem, `path: key: message (hint)`.
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), err.problems.len());
    let prefix = format!("{}: server.listen: ", fx.source().display());
    assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
    assert!(lines[0].contains("(e.g. 0.0.0.0:8443"), "{}", lines[0]);
    assert!(lines[0].ends_with(')'));
}

#[test]
fn no_tokens_suggests_issuing_one() {
    let fx = Fixture::new();
    let err = fx.load("[storage]\npath = \"data/s.redb\"\n").unwrap_err();
    assert_eq!(keys(&err), vec!["tokens"]);
    assert!(err.problems[0]
        .hint
        .contains("scimd token issue --name entra --config"));
}

#[test]
fn unknown_keys_and_syntax_errors_have_positions() {
    let fx = Fixture::new();
    let err = fx
        .load("[server]\nlisten = \"127.0.0.1:1\"\nlissten = \"x\"\n")
        .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].key, "line 3, column 1");
    assert!(err.problems[0].message.contains("lissten"), "{err}");

    let err = fx.load("[storage]\npath = \"x\n").unwrap_err();
    assert!(err.problems[0].key.starts_with("line 2"), "{err}");

    let err = fx.load("[server]\nmax_page_size = \"10\"\n").unwrap_err();
    assert!(err.problems[0].key.starts_with("line 2"), "{err}");

    let err = fx.load("[database]\npath = \"x\"\n").unwrap_err();
    assert!(err.problems[0].message.contains("database"), "{err}");
}

#[test]
fn unreadable_file_is_one_problem() {
    let err = Config::load(Path::new("/nonexistent/scimd.toml")).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(err
        .to_string()
        .starts_with("/nonexistent/scimd.toml: cannot read"));
}

#[test]
fn embedded_default_shape() {
    let dir = Path::new("/data");
    let config = Config::embedded_default(
        dir,
        vec![],
        dir.join("tls/cert.pem"),
        dir.join("tls/key.pem"),
    );
    assert_eq!(config.server.listen, DEFAULT_LISTEN);
    assert_eq!(config.server.base_path, "/scim/v2");
    assert_eq!(config.storage.path, dir.join("scimd.redb"));
    assert_eq!(config.display_url("h"), "https://127.0.0.1:8443/scim/v2");
    assert_eq!(config.source, None);
}

#[test]
fn token_file_loads_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    std::fs::write(
        &path,
        format!("# c\n[[tokens]]\nname = \"default\"\nsha256 = \"{HASH_A}\"\n"),
    )
    .unwrap();
    let tokens = load_token_file(&path).unwrap();
    assert_eq!(tokens[0].name, "default");
    std::fs::write(&path, "[server]\n").unwrap();
    assert!(load_token_file(&path).is_err());
    std::fs::write(&path, "").unwrap();
    assert_eq!(load_token_file(&path).unwrap(), vec![]);
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncé\nx", 0), (1, 1));
    assert_eq!(line_column("ab\ncé\nx", 3), (2, 1));
    assert_eq!(line_column("ab\ncé\nx", 7), (3, 1));
    assert_eq!(line_column("ab\ncé\nx", 6), (2, 3));
}

#[test]
fn public_helpers() {
    assert!(check_token_name("entra.prod_1-x").is_ok());
    assert_eq!(check_token_name("a/b").unwrap_err().key, "name");
    assert_eq!(parse_token_hash(HASH_A).unwrap()[0], 0xba);
    assert!(parse_token_hash("ab").is_err());
    assert_eq!(
        public_url("http://[::1]:8080/").ok().as_deref(),
        Some("http://[::1]:8080")
    );
    assert!(public_url("http://[::1]:x/").is_err());
}

#[test]
fn append_token_keeps_comments_and_layout() {
    let original = "# scimd config\n\n[server]\n# where to listen\nlisten   =   \"0.0.0.0:8443\"  # aligned\n\n[[tokens]]\n# the first one\nname = \"entra\"\nsha256 = \"HASH\"\n\n[storage]\npath = \"/var/lib/scimd/scimd.redb\" # keep\n".replace("HASH", HASH_A);
    let updated = append_token(&original, "okta", HASH_B, &["issued for Okta"]).unwrap();
    assert!(updated.starts_with(&original), "{updated}");
    let added = &updated[original.len()..];
    assert_eq!(
        added,
        format!("\n# issued for Okta\n[[tokens]]\nname = \"okta\"\nsha256 = \"{HASH_B}\"\n")
    );
    // Still a valid config, with both tokens in order.
    let raw: RawConfig = toml::from_str(&updated).unwrap();
    let names: Vec<_> = raw.tokens.iter().map(|t| t.name.clone().unwrap()).collect();
    assert_eq!(names, ["entra", "okta"]);
}

#[test]
fn append_token_to_a_file_without_tokens_or_final_newline() {
    let original = "[storage]\npath = \"x\" # the store";
    let updated = append_token(original, "entra", HASH_A, &[]).unwrap();
    assert!(
        updated.starts_with("[storage]\npath = \"x\" # the store\n"),
        "{updated}"
    );
    let raw: RawConfig = toml::from_str(&updated).unwrap();
    assert_eq!(raw.tokens.len(), 1);
    let updated = append_token("", "entra", HASH_A, &[]).unwrap();
    assert_eq!(
        updated,
        format!("\n[[tokens]]\nname = \"entra\"\nsha256 = \"{HASH_A}\"\n")
    );
}

#[test]
fn append_token_refuses_duplicates_and_odd_documents() {
    let doc = format!("[[tokens]]\nname = \"entra\"\nsha256 = \"{HASH_A}\"\n");
    let err = append_token(&doc, "entra", HASH_B, &[]).unwrap_err();
    assert!(err.message.contains("already exists"), "{err:?}");
    let err = append_token("tokens = []\n", "entra", HASH_B, &[]).unwrap_err();
    assert_eq!(err.key, "tokens");
    let err = append_token("[server\n", "entra", HASH_B, &[]).unwrap_err();
    assert!(err.key.starts_with("line 1"), "{err:?}");
    assert!(append_token("", "bad name", HASH_B, &[]).is_err());
    assert!(append_token("", "ok", "not-a-hash", &[]).is_err());
}

#[test]
fn append_token_to_file_keeps_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scimd.toml");
    std::fs::write(&path, "# hello\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    append_token_to_file(&path, "entra", HASH_A, &["c"]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# hello\n") && text.contains(HASH_A),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }
    let err = append_token_to_file(&path, "entra", HASH_B, &[]).unwrap_err();
    assert!(err.to_string().contains("already exists"));
    assert!(append_token_to_file(&dir.path().join("none.toml"), "x", HASH_B, &[]).is_err());
}

#[test]
fn shipped_example_has_only_known_keys() {
    let text = include_str!("../../config/scimd.toml");
    let source = Path::new("/nonexistent/scimd.toml");
    let err = Config::from_toml(text, source).unwrap_err();
    // Only what an example cannot have: the operator's files and a token.
    assert!(err.problems.iter().any(|p| p.key == "tokens"), "{err}");
    for p in &err.problems {
        assert!(
            ["tls.cert", "tls.key", "storage.path", "tokens"].contains(&p.key.as_str()),
            "{err}"
        );
    }
    // `token issue --config` on the example gives it a token.
    let issued = append_token(text, "entra-prod", HASH_A, &["issued"]).unwrap();
    let err = Config::from_toml(&issued, source).unwrap_err();
    assert!(err.problems.iter().all(|p| p.key != "tokens"), "{err}");
}

#[test]
fn declared_extensions_load_into_the_registry() {
    let f = Fixture::new();
    let text = format!(
        "{}\n[[extensions]]\nurn = \"urn:ietf:params:scim:schemas:extension:acme:2.0:User\"\nresource = \"User\"\n\
         [[extensions.attributes]]\nname = \"costCenterCode\"\n[[extensions.attributes]]\nname = \"contractor\"\ntype = \"boolean\"\n",
        f.good()
    );
    let config = Config::from_toml(&text, &f.dir.path().join("scimd.toml")).unwrap();
    assert_eq!(config.extensions.len(), 1);
    assert_eq!(config.extensions[0].name, "acme");
    let reg = registry(&config.extensions);
    let r = reg
        .resolve(
            crate::scim::ResourceKind::User,
            Some("urn:ietf:params:scim:schemas:extension:acme:2.0:User"),
            "CONTRACTOR",
        )
        .unwrap();
    assert_eq!(r.attr.ty, crate::scim::schema::AttrType::Boolean);
}

#[test]
fn bad_extensions_are_reported_at_their_keys() {
    let f = Fixture::new();
    let text = format!(
        "{}\n[[extensions]]\nurn = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"\nresource = \"Device\"\n\
         [[extensions.attributes]]\nname = \"1bad\"\ntype = \"complex\"\nmutability = \"readOnly\"\nreturned = \"sometimes\"\n\
         [[extensions]]\nurn = \"not a urn\"\nresource = \"Group\"\n",
        f.good()
    );
    let err = Config::from_toml(&text, &f.dir.path().join("scimd.toml")).unwrap_err();
    let got = keys(&err);
    for k in [
        "extensions[0].urn",
        "extensions[0].resource",
        "extensions[0].attributes[0].name",
        "extensions[0].attributes[0].type",
        "extensions[0].attributes[0].mutability",
        "extensions[0].attributes[0].returned",
        "extensions[1].urn",
        "extensions[1].attributes",
    ] {
        assert!(got.contains(&k), "{k} missing from {got:?}");
    }
}

#[test]
fn extension_attributes_may_not_shadow_built_in_names() {
    let f = Fixture::new();
    let text = format!(
        "{}\n[[extensions]]\nurn = \"urn:ietf:params:scim:schemas:extension:acme:2.0:User\"\nresource = \"User\"\n\
         [[extensions.attributes]]\nname = \"Department\"\n",
        f.good()
    );
    let err = Config::from_toml(&text, &f.dir.path().join("scimd.toml")).unwrap_err();
    assert!(
        keys(&err).contains(&"extensions[0].attributes[0].name"),
        "{err}"
    );
    assert!(
        err.to_string().contains("already an attribute of User"),
        "{err}"
    );
}

#[test]
fn trusted_proxies_and_log_format_load_and_are_checked() {
    let fx = Fixture::new();
    let tail = format!(
        "[storage]\npath = \"data/s.redb\"\n[[tokens]]\nname = \"a\"\nsha256 = \"{HASH_A}\"\n"
    );
    let config = fx.load(&tail).unwrap();
    assert!(config.server.trusted_proxies.is_empty());
    assert_eq!(config.log.format, LogFormat::Auto);

    let config = fx
        .load(&format!(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.5\", \"fd00::/8\"]\n[log]\nformat = \"json\"\n{tail}"
        ))
        .unwrap();
    let nets: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.5/32", "fd00::/8"]);
    assert_eq!(config.log.format, LogFormat::Json);

    let err = fx
        .load(&format!(
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"gateway.local\", \"10.1.2.3/8\"]\n[log]\nformat = \"xml\"\n{tail}"
        ))
        .unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "server.trusted_proxies[1]",
            "server.trusted_proxies[2]",
            "log.format"
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("\"gateway.local\" is neither an IP address nor a CIDR"),
        "{text}"
    );
    assert!(text.contains("the network is 10.0.0.0/8"), "{text}");
    assert!(text.contains("\"xml\" is not a log format"), "{text}");

    // A string instead of a list is a type error with a position.
    let err = fx
        .load(&format!(
            "[server]\ntrusted_proxies = \"10.0.0.0/8\"\n{tail}"
        ))
        .unwrap_err();
    assert!(err.problems[0].key.starts_with("line 2"), "{err}");
}

#[test]
fn token_scopes_expiry_and_rate_load_with_defaults() {
    use crate::auth::{RateLimit, Scope, Scopes};
    let fx = Fixture::new();
    let text = format!(
        "{}\n[[tokens]]\nname = \"auditor\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\
         expires_at = \"2027-06-30T00:00:00Z\"\nrequests_per_second = 5\n\
         \n[[tokens]]\nname = \"bare-date\"\nsha256 = \"{}\"\nexpires_at = 2027-06-30T02:00:00+02:00\n\
         requests_per_second = 3\nburst = 9\n\
         \n[auth]\nfailure_limit = 5\nfailure_window_seconds = 30\ntracked_addresses = 100\n",
        fx.good(),
        "c".repeat(64),
        "d".repeat(64)
    );
    let config = fx.load(&text).unwrap();
    // Stanzas without the keys: every scope, no expiry, no limit.
    assert_eq!(config.tokens[0].scopes, Scopes::all());
    assert_eq!(config.tokens[0].expires_at, None);
    assert_eq!(config.tokens[0].rate_limit, None);
    let auditor = &config.tokens[2];
    assert_eq!(auditor.scopes, Scopes::none().with(Scope::Read));
    let june = time::macros::datetime!(2027-06-30 00:00 UTC);
    assert_eq!(auditor.expires_at, Some(june));
    // burst defaults to one second's worth.
    assert_eq!(
        auditor.rate_limit,
        Some(RateLimit {
            per_second: 5,
            burst: 5
        })
    );
    let bare = &config.tokens[3];
    assert_eq!(
        bare.expires_at,
        Some(june),
        "a TOML datetime with an offset"
    );
    assert_eq!(bare.rate_limit.map(|r| r.burst), Some(9));
    assert_eq!(config.auth.throttle.limit, 5);
    assert_eq!(
        config.auth.throttle.window,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(config.auth.throttle.max_addresses, 100);
    // Without [auth]: the documented defaults.
    let plain = fx.load(&fx.good()).unwrap();
    assert_eq!(plain.auth.throttle.limit, 20);
    assert_eq!(
        plain.auth.throttle.window,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn bad_scopes_expiry_rate_and_auth_are_problems_at_their_keys() {
    let fx = Fixture::new();
    let text = format!(
        "{}\n[[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nscopes = [\"read\", \"admin\"]\n\
         expires_at = \"next tuesday\"\nrequests_per_second = 0\n\
         \n[[tokens]]\nname = \"b\"\nsha256 = \"{}\"\nscopes = []\nexpires_at = 2027-06-30T00:00:00\n\
         burst = 4\n\
         \n[[tokens]]\nname = \"c\"\nsha256 = \"{}\"\nexpires_at = 2027\n\
         \n[auth]\nfailure_limit = -1\nfailure_window_seconds = 0\ntracked_addresses = 0\n",
        fx.good(),
        "c".repeat(64),
        "d".repeat(64),
        "e".repeat(64)
    );
    let err = fx.load(&text).unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "tokens[2].scopes[1]",
            "tokens[2].expires_at",
            "tokens[2].requests_per_second",
            "tokens[3].scopes",
            "tokens[3].expires_at",
            "tokens[3].burst",
            "tokens[4].expires_at",
            "auth.failure_limit",
            "auth.failure_window_seconds",
            "auth.tracked_addresses",
        ],
        "{err}"
    );
    let text = err.to_string();
    for expected in [
        "\"admin\" is not a scope",
        "\"next tuesday\" is not an RFC 3339",
        "has no UTC offset",
        "is empty, so the token could do nothing",
        "is set without requests_per_second",
        "expects a date and time, found integer",
    ] {
        assert!(text.contains(expected), "{expected}: {err}");
    }
    // The token file of the embedded default takes the same keys and checks.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    std::fs::write(
        &path,
        format!("[[tokens]]\nname = \"d\"\nsha256 = \"{HASH_A}\"\nscopes = [\"write\"]\n"),
    )
    .unwrap();
    let tokens = load_token_file(&path).unwrap();
    assert!(!tokens[0].scopes.contains(crate::auth::Scope::Read));
    std::fs::write(
        &path,
        format!("[[tokens]]\nname = \"d\"\nsha256 = \"{HASH_A}\"\nscopes = [\"all\"]\n"),
    )
    .unwrap();
    let err = load_token_file(&path).unwrap_err();
    assert_eq!(keys(&err), ["tokens[0].scopes[0]"], "{err}");
}

#[test]
fn append_token_with_writes_access_keys_that_load_back() {
    use crate::auth::{Scope, Scopes};
    let fx = Fixture::new();
    let access = NewToken {
        scopes: Scopes::none().with(Scope::Read),
        expires_at: Some(time::macros::datetime!(2027-06-30 00:00 UTC)),
        requests_per_second: Some(7),
    };
    let text = append_token_with(&fx.good(), "auditor", &"f".repeat(64), &access, &["c"]).unwrap();
    assert!(text.contains("scopes = [\"read\"]"), "{text}");
    assert!(
        text.contains("expires_at = \"2027-06-30T00:00:00Z\""),
        "{text}"
    );
    assert!(text.contains("requests_per_second = 7"), "{text}");
    let config = fx.load(&text).unwrap();
    let t = config.tokens.iter().find(|t| t.name == "auditor").unwrap();
    assert_eq!(t.scopes, Scopes::none().with(Scope::Read));
    assert_eq!(t.rate_limit.map(|r| r.per_second), Some(7));
    // The default access writes no extra keys.
    let plain = append_token(&fx.good(), "plain", &"f".repeat(64), &[]).unwrap();
    assert!(!plain.contains("scopes"), "{plain}");
    // No scope at all is refused.
    let none = NewToken {
        scopes: Scopes::none(),
        ..NewToken::default()
    };
    let e = append_token_with("", "x", &"f".repeat(64), &none, &[]).unwrap_err();
    assert_eq!(e.key, "scopes");
}

#[test]
fn guard_is_off_unless_configured_and_its_keys_are_checked() {
    let fx = Fixture::new();
    assert_eq!(fx.load(&fx.good()).unwrap().guard, None);
    let on = format!(
        "{}\n[guard]\nmax_deprovisions = 50\nwindow = \"90min\"\n",
        fx.good()
    );
    let g = fx.load(&on).unwrap().guard.unwrap();
    assert_eq!(g.max_deprovisions, Some(50));
    assert_eq!(g.window, std::time::Duration::from_secs(5400));
    let bad = format!(
        "{}\n[guard]\nmax_deprovisions = -1\nmax_percent = 0\n",
        fx.good()
    );
    let err = fx.load(&bad).unwrap_err();
    assert_eq!(keys(&err), ["guard.max_deprovisions", "guard.max_percent"]);
    let unknown = format!("{}\n[guard]\nmax_deletes = 5\n", fx.good());
    let err = fx.load(&unknown).unwrap_err();
    assert!(err.problems[0].message.contains("unknown field"), "{err}");
}

#[test]
fn storage_cache_size_is_optional_and_bounded() {
    let fx = Fixture::new();
    assert_eq!(
        fx.load(&fx.good()).unwrap().storage.cache_mib,
        crate::store::DEFAULT_CACHE_MIB
    );
    let set = fx
        .good()
        .replace("[storage]\n", "[storage]\ncache_mib = 64\n");
    assert_eq!(fx.load(&set).unwrap().storage.cache_mib, 64);
    for bad in ["8", "70000", "-1"] {
        let text = fx
            .good()
            .replace("[storage]\n", &format!("[storage]\ncache_mib = {bad}\n"));
        let err = fx.load(&text).unwrap_err();
        assert_eq!(keys(&err), ["storage.cache_mib"], "{bad}: {err}");
    }
}

#[test]
fn storage_write_queue_is_optional_and_bounded() {
    let fx = Fixture::new();
    assert_eq!(
        fx.load(&fx.good()).unwrap().storage.write_queue,
        crate::store::DEFAULT_WRITE_QUEUE
    );
    let set = fx
        .good()
        .replace("[storage]\n", "[storage]\nwrite_queue = 32\n");
    assert_eq!(fx.load(&set).unwrap().storage.write_queue, 32);
    for bad in ["0", "70000", "-3"] {
        let text = fx
            .good()
            .replace("[storage]\n", &format!("[storage]\nwrite_queue = {bad}\n"));
        let err = fx.load(&text).unwrap_err();
        assert_eq!(keys(&err), ["storage.write_queue"], "{bad}: {err}");
    }
}
