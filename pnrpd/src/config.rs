//! The daemon's configuration: `/etc/pnrp/pnrpd.toml`, overridden by command-line flags.

use std::net::SocketAddrV6;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the daemon looks for its configuration unless `--config` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pnrp/pnrpd.toml";

/// Where registrations persist unless configured otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pnrp";

/// The PNRP port (§2.1).
pub const DEFAULT_PORT: u16 = 3540;

/// Longest freshness window allowed: a stale positive answer must not outlive a dead publisher
/// for long.
pub const MAX_FRESHNESS_SECS: u64 = 10;

/// Parses a seed: an IPv6 address (port 3540), or `[address]:port`; link-local needs `%interface`.
pub fn parse_seed(text: &str) -> Result<SocketAddrV6, ConfigError> {
    let invalid = |why: &str| ConfigError::Seed {
        seed: text.into(),
        why: why.into(),
    };
    let with_port;
    let text_with_port = if text.starts_with('[') {
        text
    } else {
        with_port = format!("[{text}]:{DEFAULT_PORT}");
        &with_port
    };
    let (host, port) = text_with_port
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("]:"))
        .ok_or_else(|| invalid("write it as an IPv6 address or [address]:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid("the port is not a number"))?;
    if port <= 1024 {
        return Err(invalid("PNRP ports are above 1024"));
    }
    let (ip, scope) = match host.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (host, None),
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

impl Config {
    /// The seeds, parsed; the freshness window checked.
    pub fn cloud_seeds(&self) -> Result<Vec<SocketAddrV6>, ConfigError> {
        if self.freshness_secs > MAX_FRESHNESS_SECS {
            return Err(ConfigError::Seed {
                seed: format!("freshness_secs = {}", self.freshness_secs),
                why: format!("at most {MAX_FRESHNESS_SECS}"),
            });
        }
        self.seeds.iter().map(|seed| parse_seed(seed)).collect()
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
    /// Nodes to join the cloud through: `fd00::1`, `[fd00::1]:3540`. None by default.
    pub seeds: Vec<String>,
    /// Seconds a positive answer from the cloud may be reused (at most 10).
    pub freshness_secs: u64,
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

    #[test]
    fn seeds() {
        assert_eq!(parse_seed("fd00::1").unwrap().to_string(), "[fd00::1]:3540");
        assert_eq!(parse_seed("[fd00::1]:4000").unwrap().port(), 4000);
        assert_eq!(parse_seed("[fe80::1%1]:4000").unwrap().scope_id(), 1);
        assert!(parse_seed("10.0.0.1").is_err());
        assert!(parse_seed("[fd00::1]:80").is_err());
        let config = Config::parse("seeds = [\"nope\"]", Path::new("x")).unwrap();
        assert!(config.cloud_seeds().is_err());
        let config = Config::parse("freshness_secs = 60", Path::new("x")).unwrap();
        assert!(config.cloud_seeds().is_err());
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
