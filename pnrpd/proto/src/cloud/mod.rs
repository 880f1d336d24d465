//! One PNRP cloud as a sans-IO state machine ([MS-PNRP] §3): [`Cloud`], this node's part in it.
//!
//! Fed datagrams and `now` through `handle_*`, drained through `poll_*`; it reads no clock, opens
//! no socket and draws randomness only from its seeded generator, so a whole run is reproducible.
//! A *node*, here and in the spec, is one participant of a cloud: one `Cloud` value, ours or a
//! peer's in the simulator.
//!
//! Layout, by responsibility (each module adds the `impl Cloud` methods of its part):
//! - this file — the configuration, the public types and methods, and the dispatch of datagrams,
//!   answers and timers to the modules below.
//! - [`requests`] — the table of outstanding requests, each with what it is for.
//! - `transport` — sending, retransmission, the anti-amplification budget and proofs of address.
//! - [`guard`] — per-source rate limits, budgets and proofs, the tables `transport` consults.
//! - `join` — joining a cloud (§3.1.4.3): SOLICIT, ADVERTISE, REQUEST, and SSDP discovery.
//! - `admission` — route entries proven before they enter the cache (§3.1.5.11), new leaves
//!   flooded to neighbours (§3.2.5.11), revokes.
//! - `publish` — this node's registrations: announcing (§3.2.4.1), revoking (§3.2.4.2), CPAs.
//! - `answer` — answering LOOKUPs (§3.2.5.2) and INQUIREs (§3.2.5.6).
//! - [`resolve`] — resolving (§3.1.4.4.2): a pure state machine and what runs it.
//! - `maintenance` — the 15-second round: liveness of neighbours, re-announcing, balancing.
//! - [`reachability`] — whether others can reach this node unsolicited (firewalls).
//! - [`split`] — the addresses to join through, in rotation; split detection and merging.
//! - `addresses` — which of a multi-homed peer's addresses to try first (RFC 6724).
//! - [`cache`] — the multi-level route cache and leaf sets (§3.2.1.1).
//! - [`ssdp`] — the discovery messages.

mod addresses;
mod admission;
mod answer;
pub mod cache;
pub mod guard;
mod join;
mod maintenance;
mod publish;
pub mod reachability;
pub mod requests;
pub mod resolve;
pub mod split;
pub mod ssdp;
mod transport;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::ops::Add;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use pnrp_shared::{PeerName, PnrpId};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use self::cache::{CacheEntry, RouteCache};
use self::guard::Guard;
use self::join::Conversation;
use self::publish::Local;
use self::reachability::{Contacts, SelfCheck};
use self::requests::{Expired, Purpose, Reply, Requests, ResolveId};
use self::resolve::Resolve;
use self::split::Rendezvous;
use self::ssdp::SsdpScope;
use self::transport::Deferred;
use crate::wire::{
    AppEndpoint, AuthorityBuffer, BoundedVec, CpaPublicKey, Endpoint, Message, Packet, Reassembly,
    RouteEntry, MAX_AUTHORITY_BUFFER,
};

pub use self::maintenance::MAINTENANCE;
pub use self::requests::RETRANSMIT;

/// Maps the node's monotonic `now` to UTC, which CPAs carry (NotAfter). Set once by the driver.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    /// A moment on the monotonic clock…
    pub at: Instant,
    /// …and the Unix time in seconds at that moment.
    pub unix_secs: u64,
}

impl WallClock {
    /// The Unix time in seconds at `now`.
    pub fn unix(&self, now: Instant) -> u64 {
        self.unix_secs + now.saturating_duration_since(self.at).as_secs()
    }
}

/// How a cloud node is set up.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// Seeds the node's random choices (message IDs, nonces, service locations).
    pub seed: u64,
    /// Nodes to join through.
    pub seeds: Vec<SocketAddrV6>,
    /// Signs this node's CPAs.
    pub key: SigningKey,
    /// UTC for CPAs.
    pub clock: WallClock,
    /// Interface index given to link-local addresses learned from the wire (0 for the global
    /// cloud).
    pub scope_id: u32,
    /// The SSDP scope this node searches and answers in, or `None` for no multicast discovery.
    pub discovery: Option<SsdpScope>,
}

