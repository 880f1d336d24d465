//! The engine: this machine's registrations, published in every cloud it takes part in, and
//! resolves merged over those clouds. Sans-IO like the rest of the crate.
//!
//! The driver feeds it `now`, the machine's addresses and datagrams through `handle_*`, and drains
//! datagrams, timers and results through `poll_*`. A resolve is started with
//! [`Engine::start_resolve`] (or [`Engine::start_trace`]) and finishes as one [`Event`] once every
//! cloud has answered; a positive answer is reused for the freshness window, and "not found" from
//! the clouds for the shorter negative window ([`negative_window`]). Who owns a name, and whether
//! it may be published, is the daemon's business, not the engine's.
//!
//! Layout: this file — the [`Engine`]; `types.rs` — what goes in and comes out of it (records,
//! their sources, traces, events, the clouds' status); `tests.rs` — its unit tests.

mod types;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::{PeerName, Protocol, Registration, ScopedAddr};

pub use self::types::{
    CachedNode, CloudScope, CloudStatus, Event, Published, QueryId, Record, Source, Trace,
};
use crate::cloud::ssdp::{self, SsdpMessage};
use crate::cloud::{Cloud, CloudEvent, Counters, Found, Publication, Transmit};
use crate::wire::AppEndpoint;

/// Most application endpoints a CPA carries (§2.2.3.1.2).
const MAX_CLOUD_ENDPOINTS: usize = 10;

/// The longest a "not found" from the clouds is reused.
pub const MAX_NEGATIVE_WINDOW: Duration = Duration::from_secs(5);

/// How long a "not found" from the clouds is reused, for a freshness window of `freshness`: as
/// long, up to [`MAX_NEGATIVE_WINDOW`] (a name just published elsewhere should not stay unknown
/// here for long; a program asking again and again for a missing name should not cost a search
/// each time).
pub fn negative_window(freshness: Duration) -> Duration {
    freshness.min(MAX_NEGATIVE_WINDOW)
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
    traces: Option<Vec<Trace>>,
    /// Whether a cloud was asked (only then may "not found" be reused).
    asked: bool,
}

/// The engine's state.
#[derive(Debug, Default)]
pub struct Engine {
    registrations: BTreeMap<PeerName, Registration>,
    identities: HashMap<PeerName, SigningKey>,
    local_addresses: Vec<ScopedAddr>,
    events: VecDeque<Event>,
    next_query: u64,
    clouds: Vec<CloudSlot>,
    resolving: HashMap<QueryId, PendingResolve>,
    fresh: HashMap<PeerName, (Instant, Vec<Record>)>,
    freshness: Duration,
    /// Names the clouds did not find, and when.
    absent: HashMap<PeerName, Instant>,
}

impl Engine {
    /// An engine publishing nothing, with no known addresses and no cloud.
    pub fn new() -> Self {
        Engine::default()
    }

    /// Sets how long a positive answer from the cloud may be reused (and "not found", for
    /// [`negative_window`] of it).
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

    /// Tells the engine the machine's current non-loopback addresses (published for
    /// registrations that name none, and listened on by the clouds). A change re-publishes.
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
            .addresses_of(registration)
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

    /// Publishes a name, replacing an earlier registration of it. A secured name's CPAs are
    /// signed by `identity`, the key its authority hashes.
    pub fn register(
        &mut self,
        now: Instant,
        registration: Registration,
        identity: Option<SigningKey>,
    ) -> Published {
        match identity {
            Some(key) => self.identities.insert(registration.name.clone(), key),
            None => self.identities.remove(&registration.name),
        };
        self.fresh.remove(&registration.name);
        self.absent.remove(&registration.name);
        self.publish(now, &registration);
        let published = self.published(&registration);
        self.registrations
            .insert(registration.name.clone(), registration);
        published
    }

    /// Withdraws a name; false when this engine did not publish it.
    pub fn unregister(&mut self, now: Instant, name: &PeerName) -> bool {
        self.fresh.remove(name);
        self.absent.remove(name);
        self.identities.remove(name);
        for slot in &mut self.clouds {
            slot.cloud.unregister(now, name);
        }
        self.registrations.remove(name).is_some()
    }

    /// A name this engine publishes.
    pub fn registration(&self, name: &PeerName) -> Option<&Registration> {
        self.registrations.get(name)
    }

    /// How many names this engine publishes.
    pub fn registered(&self) -> usize {
        self.registrations.len()
    }

    /// What this engine publishes, with the addresses published for each, in name order.
    pub fn registrations(&self) -> Vec<Published> {
        self.registrations
            .values()
            .map(|registration| self.published(registration))
            .collect()
    }

