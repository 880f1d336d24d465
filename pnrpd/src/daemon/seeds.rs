//! Seeds given as host names: resolved by the system resolver (`getaddrinfo`, through
//! [`tokio::net::lookup_host`], which runs it on a blocking thread) in a task of their own, never
//! on the run loop. Each round resolves every name; the run loop hands the addresses to the
//! network ([`super::network::Network::set_resolved_seeds`]), which gives the clouds the
//! configured addresses, these and the nodes remembered from the last run.
//!
//! A round runs at start, then every [`RESOLVE_EVERY`], and sooner when a cloud the names could
//! serve is alone (no cached node: the seeds are its only way back in), at most every
//! [`ALONE_RETRY`]. A name that stops resolving keeps its last addresses and is logged once per
//! failure streak, not at every retry.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_proto::engine::{CloudScope, CloudStatus};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// How often the names are resolved again while every cloud has nodes.
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5 * 60);
/// How soon after a round a cloud that is alone asks for another.
pub const ALONE_RETRY: Duration = Duration::from_secs(30);
/// How long one name may take to resolve (the lookup itself cannot be cancelled; its answer is
/// no longer waited for).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// What one round found for one name: its IPv6 addresses, or why there are none.
pub type Lookup = Result<Vec<SocketAddrV6>, String>;

/// The seeds given as host names, and the task that resolves them.
#[derive(Debug)]
pub struct SeedNames {
    /// The names, as given, with their ports.
    names: Vec<(String, u16)>,
    /// Wakes the task for a round before its time.
    wake: mpsc::Sender<()>,
    /// Each round's findings, in the order of `names`.
    rounds: mpsc::Receiver<Vec<Lookup>>,
    /// The last addresses each name resolved to (kept while it fails).
    addresses: HashMap<String, Vec<SocketAddrV6>>,
    /// The names failing since their last success, with why (logged once per streak).
    failing: HashMap<String, String>,
    /// Whether a round is under way.
    busy: bool,
    /// When the last round ended.
    last_round: Option<Instant>,
}

impl SeedNames {
    /// Starts resolving `names` (host, port) at once, in a task of the current runtime; `None`
    /// when there is no name.
    pub fn start(names: Vec<(String, u16)>) -> Option<SeedNames> {
        if names.is_empty() {
            return None;
        }
        let (wake, woken) = mpsc::channel(1);
        let (found, rounds) = mpsc::channel(1);
        tokio::spawn(resolve_rounds(names.clone(), woken, found));
        Some(SeedNames {
            names,
            wake,
            rounds,
            addresses: HashMap::new(),
            failing: HashMap::new(),
            busy: true,
            last_round: None,
        })
    }

    /// Waits for the next round's findings.
    pub async fn next_round(&mut self) -> Vec<Lookup> {
        match self.rounds.recv().await {
            Some(round) => round,
            // The task ended (it never does while we hold the channels).
            None => std::future::pending().await,
        }
    }

    /// Takes a round's findings (logging what changed) and returns every address the names
    /// resolve to now, in the order of the names, each once.
    pub fn take(&mut self, now: Instant, round: Vec<Lookup>) -> Vec<SocketAddrV6> {
        self.busy = false;
        self.last_round = Some(now);
        for ((host, port), lookup) in self.names.iter().zip(round) {
            let seed = format!("{host}:{port}");
            match lookup {
                Ok(addresses) => {
                    if let Some(why) = self.failing.remove(&seed) {
                        info!(%seed, ?addresses, earlier = %why, "seed resolves again");
                    } else if self.addresses.get(&seed) != Some(&addresses) {
                        info!(%seed, ?addresses, "seed resolved");
                    }
                    self.addresses.insert(seed, addresses);
                }
                Err(why) => {
                    if self.failing.contains_key(&seed) {
                        debug!(%seed, %why, "seed still does not resolve");
                    } else {
                        warn!(
                            %seed,
                            %why,
                            kept = self.addresses.get(&seed).map_or(0, Vec::len),
                            "seed does not resolve; trying again every {} min, and every {} s \
                             while a cloud is alone",
                            RESOLVE_EVERY.as_secs() / 60,
                            ALONE_RETRY.as_secs()
                        );
                        self.failing.insert(seed, why);
                    }
                }
            }
        }
        self.resolved()
    }

