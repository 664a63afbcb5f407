//! `[metrics]`: the separate plain-HTTP listener for Prometheus scrapes. Absent: no listener.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{bad, Bad, Problem};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: Option<String>,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Plain HTTP, no authentication: a loopback or management-network address.
    pub listen: SocketAddr,
}

const LISTEN_HINT: &str =
    "an IP address and port of its own, e.g. \"127.0.0.1:9090\" (this machine only) \
                           or an address on the management network; host names are not resolved";

/// Validates `[metrics]`; `server_listen` is the SCIM address, which it must not share.
pub(super) fn validate_metrics(
    raw: RawMetrics,
    server_listen: Option<SocketAddr>,
    problems: &mut Vec<Problem>,
) -> Option<MetricsSettings> {
    let Some(s) = raw.listen else {
        problems.push(Problem::new(
            "metrics.listen",
            "missing: [metrics] needs the address to serve /metrics on",
            "add listen = \"127.0.0.1:9090\" to [metrics], or remove the table to turn metrics off",
        ));
        return None;
    };
    match metrics_listen(&s, server_listen) {
        Ok(listen) => Some(MetricsSettings { listen }),
        Err(b) => {
            problems.push(b.at("metrics.listen"));
            None
        }
    }
}

fn metrics_listen(s: &str, server_listen: Option<SocketAddr>) -> Result<SocketAddr, Bad> {
    let addr = s
        .trim()
        .parse::<SocketAddr>()
        .map_err(|_| bad(format!("{s:?} is not an IP address and port"), LISTEN_HINT))?;
    // The scrape endpoint has no authentication, so it never shares the SCIM port. Port 0 (any
    // free port) cannot collide; an unspecified address (0.0.0.0, ::) overlaps every other.
    if let Some(server) = server_listen {
        let overlaps =
            addr.ip() == server.ip() || addr.ip().is_unspecified() || server.ip().is_unspecified();
        if addr.port() != 0 && addr.port() == server.port() && overlaps {
            return Err(bad(
                format!("{s:?} is the SCIM listener's address (server.listen)"),
                "give /metrics a port of its own, e.g. \"127.0.0.1:9090\"",
            ));
        }
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str, server: &str) -> Result<SocketAddr, String> {
        metrics_listen(s, Some(server.parse().unwrap())).map_err(|b| b.message)
    }

    #[test]
    fn accepts_an_address_of_its_own() {
        assert_eq!(
            check("127.0.0.1:9090", "0.0.0.0:8443").unwrap(),
            "127.0.0.1:9090".parse().unwrap()
        );
        assert!(check("[::1]:9090", "[::1]:8443").is_ok());
        assert!(check("127.0.0.1:0", "127.0.0.1:0").is_ok());
        assert!(check("10.0.0.5:8443", "127.0.0.1:8443").is_ok());
    }

    #[test]
    fn refuses_a_bad_address_or_the_scim_port() {
        assert!(check("localhost:9090", "127.0.0.1:8443")
            .unwrap_err()
            .contains("not an IP address and port"));
        assert!(check("9090", "127.0.0.1:8443").is_err());
        assert!(check("127.0.0.1:8443", "127.0.0.1:8443")
            .unwrap_err()
            .contains("server.listen"));
        assert!(check("127.0.0.1:8443", "0.0.0.0:8443").is_err());
        assert!(check("0.0.0.0:8443", "10.1.2.3:8443").is_err());
    }

    #[test]
    fn a_table_without_listen_is_a_problem() {
        let mut problems = Vec::new();
        assert_eq!(
            validate_metrics(RawMetrics::default(), None, &mut problems),
            None
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "metrics.listen");
    }

    fn load(metrics: &str) -> Result<super::super::Config, super::super::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[server]\nlisten = \"0.0.0.0:8443\"\n[storage]\npath = \"scimd.redb\"\n\
             [[tokens]]\nname = \"entra\"\nsha256 = \"{}\"\n{metrics}",
            "ab".repeat(32)
        );
        super::super::Config::from_toml(&text, &dir.path().join("scimd.toml"))
    }

    #[test]
    fn loads_from_a_file_and_is_off_when_absent() {
        assert_eq!(load("").unwrap().metrics, None);
        let c = load("[metrics]\nlisten = \"127.0.0.1:9090\"\n").unwrap();
        assert_eq!(
            c.metrics,
            Some(MetricsSettings {
                listen: "127.0.0.1:9090".parse().unwrap()
            })
        );
        let e = load("[metrics]\nlisten = \"0.0.0.0:8443\"\n").unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.problems[0].key, "metrics.listen");
        let e = load("[metrics]\nport = 9090\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
