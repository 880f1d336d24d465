//! The daemon's configuration: `/etc/pnrp/pnrpd.toml`, overridden by command-line flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the daemon looks for its configuration unless `--config` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pnrp/pnrpd.toml";

/// Where registrations persist unless configured otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pnrp";

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from(pnrp_shared::ipc::DEFAULT_SOCKET_PATH),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            log_level: "info".into(),
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
    fn missing_file() {
        let missing = Path::new("/nonexistent/pnrpd.toml");
        assert_eq!(Config::load(missing, false).unwrap(), Config::default());
        assert!(matches!(
            Config::load(missing, true),
            Err(ConfigError::Read { .. })
        ));
    }
}
