//! Who is on the other end: the client IP (through trusted proxies only) and user agent.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: String,
    /// The request's id (SPEC §17), for the incident rows it leads to; `None` off the web
    /// (the command line).
    pub request_id: Option<String>,
}

const MAX_USER_AGENT: usize = 512;

impl ClientInfo {
    /// From what the connection and its headers say: the peer address, the `User-Agent`, and
    /// each `X-Forwarded-For` header value in order (believed only from a trusted proxy).
    pub fn from_parts<'a>(
        peer: Option<IpAddr>,
        user_agent: Option<&str>,
        forwarded_for: impl Iterator<Item = &'a str>,
        trusted: &[IpNet],
    ) -> Self {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            ip: client_ip(peer, forwarded_for, trusted),
            user_agent,
            request_id: None,
        }
    }
}

/// SECURITY: `X-Forwarded-For` is believed only when the peer is a trusted proxy, and then
/// only up to the right-most entry that is not itself a trusted proxy; anything further left
/// was written by the client and can say anything.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    // An IPv4 client reached over a dual-stack socket is the IPv4 address it is.
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let entries = forwarded_for
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip.to_canonical()) => client = ip.to_canonical(),
            Ok(ip) => return ip.to_canonical(),
            // A garbled entry: stop at the last address we could trust.
            Err(_) => return client,
        }
    }
    client
}

/// The key of every per-IP limit (lockout, sign-up and reset rates, incident floods): an IPv4
/// address itself, an IPv6 address by its /64, since one subscriber line or host is given a
/// whole /64 and could otherwise step through 2^64 addresses to escape a limit.
pub fn rate_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// What the sessions pages call a session's device: for the api realm the name the app gave
/// itself (SPEC §13), for a browser realm the browser read from the user agent.
pub fn describe_device(
    realm: crate::domain::realm::Realm,
    device_name: Option<&str>,
    user_agent: &str,
) -> String {
    match (realm, device_name) {
        (crate::domain::realm::Realm::Api, name) => name.unwrap_or("Unnamed app").to_owned(),
        (_, _) => describe_user_agent(user_agent),
    }
}

/// "Firefox on Linux": the browser in words, for the sessions page.
pub fn describe_user_agent(ua: &str) -> String {
    // Most specific first: iOS browsers and Samsung Internet carry "Safari/" and "Chrome/" too.
    let browser = [
        ("EdgiOS/", "Edge"),
        ("EdgA/", "Edge"),
        ("Edg/", "Edge"),
        ("CriOS/", "Chrome"),
        ("FxiOS/", "Firefox"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map_or("Unknown browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ios_browsers_and_samsung_internet_are_named() {
        for (ua, named) in [
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15", "Firefox on iOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15", "Edge on iOS"),
            ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1", "Chrome on iPadOS"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115", "Edge on Android"),
        ] {
            assert_eq!(describe_user_agent(ua), named, "{ua}");
        }
    }

    #[test]
    fn user_agents_in_words() {
        let ff = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_user_agent(ff), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(describe_user_agent(chrome), "Chrome on Windows");
        assert_eq!(describe_user_agent(""), "Unknown browser");
    }
    fn headers(xff: &str) -> std::iter::Once<&str> {
        std::iter::once(xff)
    }

    #[test]
    fn rate_keys_group_ipv6_by_64() {
        let key = |s: &str| rate_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn untrusted_peer_ignores_forwarded_for() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, headers("1.2.3.4"), &[]), peer);
    }

    #[test]
    fn trusted_proxy_gives_right_most_untrusted() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = headers("6.6.6.6, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_ip(peer, h, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(peer, std::iter::empty(), &trusted), peer);
        assert_eq!(client_ip(peer, headers("junk"), &trusted), peer);
    }
}
