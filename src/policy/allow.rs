//! `allowConnect`: the outbound addresses a guest may dial with `Socket.connect`. Nothing by
//! default (least authority): each entry is `"host:port"`, or `"host:*"` for any port of a host.
//!
//! Matching is on the host name exactly as the guest spells it (ASCII case-insensitive), never
//! after resolving it: allowing `localhost:8080` does not allow `127.0.0.1:8080`. IPv6 addresses
//! are written in brackets in entries (`[::1]:8080`); a guest may pass them with or without.

use std::fmt;

/// Longest host name a guest may pass (a DNS name is at most 253 characters).
pub const MAX_HOST_LEN: usize = 253;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Without brackets; compared ignoring ASCII case.
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

/// The parsed `allowConnect` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// Why an address cannot be dialed at all (`Socket.connect` returns -2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadAddress(pub String);

impl fmt::Display for BadAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Allowlist {
    /// Parses `allowConnect` entries; the error names the first bad one and says what is expected.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Allowlist, String> {
        let entries = list
            .iter()
            .map(|e| parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { entries })
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host:port` (already checked by `check_address`) is allowed.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = unbracket(host);
        self.entries
            .iter()
            .any(|e| e.host.eq_ignore_ascii_case(host) && e.port.is_none_or(|p| p == port))
    }
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    let bad = |why: &str| {
        Err(format!(
            "option 'allowConnect': '{entry}' {why} - write \"host:port\" or \"host:*\" \
             (IPv6 as \"[::1]:port\")"
        ))
    };
    let Some((host, port)) = entry.rsplit_once(':') else {
        return bad("has no port");
    };
    let inner = match host.strip_prefix('[') {
        Some(rest) => match rest.strip_suffix(']') {
            Some(v6) => v6,
            None => return bad("has an unclosed '['"),
        },
        None if host.contains(':') => return bad("is an IPv6 address without brackets"),
        None => host,
    };
    if let Err(BadAddress(why)) = check_host(inner) {
        return bad(&why);
    }
    let port = match port {
        "*" => None,
        p => match p.parse::<u16>() {
            Ok(n) if n > 0 && !p.starts_with('+') => Some(n),
            _ => return bad("has a port that is not 1 to 65535 or *"),
        },
    };
    Ok(Entry {
        host: inner.to_string(),
        port,
    })
}

/// Checks an address a guest asked for. `port` arrives as a wasm i32.
pub fn check_address(host: &str, port: i32) -> Result<u16, BadAddress> {
    check_host(unbracket(host))?;
    match u16::try_from(port) {
        Ok(p) if p > 0 => Ok(p),
        // The SDK passes a u32: show what the guest meant, not its i32 bits.
        _ => Err(BadAddress(format!(
            "port {} is not 1 to 65535",
            port as u32
        ))),
    }
}

fn check_host(host: &str) -> Result<(), BadAddress> {
    if host.is_empty() {
        return Err(BadAddress("the host is empty".to_string()));
    }
    if host.len() > MAX_HOST_LEN {
        return Err(BadAddress(format!(
            "the host is {} bytes long (at most {MAX_HOST_LEN})",
            host.len()
        )));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if let Some(c) = host.chars().find(|&c| !ok(c)) {
        return Err(BadAddress(format!(
            "the host contains {c:?}; only letters, digits, '.', '-', '_' and ':' (IPv6) are allowed"
        )));
    }
    Ok(())
}

/// `host` without the brackets of an IPv6 address written `[::1]`.
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// How a refused dial is shown in logs: `[::1]:80` for IPv6, `host:port` otherwise.
pub fn show(host: &str, port: impl fmt::Display) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let none = Allowlist::default();
        assert!(none.is_empty());
        assert!(!none.permits("127.0.0.1", 80));
    }

    #[test]
    fn an_exact_entry_allows_only_its_host_and_port() {
        let l = list(&["127.0.0.1:8080"]);
        assert!(l.permits("127.0.0.1", 8080));
        assert!(!l.permits("127.0.0.1", 8081));
        assert!(!l.permits("127.0.0.2", 8080));
        assert!(!l.permits("localhost", 8080), "names are not resolved");
    }

    #[test]
    fn a_star_allows_every_port_of_one_host() {
        let l = list(&["Example.COM:*", "localhost:25"]);
        assert!(l.permits("example.com", 1));
        assert!(l.permits("EXAMPLE.com", 65535));
        assert!(!l.permits("www.example.com", 80));
        assert!(l.permits("localhost", 25));
        assert!(!l.permits("localhost", 26));
    }

    #[test]
    fn ipv6_entries_use_brackets_and_match_with_or_without_them() {
        let l = list(&["[::1]:9000"]);
        assert!(l.permits("::1", 9000));
        assert!(l.permits("[::1]", 9000));
        assert!(!l.permits("::1", 9001));
        assert!(Allowlist::parse(&["::1:9000"]).is_err());
        assert!(Allowlist::parse(&["[::1:9000"]).is_err());
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        for bad in [
            "localhost",
            "localhost:",
            "localhost:0",
            "localhost:65536",
            "localhost:+80",
            ":80",
            "a b:80",
            "host/path:80",
            "*:80",
            "user@host:80",
        ] {
            let err = Allowlist::parse(&[bad]).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
            assert!(err.contains("\"host:port\""), "{err}");
        }
    }

    #[test]
    fn guest_addresses_are_checked_before_the_allowlist() {
        assert_eq!(check_address("127.0.0.1", 80), Ok(80));
        assert_eq!(check_address("[::1]", 65535), Ok(65535));
        assert!(check_address("", 80).is_err());
        assert!(check_address("host", 0).is_err());
        assert!(check_address("host", -1).is_err());
        assert!(check_address("host", 65536).is_err());
        assert!(check_address("a\nb", 80).is_err());
        assert!(check_address(&"a".repeat(254), 80).is_err());
        assert!(check_address(&"a".repeat(253), 80).is_ok());
    }

    #[test]
    fn refused_addresses_are_shown_as_a_user_would_write_them() {
        assert_eq!(show("::1", 80), "[::1]:80");
        assert_eq!(show("example.com", 443), "example.com:443");
    }
}
