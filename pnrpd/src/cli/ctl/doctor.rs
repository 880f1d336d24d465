//! `pnrpctl doctor`: checks, in words a user can act on, everything a `.pnrp.net` lookup needs
//! on this machine: the `hosts:` line of nsswitch.conf and the module's place in it, the module
//! where glibc's loader finds it, the daemon's socket, its clouds and the peers it knows, and
//! whether peers can reach it unsolicited. Exit 0 only when all is well.

use std::fmt;

use pnrp_shared::ipc::{CloudInfo, DnsListener, DnsTransport, Reachability, Request, Response};
use serde::Serialize;

use super::output::Output;
use super::request::{Daemon, Failure};

/// Where glibc reads the name service switch.
const NSSWITCH: &str = "/etc/nsswitch.conf";
/// What glibc's dlopen looks for, by soname: found through the loader's own search path, as the
/// NSS would.
const MODULE: &std::ffi::CStr = c"libnss_pnrp.so.2";

/// One finding.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Check {
    /// What was checked.
    what: &'static str,
    /// Whether it is as it should be.
    ok: bool,
    /// What was found, and when not ok, what to do.
    detail: String,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        Check {
            what,
            ok: true,
            detail: detail.into(),
        }
    }

    fn problem(what: &'static str, detail: impl Into<String>) -> Self {
        Check {
            what,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Every finding, in order.
#[derive(Debug, Serialize)]
struct Report {
    checks: Vec<Check>,
    healthy: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let mark = if check.ok { "ok     " } else { "PROBLEM" };
            writeln!(f, "{mark}  {}: {}", check.what, check.detail)?;
        }
        if self.healthy {
            writeln!(f, "all is well")
        } else {
            writeln!(f, "fix the problems above, then run pnrpctl doctor again")
        }
    }
}

/// `pnrpctl doctor`.
pub(super) fn doctor(daemon: &Daemon, out: Output) -> Result<(), Failure> {
    let mut checks = vec![
        match std::fs::read_to_string(NSSWITCH) {
            Ok(text) => hosts_line(&text),
            Err(error) => {
                Check::problem("nsswitch.conf", format!("cannot read {NSSWITCH}: {error}"))
            }
        },
        module(),
    ];
    checks.extend(daemon_checks(daemon));
    let healthy = checks.iter().all(|check| check.ok);
    out.print(&Report { checks, healthy });
    if healthy {
        Ok(())
    } else {
        Err(Failure::error("problems found"))
    }
}

/// The `hosts:` line of nsswitch.conf: `pnrp` on it, before `dns` and `resolve` (which would
/// otherwise send `.pnrp.net` names to DNS first), with `[!UNAVAIL=return]` so that names fall
/// through to DNS only when pnrpd is not running.
fn hosts_line(text: &str) -> Check {
    const WHAT: &str = "nsswitch.conf";
    let Some(line) = text.lines().map(str::trim).find(|line| {
        line.split_once(':')
            .is_some_and(|(database, _)| database.trim() == "hosts")
    }) else {
        return Check::problem(
            WHAT,
            "no hosts: line; add `hosts: files pnrp [!UNAVAIL=return] dns`",
        );
    };
    let sources: Vec<&str> = line
        .split_once(':')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let Some(at) = sources.iter().position(|source| *source == "pnrp") else {
        return Check::problem(
            WHAT,
            format!("`{line}` lacks pnrp; put `pnrp [!UNAVAIL=return]` before dns (packaging/install.sh does)"),
        );
    };
    if let Some(before) = sources[..at]
        .iter()
        .find(|source| matches!(**source, "dns" | "resolve" | "mdns" | "mdns4" | "mdns6"))
    {
        return Check::problem(
            WHAT,
            format!("`{line}`: {before} comes before pnrp and gets .pnrp.net names first; move pnrp before it"),
        );
    }
    if sources.get(at + 1) != Some(&"[!UNAVAIL=return]") {
        return Check::problem(
            WHAT,
            format!("`{line}`: write `pnrp [!UNAVAIL=return]`, or a name pnrpd says does not exist goes on to DNS"),
        );
    }
    Check::ok(WHAT, format!("`{line}`"))
}