/// A name this node publishes in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The name.
    pub name: PeerName,
    /// The application endpoints resolvers get (at most 10; the CPA payload's limit).
    pub app_endpoints: Vec<AppEndpoint>,
    /// The friendly name (at most 78 bytes of UTF-8).
    pub comment: Option<String>,
    /// The extended payload (1 to 4096 bytes), served on INQUIREs with the X flag.
    pub payload: Option<Vec<u8>>,
    /// A secured name's identity, which signs its CPAs and payload; `None` signs with the node's
    /// own key (enough for an unsecured name, which any key may publish).
    pub identity: Option<SigningKey>,
}

/// One registration found by a resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its PNRP ID.
    pub id: PnrpId,
    /// The publisher's PNRP endpoint.
    pub publisher: SocketAddrV6,
    /// The application endpoints from its signed CPA.
    pub app_endpoints: Vec<AppEndpoint>,
    /// Its friendly name.
    pub comment: Option<String>,
    /// Its extended payload, signed with the CPA's key.
    pub payload: Option<Vec<u8>>,
}

/// A datagram to send, and which of the node's two ports it leaves from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The destination.
    pub to: SocketAddrV6,
    /// The datagram.
    pub bytes: Vec<u8>,
    /// From the side port rather than the cloud's port: a source the peer never sent to, so
    /// that only a node that can be reached unsolicited (not behind a stateful firewall) gets
    /// it. The driver feeds what arrives on that port to [`Cloud::handle_side_datagram`].
    pub side: bool,
}

/// What the cloud reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudEvent {
    /// A resolve finished.
    Resolved {
        /// The caller's tag.
        query: u64,
        /// Every registration found (empty: not in the cloud).
        found: Vec<Found>,
        /// The nodes asked, in order (for traceroute).
        hops: Vec<SocketAddrV6>,
    },
}

/// Whether other nodes can reach this one unsolicited (docs/PROTOCOL.md, "Firewalls").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reachability {
    /// Not known yet (or nothing published here, so nobody needs to reach us).
    #[default]
    Unknown,
    /// A node we had not talked to reached us: we can be handed out as a route entry.
    Reachable,
    /// Our registrations were announced, yet nobody we had not talked to first reached us: a
    /// stateful firewall drops what we did not ask for. We resolve, but offer no route entry of
    /// our own.
    Firewalled,
}

/// Traffic counters, for tests, benchmarks and `pnrpctl clouds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams queued for sending.
    pub sent: u64,
    /// Datagrams received that decoded.
    pub received: u64,
    /// Datagrams dropped as malformed.
    pub malformed: u64,
    /// CPAs that failed validation.
    pub bad_cpas: u64,
    /// Datagrams dropped undecoded: their source exceeded its rate.
    pub rate_limited: u64,
    /// Answers not sent: they would have exceeded an unproven source's amplification budget.
    pub withheld: u64,
}

impl Add for Counters {
    type Output = Counters;

    fn add(self, other: Counters) -> Counters {
        Counters {
            sent: self.sent + other.sent,
            received: self.received + other.received,
            malformed: self.malformed + other.malformed,
            bad_cpas: self.bad_cpas + other.bad_cpas,
            rate_limited: self.rate_limited + other.rate_limited,
            withheld: self.withheld + other.withheld,
        }
    }
}

/// One cloud's node.
#[derive(Debug)]
pub struct Cloud {
    config: CloudConfig,
    rng: SmallRng,
    public_key: CpaPublicKey,
    local_endpoints: Vec<SocketAddrV6>,
    cache: RouteCache,
    /// The cache's anchor while we publish nothing: a random ID of our own.
    anchor: PnrpId,
    /// Boxed: a map's node reserves room for several values, and most nodes publish one name.
    locals: BTreeMap<PnrpId, Box<Local>>,
    requests: Requests,
    /// Synchronizations others opened with us (join, answering side).
    conversations: HashMap<SocketAddrV6, Conversation>,
    /// Boxed, for the same reason: the map keeps its capacity between resolves.
    resolves: HashMap<ResolveId, Box<Resolve>>,
    next_resolve: ResolveId,
    reassembly: Reassembly,
    transmits: VecDeque<Transmit>,
    /// Whether the datagram being handled came to the side port: its answers leave from there.
    on_side: bool,
    events: VecDeque<CloudEvent>,
    next_maintenance: Instant,
    maintenance_round: u32,
    counters: Counters,
    ssdp_out: VecDeque<Vec<u8>>,
    ssdp_targets: u32,
    /// The latest `now` the node was given: when what it sends is sent.
    now: Instant,
    /// Where we sent from our port lately (the pinholes a firewall would hold for us).
    contacts: Contacts,
    self_check: SelfCheck,
    guard: Guard,
    deferred: Vec<Deferred>,
    /// Seeds and lost nodes, in rotation.
    rendezvous: Rendezvous,
    /// SOLICITs sent since the last join began.
    solicits_this_round: usize,
}

