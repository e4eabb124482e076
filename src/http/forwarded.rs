//! Who sent a request: the connection's peer, or, when that peer is a
//! reverse proxy named by `--trust-proxy`, the client it forwarded for.
//!
//! Behind a proxy every connection comes from the proxy's address, so the
//! rate limit would lump all clients together. A trusted proxy's
//! `X-Forwarded-For` header (or, when it sends none, its `Forwarded`, RFC
//! 7239) names the client; the entry used is the last one not itself a
//! trusted proxy, since each proxy appends what it saw and only the entries
//! added by trusted proxies can be believed. `X-Forwarded-For` comes first
//! because it is what nginx, HAProxy, Caddy and Traefik append: a proxy that
//! appends it and passes other headers through would otherwise let a client
//! name itself in `Forwarded`. The same headers from any other peer are
//! ignored: a client could write anything there. An IPv4 address mapped
//! into IPv6 (a dual-stack listener's peers) is read as IPv4.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;

use super::connection_caps::client_address;

/// The client a request is counted against (an IPv4 address or an IPv6
/// /64), set on each request when it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The client a request came from, given its connection's `peer`.
pub fn client_address_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> ClientAddress {
    let peer = peer.to_canonical();
    let forwarded = if trusted.contains(&peer) {
        forwarded_for(headers, trusted)
    } else {
        None
    };
    ClientAddress(client_address(forwarded.unwrap_or(peer)))
}

/// The client of `request` (its peer when none was set).
pub fn client_of(request: &Request) -> IpAddr {
    if let Some(ClientAddress(client)) = request.extensions().get::<ClientAddress>() {
        return *client;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    client_address(peer)
}

/// The last address in the forwarding headers that is not a trusted proxy;
/// `X-Forwarded-For` wins over `Forwarded` when both are sent.
fn forwarded_for(headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    // A line that is not text is one unreadable entry: it cannot be split,
    // and must not make the other header count instead.
    let entries = |name: &str, parse: fn(&str) -> Option<IpAddr>| -> Vec<Option<IpAddr>> {
        headers
            .get_all(name)
            .iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(parse).collect(),
                Err(_) => vec![None],
            })
            .collect()
    };
    let hops = if headers.contains_key("x-forwarded-for") {
        entries("x-forwarded-for", |entry| address(entry.trim()))
    } else {
        entries("forwarded", forwarded_element)
    };
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) if trusted.contains(&ip) => continue,
            // An entry that is no address (`unknown`, an obfuscated name)
            // cannot be counted apart: the proxy's address stands for it.
            other => return other,
        }
    }
    None
}

/// The `for=` address of one `Forwarded` element (`for=…;proto=…`).
fn forwarded_element(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| address(value.trim().trim_matches('"')))?
    })
}

/// An address as forwarding headers write it: `192.0.2.7`, `192.0.2.7:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    let ip = match text.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match text.parse::<SocketAddr>() {
            Ok(socket) => socket.ip(),
            Err(_) => text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?,
        },
    };
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_speaks_for_the_last_client_it_names() {
        let proxy = ip("10.0.0.5");
        let sent = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.4")]);
        assert_eq!(
            client_address_of(proxy, &sent, &[proxy]),
            ClientAddress(ip("198.51.100.4"))
        );
        let chained = headers(&[("x-forwarded-for", "198.51.100.4, 10.0.0.6")]);
        assert_eq!(
            client_address_of(proxy, &chained, &[proxy, ip("10.0.0.6")]),
            ClientAddress(ip("198.51.100.4"))
        );
    }

    #[test]
    fn the_forwarded_header_is_read_with_ports_brackets_and_quotes() {
        let proxy = ip("10.0.0.5");
        let sent = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            client_address_of(proxy, &sent, &[proxy]),
            ClientAddress(client_address(ip("2001:db8:cafe::17")))
        );
        let with_port = headers(&[("forwarded", "For=\"192.0.2.43:47011\"")]);
        assert_eq!(
            client_address_of(proxy, &with_port, &[proxy]),
            ClientAddress(ip("192.0.2.43"))
        );
    }

    #[test]
    fn x_forwarded_for_wins_over_a_forwarded_header_a_client_may_have_written() {
        let proxy = ip("10.0.0.5");
        let sent = headers(&[
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-for", "198.51.100.4"),
        ]);
        assert_eq!(
            client_address_of(proxy, &sent, &[proxy]),
            ClientAddress(ip("198.51.100.4"))
        );
    }

    #[test]
    fn an_x_forwarded_for_that_is_not_text_never_lets_forwarded_count() {
        let proxy = ip("10.0.0.5");
        let mut sent = headers(&[("forwarded", "for=192.0.2.1")]);
        sent.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        sent.append("x-forwarded-for", "198.51.100.4".parse().unwrap());
        assert_eq!(
            client_address_of(proxy, &sent, &[proxy]),
            ClientAddress(ip("198.51.100.4"))
        );
        let mut only_binary = headers(&[("forwarded", "for=192.0.2.1")]);
        only_binary.append(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff, 198.51.100.4").unwrap(),
        );
        assert_eq!(
            client_address_of(proxy, &only_binary, &[proxy]),
            ClientAddress(proxy)
        );
    }

    #[test]
    fn a_proxy_seen_through_a_dual_stack_listener_is_still_trusted() {
        let sent = headers(&[("x-forwarded-for", "::ffff:198.51.100.4")]);
        assert_eq!(
            client_address_of(ip("::ffff:127.0.0.1"), &sent, &[ip("127.0.0.1")]),
            ClientAddress(ip("198.51.100.4"))
        );
    }

    #[test]
    fn forwarding_headers_from_anyone_else_are_ignored() {
        let peer = ip("198.51.100.4");
        let forged = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address_of(peer, &forged, &[ip("10.0.0.5")]),
            ClientAddress(peer)
        );
    }

    #[test]
    fn an_unreadable_entry_leaves_the_proxys_own_address() {
        let proxy = ip("10.0.0.5");
        for value in ["unknown", "_hidden", "", "999.1.1.1"] {
            let sent = headers(&[("x-forwarded-for", value)]);
            assert_eq!(
                client_address_of(proxy, &sent, &[proxy]),
                ClientAddress(proxy),
                "{value:?}"
            );
        }
    }
}