/// The module, loaded the way glibc's NSS loads it (by soname, through the loader's path).
fn module() -> Check {
    const WHAT: &str = "NSS module";
    // SAFETY: a NUL-terminated soname; the handle is closed at once. Loading runs none of the
    // module's NSS entry points, only what any library's loading runs.
    let handle = unsafe { libc::dlopen(MODULE.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Check::problem(
            WHAT,
            "glibc cannot load libnss_pnrp.so.2: install it beside libnss_files.so.2 (packaging/install.sh), then run ldconfig",
        );
    }
    // SAFETY: the handle dlopen just returned.
    unsafe { libc::dlclose(handle) };
    Check::ok(WHAT, "libnss_pnrp.so.2 loads")
}

/// The socket, the clouds, the peers and reachability, as the daemon tells them.
fn daemon_checks(daemon: &Daemon) -> Vec<Check> {
    let socket = daemon.socket().display().to_string();
    let status = match daemon.ask(&Request::Status) {
        Ok(Response::Status(status)) => status,
        Ok(other) => {
            return vec![Check::problem(
                "pnrpd",
                format!("unexpected answer {other:?}"),
            )];
        }
        Err(failure) => {
            return vec![Check::problem(
                "pnrpd",
                format!(
                    "{} (systemctl status pnrpd; journalctl -u pnrpd)",
                    failure.message
                ),
            )];
        }
    };
    let mut checks = vec![Check::ok(
        "pnrpd",
        format!(
            "version {} answers at {socket}, up {} s, {} name(s) registered",
            status.version, status.uptime_secs, status.registrations
        ),
    )];
    checks.extend(dns_checks(&status.dns));
    match daemon.ask(&Request::Clouds) {
        Ok(Response::Clouds(clouds)) => checks.extend(clouds_checks(&clouds)),
        Ok(other) => checks.push(Check::problem(
            "clouds",
            format!("unexpected answer {other:?}"),
        )),
        Err(failure) => checks.push(Check::problem("clouds", failure.message)),
    }
    checks
}

/// Whether each UDP listener of the DNS front end answers `pnrp.net SOA` (none configured: nothing
/// to check).
fn dns_checks(listeners: &[DnsListener]) -> Vec<Check> {
    listeners
        .iter()
        .filter(|listener| listener.transport == DnsTransport::Udp)
        .map(|listener| match ask_soa(&listener.address) {
            Ok(()) => Check::ok(
                "DNS",
                format!(
                    "answers pnrp.net at {} (UDP and TCP); point a resolver's pnrp.net at it \
                     (README, \"DNS\")",
                    listener.address
                ),
            ),
            Err(why) => Check::problem(
                "DNS",
                format!("{}: {why} (journalctl -u pnrpd)", listener.address),
            ),
        })
        .collect()
}

/// Asks `address` for the SOA of pnrp.net over UDP, within a second.
fn ask_soa(address: &str) -> Result<(), String> {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RecordType;
    let address: std::net::SocketAddr = address.parse().map_err(|_| "not an address".to_owned())?;
    let local: std::net::SocketAddr = if address.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = std::net::UdpSocket::bind(local).map_err(|error| error.to_string())?;
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .map_err(|error| error.to_string())?;
    let id = std::process::id() as u16;
    let query = crate::dns::answer::query_bytes(id, "pnrp.net", RecordType::SOA, Some(1232));
    socket
        .send_to(&query, address)
        .map_err(|error| format!("cannot send: {error}"))?;
    let mut buffer = [0u8; 1500];
    let length = socket
        .recv(&mut buffer)
        .map_err(|_| "no answer within 1 s".to_owned())?;
    let message = Message::from_vec(&buffer[..length])
        .map_err(|error| format!("an undecodable answer: {error}"))?;
    let soa = message
        .answers
        .iter()
        .any(|record| record.record_type() == RecordType::SOA);
    if message.metadata.id != id || message.metadata.response_code != ResponseCode::NoError || !soa
    {
        return Err(format!(
            "answered {} without the zone's SOA",
            message.metadata.response_code
        ));
    }
    Ok(())
}

/// Whether the daemon takes part in a cloud, knows peers there, and can be reached.
fn clouds_checks(clouds: &[CloudInfo]) -> Vec<Check> {
    if clouds.is_empty() {
        return vec![Check::problem(
            "clouds",
            "none: pnrpd keeps to this machine (cloud = false in pnrpd.toml) or this machine has no IPv6 address; names of other machines cannot resolve",
        )];
    }
    let mut checks = Vec::new();
    for cloud in clouds {
        let peers = if cloud.cached == 0 {
            Check::problem(
                "peers",
                format!(
                    "{}: no other node known; add a seed (seeds = [...] in pnrpd.toml) or check that another pnrpd runs on this link",
                    cloud.name
                ),
            )
        } else {
            let size = cloud.estimated_size.map_or_else(String::new, |size| {
                format!(", about {size} nodes in the cloud")
            });
            Check::ok(
                "peers",
                format!("{}: {} node(s) known{size}", cloud.name, cloud.cached),
            )
        };
        checks.push(peers);
        checks.push(match cloud.reachability {
            Reachability::Reachable => Check::ok(
                "reachability",
                format!("{}: peers reach this machine on UDP {}", cloud.name, port(cloud)),
            ),
            Reachability::Unknown => Check::ok(
                "reachability",
                format!("{}: not known yet (no peer has tried)", cloud.name),
            ),
            Reachability::Firewalled => Check::problem(
                "reachability",
                format!(
                    "{}: no peer reaches this machine unsolicited; open UDP {} in the firewall (it resolves, but its names are published on its links only)",
                    cloud.name,
                    port(cloud)
                ),
            ),
        });
    }
    checks
}

/// The cloud's port, from its first endpoint (`[address]:port`).
fn port(cloud: &CloudInfo) -> String {
    cloud
        .endpoints
        .first()
        .and_then(|endpoint| endpoint.rsplit_once(':'))
        .map_or_else(|| "3540".to_owned(), |(_, port)| port.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnrp_shared::ipc::CloudCounters;

    #[test]
    fn the_hosts_line_needs_pnrp_before_dns_with_unavail_return() {
        let verdict = |text: &str| hosts_line(text);
        assert!(verdict("passwd: files\nhosts:          files pnrp [!UNAVAIL=return] dns\n").ok);
        assert!(verdict("hosts: files mymachines pnrp [!UNAVAIL=return] resolve dns").ok);
        let missing = verdict("hosts: files dns");
        assert!(
            !missing.ok && missing.detail.contains("lacks pnrp"),
            "{missing:?}"
        );
        let late = verdict("hosts: files dns pnrp [!UNAVAIL=return]");
        assert!(
            !late.ok && late.detail.contains("dns comes before pnrp"),
            "{late:?}"
        );
        let bare = verdict("hosts: files pnrp dns");
        assert!(
            !bare.ok && bare.detail.contains("[!UNAVAIL=return]"),
            "{bare:?}"
        );
        assert!(!verdict("passwd: files\n").ok);
        assert!(!verdict("#hosts: files pnrp [!UNAVAIL=return] dns\n").ok);
    }

    fn cloud(cached: u32, reachability: Reachability) -> CloudInfo {
        CloudInfo {
            name: "Global_".into(),
            endpoints: vec!["[fd70::a]:3540".into()],
            cached,
            published: Vec::new(),
            counters: CloudCounters::default(),
            estimated_size: Some(12),
            reachability,
        }
    }

    #[test]
    fn clouds_without_peers_or_behind_a_firewall_are_problems() {
        let healthy = clouds_checks(&[cloud(5, Reachability::Reachable)]);
        assert!(healthy.iter().all(|check| check.ok), "{healthy:?}");
        assert!(healthy[0].detail.contains("about 12 nodes"));
        let alone = clouds_checks(&[cloud(0, Reachability::Unknown)]);
        assert!(!alone[0].ok && alone[0].detail.contains("add a seed"));
        let walled = clouds_checks(&[cloud(5, Reachability::Firewalled)]);
        assert!(!walled[1].ok && walled[1].detail.contains("open UDP 3540"));
        let none = clouds_checks(&[]);
        assert!(!none[0].ok);
    }
}