    /// Starts resolving a name; the answer arrives as [`Event::Resolved`] from
    /// [`Engine::poll_event`] once every cloud has finished (at once when there is none).
    pub fn start_resolve(&mut self, now: Instant, name: &PeerName) -> QueryId {
        self.resolve(now, name, false)
    }

    /// Like [`Engine::start_resolve`], bypassing the freshness window; the answer is an
    /// [`Event::Traced`] with each cloud's hops.
    pub fn start_trace(&mut self, now: Instant, name: &PeerName) -> QueryId {
        self.resolve(now, name, true)
    }

    fn resolve(&mut self, now: Instant, name: &PeerName, trace: bool) -> QueryId {
        let query = QueryId(self.next_query);
        self.next_query += 1;
        let records: Vec<Record> = self
            .registrations
            .get(name)
            .map(|registration| self.local_record(registration))
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
                });
                return query;
            }
        }
        if let Some(at) = self
            .absent
            .get(name)
            .filter(|_| !trace && records.is_empty())
        {
            if now.saturating_duration_since(*at) < negative_window(self.freshness) {
                self.events.push_back(Event::Resolved {
                    query,
                    records: Vec::new(),
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
                traces: trace.then(Vec::new),
                asked: !active.is_empty(),
            },
        );
        for index in active {
            self.clouds[index].cloud.resolve(now, name, query.0);
        }
        self.collect_cloud_events(now);
        query
    }

    /// Takes the clouds' finished resolves into the engine's, and reports those complete.
    fn collect_cloud_events(&mut self, now: Instant) {
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
                    if let Some(traces) = &mut pending.traces {
                        traces.push(Trace {
                            cloud,
                            hops,
                            publishers: found.iter().map(|found| found.publisher).collect(),
                        });
                    }
                }
            }
        }
        self.finish_ready(now);
    }

    fn cloud_record(&self, index: usize, name: &PeerName, found: &Found) -> Option<Record> {
        let slot = &self.clouds[index];
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
                    scope_id: if candidate.is_link_local() {
                        slot.scope.interface()
                    } else {
                        0
                    },
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
            source: Source::Cloud {
                cloud: slot.name.clone(),
                publisher: found.publisher,
            },
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
            // A positive answer (ours, others' or both) is reused for the freshness window;
            // "not found" never is.
            if !pending.records.is_empty() && !self.freshness.is_zero() {
                let remote: Vec<Record> = pending
                    .records
                    .iter()
                    .filter(|record| record.source != Source::Local)
                    .cloned()
                    .collect();
                self.fresh.insert(pending.name.clone(), (now, remote));
                self.absent.remove(&pending.name);
            }
            // "Not found" from the clouds, for the negative window; one made without a cloud
            // (none active) is not, so that the first cloud to come up is asked at once.
            let negative = negative_window(self.freshness);
            if pending.records.is_empty()
                && pending.asked
                && pending.traces.is_none()
                && !negative.is_zero()
            {
                self.absent.insert(pending.name.clone(), now);
            }
            self.events.push_back(match pending.traces {
                Some(traces) => Event::Traced { query, traces },
                None => Event::Resolved {
                    query,
                    records: pending.records,
                },
            });
        }
        self.fresh
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < self.freshness);
        let negative = negative_window(self.freshness);
        self.absent
            .retain(|_, at| now.saturating_duration_since(*at) < negative);
    }

    /// The clouds, for `pnrpctl clouds`.
    pub fn clouds(&self) -> Vec<CloudStatus> {
        self.clouds
            .iter()
            .map(|slot| CloudStatus {
                name: slot.name.clone(),
                scope: slot.scope,
                endpoints: slot.cloud.local_endpoints().to_vec(),
                cached: slot.cloud.cache().len(),
                published: slot.cloud.published(),
                counters: slot.cloud.counters(),
                estimated_size: slot.cloud.estimated_size(),
                reachability: slot.cloud.reachability(),
            })
            .collect()
    }

    /// Every cloud's counters, summed.
    pub fn counters(&self) -> Counters {
        self.clouds
            .iter()
            .map(|slot| slot.cloud.counters())
            .fold(Counters::default(), |sum, counters| sum + counters)
    }

    /// Every cloud's cached route entries, for `pnrpctl cache`.
    pub fn cached(&self, now: Instant) -> Vec<CachedNode> {
        self.clouds
            .iter()
            .flat_map(|slot| {
                slot.cloud.cache().entries().map(|entry| CachedNode {
                    cloud: slot.name.clone(),
                    id: entry.id,
                    endpoints: entry.endpoints.to_vec(),
                    age: now.saturating_duration_since(entry.last_seen),
                })
            })
            .collect()
    }

    /// Up to `limit` cloud nodes worth remembering for the next start: those most recently
    /// proven alive first (the first endpoint of each cached entry, each endpoint once).
    pub fn known_nodes(&self, limit: usize) -> Vec<SocketAddrV6> {
        let mut entries: Vec<(Instant, SocketAddrV6)> = self
            .clouds
            .iter()
            .flat_map(|slot| slot.cloud.cache().entries())
            .filter_map(|entry| Some((entry.last_seen, *entry.endpoints.first()?)))
            .collect();
        entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut nodes: Vec<SocketAddrV6> = Vec::new();
        for (_, endpoint) in entries {
            if nodes.len() == limit {
                break;
            }
            if !nodes.contains(&endpoint) {
                nodes.push(endpoint);
            }
        }
        nodes
    }

    /// Replaces the nodes every cloud joins through: each cloud takes those of its scope (a
    /// link-local seed goes to its interface's `LinkLocal_` cloud). A cloud that is alone asks
    /// the new ones at once.
    pub fn set_seeds(&mut self, now: Instant, seeds: &[SocketAddrV6]) {
        for slot in &mut self.clouds {
            let mine = seeds
                .iter()
                .filter(|seed| match slot.scope {
                    CloudScope::Global => !seed.ip().is_unicast_link_local(),
                    CloudScope::LinkLocal(interface) => {
                        seed.ip().is_unicast_link_local() && seed.scope_id() == interface
                    }
                })
                .copied()
                .collect();
            slot.cloud.set_seeds(now, mine);
        }
    }

    /// Leaves every cloud (§1.3.3.4): each registration is revoked at its neighbours there. The
    /// registrations stay registered here (the state directory keeps them for the next start).
    /// [`Engine::is_settled`] tells when the revokes have been acknowledged.
    pub fn leave(&mut self, now: Instant) {
        for slot in &mut self.clouds {
            slot.cloud.leave(now);
        }
    }

    /// Whether every cloud's FLOODs (revokes after [`Engine::leave`]) have been acknowledged.
    pub fn is_settled(&self) -> bool {
        self.clouds.iter().all(|slot| slot.cloud.is_settled())
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
        let Some(message) = ssdp::parse(bytes) else {
            return Vec::new();
        };
        let scope = match &message {
            SsdpMessage::Search { scope } | SsdpMessage::Response { scope, .. } => *scope,
        };
        let answers = self
            .clouds
            .iter_mut()
            .filter(|slot| {
                slot.scope.ssdp() == scope
                    && (slot.scope == CloudScope::Global
                        || from.scope_id() == slot.scope.interface())
            })
            .filter_map(|slot| slot.cloud.handle_ssdp(now, from, bytes.len(), &message))
            .collect();
        self.collect_cloud_events(now);
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

    /// A datagram arrived for cloud `index`, at the cloud's port or (`side`) at the side port.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        index: usize,
        from: SocketAddrV6,
        bytes: &[u8],
        side: bool,
    ) {
        if let Some(slot) = self.clouds.get_mut(index) {
            if side {
                slot.cloud.handle_side_datagram(now, from, bytes);
            } else {
                slot.cloud.handle_datagram(now, from, bytes);
            }
        }
        self.collect_cloud_events(now);
    }

    /// The next datagram to send, and the index of the cloud sending it.
    pub fn poll_transmit(&mut self) -> Option<(usize, Transmit)> {
        self.clouds
            .iter_mut()
            .enumerate()
            .find_map(|(index, slot)| slot.cloud.poll_transmit().map(|transmit| (index, transmit)))
    }

    /// The names this engine publishes that point at an address (scope ignored unless both
    /// have one).
    pub fn names_at(&self, address: &ScopedAddr) -> Vec<PeerName> {
        self.registrations
            .values()
            .filter(|registration| {
                self.addresses_of(registration).iter().any(|published| {
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

    /// When the engine next needs [`Engine::handle_timeout`]; `None` while it has no timers.
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
    }

    fn addresses_of<'a>(&'a self, registration: &'a Registration) -> &'a [ScopedAddr] {
        if registration.addresses.is_empty() {
            &self.local_addresses
        } else {
            &registration.addresses
        }
    }

    fn published(&self, registration: &Registration) -> Published {
        Published {
            registration: registration.clone(),
            addresses: self.addresses_of(registration).to_vec(),
        }
    }

    fn local_record(&self, registration: &Registration) -> Record {
        Record {
            name: registration.name.clone(),
            addresses: self.addresses_of(registration).to_vec(),
            port: registration.port,
            protocol: registration.protocol,
            comment: registration.comment.clone(),
            payload: registration.payload.clone(),
            source: Source::Local,
        }
    }
}

#[cfg(test)]
mod tests;
