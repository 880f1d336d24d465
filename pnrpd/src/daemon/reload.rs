//! `systemctl reload pnrpd` (SIGHUP): a configuration read again and applied to the running
//! daemon, which keeps its registrations, its clouds' caches, the freshness window and its
//! clients' connections. [`apply`] is the one place a reloaded [`Config`] takes effect: it checks
//! everything first and changes nothing when something is wrong, then sets the log filter and
//! the seeds. Settings that need other sockets or another state directory are reported as taking
//! effect at the next restart.

use std::time::{Duration, Instant};

use pnrp_proto::engine::Engine;

use super::network::Network;
use super::seeds::SeedNames;
use super::{seed_names, Settings};
use crate::config::Config;

/// Sets the running daemon's log filter (`log_level`), or says why the filter is not valid.
/// Given by the command line, which owns the logger.
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send>;

/// What [`apply`] changes: the running daemon's parts a configuration reaches.
#[derive(Debug)]
pub(super) struct Running<'a> {
    /// The settings in effect, updated to the reloaded ones that took effect.
    pub settings: &'a mut Settings,
    /// The engine, whose clouds get the new seeds.
    pub engine: &'a mut Engine,
    /// The cloud's sockets and seeds, unless the daemon keeps to this machine.
    pub network: Option<&'a mut Network>,
    /// The seeds given as host names, resolved in their own task.
    pub seed_names: &'a mut Option<SeedNames>,
}

/// Applies a reloaded configuration. Returns one line saying what is in effect now (and what
/// waits for a restart), or why nothing changed.
pub(super) fn apply(
    config: &Config,
    running: Running<'_>,
    set_log_level: &SetLogLevel,
    now: Instant,
) -> Result<String, String> {
    let seeds = config.cloud_seeds().map_err(|error| error.to_string())?;
    set_log_level(&config.log_level)
        .map_err(|why| format!("log_level {:?}: {why}", config.log_level))?;
    let settings = running.settings;
    settings.log_level = config.log_level.clone();

    let mut restart = Vec::new();
    if config.socket != settings.socket {
        restart.push("socket");
    }
    if config.state_dir != settings.state_dir {
        restart.push("state_dir");
    }
    if config.cloud != settings.cloud.is_some() {
        restart.push("cloud");
    }
    if let Some(cloud) = &mut settings.cloud {
        if config.port != cloud.port {
            restart.push("port");
        }
        if config.discovery != cloud.discovery {
            restart.push("discovery");
        }
        if Duration::from_secs(config.freshness_secs) != cloud.freshness {
            restart.push("freshness_secs");
        }
        if seeds != cloud.seeds {
            if let Some(network) = running.network {
                network.set_given_seeds(now, running.engine, &seeds);
            }
            let names = seed_names(&seeds);
            if names != seed_names(&cloud.seeds) {
                // The old names' task ends with its channels; the new names resolve at once.
                *running.seed_names = SeedNames::start(names);
            }
            cloud.seeds = seeds;
        }
    }
    settings.configured_seeds = config.seeds.clone();
    let mut line = format!(
        "configuration reloaded: log_level {:?}, seeds [{}]",
        settings.log_level,
        settings.configured_seeds.join(", ")
    );
    if !restart.is_empty() {
        line.push_str(&format!(
            "; {} changed: in effect at the next restart",
            restart.join(", ")
        ));
    }
    Ok(line)
}
