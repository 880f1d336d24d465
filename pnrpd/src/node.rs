//! The PNRP node: a sans-IO state machine.
//!
//! The node owns what this machine publishes and answers resolves, from its own registrations and
//! from every cloud it takes part in ([`crate::cloud::node::Cloud`]). It performs no I/O and reads
//! no clock: the driver feeds it `now`, the machine's addresses and datagrams through `handle_*`,
//! and drains datagrams, timers and results with `poll_*`. A resolve is started with
//! [`Node::start_resolve`] and finishes as an [`Event::Resolved`] once every cloud has answered;
//! a positive answer is reused for the freshness window.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_shared::ipc::{
    CacheEntryInfo, CloudInfo, Protocol, Record, Registration, RegistrationInfo, ScopedAddr,
    TraceInfo,
};
use pnrp_shared::PeerName;

use ed25519_dalek::SigningKey;

use crate::cloud::node::{Cloud, CloudEvent, Found, Publication};
use crate::store::OwnedRegistration;
use crate::wire::AppEndpoint;

/// Most application endpoints a CPA carries (§2.2.3.1.2).
const MAX_CLOUD_ENDPOINTS: usize = 10;

/// Which addresses a cloud listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudScope {
    /// `Global_`: global-scope addresses, ULA included.
    Global,
    /// `LinkLocal_<interface>`: that interface's fe80:: addresses.
    LinkLocal(u32),
}

#[derive(Debug)]
struct CloudSlot {
    name: String,
    scope: CloudScope,
    port: u16,
    cloud: Cloud,
}

#[derive(Debug)]
struct PendingResolve {
    name: PeerName,
    waiting: usize,
    records: Vec<Record>,
    trace: Option<Vec<TraceInfo>>,
}

/// Identifies one resolve until its [`Event::Resolved`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// What the node reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A resolve finished: its records, empty when the name is not found.
    Resolved {
        /// The resolve.
        query: QueryId,
        /// Every registration found.
        records: Vec<Record>,
        /// For a traceroute, the hops in each cloud (else empty).
        trace: Vec<TraceInfo>,
    },
}

/// Where a record came from, as `pnrpctl resolve` shows it.
pub const LOCAL_SOURCE: &str = "local";

/// The node's state.
#[derive(Debug, Default)]
pub struct Node {
    registrations: BTreeMap<PeerName, Registration>,
    owners: HashMap<PeerName, u32>,
    identities: HashMap<PeerName, SigningKey>,
    local_addresses: Vec<ScopedAddr>,
    events: VecDeque<Event>,
    next_query: u64,
    clouds: Vec<CloudSlot>,
    resolving: HashMap<QueryId, PendingResolve>,
    fresh: HashMap<PeerName, (Instant, Vec<Record>)>,
    freshness: Duration,
}

impl Node {
    /// A node publishing nothing, with no known addresses and no cloud.
    pub fn new() -> Self {
        Node::default()
    }

    /// Sets how long a positive answer from the cloud may be reused.
    pub fn set_freshness(&mut self, freshness: Duration) {
        self.freshness = freshness;
    }

    /// Takes part in a cloud, listening on `port` at the addresses of `scope`.
    pub fn add_cloud(
        &mut self,
        now: Instant,
        name: String,
        scope: CloudScope,
        port: u16,
        cloud: Cloud,
    ) {
        self.clouds.push(CloudSlot {
            name,
            scope,
            port,
            cloud,
        });
        let index = self.clouds.len() - 1;
        self.update_cloud_endpoints(now, index);
        let registrations: Vec<Registration> = self.registrations.values().cloned().collect();
        for registration in registrations {
            let publication = self.publication(&registration);
            self.clouds[index].cloud.register(now, publication);
        }
    }

    /// The clouds: name, scope, node.
    pub fn clouds(&self) -> impl Iterator<Item = (&str, CloudScope, &Cloud)> {
        self.clouds
            .iter()
            .map(|slot| (slot.name.as_str(), slot.scope, &slot.cloud))
    }

    /// Tells the node the machine's current non-loopback addresses (published for registrations
    /// that name none, and listened on by the clouds). A change re-publishes.
    pub fn handle_local_addresses(&mut self, now: Instant, mut addresses: Vec<ScopedAddr>) {
        addresses.sort();
        addresses.dedup();
        if addresses == self.local_addresses {
            return;
        }
        self.local_addresses = addresses;
        for index in 0..self.clouds.len() {
            self.update_cloud_endpoints(now, index);
        }
        let automatic: Vec<Registration> = self
            .registrations
            .values()
            .filter(|registration| registration.addresses.is_empty())
            .cloned()
            .collect();
        for registration in automatic {
            self.publish(now, &registration);
        }
    }

