//! Which address a request comes from, for logs (and later audit and rate limiting).
//!
//! The TCP peer is the client, unless the peer is one of the configured `trusted_proxies`: then
//! the forwarding chain the proxies appended to is walked from the right (nearest hop first),
//! skipping trusted addresses, and the first untrusted one is the client. Everything left of it
//! was written by the client itself and may be forged, so it is never read.
//!
//! The chain comes from `X-Forwarded-For`, or when that header is absent from RFC 7239
//! `Forwarded: for=`. Pure: no I/O, so every spoofing case is a unit test.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The client address of a request, as decided by [`client_ip`]; the accept loop puts it in the
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The networks whose connections may speak for someone else. Empty: trust no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Parses one `trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address
/// (`192.168.1.5`, `::1`), which stands for itself alone.
pub fn parse_trusted(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        // `10.1.2.3/8` is almost certainly meant as `10.0.0.0/8`; accepting it silently as
        // that would hide a typo such as a wrong prefix length, so it is refused.
        if net.addr() != net.network() {
            return Err(format!(
                "{s:?} has host bits set; the network is {}",
                net.trunc()
            ));
        }
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(|ip| IpNet::from(ip.to_canonical()))
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR network"))
}

/// The client address of a request whose TCP peer is `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    // A peer on [::] listeners shows IPv4 clients as ::ffff:a.b.c.d; compare them as IPv4.
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.trusts(peer) {
        return peer;
    }
    let hops = forwarded_chain(headers);
    // `nearest` is the last address known to be genuine: it was written by a trusted hop (or is
    // the peer). When the chain runs out or turns to garbage, that is the best we know.
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.trusts(ip) => nearest = ip,
            Some(ip) => return ip,
            None => return nearest,
        }
    }
    nearest
}

/// The forwarding chain, left (farthest) to right (nearest), as raw elements.
fn forwarded_chain(headers: &HeaderMap) -> Vec<String> {
    let xff: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| split_list(v.as_bytes()))
        .collect();
    let has_forwarded = headers.contains_key(http::header::FORWARDED);
    if !xff.is_empty() && has_forwarded {
        // Both: one was written by the proxy, the other may come from the client, and nothing
        // says which. Trust neither; the trusted peer itself is the answer.
        return Vec::new();
    }
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all(http::header::FORWARDED)
        .iter()
        .flat_map(|v| split_list(v.as_bytes()))
        .map(|element| forwarded_for(&element).unwrap_or_default())
        .collect()
}

/// Splits a comma-separated header value; a value that is not visible ASCII becomes one empty
/// (unparseable) element, so it stops the walk instead of vanishing from the chain.
fn split_list(value: &[u8]) -> Vec<String> {
    match std::str::from_utf8(value) {
        Ok(s) => s.split(',').map(|e| e.trim().to_string()).collect(),
        Err(_) => vec![String::new()],
    }
}

/// The `for=` parameter of one `Forwarded` element (`for=1.2.3.4;proto=https;by=...`).
fn forwarded_for(element: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().to_string())
    })
}

/// One hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`,
/// optionally in double quotes (RFC 7239 requires them around IPv6). `unknown`, obfuscated
/// identifiers (`_hidden`) and garbage are `None`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let hop = hop
        .strip_prefix('"')
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or(hop);
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    // `[v6]` without a port, or a port RFC 7239 allows but SocketAddr does not (`_obf`).
    let inner = hop.strip_prefix('[')?;
    let (addr, _rest) = inner.split_once(']')?;
    addr.parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|v6| IpAddr::V6(v6).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| parse_trusted(s).unwrap()).collect())
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_trusted_entries() {
        assert_eq!(
            parse_trusted("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_trusted(" 192.168.1.5 ").unwrap().to_string(),
            "192.168.1.5/32"
        );
        assert_eq!(parse_trusted("fd00::/8").unwrap().to_string(), "fd00::/8");
        assert_eq!(parse_trusted("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_trusted("::ffff:10.0.0.1").unwrap().to_string(),
            "10.0.0.1/32"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "gateway.local",
            "10.0.0.1:80",
            "10.0.0/8",
        ] {
            assert!(parse_trusted(bad).is_err(), "{bad}");
        }
        let err = parse_trusted("10.1.2.3/8").unwrap_err();
        assert!(err.contains("10.0.0.0/8"), "{err}");
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &TrustedProxies::default()),
            ip("10.0.0.1")
        );
        // An untrusted peer's headers are ignored, whatever they claim.
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_rightmost_untrusted_address() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.5"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("10.1.1.1"), &h, &trusted), ip("198.51.100.7"));
        // Two trusted hops (gateway, then an internal balancer) are skipped.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 192.168.1.5")]);
        assert_eq!(client_ip(ip("10.1.1.1"), &h, &trusted), ip("198.51.100.7"));
        // Repeated headers form one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-for", "10.2.2.2"),
        ]);
        assert_eq!(client_ip(ip("10.1.1.1"), &h, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn spoofed_leftmost_entries_are_not_believed() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client sent "X-Forwarded-For: 127.0.0.1"; the gateway appended the real address.
        let h = headers(&[("x-forwarded-for", "127.0.0.1, 203.0.113.50")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.50"));
        // The client forges a trusted address: still only the right-most untrusted counts.
        let h = headers(&[("x-forwarded-for", "8.8.8.8, 10.9.9.9, 203.0.113.50")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.50"));
    }

    #[test]
    fn a_chain_of_only_trusted_hops_gives_the_farthest() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "10.5.5.5, 10.6.6.6")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.5.5.5"));
        // No header at all: the trusted peer itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_genuine_address() {
        let trusted = proxies(&["10.0.0.0/8"]);
        for value in [
            "not-an-ip",
            "203.0.113.5, garbage",
            "",
            "1.2.3.4.5",
            "unknown",
            "203.0.113.5,,",
        ] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(
                client_ip(ip("10.0.0.2"), &h, &trusted),
                ip("10.0.0.2"),
                "{value:?}"
            );
        }
        let h = headers(&[("x-forwarded-for", "junk, 10.7.7.7")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.7.7.7"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn ports_and_ipv6_forms() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        for (value, expected) in [
            ("203.0.113.5:51234", "203.0.113.5"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("\"[2001:db8::1]:443\"", "2001:db8::1"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
        ] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(
                client_ip(ip("fd00::2"), &h, &trusted),
                ip(expected),
                "{value}"
            );
        }
        // An IPv4 gateway seen through a dual-stack listener still counts as trusted.
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), &h, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn rfc7239_forwarded_when_there_is_no_x_forwarded_for() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=198.51.100.17;proto=https;by=10.0.0.2, For=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=198.51.100.17, for=10.3.3.3")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.17"));
        // Obfuscated, unknown or missing `for=`: no address is invented.
        for value in ["for=_hidden", "for=unknown", "proto=https", "for=\"_x\""] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(
                client_ip(ip("10.0.0.2"), &h, &trusted),
                ip("10.0.0.2"),
                "{value}"
            );
        }
        // Both present: the proxy wrote one and the client may have sent the other, so
        // neither is believed and the trusted peer is the answer (no spoofing either way).
        let h = headers(&[
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-for", "198.51.100.99"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
    }
}
