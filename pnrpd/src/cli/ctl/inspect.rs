//! Looking inside the daemon: `pnrpctl status`, `clouds` and `cache`.

use std::fmt;

use pnrp_shared::ipc::{
    CacheEntryInfo, CloudInfo, DnsListener, DnsTransport, Reachability, Request, Response,
};
use serde::Serialize;

use super::output::Output;
use super::request::{Daemon, Failure};

/// `pnrpctl status`.
pub(super) fn status(daemon: &Daemon, out: Output) -> Result<(), Failure> {
    match daemon.ask(&Request::Status)? {
        Response::Status(status) => out.print(&Status {
            dns: status.dns,
            firewalled_clouds: status.firewalled_clouds,
            log_level: status.log_level,
            registrations: status.registrations,
            seeds: status.seeds,
            socket: daemon.socket().display().to_string(),
            state_dir: status.state_dir,
            uptime_secs: status.uptime_secs,
            version: status.version,
        }),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// `pnrpctl clouds`.
pub(super) fn clouds(daemon: &Daemon, out: Output) -> Result<(), Failure> {
    match daemon.ask(&Request::Clouds)? {
        Response::Clouds(clouds) => out.print(&Clouds(clouds.iter().map(CloudView::new).collect())),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// `pnrpctl cache`.
pub(super) fn cache(daemon: &Daemon, out: Output) -> Result<(), Failure> {
    match daemon.ask(&Request::Cache)? {
        Response::Cache(entries) => out.print(&Cache(entries.iter().map(EntryView::new).collect())),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// The daemon's state, and the socket it was reached on.
#[derive(Debug, Serialize)]
struct Status {
    dns: Vec<DnsListener>,
    firewalled_clouds: Vec<String>,
    log_level: String,
    registrations: u32,
    seeds: Vec<String>,
    socket: String,
    state_dir: String,
    uptime_secs: u64,
    version: String,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pnrpd {} running for {}s",
            self.version, self.uptime_secs
        )?;
        writeln!(f, "socket:        {}", self.socket)?;
        writeln!(f, "state dir:     {}", self.state_dir)?;
        writeln!(f, "registrations: {}", self.registrations)?;
        if self.seeds.is_empty() {
            writeln!(f, "seeds:         none")?;
        } else {
            writeln!(f, "seeds:         {}", self.seeds.join(", "))?;
        }
        writeln!(f, "log level:     {}", self.log_level)?;
        for cloud in &self.firewalled_clouds {
            writeln!(
                f,
                "{cloud}: behind a firewall: resolving only; names published on its links only \
                 (open UDP port 3540 inbound, or the port set in pnrpd.toml)"
            )?;
        }
        if self.dns.is_empty() {
            writeln!(f, "DNS:           off (dns_listen in pnrpd.toml)")?;
        }
        for listener in &self.dns {
            let counters = &listener.counters;
            let transport = match listener.transport {
                DnsTransport::Udp => "udp",
                DnsTransport::Tcp => "tcp",
            };
            writeln!(
                f,
                "DNS {transport} {}: {} queries: {} answered, {} nxdomain, {} refused, {} failed, \
                 {} malformed, {} rate-limited, {} denied; {} truncated",
                listener.address,
                counters.queries,
                counters.answered,
                counters.nxdomain,
                counters.refused,
                counters.failed,
                counters.malformed,
                counters.rate_limited,
                counters.denied,
                counters.truncated
            )?;
        }
        Ok(())
    }
}

/// What `clouds` lists.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Clouds(Vec<CloudView>);

impl fmt::Display for Clouds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            writeln!(f, "no cloud (pnrpd runs with cloud = false)")?;
        }
        for cloud in &self.0 {
            writeln!(f, "{}", cloud.name)?;
            if cloud.endpoints.is_empty() {
                writeln!(f, "  listening: none yet (no address of this scope)")?;
            } else {
                writeln!(f, "  listening: {}", cloud.endpoints.join(" "))?;
            }
            writeln!(f, "  cached nodes: {}", cloud.cached)?;
            match cloud.estimated_size {
                Some(1) => writeln!(f, "  estimated size: 1 node")?,
                Some(size) => writeln!(f, "  estimated size: {size} nodes")?,
                None => writeln!(f, "  estimated size: not yet (no neighbour on each side)")?,
            }
            writeln!(
                f,
                "  reachable from outside: {}",
                match cloud.reachability {
                    ReachabilityView::Reachable => "yes",
                    ReachabilityView::Firewalled =>
                        "no (behind a firewall: resolving only; names published on its links only)",
                    ReachabilityView::Unknown => "not known yet",
                }
            )?;
            for published in &cloud.published {
                writeln!(f, "  publishes {} as {}", published.name, published.id)?;
            }
            writeln!(
                f,
                "  datagrams sent {}, received {}, malformed {}; CPAs rejected {}",
                cloud.sent, cloud.received, cloud.malformed, cloud.bad_cpas
            )?;
            writeln!(
                f,
                "  dropped over the rate limit {}; answers withheld from unproven addresses {}",
                cloud.rate_limited, cloud.withheld
            )?;
        }
        Ok(())
    }
}

/// One cloud, its counters flattened.
#[derive(Debug, Serialize)]
struct CloudView {
    bad_cpas: u64,
    cached: u32,
    endpoints: Vec<String>,
    estimated_size: Option<u64>,
    malformed: u64,
    name: String,
    published: Vec<PublishedView>,
    rate_limited: u64,
    reachability: ReachabilityView,
    received: u64,
    sent: u64,
    withheld: u64,
}

impl CloudView {
    fn new(cloud: &CloudInfo) -> Self {
        let counters = cloud.counters;
        CloudView {
            bad_cpas: counters.bad_cpas,
            cached: cloud.cached,
            endpoints: cloud.endpoints.clone(),
            estimated_size: cloud.estimated_size,
            malformed: counters.malformed,
            name: cloud.name.clone(),
            published: cloud
                .published
                .iter()
                .map(|(id, name)| PublishedView {
                    id: id.clone(),
                    name: name.clone(),
                })
                .collect(),
            rate_limited: counters.rate_limited,
            reachability: match cloud.reachability {
                Reachability::Unknown => ReachabilityView::Unknown,
                Reachability::Reachable => ReachabilityView::Reachable,
                Reachability::Firewalled => ReachabilityView::Firewalled,
            },
            received: counters.received,
            sent: counters.sent,
            withheld: counters.withheld,
        }
    }
}

/// Whether other nodes reach this one in a cloud: `"reachable"`, `"firewalled"` or
/// `"unknown"` in JSON.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum ReachabilityView {
    Unknown,
    Reachable,
    Firewalled,
}

/// A name a cloud publishes, under its PNRP ID.
#[derive(Debug, Serialize)]
struct PublishedView {
    id: String,
    name: String,
}

/// What `cache` lists.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Cache(Vec<EntryView>);

impl fmt::Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            writeln!(f, "the cache is empty")?;
        }
        for entry in &self.0 {
            writeln!(
                f,
                "{} {} {} (seen {}s ago)",
                entry.cloud,
                entry.id,
                entry.endpoints.join(" "),
                entry.age_secs
            )?;
        }
        Ok(())
    }
}

/// One cached node.
#[derive(Debug, Serialize)]
struct EntryView {
    age_secs: u64,
    cloud: String,
    endpoints: Vec<String>,
    id: String,
}

impl EntryView {
    fn new(entry: &CacheEntryInfo) -> Self {
        EntryView {
            age_secs: entry.age_secs,
            cloud: entry.cloud.clone(),
            endpoints: entry.endpoints.clone(),
            id: entry.id.clone(),
        }
    }
}
