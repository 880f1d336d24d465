//! `systemctl reload pnrpd` (SIGHUP): a configuration read again and applied to the running
//! daemon, which keeps its registrations, its clouds' caches, the freshness window and its
//! clients' connections. [`apply`] is the one place a reloaded [`Config`] takes effect: it checks
//! everything first and changes nothing when something is wrong, then sets the log filter and
//! the seeds; [`apply_dns`] then opens the DNS front end's listeners again if `dns_listen` or
//! `dns_allow` changed. Settings that need other sockets or another state directory are reported
//! as taking effect at the next restart.

use std::time::{Duration, Instant};

use pnrp_proto::engine::Engine;
use tokio::sync::mpsc;

use super::network::Network;
use super::seeds::SeedNames;
use super::server::Command;
use super::view::SharedView;
use super::{seed_names, Settings};
use crate::config::Config;
use crate::dns::Listeners;

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
    // Checked here with the rest, applied by `apply_dns`.
    config.dns().map_err(|error| error.to_string())?;
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

/// The DNS front end, as [`apply_dns`] changes it.
#[derive(Debug)]
pub(super) struct DnsFront<'a> {
    /// Its settings in effect.
    pub settings: &'a mut crate::dns::Settings,
    /// Its running listeners.
    pub listeners: &'a mut Listeners,
    /// What the listeners answer from.
    pub view: &'a SharedView,
    /// Where they send what the view cannot answer.
    pub commands: &'a mpsc::Sender<Command>,
}

/// After [`apply`]: when `dns_listen` or `dns_allow` changed, the listeners close and open at
/// the new addresses (the old ones first, so that an address kept is free to bind again). If
/// the new ones cannot all be bound, the old ones are opened again. Returns what changed, if
/// anything, or why the front end is not as configured.
pub(super) async fn apply_dns(
    config: &Config,
    front: DnsFront<'_>,
) -> Result<Option<String>, String> {
    let (listen, allow) = config.dns().map_err(|error| error.to_string())?;
    if listen == front.settings.listen && allow == front.settings.allow {
        return Ok(None);
    }
    let wanted = crate::dns::Settings {
        listen,
        allow,
        ..front.settings.clone()
    };
    front.listeners.close().await;
    match crate::dns::bind(&wanted) {
        Ok(bound) => {
            *front.listeners = Listeners::start(bound, front.view.clone(), front.commands.clone());
            *front.settings = wanted;
            let addresses: Vec<String> = front
                .settings
                .listen
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok(Some(format!(
                "DNS front end reloaded: dns_listen [{}]",
                addresses.join(", ")
            )))
        }
        Err(error) => {
            let previous = match crate::dns::bind(front.settings) {
                Ok(bound) => {
                    *front.listeners =
                        Listeners::start(bound, front.view.clone(), front.commands.clone());
                    "the previous listeners are back"
                }
                Err(_) => "the previous listeners could not be opened again either: no DNS",
            };
            Err(format!("DNS front end not reloaded ({error}); {previous}"))
        }
    }
}