    fn update_cloud_endpoints(&mut self, now: Instant, index: usize) {
        let slot = &self.clouds[index];
        let endpoints: Vec<SocketAddrV6> = self
            .local_addresses
            .iter()
            .filter(|address| address.ipv4().is_none())
            .filter(|address| match slot.scope {
                CloudScope::Global => !address.is_link_local(),
                CloudScope::LinkLocal(interface) => {
                    address.is_link_local() && address.scope_id == interface
                }
            })
            .map(|address| SocketAddrV6::new(address.ip, slot.port, 0, address.scope_id))
            .collect();
        self.clouds[index].cloud.set_local_endpoints(now, endpoints);
    }

    fn publication(&self, registration: &Registration) -> Publication {
        let port = registration.port.unwrap_or(0);
        let app_endpoints = self
            .published(registration)
            .iter()
            .take(MAX_CLOUD_ENDPOINTS)
            .map(|address| AppEndpoint {
                address: address.ip,
                port,
                protocol: registration.protocol.number(),
            })
            .collect();
        // `Registration::checked` keeps comments within the friendly name's 78 bytes.
        let comment = registration.comment.clone();
        Publication {
            name: registration.name.clone(),
            app_endpoints,
            comment: comment.filter(|comment| !comment.is_empty()),
            payload: registration.payload.clone(),
            identity: self.identities.get(&registration.name).cloned(),
        }
    }

    fn publish(&mut self, now: Instant, registration: &Registration) {
        let publication = self.publication(registration);
        for slot in &mut self.clouds {
            slot.cloud.register(now, publication.clone());
        }
    }

    /// Publishes a name for local user `owner`, replacing an earlier registration of it on this
    /// node. A secured name's CPAs are signed by `identity`, the key its authority hashes.
    pub fn register(
        &mut self,
        now: Instant,
        registration: Registration,
        owner: u32,
        identity: Option<SigningKey>,
    ) -> RegistrationInfo {
        self.owners.insert(registration.name.clone(), owner);
        match identity {
            Some(key) => self.identities.insert(registration.name.clone(), key),
            None => self.identities.remove(&registration.name),
        };
        let info = self.info(&registration);
        self.fresh.remove(&registration.name);
        self.publish(now, &registration);
        self.registrations
            .insert(registration.name.clone(), registration);
        info
    }

    /// Withdraws a name; false when this node did not publish it.
    pub fn unregister(&mut self, now: Instant, name: &PeerName) -> bool {
        self.fresh.remove(name);
        self.owners.remove(name);
        self.identities.remove(name);
        for slot in &mut self.clouds {
            slot.cloud.unregister(now, name);
        }
        self.registrations.remove(name).is_some()
    }

    /// Whether this node publishes a name.
    pub fn is_registered(&self, name: &PeerName) -> bool {
        self.registrations.contains_key(name)
    }

    /// What this node publishes, with the addresses published for each.
    pub fn registrations(&self) -> Vec<RegistrationInfo> {
        self.registrations
            .values()
            .map(|registration| self.info(registration))
            .collect()
    }

    /// The registrations as they are persisted, with their owners.
    pub fn saved_registrations(&self) -> Vec<OwnedRegistration> {
        self.registrations
            .values()
            .map(|registration| OwnedRegistration {
                owner: self.owner_of(&registration.name).unwrap_or(0),
                registration: registration.clone(),
            })
            .collect()
    }

    /// The local user who registered a name.
    pub fn owner_of(&self, name: &PeerName) -> Option<u32> {
        self.owners.get(name).copied()
    }

    /// How many names a local user publishes.
    pub fn registered_by(&self, owner: u32) -> usize {
        self.owners.values().filter(|uid| **uid == owner).count()
    }

    /// Starts resolving a name; the answer arrives as [`Event::Resolved`] from [`Node::poll_event`]
    /// once every cloud has finished (at once when there is none).
    pub fn start_resolve(&mut self, now: Instant, name: &PeerName) -> QueryId {
        self.resolve(now, name, false)
    }

    /// Like [`Node::start_resolve`], bypassing the freshness window and reporting each cloud's
    /// hops in the event.
    pub fn start_trace(&mut self, now: Instant, name: &PeerName) -> QueryId {
        self.resolve(now, name, true)
    }

