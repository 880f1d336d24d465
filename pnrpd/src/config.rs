//! The daemon's configuration: `/etc/pnrp/pnrpd.toml`, overridden by command-line flags.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dns::limits::Prefix;
pub use crate::dns::DEFAULT_DNS_PORT;

/// Where the daemon looks for its configuration unless `--config` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pnrp/pnrpd.toml";

/// Where registrations persist unless configured otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pnrp";

/// The PNRP port (§2.1).
pub const DEFAULT_PORT: u16 = 3540;

/// Longest freshness window allowed: a stale positive answer must not outlive a dead publisher
/// for long.
pub const MAX_FRESHNESS_SECS: u64 = 10;

/// A node to join the cloud through, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// An address: `fd00::1`, `[fd00::1]:3540`, `[fe80::1%eth0]:3540`.
    Address(SocketAddrV6),
    /// A host name, resolved by the system resolver (IPv6 results only) at start and again
    /// from time to time: `seed.example.org`, `seed.example.org:3540`.
    Name {
        /// The host name, as given.
        host: String,
        /// The PNRP port.
        port: u16,
    },
}

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seed::Address(address) => write!(f, "{address}"),
            Seed::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Parses a seed: an IPv6 address (`fd00::1`; link-local needs `%interface`) or `[address]:port`,
/// or a host name (`seed.example.org`) or `name:port`. The port is 3540 when absent. A name
/// under `pnrp.net` is refused: it would resolve through pnrpd itself.
pub fn parse_seed(text: &str) -> Result<Seed, ConfigError> {
    let invalid = |why: &str| ConfigError::Seed {
        seed: text.into(),
        why: why.into(),
    };
    let port_of = |port: &str| -> Result<u16, ConfigError> {
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port is not a number"))?;
        if port <= 1024 {
            return Err(invalid("PNRP ports are above 1024"));
        }
        Ok(port)
    };
    // `[address]:port` or `[address]`.
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = match rest.split_once(']') {
            Some((host, "")) => (host, DEFAULT_PORT),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, port_of(port)?),
                None => return Err(invalid("write it as [address]:port")),
            },
            None => return Err(invalid("a [ without its ]")),
        };
        return Ok(Seed::Address(parse_address(host, port, &invalid)?));
    }
    // An address alone: it has two colons at least (a name has at most one, before its port).
    if text.matches(':').count() >= 2 {
        return Ok(Seed::Address(parse_address(text, DEFAULT_PORT, &invalid)?));
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, port_of(port)?),
        None => (text, DEFAULT_PORT),
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid(
            "PNRP runs over IPv6: give an IPv6 address or a host name",
        ));
    }
    check_host_name(host).map_err(|why| invalid(&why))?;
    Ok(Seed::Name {
        host: host.into(),
        port,
    })
}

/// `address` or `address%interface` (the interface by name or index) at `port`.
fn parse_address(
    text: &str,
    port: u16,
    invalid: &dyn Fn(&str) -> ConfigError,
) -> Result<SocketAddrV6, ConfigError> {
    let (ip, scope) = match text.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (text, None),
    };
    let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| invalid("not an IPv6 address"))?;
    let scope_id = match scope {
        None => 0,
        Some(scope) => scope
            .parse()
            .ok()
            .or_else(|| crate::interfaces::interface_index(scope))
            .ok_or_else(|| invalid("no such interface"))?,
    };
    Ok(SocketAddrV6::new(ip, port, 0, scope_id))
}

/// Whether `host` is a DNS host name the system resolver can be asked about (RFC 1123 labels;
/// `_` allowed, as resolvers do), and not one under `pnrp.net`, which pnrpd itself answers.
fn check_host_name(host: &str) -> Result<(), String> {
    let bare = host.strip_suffix('.').unwrap_or(host);
    if bare.is_empty() {
        return Err("write it as an IPv6 address, [address]:port, a host name or name:port".into());
    }
    if bare.eq_ignore_ascii_case(pnrp_shared::hostname::PNRP_DOMAIN)
        || pnrp_shared::hostname::is_pnrp_host(host.as_bytes())
    {
        return Err(format!(
            "a seed cannot be a name under {}: those names resolve through pnrpd itself; give \
             the seed's IPv6 address or its DNS name",
            pnrp_shared::hostname::PNRP_DOMAIN
        ));
    }
    if !bare.is_ascii() {
        return Err("write an internationalized name in its xn-- form".into());
    }
    if bare.len() > 253 {
        return Err("a host name is at most 253 characters".into());
    }
    for label in bare.split('.') {
        let well_formed = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !well_formed {
            return Err(format!(
                "{label:?} is not a host name label (letters, digits and -, at most 63)"
            ));
        }
    }
    if bare
        .rsplit('.')
        .next()
        .is_some_and(|top| top.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return Err("not an IPv6 address nor a host name".into());
    }
    Ok(())
}