    /// Every address the names resolve to (or last resolved to), each once.
    pub fn resolved(&self) -> Vec<SocketAddrV6> {
        let mut all: Vec<SocketAddrV6> = Vec::new();
        for (host, port) in &self.names {
            let seed = format!("{host}:{port}");
            for address in self.addresses.get(&seed).into_iter().flatten() {
                if !all.contains(address) {
                    all.push(*address);
                }
            }
        }
        all
    }

    /// Asks for a round now if a cloud the names could serve is alone and the last round is
    /// [`ALONE_RETRY`] old.
    pub fn check_alone(&mut self, now: Instant, clouds: &[CloudStatus]) {
        let due = self
            .last_round
            .is_none_or(|last| now.saturating_duration_since(last) >= ALONE_RETRY);
        if !self.busy && due && any_alone(clouds, &self.resolved()) {
            debug!("a cloud is alone: resolving the seeds' names again");
            if self.wake.try_send(()).is_ok() {
                self.busy = true;
            }
        }
    }
}

/// Whether a cloud the names could serve has no cached node: `Global_` (DNS answers global and
/// ULA addresses), or a `LinkLocal_` cloud a name resolved to a link-local address of.
pub fn any_alone(clouds: &[CloudStatus], resolved: &[SocketAddrV6]) -> bool {
    clouds.iter().any(|cloud| {
        cloud.cached == 0
            && match cloud.scope {
                CloudScope::Global => true,
                CloudScope::LinkLocal(interface) => resolved.iter().any(|address| {
                    address.ip().is_unicast_link_local() && address.scope_id() == interface
                }),
            }
    })
}

/// Resolves every name, sends the findings, and waits for [`RESOLVE_EVERY`] or a wake-up; ends
/// when the daemon drops its side.
async fn resolve_rounds(
    names: Vec<(String, u16)>,
    mut woken: mpsc::Receiver<()>,
    found: mpsc::Sender<Vec<Lookup>>,
) {
    loop {
        let mut lookups = JoinSet::new();
        for (index, (host, port)) in names.iter().enumerate() {
            let (host, port) = (host.clone(), *port);
            lookups.spawn(async move { (index, lookup(&host, port).await) });
        }
        let mut round: Vec<Lookup> = vec![Err("not resolved".into()); names.len()];
        while let Some(done) = lookups.join_next().await {
            if let Ok((index, lookup)) = done {
                round[index] = lookup;
            }
        }
        if found.send(round).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(RESOLVE_EVERY) => {}
            wake = woken.recv() => {
                if wake.is_none() {
                    return;
                }
            }
        }
    }
}

/// One name's IPv6 addresses through the system resolver, at `port`.
pub async fn lookup(host: &str, port: u16) -> Lookup {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())),
        Ok(Err(error)) => Err(error.to_string()),
        Ok(Ok(found)) => ipv6_only(found),
    }
}