/// Addresses of one node we try, at most (our own Local Endpoint List holds four).
const MAX_TRIED: usize = 4;

fn one() -> PnrpId {
    let mut bytes = [0; 32];
    bytes[31] = 1;
    PnrpId(bytes)
}

/// A ROUTE_ENTRY for `id` at `endpoints` (one port for all, as the structure has; at most 20).
fn route_entry(id: PnrpId, endpoints: &[SocketAddrV6]) -> Option<RouteEntry> {
    let first = endpoints.first()?;
    let addresses: Vec<Ipv6Addr> = endpoints.iter().map(|endpoint| *endpoint.ip()).collect();
    Some(RouteEntry {
        pnrp_id: id,
        port: first.port(),
        addresses: BoundedVec::truncating(addresses)?,
    })
}

impl Cloud {
    /// A node that has not joined yet; [`Cloud::set_local_endpoints`] starts it.
    pub fn new(config: CloudConfig, now: Instant) -> Self {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let mut anchor = [0; 32];
        rng.fill_bytes(&mut anchor);
        let anchor = PnrpId(anchor);
        let public_key = CpaPublicKey::of(&config.key);
        Cloud {
            config,
            rng,
            public_key,
            local_endpoints: Vec::new(),
            cache: RouteCache::new(vec![anchor]),
            anchor,
            locals: BTreeMap::new(),
            requests: Requests::default(),
            conversations: HashMap::new(),
            resolves: HashMap::new(),
            next_resolve: 0,
            reassembly: Reassembly::new(16, 4 * MAX_AUTHORITY_BUFFER),
            transmits: VecDeque::new(),
            on_side: false,
            events: VecDeque::new(),
            next_maintenance: now,
            maintenance_round: 0,
            counters: Counters::default(),
            ssdp_out: VecDeque::new(),
            ssdp_targets: 0,
            now,
            contacts: Contacts::default(),
            self_check: SelfCheck::default(),
            guard: Guard::default(),
            deferred: Vec::new(),
            rendezvous: Rendezvous::default(),
            solicits_this_round: 0,
        }
    }

    /// Where this node listens (at most four, same scope); a change re-publishes every name.
    pub fn set_local_endpoints(&mut self, now: Instant, mut endpoints: Vec<SocketAddrV6>) {
        endpoints.sort();
        endpoints.dedup();
        endpoints.truncate(4);
        if endpoints == self.local_endpoints {
            return;
        }
        self.now = now;
        let joining = self.local_endpoints.is_empty();
        self.local_endpoints = endpoints;
        self.self_check.reset();
        if self.local_endpoints.is_empty() {
            return;
        }
        let publications: Vec<Publication> = self
            .locals
            .values()
            .map(|local| local.publication.clone())
            .collect();
        for publication in publications {
            self.register(now, publication);
        }
        if joining {
            self.join(now);
        } else {
            // §3.2.7.2: the cloud hears of the new addresses at once. A new prefix made new IDs,
            // announced by `register`; the IDs a same-prefix change kept are announced again and
            // flooded to their leaf sets, whose entries for them now point at the old address.
            self.reannounce_all();
            self.announce(now);
            self.tell_leaf_sets(now);
        }
    }

    /// Replaces the nodes to join through (seeds given as host names resolve later, and change).
    /// Alone, the node asks the new ones at once.
    pub fn set_seeds(&mut self, now: Instant, seeds: Vec<SocketAddrV6>) {
        self.now = now;
        let new: Vec<SocketAddrV6> = seeds
            .iter()
            .filter(|seed| {
                !self.config.seeds.contains(seed) && !self.local_endpoints.contains(seed)
            })
            .copied()
            .collect();
        self.config.seeds = seeds;
        if self.cache.is_empty() && !self.local_endpoints.is_empty() {
            for seed in new.into_iter().take(split::SEEDS_PER_JOIN) {
                self.solicit(now, seed);
            }
        }
    }