impl Config {
    /// The seeds, parsed (host names are not resolved here); the freshness window checked.
    pub fn cloud_seeds(&self) -> Result<Vec<Seed>, ConfigError> {
        if self.freshness_secs > MAX_FRESHNESS_SECS {
            return Err(ConfigError::Seed {
                seed: format!("freshness_secs = {}", self.freshness_secs),
                why: format!("at most {MAX_FRESHNESS_SECS}"),
            });
        }
        self.seeds.iter().map(|seed| parse_seed(seed)).collect()
    }
}

/// Parses a DNS listening address: `ADDRESS:PORT`, `[IPV6]:PORT`, or an address alone (port
/// [`DEFAULT_DNS_PORT`]).
pub fn parse_dns_listen(text: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    match text.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, DEFAULT_DNS_PORT)),
        Err(_) => Err(ConfigError::Dns {
            value: text.into(),
            why: "write it as ADDRESS:PORT, [IPV6]:PORT or an address alone (port 3553)".into(),
        }),
    }
}

impl Config {
    /// The DNS front end's addresses and allowed prefixes, parsed.
    pub fn dns(&self) -> Result<(Vec<SocketAddr>, Vec<Prefix>), ConfigError> {
        let listen = self
            .dns_listen
            .iter()
            .map(|text| parse_dns_listen(text))
            .collect::<Result<_, _>>()?;
        let allow = self
            .dns_allow
            .iter()
            .map(|text| {
                Prefix::parse(text).map_err(|why| ConfigError::Dns {
                    value: text.clone(),
                    why,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((listen, allow))
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A seed (or another cloud setting) is not usable.
    #[error("seed {seed:?}: {why}")]
    Seed {
        /// What was given.
        seed: String,
        /// What is wrong.
        why: String,
    },
    /// A DNS front end setting is not usable.
    #[error("DNS {value:?}: {why}")]
    Dns {
        /// What was given.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// The file is not valid TOML for this configuration (unknown keys included).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with line and column.
        message: String,
    },
}

/// The daemon's settings. Every key is optional; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The Unix socket the NSS module and `pnrpctl` talk to.
    pub socket: PathBuf,
    /// Where registrations persist.
    pub state_dir: PathBuf,
    /// A `tracing` filter, such as `info` or `pnrpd=debug`.
    pub log_level: String,
    /// Whether to take part in the PNRP cloud on UDP (off: only this machine's names resolve).
    pub cloud: bool,
    /// Find neighbours and answer them by SSDP multicast on each link (§3.1.4.2.2).
    pub discovery: bool,
    /// UDP port of the cloud.
    pub port: u16,
    /// Nodes to join the cloud through: `fd00::1`, `[fd00::1]:3540`, `seed.example.org`,
    /// `seed.example.org:3540` (host names resolved by the system resolver). None by default.
    pub seeds: Vec<String>,
    /// Seconds a positive answer from the cloud may be reused (at most 10).
    pub freshness_secs: u64,
    /// Where the DNS front end listens for `pnrp.net` queries, UDP and TCP: `127.0.0.1:3553`,
    /// `[::1]:3553` (an address alone takes port 3553). None by default (no file, or
    /// `dns_listen = []`); the shipped file listens on 127.0.0.1 and ::1.
    pub dns_listen: Vec<String>,
    /// Sources besides loopback the DNS front end answers: prefixes such as `172.17.0.0/16`.
    pub dns_allow: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from(pnrp_shared::ipc::DEFAULT_SOCKET_PATH),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            log_level: "info".into(),
            cloud: true,
            discovery: true,
            port: DEFAULT_PORT,
            seeds: Vec::new(),
            freshness_secs: 10,
            dns_listen: Vec::new(),
            dns_allow: Vec::new(),
        }
    }
}

impl Config {
    /// Parses a configuration file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: path.into(),
            message: error.to_string(),
        })
    }

    /// Loads a configuration file. When `required` is false a missing file means the defaults.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.into(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let config = Config::parse("", Path::new("x")).unwrap();
        assert_eq!(config, Config::default());
        let config = Config::parse(
            "socket = \"/tmp/s\"\nlog_level = \"debug\"\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(config.socket, PathBuf::from("/tmp/s"));
        assert_eq!(config.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
    }

    #[test]
    fn rejects_unknown_keys_with_location() {
        let error = Config::parse("sockett = \"/tmp/s\"\n", Path::new("/etc/x.toml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/etc/x.toml"), "{message}");
        assert!(message.contains("sockett"), "{message}");
        assert!(Config::parse("socket = 3", Path::new("x")).is_err());
    }

    fn address(text: &str) -> String {
        match parse_seed(text) {
            Ok(Seed::Address(address)) => address.to_string(),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn name(text: &str) -> (String, u16) {
        match parse_seed(text) {
            Ok(Seed::Name { host, port }) => (host, port),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn refusal(text: &str) -> String {
        match parse_seed(text) {
            Err(error) => error.to_string(),
            Ok(seed) => panic!("{text} was accepted as {seed:?}"),
        }
    }

    #[test]
    fn seeds() {
        assert_eq!(address("fd00::1"), "[fd00::1]:3540");
        assert_eq!(address("[fd00::1]:4000"), "[fd00::1]:4000");
        assert_eq!(address("[fd00::1]"), "[fd00::1]:3540");
        assert_eq!(address("[fe80::1%1]:4000"), "[fe80::1%1]:4000");
        assert_eq!(address("fe80::1%lo"), "[fe80::1%1]:3540");
        assert_eq!(address("::ffff:192.0.2.1"), "[::ffff:192.0.2.1]:3540");
        for (text, why) in [
            ("10.0.0.1", "IPv6"),
            ("10.0.0.1:3540", "IPv6"),
            ("[fd00::1]:80", "above 1024"),
            ("[fd00::1]:x", "not a number"),
            ("[fd00::1]3540", "[address]:port"),
            ("[fd00::1", "without its ]"),
            ("[seed.example.org]:3540", "not an IPv6 address"),
            ("fd00::zz", "not an IPv6 address"),
            ("fe80::1%no-such-interface0", "no such interface"),
            ("", "host name"),
            (":3540", "host name"),
            ("seed.example.org:80", "above 1024"),
            ("seed.example.org:", "not a number"),
            ("seed..example.org", "label"),
            ("-seed.example.org", "label"),
            ("seed example.org", "label"),
            ("séed.example.org", "xn--"),
            ("1.2.3", "nor a host name"),
        ] {
            let message = refusal(text);
            assert!(message.contains(why), "{text}: {message}");
        }
        let config = Config::parse("seeds = [\"no pe\"]", Path::new("x")).unwrap();
        assert!(config.cloud_seeds().is_err());
        let config = Config::parse("freshness_secs = 60", Path::new("x")).unwrap();
        assert!(config.cloud_seeds().is_err());
    }

    #[test]
    fn seeds_may_be_host_names() {
        assert_eq!(name("seed.example.org"), ("seed.example.org".into(), 3540));
        assert_eq!(
            name("seed.example.org:4000"),
            ("seed.example.org".into(), 4000)
        );
        assert_eq!(
            name("Seed.Example.ORG."),
            ("Seed.Example.ORG.".into(), 3540)
        );
        assert_eq!(name("seedhost"), ("seedhost".into(), 3540));
        assert_eq!(
            name("_pnrp.xn--caf-dma.example"),
            ("_pnrp.xn--caf-dma.example".into(), 3540)
        );
        let config = Config::parse(
            "seeds = [\"seed.example.org\", \"seed.example.org:3541\", \"[fd00::1]:3540\", \"fd00::2\"]",
            Path::new("x"),
        )
        .unwrap();
        let seeds: Vec<String> = config
            .cloud_seeds()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            seeds,
            [
                "seed.example.org:3540",
                "seed.example.org:3541",
                "[fd00::1]:3540",
                "[fd00::2]:3540"
            ]
        );
    }

    #[test]
    fn seeds_under_pnrp_net_are_refused() {
        for text in [
            "0.seed.pnrp.net",
            "seed.pnrp.net",
            "SEED.PNRP.NET",
            "seed.Pnrp.Net.",
            "seed.pnrp.net:3540",
            "pnrp.net",
            "PNRP.NET.",
        ] {
            let message = refusal(text);
            assert!(message.contains("pnrp.net"), "{text}: {message}");
            assert!(
                message.contains("through pnrpd itself"),
                "{text}: {message}"
            );
        }
        // Only the domain itself and names under it.
        assert_eq!(name("notpnrp.net").0, "notpnrp.net");
        assert_eq!(name("pnrp.network").0, "pnrp.network");
    }

    #[test]
    fn dns_listeners_and_allowed_prefixes() {
        let config = Config::parse(
            "dns_listen = [\"127.0.0.1:3553\", \"[::1]:5300\", \"::1\", \"127.0.0.2\"]\n\
             dns_allow = [\"172.17.0.0/16\", \"fd00::/64\"]\n",
            Path::new("x"),
        )
        .unwrap();
        let (listen, allow) = config.dns().unwrap();
        let listen: Vec<String> = listen.iter().map(ToString::to_string).collect();
        assert_eq!(
            listen,
            [
                "127.0.0.1:3553",
                "[::1]:5300",
                "[::1]:3553",
                "127.0.0.2:3553"
            ]
        );
        let allow: Vec<String> = allow.iter().map(ToString::to_string).collect();
        assert_eq!(allow, ["172.17.0.0/16", "fd00::/64"]);
        assert!(
            Config::default().dns().unwrap().0.is_empty(),
            "no DNS without a file"
        );
        for bad in [
            "dns_listen = [\"localhost:53\"]",
            "dns_allow = [\"10.0.0.0/40\"]",
        ] {
            let error = Config::parse(bad, Path::new("x"))
                .unwrap()
                .dns()
                .unwrap_err();
            assert!(error.to_string().starts_with("DNS "), "{error}");
        }
    }

    #[test]
    fn missing_file() {
        let missing = Path::new("/nonexistent/pnrpd.toml");
        assert_eq!(Config::load(missing, false).unwrap(), Config::default());
        assert!(matches!(
            Config::load(missing, true),
            Err(ConfigError::Read { .. })
        ));
    }
}