/// The IPv6 addresses among what the resolver found, each once; an error when there is none.
fn ipv6_only(found: impl IntoIterator<Item = SocketAddr>) -> Lookup {
    let mut addresses: Vec<SocketAddrV6> = Vec::new();
    let mut ipv4 = 0;
    for address in found {
        match address {
            SocketAddr::V6(address) if !addresses.contains(&address) => addresses.push(address),
            SocketAddr::V6(_) => {}
            SocketAddr::V4(_) => ipv4 += 1,
        }
    }
    if addresses.is_empty() {
        return Err(if ipv4 > 0 {
            format!("only IPv4 addresses ({ipv4}); PNRP runs over IPv6")
        } else {
            "no address".into()
        });
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnrp_proto::cloud::{Counters, Reachability};

    fn v6(text: &str) -> SocketAddrV6 {
        text.parse().unwrap()
    }

    fn cloud(scope: CloudScope, cached: usize) -> CloudStatus {
        CloudStatus {
            name: "cloud".into(),
            scope,
            endpoints: Vec::new(),
            cached,
            published: Vec::new(),
            counters: Counters::default(),
            estimated_size: None,
            reachability: Reachability::Unknown,
        }
    }

    #[test]
    fn keeps_ipv6_results_only() {
        let found = [
            "192.0.2.1:3540".parse().unwrap(),
            SocketAddr::V6(v6("[fd00::1]:3540")),
            SocketAddr::V6(v6("[fd00::1]:3540")),
            SocketAddr::V6(v6("[fd00::2]:3540")),
        ];
        assert_eq!(
            ipv6_only(found),
            Ok(vec![v6("[fd00::1]:3540"), v6("[fd00::2]:3540")])
        );
        let only_v4 = ipv6_only(["192.0.2.1:3540".parse().unwrap()]).unwrap_err();
        assert!(only_v4.contains("only IPv4"), "{only_v4}");
        assert_eq!(ipv6_only([]), Err("no address".into()));
    }

    #[tokio::test]
    async fn resolves_through_the_system_resolver() {
        // An address literal: getaddrinfo answers it without asking any name server.
        assert_eq!(
            lookup("fd00::7", 3541).await,
            Ok(vec![v6("[fd00::7]:3541")])
        );
        assert!(lookup("192.0.2.1", 3540).await.is_err());
    }

    #[test]
    fn alone_is_a_cloud_the_names_can_serve_without_nodes() {
        let global = |cached| cloud(CloudScope::Global, cached);
        let link = |cached| cloud(CloudScope::LinkLocal(2), cached);
        assert!(any_alone(&[global(0)], &[]));
        assert!(!any_alone(&[global(3)], &[]));
        // A lone link-local cloud waits for SSDP unless a name points there.
        assert!(!any_alone(&[global(3), link(0)], &[v6("[fd00::1]:3540")]));
        assert!(any_alone(&[global(3), link(0)], &[v6("[fe80::1%2]:3540")]));
        assert!(!any_alone(&[global(3), link(0)], &[v6("[fe80::1%3]:3540")]));
    }

    #[tokio::test]
    async fn failures_keep_the_last_addresses() {
        let mut names = SeedNames::start(vec![("a.example".into(), 3540), ("b".into(), 4000)])
            .expect("two names");
        let now = Instant::now();
        let round = vec![Ok(vec![v6("[fd00::1]:3540")]), Err("no such host".into())];
        assert_eq!(names.take(now, round), vec![v6("[fd00::1]:3540")]);
        assert_eq!(names.failing.len(), 1);
        let round = vec![
            Err("timed out".into()),
            Ok(vec![v6("[fd00::2]:4000"), v6("[fd00::1]:3540")]),
        ];
        assert_eq!(
            names.take(now, round),
            vec![v6("[fd00::1]:3540"), v6("[fd00::2]:4000")]
        );
        assert_eq!(names.failing.keys().collect::<Vec<_>>(), ["a.example:3540"]);
        assert!(SeedNames::start(Vec::new()).is_none());
    }

    #[tokio::test]
    async fn a_lone_cloud_asks_again_after_a_pause() {
        let mut names = SeedNames::start(vec![("::1".into(), 3540)]).expect("a name");
        let first = names.next_round().await;
        assert_eq!(first, vec![Ok(vec![v6("[::1]:3540")])]);
        let start = Instant::now();
        names.take(start, first);
        let alone = [cloud(CloudScope::Global, 0)];
        names.check_alone(start + ALONE_RETRY / 2, &alone);
        assert!(!names.busy, "too soon");
        names.check_alone(start + ALONE_RETRY, &[cloud(CloudScope::Global, 1)]);
        assert!(!names.busy, "not alone");
        names.check_alone(start + ALONE_RETRY, &alone);
        assert!(names.busy);
        let again = names.next_round().await;
        assert_eq!(again, first_round());
    }

    fn first_round() -> Vec<Lookup> {
        vec![Ok(vec![v6("[::1]:3540")])]
    }
}
