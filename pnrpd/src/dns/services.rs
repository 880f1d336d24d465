//! Service names for SRV queries (`_ipp._tcp.…` → 631/tcp), read from `/etc/services` at start.

use std::collections::HashMap;
use std::path::Path;

use pnrp_shared::Protocol;

/// Where service names come from.
pub const SERVICES_PATH: &str = "/etc/services";

/// Service names (and their aliases), by transport, to ports. Names are matched in any case.
#[derive(Debug, Clone, Default)]
pub struct Services(HashMap<(String, Protocol), u16>);

impl Services {
    /// Reads `path`; a missing or unreadable file means no names (`_631._tcp` still works).
    pub fn load(path: &Path) -> Services {
        std::fs::read_to_string(path)
            .map(|text| Services::parse(&text))
            .unwrap_or_default()
    }

    /// Parses the `services(5)` format: `name port/protocol [aliases…] [# comment]`.
    pub fn parse(text: &str) -> Services {
        let mut table = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let (Some(name), Some(port)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, protocol)) = port.split_once('/') else {
                continue;
            };
            let protocol = match protocol {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => continue,
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            for name in std::iter::once(name).chain(words) {
                // The first line naming a service wins, as getservbyname(3) reads it.
                table
                    .entry((name.to_ascii_lowercase(), protocol))
                    .or_insert(port);
            }
        }
        Services(table)
    }

    /// The port of `name` over `protocol`.
    pub fn port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.0.get(&(name.to_ascii_lowercase(), protocol)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_aliases_and_comments() {
        let services = Services::parse(
            "# comment\nipp\t\t631/tcp\t\t\t\t# Internet Printing Protocol\n\
             http 80/tcp www # WorldWideWeb\nhttp 8080/tcp\ndomain 53/udp\nbad 70000/tcp\n\
             odd 12/sctp\n",
        );
        assert_eq!(services.port("ipp", Protocol::Tcp), Some(631));
        assert_eq!(services.port("IPP", Protocol::Tcp), Some(631));
        assert_eq!(services.port("ipp", Protocol::Udp), None);
        assert_eq!(services.port("www", Protocol::Tcp), Some(80));
        assert_eq!(services.port("http", Protocol::Tcp), Some(80));
        assert_eq!(services.port("domain", Protocol::Udp), Some(53));
        assert_eq!(services.port("bad", Protocol::Tcp), None);
        assert_eq!(services.port("odd", Protocol::Tcp), None);
    }
}