    /// Whether other nodes can reach this one unsolicited.
    pub fn reachability(&self) -> Reachability {
        self.self_check.state()
    }

    fn firewalled(&self) -> bool {
        self.reachability() == Reachability::Firewalled
    }

    /// Where this node listens.
    pub fn local_endpoints(&self) -> &[SocketAddrV6] {
        &self.local_endpoints
    }

    /// The route cache, for inspection.
    pub fn cache(&self) -> &RouteCache {
        &self.cache
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The PNRP IDs this node publishes, with their names.
    pub fn published(&self) -> Vec<(PnrpId, PeerName)> {
        self.locals
            .values()
            .map(|local| (local.id, local.publication.name.clone()))
            .collect()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CloudEvent> {
        self.events.pop_front()
    }

    /// The next SSDP M-SEARCH to multicast on this cloud's link(s).
    pub fn poll_ssdp(&mut self) -> Option<Vec<u8>> {
        self.ssdp_out.pop_front()
    }

    /// When [`Cloud::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.requests.next_due();
        Some(retransmit.map_or(self.next_maintenance, |due| due.min(self.next_maintenance)))
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        for expired in self.requests.expire(now) {
            match expired {
                Expired::Resend(transmit) => self.transmit(transmit),
                Expired::GaveUp {
                    message_id,
                    to,
                    purpose,
                } => self.gave_up(now, message_id, to, purpose),
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE;
            self.maintain(now);
        }
    }

    /// A datagram arrived from `from` at the cloud's port.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.on_side = false;
        self.receive(now, from, bytes);
    }

    /// A datagram arrived from `from` at the side port (see [`Transmit::side`]).
    pub fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.on_side = true;
        self.receive(now, from, bytes);
        self.on_side = false;
    }