    fn resolve(&mut self, now: Instant, name: &PeerName, trace: bool) -> QueryId {
        let query = QueryId(self.next_query);
        self.next_query += 1;
        let records: Vec<Record> = self
            .registrations
            .get(name)
            .map(|registration| self.record(registration))
            .filter(|record| !record.addresses.is_empty())
            .into_iter()
            .collect();
        if let Some((at, cached)) = self.fresh.get(name).filter(|_| !trace) {
            if now.saturating_duration_since(*at) < self.freshness {
                let mut all = records;
                all.extend(cached.iter().cloned());
                self.events.push_back(Event::Resolved {
                    query,
                    records: all,
                    trace: Vec::new(),
                });
                return query;
            }
        }
        let active: Vec<usize> = (0..self.clouds.len())
            .filter(|&index| !self.clouds[index].cloud.local_endpoints().is_empty())
            .collect();
        self.resolving.insert(
            query,
            PendingResolve {
                name: name.clone(),
                waiting: active.len(),
                records,
                trace: trace.then(Vec::new),
            },
        );
        for index in active {
            self.clouds[index].cloud.resolve(now, name, query.0);
        }
        self.collect_cloud_events(now);
        self.finish_ready(now);
        query
    }

    fn collect_cloud_events(&mut self, _now: Instant) {
        for index in 0..self.clouds.len() {
            while let Some(CloudEvent::Resolved { query, found, hops }) =
                self.clouds[index].cloud.poll_event()
            {
                let own: Vec<Ipv6Addr> = self.clouds[index]
                    .cloud
                    .local_endpoints()
                    .iter()
                    .map(|endpoint| *endpoint.ip())
                    .collect();
                let Some(name) = self
                    .resolving
                    .get(&QueryId(query))
                    .map(|pending| pending.name.clone())
                else {
                    continue;
                };
                let records: Vec<Record> = found
                    .iter()
                    .filter(|found| !own.contains(found.publisher.ip()))
                    .filter_map(|found| self.cloud_record(index, &name, found))
                    .collect();
                let cloud = self.clouds[index].name.clone();
                if let Some(pending) = self.resolving.get_mut(&QueryId(query)) {
                    pending.waiting = pending.waiting.saturating_sub(1);
                    pending.records.extend(records);
                    if let Some(trace) = &mut pending.trace {
                        trace.push(TraceInfo {
                            cloud,
                            hops: hops.iter().map(ToString::to_string).collect(),
                            publishers: found
                                .iter()
                                .map(|found| found.publisher.to_string())
                                .collect(),
                        });
                    }
                }
            }
        }
    }

    fn cloud_record(&self, index: usize, name: &PeerName, found: &Found) -> Option<Record> {
        let slot = &self.clouds[index];
        let scope = match slot.scope {
            CloudScope::Global => 0,
            CloudScope::LinkLocal(interface) => interface,
        };
        let addresses: Vec<ScopedAddr> = found
            .app_endpoints
            .iter()
            .map(|endpoint| {
                let candidate = ScopedAddr {
                    ip: endpoint.address,
                    scope_id: 0,
                };
                ScopedAddr {
                    ip: endpoint.address,
                    scope_id: if candidate.is_link_local() { scope } else { 0 },
                }
            })
            // A link-local address means nothing outside its link.
            .filter(|address| !address.is_link_local() || address.scope_id != 0)
            .collect();
        if addresses.is_empty() {
            return None;
        }
        let port = found
            .app_endpoints
            .iter()
            .map(|endpoint| endpoint.port)
            .find(|port| *port != 0);
        // One protocol per record: the first endpoint's (we publish one for all).
        let protocol = found
            .app_endpoints
            .first()
            .and_then(|endpoint| Protocol::from_number(endpoint.protocol))
            .unwrap_or_default();
        Some(Record {
            name: name.clone(),
            addresses,
            port,
            protocol,
            comment: found.comment.clone(),
            payload: found.payload.clone(),
            source: format!("{} via {}", slot.name, found.publisher),
        })
    }

