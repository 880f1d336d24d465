//! `pnrpd`: the PNRP daemon's command line. See `pnrpd --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::journal;
use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::daemon::reload::SetLogLevel;
use crate::daemon::{self, CloudSettings, Control, Settings};
use clap::Parser;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

/// Serverless peer names: the PNRP daemon.
#[derive(Debug, Clone, Parser)]
#[command(version)]
struct Args {
    /// Configuration file [default: /etc/pnrp/pnrpd.toml, optional when not given]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Unix socket to serve (overrides the config file)
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Where registrations persist (overrides the config file)
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Log filter such as `info` or `pnrpd=debug` (overrides the config file)
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// UDP port of the PNRP cloud (overrides the config file)
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// A node to join the cloud through: ADDR, [ADDR]:PORT, NAME or NAME:PORT (a host name,
    /// resolved by the system resolver; port 3540 when absent). Repeatable; replaces the config
    /// file's seeds
    #[arg(long = "seed", value_name = "ADDR|NAME[:PORT]")]
    seeds: Vec<String>,
    /// Keep to this machine: no cloud, no UDP socket
    #[arg(long)]
    no_cloud: bool,
    /// No SSDP multicast discovery (join through seeds only)
    #[arg(long)]
    no_discovery: bool,
    /// Serve DNS for pnrp.net on ADDR:PORT, UDP and TCP (an address alone: port 3553).
    /// Repeatable; replaces the config file's dns_listen. Sources other than loopback are
    /// answered only inside a dns_allow prefix of the config file
    #[arg(long = "dns", value_name = "ADDR:PORT")]
    dns: Vec<String>,
    /// Check the configuration, print the settings in effect and exit
    #[arg(long)]
    check_config: bool,
}

/// pnrpd's command line, for its manual page and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// Runs the program with these arguments (the first is the program name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("pnrpd: {message}");
            return ExitCode::FAILURE;
        }
    };
    let seeds = match config.cloud_seeds() {
        Ok(seeds) => seeds,
        Err(error) => {
            eprintln!("pnrpd: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (dns_listen, dns_allow) = match config.dns() {
        Ok(dns) => dns,
        Err(error) => {
            eprintln!("pnrpd: {error}");
            return ExitCode::FAILURE;
        }
    };
    let filter = match EnvFilter::try_new(&config.log_level) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("pnrpd: log_level {:?}: {error}", config.log_level);
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        println!("configuration OK");
        println!("socket = {:?}", config.socket.display().to_string());
        println!("state_dir = {:?}", config.state_dir.display().to_string());
        println!("log_level = {:?}", config.log_level);
        println!("cloud = {}", config.cloud);
        println!("discovery = {}", config.discovery);
        println!("port = {}", config.port);
        println!("seeds = {:?}", config.seeds);
        println!("freshness_secs = {}", config.freshness_secs);
        println!("dns_listen = {:?}", config.dns_listen);
        println!("dns_allow = {:?}", config.dns_allow);
        return ExitCode::SUCCESS;
    }
    let set_log_level = init_logging(filter);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let cloud = config.cloud.then(|| CloudSettings {
        port: config.port,
        seeds,
        freshness: std::time::Duration::from_secs(config.freshness_secs),
        discovery: config.discovery,
    });
    let dns = crate::dns::Settings {
        listen: dns_listen,
        allow: dns_allow,
        freshness_secs: u32::try_from(config.freshness_secs).unwrap_or(u32::MAX),
        services: PathBuf::from(crate::dns::services::SERVICES_PATH),
    };
    let settings = Settings {
        socket: config.socket,
        state_dir: config.state_dir,
        cloud,
        dns,
        log_level: config.log_level,
        configured_seeds: config.seeds,
    };
    let result = runtime.block_on(async {
        // Handlers go in before anything else: a SIGTERM right after start must still stop
        // the daemon cleanly, not kill it, and a SIGHUP must not kill it either.
        let controls = signals(args.clone());
        daemon::run(settings, controls, set_log_level, || {
            if let Err(error) = crate::notify::notify("READY=1") {
                warn!(%error, "sd_notify READY failed");
            }
        })
        .await
    });
    let _ = crate::notify::notify("STOPPING=1");
    // Nothing left to wait for: a host-name lookup still running on a blocking thread must not
    // hold up the stop.
    runtime.shutdown_background();
    match result {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            error!("{error}");
            eprintln!("pnrpd: {error}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &Args) -> Result<Config, String> {
    let (path, required) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    let mut config = Config::load(&path, required).map_err(|error| error.to_string())?;
    if let Some(socket) = &args.socket {
        config.socket = socket.clone();
    }
    if let Some(state_dir) = &args.state_dir {
        config.state_dir = state_dir.clone();
    }
    if let Some(log_level) = &args.log_level {
        config.log_level = log_level.clone();
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    if !args.seeds.is_empty() {
        config.seeds = args.seeds.clone();
    }
    if !args.dns.is_empty() {
        config.dns_listen = args.dns.clone();
    }
    if args.no_cloud {
        config.cloud = false;
    }
    if args.no_discovery {
        config.discovery = false;
    }
    Ok(config)
}

/// Logs to stderr: for the journal (a priority on each line, no timestamp) when stderr is the
/// journal, else with timestamps (and colours on a terminal). Returns what changes the filter.
fn init_logging(filter: EnvFilter) -> SetLogLevel {
    use std::io::IsTerminal;
    // One closure per formatter: their reload handles have different types.
    fn setter<L, S>(handle: tracing_subscriber::reload::Handle<L, S>) -> SetLogLevel
    where
        L: From<EnvFilter> + Send + Sync + 'static,
        S: 'static,
    {
        Box::new(move |level: &str| {
            let filter = EnvFilter::try_new(level).map_err(|error| error.to_string())?;
            handle.reload(filter).map_err(|error| error.to_string())
        })
    }
    if journal::stderr_is_journal() {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(journal::JournalFormat)
            .with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        setter(handle)
    } else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        setter(handle)
    }
}

/// Installs the signal handlers now (inside the runtime). SIGTERM and SIGINT each ask the daemon
/// to stop (the first: after leaving the clouds; the second: at once); SIGHUP reads the
/// configuration again (with the same command line) and hands it over, or logs why it cannot.
fn signals(args: Args) -> daemon::Controls {
    use tokio::signal::unix::{signal, SignalKind};
    let (requests, controls) = tokio::sync::mpsc::channel(4);
    let (Ok(mut terminate), Ok(mut interrupt), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers; stop with SIGKILL");
        return controls;
    };
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = terminate.recv() => {
                    info!("SIGTERM");
                    Control::Stop
                }
                _ = interrupt.recv() => {
                    info!("SIGINT");
                    Control::Stop
                }
                _ = hangup.recv() => match load_config(&args) {
                    Ok(config) => {
                        info!("SIGHUP: reloading the configuration");
                        Control::Reload(Box::new(config))
                    }
                    Err(message) => {
                        warn!("SIGHUP: reload refused, the running configuration stays: {message}");
                        continue;
                    }
                },
            };
            if requests.send(control).await.is_err() {
                return;
            }
        }
    });
    controls
}