    fn receive(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.now = now;
        // §3.1.5.2: privileged source ports are dropped.
        if from.port() <= 1024 {
            return;
        }
        // Before any decoding work: each source gets its share and no more.
        if !self.guard.admit(now, from.ip(), bytes.len()) {
            self.counters.rate_limited += 1;
            return;
        }
        let packet = match Packet::decode(bytes) {
            Ok(packet) => packet,
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        self.counters.received += 1;
        let request = matches!(
            packet.message,
            Message::Solicit(_)
                | Message::Request(_)
                | Message::Flood(_)
                | Message::Inquire(_)
                | Message::Lookup(_)
        );
        // Once reachable, a node stays so until its addresses change: no need to look.
        if request
            && !self.on_side
            && self.self_check.state() != Reachability::Reachable
            && !self.contacts.recent(&from, now)
        {
            self.self_check.unsolicited();
        }
        let id = packet.message_id;
        match packet.message {
            Message::Solicit(solicit) => self.on_solicit(now, from, id, solicit),
            Message::Advertise(advertise) => self.on_advertise(now, from, advertise),
            Message::Request(request) => self.on_request(now, from, id, request),
            Message::Flood(flood) => self.on_flood(now, from, id, flood),
            Message::Inquire(inquire) => self.on_inquire(now, from, id, inquire),
            Message::Authority(authority) => {
                // Fragments answer only what we asked that node: others take no reassembly
                // memory (forged fragments must not push out an honest answer's).
                let acked = authority.acked_message_id();
                if self.requests.get(acked, from, Reply::Authority).is_none() {
                    return;
                }
                match self.reassembly.insert(SocketAddr::V6(from), &authority) {
                    Ok(Some(buffer)) => match AuthorityBuffer::decode(&buffer) {
                        Ok(buffer) => self.on_authority(now, from, acked, buffer),
                        Err(_) => self.counters.malformed += 1,
                    },
                    Ok(None) => {}
                    Err(_) => self.counters.malformed += 1,
                }
            }
            Message::Ack(ack) => self.on_ack(now, from, ack),
            Message::Lookup(lookup) => self.on_lookup(now, from, id, lookup),
        }
        self.retry_deferred(now, from.ip());
    }

    /// An AUTHORITY buffer answering our request `acked`, from its addressee.
    fn on_authority(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        acked: u32,
        buffer: AuthorityBuffer,
    ) {
        let Some(purpose) = self.requests.answer(acked, from, Reply::Authority) else {
            return;
        };
        self.proven(now, from);
        match purpose {
            Purpose::Admission(admission) => self.admission_answered(now, admission, buffer),
            Purpose::Liveness { entry } => self.liveness_answered(now, entry, from, buffer),
            Purpose::Lookup(resolve) => self.lookup_answered(now, resolve, from, buffer),
            Purpose::Inquire(resolve) => self.inquire_answered(now, resolve, from, buffer),
            Purpose::Walk(resolve) => self.walk_answered(now, resolve, buffer),
            // Never: `answer` only completes requests that wait for an AUTHORITY.
            Purpose::Solicit { .. } | Purpose::Request | Purpose::Flood { .. } | Purpose::Probe => {
            }
        }
    }

    /// Request `message_id` to `to` went unanswered after every retry.
    fn gave_up(&mut self, now: Instant, message_id: u32, to: SocketAddrV6, purpose: Purpose) {
        if purpose.expects() == Reply::Authority {
            self.reassembly.remove(SocketAddr::V6(to), message_id);
        }
        match purpose {
            Purpose::Solicit { .. } => self.solicit_silent(now),
            Purpose::Request | Purpose::Probe => {}
            Purpose::Flood { validate } => {
                if self.cache.remove(&validate).is_some() {
                    self.rendezvous.lost(now, to);
                }
            }
            // A node that stopped answering at each of its addresses leaves the cache (if cached
            // at those addresses).
            Purpose::Admission(admission) => self.admission_silent(now, admission, to),
            Purpose::Liveness { entry } => self.liveness_silent(now, entry, to),
            Purpose::Lookup(resolve) | Purpose::Inquire(resolve) => self.hop_lost(now, resolve, to),
            Purpose::Walk(resolve) => self.walk_lost(now, resolve),
        }
    }

    // ---- addresses and entries ------------------------------------------------------------

    fn endpoint_of(&self, endpoint: &Endpoint) -> SocketAddrV6 {
        let link_local = endpoint.address.is_unicast_link_local();
        let scope = if link_local { self.config.scope_id } else { 0 };
        SocketAddrV6::new(endpoint.address, endpoint.port, 0, scope)
    }

    /// An entry's endpoints, in the order we try them (see [`addresses`]): each once, and at
    /// most [`MAX_TRIED`] (a node publishes at most four; a peer's longer list would only have
    /// us try addresses of its choosing).
    fn entry_endpoints(&self, entry: &RouteEntry) -> Vec<SocketAddrV6> {
        let mut endpoints: Vec<SocketAddrV6> = Vec::new();
        for address in entry.addresses.iter() {
            let endpoint = self.endpoint_of(&Endpoint {
                port: entry.port,
                address: *address,
            });
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        }
        addresses::prefer(&mut endpoints, &self.local_endpoints);
        endpoints.truncate(MAX_TRIED);
        endpoints
    }

    /// `entry` with its addresses in the order we try them.
    fn preferred_entry(&self, entry: &RouteEntry) -> Option<RouteEntry> {
        route_entry(entry.pnrp_id, &self.entry_endpoints(entry))
    }

    fn service_addresses(&self) -> Vec<Endpoint> {
        self.local_endpoints
            .iter()
            .map(|endpoint| Endpoint::from(SocketAddr::V6(*endpoint)))
            .collect()
    }

    fn own_route_entry(&self, id: PnrpId) -> Option<RouteEntry> {
        route_entry(id, &self.local_endpoints)
    }

    fn cache_route_entry(entry: &CacheEntry) -> Option<RouteEntry> {
        route_entry(entry.id, &entry.endpoints)
    }

    fn is_own_endpoint(&self, endpoint: &Endpoint) -> bool {
        self.local_endpoints
            .iter()
            .any(|own| own.ip() == &endpoint.address && own.port() == endpoint.port)
    }

    /// The address of `entry` to try after `silent`, if any is left.
    fn next_endpoint(&self, entry: &RouteEntry, silent: SocketAddrV6) -> Option<SocketAddrV6> {
        let endpoints = self.entry_endpoints(entry);
        let index = endpoints.iter().position(|endpoint| *endpoint == silent)?;
        endpoints.get(index + 1).copied()
    }

    fn forget(&mut self, id: &PnrpId) {
        self.cache.remove(id);
    }

    fn now_filetime(&self, now: Instant) -> u64 {
        crate::wire::filetime_from_unix(self.config.clock.unix(now))
    }
}