    fn finish_ready(&mut self, now: Instant) {
        let done: Vec<QueryId> = self
            .resolving
            .iter()
            .filter(|(_, pending)| pending.waiting == 0)
            .map(|(query, _)| *query)
            .collect();
        for query in done {
            let Some(pending) = self.resolving.remove(&query) else {
                continue;
            };
            let remote: Vec<Record> = pending
                .records
                .iter()
                .filter(|record| record.source != LOCAL_SOURCE)
                .cloned()
                .collect();
            // A positive answer (ours, others' or both) is reused for the freshness window;
            // "not found" never is.
            if !pending.records.is_empty() && !self.freshness.is_zero() {
                self.fresh.insert(pending.name.clone(), (now, remote));
            }
            self.events.push_back(Event::Resolved {
                query,
                records: pending.records,
                trace: pending.trace.unwrap_or_default(),
            });
        }
        self.fresh
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < self.freshness);
    }

    /// The clouds, for `pnrpctl clouds`.
    pub fn cloud_info(&self) -> Vec<CloudInfo> {
        self.clouds
            .iter()
            .map(|slot| {
                let stats = slot.cloud.stats();
                CloudInfo {
                    name: slot.name.clone(),
                    endpoints: slot
                        .cloud
                        .local_endpoints()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    cached: slot.cloud.cache().len() as u32,
                    published: slot
                        .cloud
                        .published()
                        .into_iter()
                        .map(|(id, name)| (id.to_string(), name.to_string()))
                        .collect(),
                    counters: [
                        stats.sent,
                        stats.received,
                        stats.malformed,
                        stats.bad_cpas,
                        stats.rate_limited,
                        stats.withheld,
                    ],
                }
            })
            .collect()
    }

    /// Every cloud's cached route entries, for `pnrpctl cache`.
    pub fn cache_info(&self, now: Instant) -> Vec<CacheEntryInfo> {
        self.clouds
            .iter()
            .flat_map(|slot| {
                slot.cloud.cache().entries().map(|entry| CacheEntryInfo {
                    cloud: slot.name.clone(),
                    id: entry.id.to_string(),
                    endpoints: entry.endpoints.iter().map(ToString::to_string).collect(),
                    age_secs: now.saturating_duration_since(entry.last_seen).as_secs(),
                })
            })
            .collect()
    }

    /// The cloud a datagram from `from` belongs to: the `LinkLocal_` cloud of its interface for a
    /// link-local source, else `Global_`.
    pub fn cloud_for(&self, from: &SocketAddrV6) -> Option<usize> {
        let link_local = from.ip().is_unicast_link_local();
        self.clouds.iter().position(|slot| match slot.scope {
            CloudScope::LinkLocal(interface) => link_local && from.scope_id() == interface,
            CloudScope::Global => !link_local,
        })
    }

    /// Whether a `LinkLocal_` cloud exists for an interface.
    pub fn has_link_local_cloud(&self, interface: u32) -> bool {
        self.clouds
            .iter()
            .any(|slot| slot.scope == CloudScope::LinkLocal(interface))
    }

    /// An SSDP datagram arrived from `from`: the answers to send back to it.
    pub fn handle_ssdp(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) -> Vec<Vec<u8>> {
        let Some(message) = crate::cloud::ssdp::parse(bytes) else {
            return Vec::new();
        };
        let scope = match &message {
            crate::cloud::ssdp::SsdpMessage::Search { scope }
            | crate::cloud::ssdp::SsdpMessage::Response { scope, .. } => scope.clone(),
        };
        let answers = self
            .clouds
            .iter_mut()
            .filter(|slot| match slot.scope {
                CloudScope::LinkLocal(interface) => {
                    scope == "LinkLocal" && from.scope_id() == interface
                }
                CloudScope::Global => scope == "Global",
            })
            .filter_map(|slot| slot.cloud.handle_ssdp(now, from, bytes.len(), &message))
            .collect();
        self.collect_cloud_events(now);
        self.finish_ready(now);
        answers
    }

    /// The next SSDP search to multicast: the interface to send it on (`None`: every interface)
    /// and the bytes.
    pub fn poll_ssdp(&mut self) -> Option<(Option<u32>, Vec<u8>)> {
        self.clouds.iter_mut().find_map(|slot| {
            let interface = match slot.scope {
                CloudScope::LinkLocal(interface) => Some(interface),
                CloudScope::Global => None,
            };
            slot.cloud.poll_ssdp().map(|bytes| (interface, bytes))
        })
    }

    /// A datagram arrived for cloud `index`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        index: usize,
        from: SocketAddrV6,
        bytes: &[u8],
    ) {
        if let Some(slot) = self.clouds.get_mut(index) {
            slot.cloud.handle_datagram(now, from, bytes);
        }
        self.collect_cloud_events(now);
        self.finish_ready(now);
    }

    /// The next datagram to send: the cloud's index, the destination and the bytes.
    pub fn poll_transmit(&mut self) -> Option<(usize, SocketAddrV6, Vec<u8>)> {
        self.clouds
            .iter_mut()
            .enumerate()
            .find_map(|(index, slot)| {
                slot.cloud
                    .poll_transmit()
                    .map(|(to, bytes)| (index, to, bytes))
            })
    }

    /// The names known to this node that point at an address (scope ignored unless both have one).
    pub fn names_at(&self, address: &ScopedAddr) -> Vec<PeerName> {
        self.registrations
            .values()
            .filter(|registration| {
                self.published(registration).iter().any(|published| {
                    published.ip == address.ip
                        && (published.scope_id == 0
                            || address.scope_id == 0
                            || published.scope_id == address.scope_id)
                })
            })
            .map(|registration| registration.name.clone())
            .collect()
    }

    /// The next thing the driver must act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the node next needs [`Node::handle_timeout`]; `None` while it has no timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.clouds
            .iter()
            .filter_map(|slot| slot.cloud.poll_timeout())
            .min()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in &mut self.clouds {
            if slot.cloud.poll_timeout().is_some_and(|due| due <= now) {
                slot.cloud.handle_timeout(now);
            }
        }
        self.collect_cloud_events(now);
        self.finish_ready(now);
    }

    fn published<'a>(&'a self, registration: &'a Registration) -> &'a [ScopedAddr] {
        if registration.addresses.is_empty() {
            &self.local_addresses
        } else {
            &registration.addresses
        }
    }

    fn info(&self, registration: &Registration) -> RegistrationInfo {
        RegistrationInfo {
            registration: registration.clone(),
            published: self.published(registration).to_vec(),
            owner: self.owner_of(&registration.name).unwrap_or(0),
        }
    }

    fn record(&self, registration: &Registration) -> Record {
        Record {
            name: registration.name.clone(),
            addresses: self.published(registration).to_vec(),
            port: registration.port,
            protocol: registration.protocol,
            comment: registration.comment.clone(),
            payload: registration.payload.clone(),
            source: LOCAL_SOURCE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str, scope_id: u32) -> ScopedAddr {
        ScopedAddr {
            ip: text.parse().unwrap(),
            scope_id,
        }
    }

    fn registration(name: &str, addresses: Vec<ScopedAddr>) -> Registration {
        Registration {
            name: name.parse().unwrap(),
            addresses,
            port: None,
            protocol: Default::default(),
            comment: None,
            payload: None,
        }
    }

    fn resolve(node: &mut Node, name: &str) -> Vec<Record> {
        let now = Instant::now();
        let query = node.start_resolve(now, &name.parse().unwrap());
        match node.poll_event() {
            Some(Event::Resolved {
                query: done,
                records,
                ..
            }) if done == query => records,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn resolves_registered_names_only() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.a", vec![addr("fd00::1", 0)]), 0, None);
        let records = resolve(&mut node, "0.a");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].addresses, vec![addr("fd00::1", 0)]);
        assert_eq!(records[0].source, LOCAL_SOURCE);
        assert!(resolve(&mut node, "0.A").is_empty());
        assert!(node.unregister(now, &"0.a".parse().unwrap()));
        assert!(!node.unregister(now, &"0.a".parse().unwrap()));
        assert!(resolve(&mut node, "0.a").is_empty());
        assert!(node.poll_event().is_none());
    }

    #[test]
    fn automatic_addresses_follow_the_machine() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.auto", vec![]), 0, None);
        assert!(
            resolve(&mut node, "0.auto").is_empty(),
            "no addresses known yet"
        );
        node.handle_local_addresses(now, vec![addr("fe80::1", 2), addr("fd00::5", 0)]);
        assert_eq!(
            resolve(&mut node, "0.auto")[0].addresses,
            vec![addr("fd00::5", 0), addr("fe80::1", 2)]
        );
        node.handle_local_addresses(now, vec![addr("fd00::6", 0)]);
        assert_eq!(
            resolve(&mut node, "0.auto")[0].addresses,
            vec![addr("fd00::6", 0)]
        );
        assert_eq!(node.names_at(&addr("fd00::6", 0)).len(), 1);
        assert!(node.names_at(&addr("fd00::5", 0)).is_empty());
    }

    #[test]
    fn reverse_lookup_respects_scopes() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.ll", vec![addr("fe80::9", 3)]), 0, None);
        assert_eq!(node.names_at(&addr("fe80::9", 3)).len(), 1);
        assert_eq!(node.names_at(&addr("fe80::9", 0)).len(), 1);
        assert!(node.names_at(&addr("fe80::9", 4)).is_empty());
    }
}
