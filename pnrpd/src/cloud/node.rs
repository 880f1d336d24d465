//! One PNRP cloud as a sans-IO state machine ([MS-PNRP] §3).
//!
//! Fed datagrams and `now` through `handle_*`, drained through `poll_*`; it reads no clock, opens
//! no socket and draws randomness only from its seeded generator, so a whole run is reproducible.
//!
//! What it does, by section of the spec:
//! - Joining (§3.1.4.3, §3.2.5.3–4): SOLICIT → ADVERTISE → REQUEST (nonce, checked against the
//!   hashed nonce) → FLOODs of route entries; on start and whenever the cache is empty.
//! - Learning route entries (§3.1.5.11, §3.1.5.6.1.2): every entry seen is proven reachable with
//!   an INQUIRE before it enters the cache; entries that would join a leaf set must also bring a
//!   valid CPA. A new leaf is flooded to the leaf-set neighbours (§3.2.5.11).
//! - Resolving (§3.1.4.4.2, §3.1.5.6.1): iterative LOOKUPs with next-hop and best-match stacks,
//!   backtracking, the flagged path, the suspicious-count and hop limits; then an INQUIRE to the
//!   best match for its signed CPA. A name resolves as soon as the lookup is exhausted.
//! - Answering (§3.2.5.2, §3.2.5.6): LOOKUPs with the closest entry, INQUIREs with a fresh CPA.
//! - Registering (§3.2.4.1): a lookup of ID+1 carrying our route entry; unregistering
//!   (§3.2.4.2) floods a revoke CPA to the leaf set.
//! - Timers: retransmission (1 s, 2 tries), maintenance (15 s: rejoin when alone, re-publish before
//!   NotAfter, look up the middle of the widest cache gap to balance the cache).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::{P2pId, PeerName, PnrpId, ServiceLocation};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use sha1::{Digest, Sha1};

use super::cache::{CacheEntry, RouteCache};
use super::guard::Guard;
use super::ssdp::{self, SsdpMessage};
use crate::wire::{
    filetime_from_unix, service_location, service_location_prefix, Ack, Advertise, AppEndpoint,
    AuthorityBuffer, BoundedVec, Classifier, Cpa, CpaCheck, CpaFields, CpaPublicKey, Endpoint,
    ExtendedData, ExtendedPayload, ExtendedPayloadFields, Flood, FriendlyName, Inquire, Lookup,
    Message, Packet, Reassembly, Request, ResolveCriteria, ResolveReason, RouteEntry, Solicit,
    SolicitType,
};

/// Retransmission period (§3.1.2).
pub const RETRANSMIT: Duration = Duration::from_secs(1);
/// Sends of a message before giving up: the first and two retries (§3.1.4.3 "Retry Count 2").
const RETRIES: u8 = 2;
/// Maintenance period (§3.1.2).
pub const MAINTENANCE: Duration = Duration::from_secs(15);
/// How long a CPA we sign stays valid (§2.2.3.1 asks for 12 hours to a week).
const CPA_LIFETIME_SECS: u64 = 12 * 3600;
/// Re-publish when this little of a CPA's life is left.
const REPUBLISH_BEFORE_SECS: u64 = 3600;
/// Conversation entries expire after this (§3.2.2).
const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(15);
/// Bounds on per-peer state, so that no sender can make it grow without limit.
const MAX_CONVERSATIONS: usize = 64;
const MAX_PENDING_ADDS: usize = 256;
const MAX_RESOLVES: usize = 256;
/// INQUIREs held while their unproven sender answers our probe (see `on_inquire`).
const MAX_DEFERRED: usize = 64;
/// How long such an INQUIRE is held: about its sender's retransmission period.
const DEFERRED_TIMEOUT: Duration = Duration::from_secs(3);
/// No AUTHORITY carrying a signed CPA is smaller (about 300 bytes with the shortest name).
const MIN_SIGNED_ANSWER: u64 = 256;
/// Probes of return routability in flight, at most (one per address).
const MAX_PROBES: usize = 64;
/// §3.1.4.4.2's limits.
const MAX_SUSPICIOUS: u32 = 6;
const MAX_USEFUL_HOPS: u32 = 22;
/// A balancing lookup only needs to reach the gap's neighbourhood.
const MAX_BALANCING_HOPS: u32 = 4;
/// Registrations of one name gathered by a resolve.
const MAX_RESULTS: usize = 16;
/// Service location suffix a resolver uses (§3.1.4.4).
const RESOLVE_SUFFIX: [u8; 8] = [0x80, 0, 0, 0, 0, 0, 0, 0];

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
    /// The SSDP scope (`Global`, `LinkLocal`) this node searches and answers in, or `None` for
    /// no multicast discovery.
    pub discovery: Option<&'static str>,
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

/// Counters for tests, benchmarks and `pnrpctl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudStats {
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

#[derive(Debug)]
struct Local {
    publication: Publication,
    id: PnrpId,
    not_after_unix: u64,
    /// Whether the cloud has heard of it: the announcing lookup reached at least one node.
    announced: Announce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announce {
    No,
    Running,
    Done,
}

#[derive(Debug, Clone)]
enum PendingKind {
    Solicit {
        nonce: [u8; 16],
    },
    Request,
    Flood {
        validate: PnrpId,
    },
    Inquire,
    Lookup,
    /// An INQUIRE asking an unproven source to prove its address (see `on_inquire`).
    Probe,
}

/// An INQUIRE whose answer waits for its sender to prove its address.
#[derive(Debug)]
struct Deferred {
    from: SocketAddrV6,
    message_id: u32,
    inquire: Inquire,
    expires: Instant,
}

#[derive(Debug)]
struct Pending {
    to: SocketAddrV6,
    bytes: Vec<u8>,
    sends_left: u8,
    due: Instant,
    kind: PendingKind,
}

#[derive(Debug)]
struct PendingAdd {
    entry: RouteEntry,
    from: SocketAddrV6,
    need_cpa: bool,
    nonce: [u8; 16],
    already_flooded: Vec<Endpoint>,
}

#[derive(Debug)]
struct Conversation {
    hashed_nonce: [u8; 20],
    expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    App(u64),
    Registration(PnrpId),
    Maintenance,
}

#[derive(Debug)]
struct Hop {
    entry: RouteEntry,
    uses: u32,
}

#[derive(Debug)]
struct Resolve {
    purpose: Purpose,
    target: PnrpId,
    criteria: ResolveCriteria,
    path: Vec<Endpoint>,
    next_hops: Vec<Hop>,
    best_stack: Vec<RouteEntry>,
    best: Option<RouteEntry>,
    current: Option<Hop>,
    carried: Option<RouteEntry>,
    suspicious: u32,
    useful: u32,
    inquire_nonce: [u8; 16],
    inquired: HashSet<PnrpId>,
    found: Vec<Found>,
    hops: Vec<SocketAddrV6>,
    /// Registrations of the name next to one found, still to inquire (same P2P ID).
    walk: Vec<RouteEntry>,
    /// Messages of this resolve in flight once a registration is found (inquiries of further
    /// registrations and the LOOKUPs asking publishers for their neighbours).
    outstanding: usize,
}

/// One cloud's node.
#[derive(Debug)]
pub struct Cloud {
    config: CloudConfig,
    rng: SmallRng,
    public_key: CpaPublicKey,
    local_endpoints: Vec<SocketAddrV6>,
    cache: RouteCache,
    anchor: PnrpId,
    locals: BTreeMap<PnrpId, Local>,
    pending: HashMap<u32, Pending>,
    adds: HashMap<u32, PendingAdd>,
    conversations: HashMap<SocketAddrV6, Conversation>,
    resolves: HashMap<u32, Resolve>,
    next_resolve: u32,
    by_message: HashMap<u32, u32>,
    /// Neighbour LOOKUPs of resolves (see `walk_lookup`).
    walks: HashMap<u32, u32>,
    reassembly: Reassembly,
    transmits: VecDeque<(SocketAddrV6, Vec<u8>)>,
    events: VecDeque<CloudEvent>,
    next_maintenance: Instant,
    maintenance_round: u32,
    stats: CloudStats,
    ssdp_out: VecDeque<Vec<u8>>,
    ssdp_targets: u32,
    guard: Guard,
    deferred: Vec<Deferred>,
}

fn sha1_20(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Whether `candidate` matches `target` as the criteria ask.
fn matches(candidate: &PnrpId, target: &PnrpId, criteria: ResolveCriteria) -> bool {
    match criteria {
        ResolveCriteria::AnyPeerName => candidate.0[..16] == target.0[..16],
        ResolveCriteria::Nearest64PeerName => candidate.0[..24] == target.0[..24],
        _ => candidate == target,
    }
}

fn closer(a: &PnrpId, b: &PnrpId, target: &PnrpId) -> bool {
    a.distance(target) < b.distance(target)
}

/// What signs a local registration's CPAs: its identity, else the node's key.
fn signing_key<'a>(config: &'a CloudConfig, local: &'a Local) -> &'a SigningKey {
    local.publication.identity.as_ref().unwrap_or(&config.key)
}

fn one() -> PnrpId {
    let mut bytes = [0; 32];
    bytes[31] = 1;
    PnrpId(bytes)
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
            pending: HashMap::new(),
            adds: HashMap::new(),
            conversations: HashMap::new(),
            resolves: HashMap::new(),
            next_resolve: 0,
            by_message: HashMap::new(),
            walks: HashMap::new(),
            reassembly: Reassembly::new(16, 4 * crate::wire::MAX_AUTHORITY_BUFFER),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_maintenance: now,
            maintenance_round: 0,
            stats: CloudStats::default(),
            ssdp_out: VecDeque::new(),
            ssdp_targets: 0,
            guard: Guard::default(),
            deferred: Vec::new(),
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
        let joining = self.local_endpoints.is_empty();
        self.local_endpoints = endpoints;
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
        }
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
    pub fn stats(&self) -> CloudStats {
        self.stats
    }

    /// The PNRP IDs this node publishes, with their names.
    pub fn published(&self) -> Vec<(PnrpId, PeerName)> {
        self.locals
            .values()
            .map(|local| (local.id, local.publication.name.clone()))
            .collect()
    }

    // ---- higher-layer events ----------------------------------------------------------------

    /// Publishes a name (replacing an earlier publication of it); returns its PNRP ID, or `None`
    /// while the node has no address to publish.
    pub fn register(&mut self, now: Instant, publication: Publication) -> Option<PnrpId> {
        let first = *self.local_endpoints.first()?;
        let prefix = service_location_prefix(first.ip());
        let not_after_unix = self.config.clock.unix(now) + CPA_LIFETIME_SECS;
        // Same name, same address prefix: an update in place. The PNRP ID stays, so caches and
        // leaf sets stay right; the next CPA carries the new contents and lifetime.
        if let Some(local) = self.locals.values_mut().find(|local| {
            local.publication.name == publication.name
                && local.id.service_location().0[..8] == prefix
        }) {
            local.publication = publication;
            local.not_after_unix = not_after_unix;
            return Some(local.id);
        }
        self.locals
            .retain(|_, local| local.publication.name != publication.name);
        let random = self.rng.gen::<u8>();
        let location =
            service_location(prefix, &self.public_key, &self.service_addresses(), random);
        let id = PnrpId::new(P2pId::of(&publication.name), location);
        self.locals.insert(
            id,
            Local {
                publication,
                id,
                not_after_unix,
                announced: Announce::No,
            },
        );
        self.refresh_anchors();
        self.announce(now);
        Some(id)
    }

    /// Announces every registration the cloud has not heard of yet: a lookup of ID+1 carrying
    /// our own route entry (§3.2.4.1). Alone (empty cache) it waits for the first neighbour.
    fn announce(&mut self, now: Instant) {
        if self.cache.is_empty() {
            // Alone: ask the seeds again (every maintenance, and at once on a registration: a seed
            // that had nothing to advertise when we joined may have something now).
            self.join(now);
            return;
        }
        let waiting: Vec<PnrpId> = self
            .locals
            .values()
            .filter(|local| local.announced == Announce::No)
            .map(|local| local.id)
            .collect();
        for id in waiting {
            if let Some(local) = self.locals.get_mut(&id) {
                local.announced = Announce::Running;
            }
            let own = self.own_route_entry(id);
            self.start_resolve(
                now,
                id.wrapping_add(&one()),
                ResolveCriteria::None,
                Purpose::Registration(id),
                own,
            );
        }
    }

    /// Withdraws a name: a revoke CPA flooded to the leaf-set neighbours (§3.2.4.2).
    pub fn unregister(&mut self, now: Instant, name: &PeerName) {
        let ids: Vec<PnrpId> = self
            .locals
            .values()
            .filter(|local| &local.publication.name == name)
            .map(|local| local.id)
            .collect();
        for id in ids {
            let Some(local) = self.locals.remove(&id) else {
                continue;
            };
            let revoke = self.sign_cpa(now, &local, [0; 16], true, false);
            let (below, above) = self.cache.leaf_set(&id);
            let neighbours: Vec<CacheEntry> = below
                .iter()
                .take(1)
                .chain(above.iter().take(1))
                .map(|entry| (*entry).clone())
                .collect();
            for neighbour in neighbours {
                let flood = Flood {
                    no_ack: false,
                    validate_id: neighbour.id,
                    revoke_cpa: Some(Box::new(revoke.clone())),
                    route_entry: None,
                    already_flooded: BoundedVec::empty(),
                };
                if let Some(&to) = neighbour.endpoints.first() {
                    self.send_pending(
                        now,
                        to,
                        Message::Flood(flood),
                        PendingKind::Flood {
                            validate: neighbour.id,
                        },
                    );
                }
            }
        }
        self.refresh_anchors();
    }

    /// Starts resolving a peer name in this cloud; the answer comes as [`CloudEvent::Resolved`].
    pub fn resolve(&mut self, now: Instant, name: &PeerName, query: u64) {
        let mut location = [0; 16];
        location[8..].copy_from_slice(&RESOLVE_SUFFIX);
        let target = PnrpId::new(P2pId::of(name), ServiceLocation(location));
        self.start_resolve(
            now,
            target,
            ResolveCriteria::AnyPeerName,
            Purpose::App(query),
            None,
        );
    }

    // ---- poll / handle -----------------------------------------------------------------------

    /// The next SSDP M-SEARCH to multicast on this cloud's link(s).
    pub fn poll_ssdp(&mut self) -> Option<Vec<u8>> {
        self.ssdp_out.pop_front()
    }

    /// An SSDP message for this cloud's scope arrived from `from`; returns the answer to send
    /// back (only while this node publishes something, §3.2.4.1). An answer to our search starts
    /// a synchronization with the node it names, for the first five (§3.1.5.1).
    pub fn handle_ssdp(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        len: usize,
        message: &SsdpMessage,
    ) -> Option<Vec<u8>> {
        let scope = self.config.discovery?;
        match message {
            SsdpMessage::Search { scope: asked } if asked == scope => {
                if self.locals.is_empty() {
                    return None;
                }
                // The PNRP rules hold on port 1900 too: the source's rate, and what an answer
                // to a source that may be forged may cost.
                if !self.guard.admit(now, from.ip(), len) {
                    self.stats.rate_limited += 1;
                    return None;
                }
                let endpoint = *self.local_endpoints.first()?;
                let answer = ssdp::response(scope, endpoint);
                if !self.guard.charge(now, from.ip(), answer.len()) {
                    self.stats.withheld += 1;
                    return None;
                }
                Some(answer)
            }
            SsdpMessage::Response {
                scope: answered,
                al,
            } if answered == scope => {
                let link_local = al.ip().is_unicast_link_local();
                let target = SocketAddrV6::new(
                    *al.ip(),
                    al.port(),
                    0,
                    if link_local { from.scope_id() } else { 0 },
                );
                if self.ssdp_targets >= 5
                    || self.local_endpoints.contains(&target)
                    || !self.cache.is_empty()
                {
                    return None;
                }
                self.ssdp_targets += 1;
                self.solicit(now, target);
                None
            }
            _ => None,
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddrV6, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CloudEvent> {
        self.events.pop_front()
    }

    /// When [`Cloud::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.pending.values().map(|pending| pending.due).min();
        Some(retransmit.map_or(self.next_maintenance, |due| due.min(self.next_maintenance)))
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.due <= now)
            .map(|(id, _)| *id)
            .collect();
        for message_id in due {
            let Some(pending) = self.pending.get_mut(&message_id) else {
                continue;
            };
            if pending.sends_left > 0 {
                pending.sends_left -= 1;
                pending.due = now + RETRANSMIT;
                let (to, bytes) = (pending.to, pending.bytes.clone());
                self.transmit(to, bytes);
                continue;
            }
            if let Some(pending) = self.pending.remove(&message_id) {
                self.gave_up(now, message_id, pending);
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE;
            self.maintain(now);
        }
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        // §3.1.5.2: privileged source ports are dropped.
        if from.port() <= 1024 {
            return;
        }
        // Before any decoding work: each source gets its share and no more.
        if !self.guard.admit(now, from.ip(), bytes.len()) {
            self.stats.rate_limited += 1;
            return;
        }
        let packet = match Packet::decode(bytes) {
            Ok(packet) => packet,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.received += 1;
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
                if self
                    .pending
                    .get(&acked)
                    .is_none_or(|pending| pending.to != from)
                {
                    return;
                }
                match self.reassembly.insert(SocketAddr::V6(from), &authority) {
                    Ok(Some(buffer)) => match AuthorityBuffer::decode(&buffer) {
                        Ok(buffer) => {
                            self.on_authority(now, from, authority.acked_message_id(), buffer)
                        }
                        Err(_) => self.stats.malformed += 1,
                    },
                    Ok(None) => {}
                    Err(_) => self.stats.malformed += 1,
                }
            }
            Message::Ack(ack) => self.on_ack(now, from, ack),
            Message::Lookup(lookup) => self.on_lookup(now, from, id, lookup),
        }
    }

    // ---- sending -----------------------------------------------------------------------------

    fn transmit(&mut self, to: SocketAddrV6, bytes: Vec<u8>) {
        self.stats.sent += 1;
        self.transmits.push_back((to, bytes));
    }

    fn message_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn send_pending(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message: Message,
        kind: PendingKind,
    ) -> u32 {
        let message_id = self.message_id();
        let bytes = Packet {
            message_id,
            message,
        }
        .encode();
        self.track_pending(now, to, message_id, bytes, kind);
        message_id
    }

    /// Sends an encoded message and keeps it for retransmission until answered.
    fn track_pending(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message_id: u32,
        bytes: Vec<u8>,
        kind: PendingKind,
    ) {
        self.transmit(to, bytes.clone());
        self.pending.insert(
            message_id,
            Pending {
                to,
                bytes,
                sends_left: RETRIES,
                due: now + RETRANSMIT,
                kind,
            },
        );
    }

    /// Answers `to`, the source of the datagram being handled, if the answer fits its
    /// amplification budget (unlimited once it proved its address); returns whether it went.
    fn answer(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message_id: u32,
        message: Message,
    ) -> bool {
        let bytes = Packet {
            message_id,
            message,
        }
        .encode();
        if !self.guard.charge(now, to.ip(), bytes.len()) {
            self.stats.withheld += 1;
            return false;
        }
        self.transmit(to, bytes);
        true
    }

    /// [`Cloud::answer`] under a fresh message ID (a message that expects no answer).
    fn answer_fresh(&mut self, now: Instant, to: SocketAddrV6, message: Message) -> bool {
        let message_id = self.rng.next_u32();
        self.answer(now, to, message_id, message)
    }

    /// Answers with an AUTHORITY buffer, whole or not at all: a fragmented (large) one only to a
    /// source that proved its address, a single datagram within the budget. The caller counts
    /// a refusal (or holds the INQUIRE for a proof).
    fn answer_authority(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message_id: u32,
        buffer: &AuthorityBuffer,
    ) -> bool {
        let fragments = buffer.fragments(message_id);
        // Refused before anything is encoded: the forged INQUIRE's case.
        if fragments.len() > 1 && !self.guard.is_proven(now, to.ip()) {
            return false;
        }
        let datagrams: Vec<Vec<u8>> = fragments
            .into_iter()
            .map(|fragment| {
                Packet {
                    message_id,
                    message: Message::Authority(fragment),
                }
                .encode()
            })
            .collect();
        let total: usize = datagrams.iter().map(Vec::len).sum();
        if !self.guard.charge(now, to.ip(), total) {
            return false;
        }
        for bytes in datagrams {
            self.transmit(to, bytes);
        }
        true
    }

    /// `from` echoed a message ID we sent to its address: it receives there. INQUIREs held for
    /// that address are answered now.
    fn proven(&mut self, now: Instant, from: SocketAddrV6) {
        self.guard.prove(now, from.ip());
        let (ready, waiting): (Vec<Deferred>, Vec<Deferred>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .filter(|deferred| deferred.expires > now)
            .partition(|deferred| deferred.from.ip() == from.ip());
        self.deferred = waiting;
        for deferred in ready {
            self.on_inquire(now, deferred.from, deferred.message_id, deferred.inquire);
        }
    }

    /// Holds an INQUIRE whose answer is too large for its unproven sender, and asks the sender to
    /// prove its address: an INQUIRE for a random ID, which an honest node answers at once with a
    /// small AUTHORITY acking our message ID. One probe in flight per address; its three sends
    /// fit the budget the INQUIRE earned.
    fn defer_inquire(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        inquire: Inquire,
    ) {
        self.deferred.retain(|deferred| deferred.expires > now);
        let known = self
            .deferred
            .iter()
            .any(|deferred| deferred.from == from && deferred.message_id == message_id);
        if !known {
            // Full (a flood of forged INQUIREs): the oldest goes. Its sender, if honest, still
            // gets the answer on its retransmission once its probe came back.
            if self.deferred.len() >= MAX_DEFERRED {
                self.deferred.remove(0);
            }
            self.deferred.push(Deferred {
                from,
                message_id,
                inquire,
                expires: now + DEFERRED_TIMEOUT,
            });
        }
        let probes: Vec<(u32, Instant, bool)> = self
            .pending
            .iter()
            .filter(|(_, pending)| matches!(pending.kind, PendingKind::Probe))
            .map(|(id, pending)| (*id, pending.due, pending.to.ip() == from.ip()))
            .collect();
        if probes.iter().any(|(_, _, same)| *same) {
            return;
        }
        if probes.len() >= MAX_PROBES {
            // Likewise the oldest probe makes room: forged sources cannot starve honest ones.
            if let Some((oldest, _, _)) = probes.iter().min_by_key(|(_, due, _)| *due) {
                self.pending.remove(oldest);
            }
        }
        let mut validate = [0; 32];
        self.rng.fill_bytes(&mut validate);
        let probe = Message::Inquire(Inquire {
            want_cpa: false,
            want_extended_payload: false,
            want_cert_chain: false,
            validate_id: PnrpId(validate),
            nonce: None,
        });
        let message_id = self.message_id();
        let bytes = Packet {
            message_id,
            message: probe,
        }
        .encode();
        if !self
            .guard
            .charge(now, from.ip(), bytes.len() * (usize::from(RETRIES) + 1))
        {
            self.stats.withheld += 1;
            return;
        }
        self.track_pending(now, from, message_id, bytes, PendingKind::Probe);
    }

    // ---- addresses and entries ---------------------------------------------------------------

    fn endpoint_of(&self, endpoint: &Endpoint) -> SocketAddrV6 {
        let link_local = endpoint.address.is_unicast_link_local();
        let scope = if link_local { self.config.scope_id } else { 0 };
        SocketAddrV6::new(endpoint.address, endpoint.port, 0, scope)
    }

    fn entry_endpoints(&self, entry: &RouteEntry) -> Vec<SocketAddrV6> {
        entry
            .addresses
            .iter()
            .map(|address| {
                self.endpoint_of(&Endpoint {
                    port: entry.port,
                    address: *address,
                })
            })
            .collect()
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

    fn refresh_anchors(&mut self) {
        let mut anchors: Vec<PnrpId> = self.locals.keys().copied().collect();
        if anchors.is_empty() {
            anchors.push(self.anchor);
        }
        if anchors != self.cache.anchors() {
            self.cache.set_anchors(anchors);
        }
    }

    fn sign_cpa(
        &mut self,
        now: Instant,
        local: &Local,
        nonce: [u8; 16],
        revoke: bool,
        with_payload: bool,
    ) -> Cpa {
        let mut fields = CpaFields::for_name(
            &local.publication.name,
            local.id.service_location(),
            filetime_from_unix(if revoke {
                self.config.clock.unix(now) + CPA_LIFETIME_SECS
            } else {
                local.not_after_unix
            }),
            nonce,
        );
        fields.revoke = revoke;
        fields.friendly_name = local
            .publication
            .comment
            .as_deref()
            .and_then(FriendlyName::utf8);
        fields.service_addresses =
            BoundedVec::truncating(self.service_addresses()).unwrap_or_else(BoundedVec::empty);
        if !revoke {
            fields.app_endpoints = BoundedVec::truncating(local.publication.app_endpoints.clone());
            // X only when the payload rides along: a validator then requires it (§3.1.5.7).
            fields.has_extended_payload = with_payload && local.publication.payload.is_some();
        }
        Cpa::sign(fields, signing_key(&self.config, local))
    }

    /// Submits a route entry for the cache: it enters only after answering an INQUIRE
    /// (§3.1.5.11), with a valid CPA when it would join a leaf set (§3.2.5.1).
    fn submit(
        &mut self,
        now: Instant,
        entry: RouteEntry,
        from: SocketAddrV6,
        already_flooded: Vec<Endpoint>,
    ) {
        if entry.port < 1024 || self.locals.contains_key(&entry.pnrp_id) {
            return;
        }
        if entry.addresses.iter().any(|address| {
            self.is_own_endpoint(&Endpoint {
                port: entry.port,
                address: *address,
            })
        }) {
            return;
        }
        let endpoints = self.entry_endpoints(&entry);
        if let Some(known) = self.cache.get(&entry.pnrp_id) {
            if known.endpoints == endpoints {
                return;
            }
        }
        if self.adds.len() >= MAX_PENDING_ADDS
            || self
                .adds
                .values()
                .any(|add| add.entry.pnrp_id == entry.pnrp_id)
        {
            return;
        }
        let Some(&to) = endpoints.first() else { return };
        // Every admission proves the ID with a CPA signed under a fresh nonce: without one, any
        // node could point a secured name's ID at itself in our cache (docs/PROTOCOL.md).
        let mut nonce = [0; 16];
        self.rng.fill_bytes(&mut nonce);
        let inquire = Inquire {
            want_cpa: true,
            want_extended_payload: false,
            want_cert_chain: true,
            validate_id: entry.pnrp_id,
            nonce: Some(nonce),
        };
        let message_id =
            self.send_pending(now, to, Message::Inquire(inquire), PendingKind::Inquire);
        self.adds.insert(
            message_id,
            PendingAdd {
                entry,
                from,
                need_cpa: true,
                nonce,
                already_flooded,
            },
        );
    }

    fn admit(&mut self, now: Instant, add: PendingAdd) {
        let endpoints = self.entry_endpoints(&add.entry);
        let id = add.entry.pnrp_id;
        // Only a newcomer to a leaf set is flooded; a known entry is merely refreshed.
        let was_leaf = self.cache.get(&id).is_none() && self.cache.would_be_leaf(&id);
        if !self.cache.insert(CacheEntry {
            id,
            endpoints,
            last_seen: now,
        }) {
            return;
        }
        self.announce(now);
        if was_leaf && !self.locals.is_empty() {
            self.flood_new_leaf(now, &add);
        }
    }

    /// §3.2.5.11: a new leaf-set member is flooded to the nearest cached IDs on both sides of it.
    fn flood_new_leaf(&mut self, now: Instant, add: &PendingAdd) {
        let id = add.entry.pnrp_id;
        let excluded: HashSet<Endpoint> = add.already_flooded.iter().copied().collect();
        let pick = |upwards: bool, cache: &RouteCache| -> Option<CacheEntry> {
            cache
                .entries()
                .filter(|entry| entry.id != id)
                .filter(|entry| {
                    !entry.endpoints.iter().any(|endpoint| {
                        excluded.contains(&Endpoint::from(SocketAddr::V6(*endpoint)))
                    })
                })
                .filter(|entry| {
                    entry
                        .endpoints
                        .iter()
                        .all(|endpoint| !add.entry.addresses.contains(endpoint.ip()))
                })
                .min_by_key(|entry| {
                    if upwards {
                        entry.id.wrapping_sub(&id)
                    } else {
                        id.wrapping_sub(&entry.id)
                    }
                })
                .cloned()
        };
        let targets: Vec<CacheEntry> = [pick(true, &self.cache), pick(false, &self.cache)]
            .into_iter()
            .flatten()
            .collect();
        let mut already: Vec<Endpoint> = add.already_flooded.clone();
        for target in &targets {
            if let Some(endpoint) = target.endpoints.first() {
                already.push(Endpoint::from(SocketAddr::V6(*endpoint)));
            }
        }
        already.extend(self.service_addresses().into_iter().take(1));
        already.sort();
        already.dedup();
        let already = BoundedVec::truncating(already).unwrap_or_else(BoundedVec::empty);
        let mut sent_to = HashSet::new();
        for target in targets {
            let Some(&to) = target.endpoints.first() else {
                continue;
            };
            if !sent_to.insert(target.id) {
                continue;
            }
            let flood = Flood {
                no_ack: false,
                validate_id: target.id,
                revoke_cpa: None,
                route_entry: Some(add.entry.clone()),
                already_flooded: already.clone(),
            };
            self.send_pending(
                now,
                to,
                Message::Flood(flood),
                PendingKind::Flood {
                    validate: target.id,
                },
            );
        }
        // Tell the newcomer about us when it came from someone else's flood.
        let from_endpoint = Endpoint::from(SocketAddr::V6(add.from));
        let from_is_entry = add.entry.addresses.contains(&from_endpoint.address);
        if !add.already_flooded.is_empty() && !from_is_entry {
            if let Some(own) = self
                .nearest_local(&id)
                .and_then(|local| self.own_route_entry(local))
            {
                if let Some(&to) = self.entry_endpoints(&add.entry).first() {
                    let flood = Flood {
                        no_ack: false,
                        validate_id: id,
                        revoke_cpa: None,
                        route_entry: Some(own),
                        already_flooded: BoundedVec::empty(),
                    };
                    self.send_pending(
                        now,
                        to,
                        Message::Flood(flood),
                        PendingKind::Flood { validate: id },
                    );
                }
            }
        }
    }

    fn nearest_local(&self, target: &PnrpId) -> Option<PnrpId> {
        self.locals
            .keys()
            .min_by_key(|id| id.distance(target))
            .copied()
    }

    // ---- joining -----------------------------------------------------------------------------

    fn join(&mut self, now: Instant) {
        if let Some(scope) = self.config.discovery {
            self.ssdp_targets = 0;
            self.ssdp_out.push_back(ssdp::search(scope));
        }
        let seeds = self.config.seeds.clone();
        for seed in seeds {
            if self.local_endpoints.contains(&seed) {
                continue;
            }
            self.solicit(now, seed);
        }
    }

    /// Starts a synchronization conversation with `seed` (§3.1.4.3).
    fn solicit(&mut self, now: Instant, seed: SocketAddrV6) {
        {
            // (one block: the borrow of `self.locals` ends before sending)
            let mut nonce = [0; 16];
            self.rng.fill_bytes(&mut nonce);
            let route_entry = self
                .locals
                .keys()
                .next()
                .copied()
                .and_then(|id| self.own_route_entry(id));
            let solicit = Solicit {
                solicit_type: Some(SolicitType::Any),
                route_entry,
                hashed_nonce: sha1_20(&nonce),
            };
            self.send_pending(
                now,
                seed,
                Message::Solicit(solicit),
                PendingKind::Solicit { nonce },
            );
        }
    }

    fn on_solicit(&mut self, now: Instant, from: SocketAddrV6, message_id: u32, solicit: Solicit) {
        self.conversations
            .retain(|_, conversation| conversation.expires > now);
        let known = self.conversations.contains_key(&from);
        let ids: Vec<PnrpId> = if known || self.conversations.len() < MAX_CONVERSATIONS {
            self.conversations.insert(
                from,
                Conversation {
                    hashed_nonce: solicit.hashed_nonce,
                    expires: now + CONVERSATION_TIMEOUT,
                },
            );
            let mut ids: Vec<PnrpId> = self.cache.spread(5).iter().map(|entry| entry.id).collect();
            if ids.len() < 5 {
                ids.extend(self.locals.keys().copied());
            }
            ids
        } else {
            Vec::new()
        };
        // To an unproven joiner, as many IDs as its budget allows (a short ADVERTISE still
        // works: the REQUEST and FLOODs that follow are answered within its growing budget).
        let mut ids = ids;
        let budget = self.guard.budget(now, from.ip());
        loop {
            let advertise = Advertise {
                acked_message_id: message_id,
                ids: BoundedVec::truncating(ids.clone()).unwrap_or_else(BoundedVec::empty),
                hashed_nonce: solicit.hashed_nonce,
            };
            let fits = budget.is_none_or(|left| {
                let len = Packet {
                    message_id: 0,
                    message: Message::Advertise(advertise.clone()),
                }
                .encode()
                .len();
                len as u64 <= left
            });
            if fits || ids.is_empty() {
                self.answer_fresh(now, from, Message::Advertise(advertise));
                break;
            }
            ids.pop();
        }
        if let Some(entry) = solicit.route_entry {
            self.submit(now, entry, from, Vec::new());
        }
    }

    fn on_advertise(&mut self, now: Instant, from: SocketAddrV6, advertise: Advertise) {
        let Some(Pending {
            kind: PendingKind::Solicit { nonce },
            ..
        }) = self.pending.get(&advertise.acked_message_id)
        else {
            return;
        };
        let nonce = *nonce;
        let to = self.pending[&advertise.acked_message_id].to;
        if sha1_20(&nonce) != advertise.hashed_nonce || to != from {
            return;
        }
        self.pending.remove(&advertise.acked_message_id);
        self.proven(now, from);
        if advertise.ids.is_empty() {
            return;
        }
        let request = Request {
            nonce,
            ids: advertise.ids,
        };
        self.send_pending(now, from, Message::Request(request), PendingKind::Request);
    }

    fn on_request(&mut self, now: Instant, from: SocketAddrV6, message_id: u32, request: Request) {
        let Some(conversation) = self.conversations.get(&from) else {
            return;
        };
        if conversation.expires <= now || sha1_20(&request.nonce) != conversation.hashed_nonce {
            return;
        }
        self.conversations.remove(&from);
        self.answer_fresh(
            now,
            from,
            Message::Ack(Ack {
                acked_message_id: message_id,
                not_found: None,
            }),
        );
        for id in request.ids.iter() {
            let entry = if self.locals.contains_key(id) {
                self.own_route_entry(*id)
            } else {
                self.cache.get(id).and_then(Self::cache_route_entry)
            };
            if let Some(entry) = entry {
                let flood = Flood {
                    no_ack: true,
                    validate_id: PnrpId([0; 32]),
                    revoke_cpa: None,
                    route_entry: Some(entry),
                    already_flooded: BoundedVec::empty(),
                };
                self.answer_fresh(now, from, Message::Flood(flood));
            }
        }
    }

    fn on_flood(&mut self, now: Instant, from: SocketAddrV6, message_id: u32, flood: Flood) {
        if !flood.no_ack {
            let zero = PnrpId([0; 32]);
            let not_found =
                flood.validate_id != zero && !self.locals.contains_key(&flood.validate_id);
            self.answer_fresh(
                now,
                from,
                Message::Ack(Ack {
                    acked_message_id: message_id,
                    not_found: Some(not_found),
                }),
            );
        }
        if let Some(cpa) = flood.revoke_cpa {
            let check = CpaCheck {
                pnrp_id: None,
                nonce: Some([0; 16]),
                revoke: true,
                extended_payload: None,
            };
            let now_filetime = filetime_from_unix(self.config.clock.unix(now));
            match cpa.validate(now_filetime, &check) {
                Ok(()) => {
                    let id = cpa.pnrp_id();
                    self.cache.remove(&id);
                }
                Err(_) => self.stats.bad_cpas += 1,
            }
        }
        if let Some(entry) = flood.route_entry {
            self.submit(now, entry, from, flood.already_flooded.to_vec());
        }
    }

    fn on_ack(&mut self, now: Instant, from: SocketAddrV6, ack: Ack) {
        // Only the node we sent the message to may acknowledge it.
        if self
            .pending
            .get(&ack.acked_message_id)
            .is_none_or(|pending| pending.to != from)
        {
            return;
        }
        if let Some(pending) = self.pending.remove(&ack.acked_message_id) {
            self.proven(now, from);
            if let (PendingKind::Flood { validate }, Some(true)) = (&pending.kind, ack.not_found) {
                self.cache.remove(validate);
            }
        }
    }

    // ---- answering -------------------------------------------------------------------------

    fn on_inquire(&mut self, now: Instant, from: SocketAddrV6, message_id: u32, inquire: Inquire) {
        let Some(local) = self.locals.get(&inquire.validate_id) else {
            if !self.answer_authority(now, from, message_id, &AuthorityBuffer::not_found()) {
                self.stats.withheld += 1;
            }
            return;
        };
        if inquire.want_cpa
            && self
                .guard
                .budget(now, from.ip())
                .is_some_and(|left| left < MIN_SIGNED_ANSWER)
        {
            // It cannot fit: no signature is spent on a sender that may be forged.
            self.defer_inquire(now, from, message_id, inquire);
            return;
        }
        let deferrable = inquire.clone();
        let classifier = Classifier::new(local.publication.name.classifier()).ok();
        let (id, not_after, publication) =
            (local.id, local.not_after_unix, local.publication.clone());
        let local = Local {
            publication,
            id,
            not_after_unix: not_after,
            announced: Announce::Done,
        };
        let nonce = inquire.nonce.unwrap_or([0; 16]);
        let with_payload = inquire.want_cpa && inquire.want_extended_payload;
        let cpa = inquire
            .want_cpa
            .then(|| self.sign_cpa(now, &local, nonce, false, with_payload));
        let extended_payload = local
            .publication
            .payload
            .as_ref()
            .filter(|_| with_payload)
            .and_then(|payload| BoundedVec::new(payload.clone()).ok())
            .map(|data| {
                let fields = ExtendedPayloadFields {
                    not_after: filetime_from_unix(local.not_after_unix),
                    pnrp_id: id,
                    nonce,
                    data: ExtendedData::Binary(data),
                };
                ExtendedPayload::sign(fields, signing_key(&self.config, &local))
            });
        let buffer = AuthorityBuffer {
            leaf_set: false,
            busy: false,
            not_found: false,
            cert_chain: None,
            classifier,
            extended_payload,
            route_entry: self.own_route_entry(id),
            cpa,
        };
        if !self.answer_authority(now, from, message_id, &buffer) {
            // Too large for what an unproven sender earned: answered once it proves its address
            // (or, failing that, when its retransmission finds it proven).
            self.defer_inquire(now, from, message_id, deferrable);
        }
    }

    fn on_lookup(&mut self, now: Instant, from: SocketAddrV6, message_id: u32, lookup: Lookup) {
        let zero = PnrpId([0; 32]);
        let validate_not_local =
            lookup.validate_id != zero && !self.locals.contains_key(&lookup.validate_id);
        let target = lookup.target;
        let in_path = |endpoint: &SocketAddrV6| {
            lookup
                .flagged_path
                .iter()
                .any(|flagged| flagged.address == *endpoint.ip() && flagged.port == endpoint.port())
        };
        let we_are_flagged = self.local_endpoints.iter().any(in_path);
        let local_match = if we_are_flagged {
            None
        } else {
            self.locals
                .keys()
                .filter(|id| {
                    validate_not_local
                        || closer(id, &lookup.validate_id, &target)
                        || **id == lookup.validate_id
                })
                .min_by_key(|id| id.distance(&target))
                .copied()
        };
        let remote_match = self
            .cache
            .closest(&target, |entry| {
                !entry.endpoints.iter().any(in_path)
                    && (lookup.accept_not_closer || closer(&entry.id, &lookup.validate_id, &target))
            })
            .map(|entry| (entry.id, Self::cache_route_entry(entry)));
        let suspicious = remote_match.is_none()
            && self.locals.keys().any(|local| {
                let (below, above) = self.cache.leaf_set(local);
                below.len() + above.len() >= 2
                    && target.distance(local)
                        < below
                            .iter()
                            .chain(&above)
                            .map(|entry| entry.id.distance(local))
                            .max()
                            .unwrap_or(zero)
            });
        let route_entry = match (local_match, remote_match) {
            (Some(local), Some((remote, entry))) => {
                if closer(&remote, &local, &target) {
                    entry
                } else {
                    self.own_route_entry(local)
                }
            }
            (Some(local), None) => self.own_route_entry(local),
            (None, Some((_, entry))) => entry,
            (None, None) => None,
        };
        let buffer = AuthorityBuffer {
            leaf_set: suspicious,
            not_found: validate_not_local,
            ..AuthorityBuffer::answer(route_entry, None)
        };
        if !self.answer_authority(now, from, message_id, &buffer) {
            self.stats.withheld += 1;
        }
        // After the answer: it acks the asker's message ID, so the asker has proven our address
        // before our admission INQUIRE reaches it, and answers that at once, without a probe.
        if let Some(entry) = lookup.route_entry {
            self.submit(now, entry, from, Vec::new());
        }
    }

    fn on_authority(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        acked: u32,
        buffer: AuthorityBuffer,
    ) {
        let Some(pending) = self.pending.get(&acked) else {
            return;
        };
        if pending.to != from {
            return;
        }
        let Some(pending) = self.pending.remove(&acked) else {
            return;
        };
        self.proven(now, from);
        if let Some(add) = self.adds.remove(&acked) {
            self.complete_add(now, add, buffer);
            return;
        }
        if let Some(resolve_id) = self.walks.remove(&acked) {
            self.walk_answered(now, resolve_id, buffer);
            return;
        }
        let Some(resolve_id) = self.by_message.remove(&acked) else {
            return;
        };
        match pending.kind {
            PendingKind::Lookup => self.lookup_answered(now, resolve_id, from, buffer),
            PendingKind::Inquire => self.inquire_answered(now, resolve_id, from, buffer),
            _ => {}
        }
    }

    fn complete_add(&mut self, now: Instant, add: PendingAdd, buffer: AuthorityBuffer) {
        if buffer.not_found {
            return;
        }
        if add.need_cpa {
            let Some(cpa) = buffer.cpa.as_ref() else {
                return;
            };
            let check = CpaCheck {
                pnrp_id: Some(add.entry.pnrp_id),
                nonce: Some(add.nonce),
                revoke: false,
                extended_payload: None,
            };
            let now_filetime = filetime_from_unix(self.config.clock.unix(now));
            if cpa.validate(now_filetime, &check).is_err() {
                self.stats.bad_cpas += 1;
                return;
            }
            // The route entry's addresses must be the CPA's service addresses.
            let service: HashSet<Ipv6Addr> = cpa
                .fields()
                .service_addresses
                .iter()
                .map(|endpoint| endpoint.address)
                .collect();
            if !add
                .entry
                .addresses
                .iter()
                .all(|address| service.contains(address))
            {
                self.stats.bad_cpas += 1;
                return;
            }
        }
        self.admit(now, add);
    }

    // ---- resolving -----------------------------------------------------------------------------

    fn start_resolve(
        &mut self,
        now: Instant,
        target: PnrpId,
        criteria: ResolveCriteria,
        purpose: Purpose,
        carried: Option<RouteEntry>,
    ) {
        if self.resolves.len() >= MAX_RESOLVES || self.local_endpoints.is_empty() {
            if let Purpose::App(query) = purpose {
                self.events.push_back(CloudEvent::Resolved {
                    query,
                    found: Vec::new(),
                    hops: Vec::new(),
                });
            }
            return;
        }
        let path: Vec<Endpoint> = self.service_addresses().into_iter().take(1).collect();
        let first = self
            .cache
            .closest(&target, |_| true)
            .and_then(Self::cache_route_entry);
        let mut inquire_nonce = [0; 16];
        self.rng.fill_bytes(&mut inquire_nonce);
        let resolve = Resolve {
            purpose,
            target,
            criteria,
            path,
            next_hops: first
                .into_iter()
                .map(|entry| Hop { entry, uses: 0 })
                .collect(),
            best_stack: Vec::new(),
            best: None,
            current: None,
            carried,
            suspicious: 0,
            useful: 0,
            inquire_nonce,
            inquired: HashSet::new(),
            found: Vec::new(),
            hops: Vec::new(),
            walk: Vec::new(),
            outstanding: 0,
        };
        let id = self.next_resolve;
        self.next_resolve = self.next_resolve.wrapping_add(1);
        self.resolves.insert(id, resolve);
        self.advance(now, id);
    }

    /// Step 7 of §3.1.4.4.2: inquire the best match if it is good enough, else ask the next hop,
    /// else finish.
    fn advance(&mut self, now: Instant, resolve_id: u32) {
        let cache_len = self.cache.len();
        let Some(resolve) = self.resolves.get_mut(&resolve_id) else {
            return;
        };
        let wants_cpa = matches!(resolve.purpose, Purpose::App(_));
        // Registrations of the same name found next to the first one.
        if resolve.found.len() < MAX_RESULTS {
            if let Some(next) = resolve.walk.pop() {
                return self.send_resolve_inquire(now, resolve_id, next);
            }
        }
        if !resolve.found.is_empty() {
            if resolve.outstanding == 0 {
                return self.finish(resolve_id);
            }
            return;
        }
        if let Some(best) = resolve.best.clone() {
            if wants_cpa
                && matches(&best.pnrp_id, &resolve.target, resolve.criteria)
                && !resolve.inquired.contains(&best.pnrp_id)
            {
                resolve.inquired.insert(best.pnrp_id);
                return self.send_resolve_inquire(now, resolve_id, best);
            }
        }
        let hop_limit = if resolve.purpose == Purpose::Maintenance {
            MAX_BALANCING_HOPS
        } else {
            MAX_USEFUL_HOPS
        };
        let exhausted = resolve.suspicious > MAX_SUSPICIOUS || resolve.useful > hop_limit;
        let next = if exhausted {
            None
        } else {
            resolve.next_hops.pop()
        };
        let Some(mut hop) = next else {
            return self.finish(resolve_id);
        };
        let flagged: Vec<Endpoint> = resolve.path.iter().rev().take(22).rev().copied().collect();
        let lookup = Lookup {
            accept_not_closer: cache_len < 8,
            precision: 0,
            criteria: resolve.criteria,
            reason: match resolve.purpose {
                Purpose::App(_) => ResolveReason::AppRequest,
                Purpose::Registration(_) => ResolveReason::Registration,
                Purpose::Maintenance => ResolveReason::CacheMaintenance,
            },
            target: resolve.target,
            validate_id: hop.entry.pnrp_id,
            route_entry: resolve.carried.clone(),
            flagged_path: BoundedVec::truncating(flagged).unwrap_or_else(|| {
                BoundedVec::truncating(vec![Endpoint {
                    port: 0,
                    address: Ipv6Addr::UNSPECIFIED,
                }])
                .expect("one endpoint")
            }),
        };
        hop.uses += 1;
        let endpoints = self.entry_endpoints(&hop.entry);
        let Some(&to) = endpoints.first() else {
            return self.advance(now, resolve_id);
        };
        if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
            resolve.current = Some(hop);
            resolve.hops.push(to);
        }
        let message_id = self.send_pending(now, to, Message::Lookup(lookup), PendingKind::Lookup);
        self.by_message.insert(message_id, resolve_id);
    }

    fn send_resolve_inquire(&mut self, now: Instant, resolve_id: u32, entry: RouteEntry) {
        let Some(resolve) = self.resolves.get(&resolve_id) else {
            return;
        };
        let inquire = Inquire {
            want_cpa: true,
            want_extended_payload: true,
            want_cert_chain: true,
            validate_id: entry.pnrp_id,
            nonce: Some(resolve.inquire_nonce),
        };
        let Some(&to) = self.entry_endpoints(&entry).first() else {
            return self.advance(now, resolve_id);
        };
        let message_id =
            self.send_pending(now, to, Message::Inquire(inquire), PendingKind::Inquire);
        self.by_message.insert(message_id, resolve_id);
        if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
            resolve.hops.push(to);
            resolve.outstanding += 1;
        }
    }

    /// Asks a publisher of the name for its neighbour on one side (a LOOKUP of its ID ± 1 with
    /// itself flagged, so it answers from its cache): registrations of the same name share the
    /// P2P ID and so sit side by side on the ring, in each other's leaf sets.
    fn walk_lookup(
        &mut self,
        now: Instant,
        resolve_id: u32,
        publisher: &RouteEntry,
        upwards: bool,
    ) {
        let Some(&to) = self.entry_endpoints(publisher).first() else {
            return;
        };
        let target = if upwards {
            publisher.pnrp_id.wrapping_add(&one())
        } else {
            publisher.pnrp_id.wrapping_sub(&one())
        };
        let mut flagged: Vec<Endpoint> = self.service_addresses().into_iter().take(1).collect();
        flagged.push(Endpoint::from(SocketAddr::V6(to)));
        let Some(flagged_path) = BoundedVec::truncating(flagged) else {
            return;
        };
        let lookup = Lookup {
            accept_not_closer: true,
            precision: 0,
            criteria: ResolveCriteria::None,
            reason: ResolveReason::AppRequest,
            target,
            validate_id: publisher.pnrp_id,
            route_entry: None,
            flagged_path,
        };
        let message_id = self.send_pending(now, to, Message::Lookup(lookup), PendingKind::Lookup);
        self.walks.insert(message_id, resolve_id);
        if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
            resolve.outstanding += 1;
        }
    }

    fn walk_answered(&mut self, now: Instant, resolve_id: u32, buffer: AuthorityBuffer) {
        if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
            resolve.outstanding = resolve.outstanding.saturating_sub(1);
            if let Some(entry) = buffer.route_entry {
                let same_name = entry.pnrp_id.0[..16] == resolve.target.0[..16];
                if same_name
                    && resolve.found.len() + resolve.walk.len() < MAX_RESULTS
                    && resolve.inquired.insert(entry.pnrp_id)
                {
                    resolve.walk.push(entry);
                }
            }
        }
        self.advance(now, resolve_id);
    }

    fn lookup_answered(
        &mut self,
        now: Instant,
        resolve_id: u32,
        from: SocketAddrV6,
        buffer: AuthorityBuffer,
    ) {
        let cache_len = self.cache.len();
        let from_endpoint = Endpoint::from(SocketAddr::V6(from));
        let mut learned = None;
        let mut dead = None;
        {
            let Some(resolve) = self.resolves.get_mut(&resolve_id) else {
                return;
            };
            resolve.path.push(from_endpoint);
            resolve.useful += 1;
            if buffer.leaf_set {
                resolve.suspicious += 1;
            }
            let mut current = resolve.current.take();
            if buffer.not_found {
                dead = current.take().map(|hop| hop.entry.pnrp_id);
            } else if let Some(hop) = &current {
                // It answered from the address we chose: it is reachable, so it may be cached.
                learned = Some(hop.entry.clone());
            }
            if let Some(hop) = &current {
                let better = resolve
                    .best
                    .as_ref()
                    .is_none_or(|best| closer(&hop.entry.pnrp_id, &best.pnrp_id, &resolve.target));
                if better {
                    if let Some(previous) = resolve.best.replace(hop.entry.clone()) {
                        resolve.best_stack.push(previous);
                    }
                }
            }
            if current.as_ref().is_some_and(|hop| hop.uses >= 3) {
                current = None;
            }
            let source_id = current.as_ref().map(|hop| hop.entry.pnrp_id);
            let pushed_back = current.is_some();
            if let Some(hop) = current {
                resolve.next_hops.push(hop);
            }
            let usable = buffer.route_entry.as_ref().is_some_and(|new| {
                !resolve
                    .next_hops
                    .iter()
                    .any(|hop| hop.entry.pnrp_id == new.pnrp_id)
                    && source_id != Some(new.pnrp_id)
            });
            if !usable && pushed_back {
                // Nothing new from it: asking it again would only repeat the answer.
                resolve.next_hops.pop();
            }
            if let Some(new) = buffer.route_entry.filter(|_| usable) {
                let loops =
                    new.addresses.iter().any(|address| {
                        resolve.path.iter().rev().skip(1).any(|endpoint| {
                            endpoint.address == *address && endpoint.port == new.port
                        })
                    });
                let already_best = resolve
                    .best
                    .as_ref()
                    .is_some_and(|best| best.pnrp_id == new.pnrp_id);
                let queued = resolve
                    .next_hops
                    .iter()
                    .any(|hop| hop.entry.pnrp_id == new.pnrp_id);
                if !loops && !queued {
                    let not_closer = source_id
                        .is_some_and(|source| !closer(&new.pnrp_id, &source, &resolve.target));
                    if !not_closer || cache_len < 8 {
                        resolve.next_hops.push(Hop {
                            entry: new.clone(),
                            uses: 0,
                        });
                    } else if pushed_back {
                        resolve.next_hops.pop();
                    }
                    // Another registration of the name, once one is found: inquire it too.
                    if matches(&new.pnrp_id, &resolve.target, resolve.criteria)
                        && !resolve.found.is_empty()
                        && resolve.found.len() < MAX_RESULTS
                        && resolve.inquired.insert(new.pnrp_id)
                    {
                        resolve.walk.push(new.clone());
                    }
                    // An exact match found by the answer may become the best match directly.
                    if matches(&new.pnrp_id, &resolve.target, resolve.criteria) && !already_best {
                        let better = resolve.best.as_ref().is_none_or(|best| {
                            closer(&new.pnrp_id, &best.pnrp_id, &resolve.target)
                        });
                        if better {
                            if let Some(previous) = resolve.best.replace(new) {
                                resolve.best_stack.push(previous);
                            }
                        }
                    }
                }
            }
        }
        if let Some(id) = dead {
            self.cache.remove(&id);
        }
        if let Some(entry) = learned {
            let endpoints = self.entry_endpoints(&entry);
            if !self.locals.contains_key(&entry.pnrp_id) {
                match self.cache.get(&entry.pnrp_id) {
                    Some(known) if known.endpoints == endpoints => {
                        let mut refreshed = known.clone();
                        refreshed.last_seen = now;
                        self.cache.insert(refreshed);
                    }
                    // Answering a LOOKUP proves an address, not an ID: a newcomer brings a CPA.
                    _ => self.submit(now, entry, from, Vec::new()),
                }
            }
        }
        self.advance(now, resolve_id);
    }

    fn inquire_answered(
        &mut self,
        now: Instant,
        resolve_id: u32,
        from: SocketAddrV6,
        buffer: AuthorityBuffer,
    ) {
        let now_filetime = filetime_from_unix(self.config.clock.unix(now));
        let Some(resolve) = self.resolves.get_mut(&resolve_id) else {
            return;
        };
        resolve.outstanding = resolve.outstanding.saturating_sub(1);
        let valid = buffer.cpa.as_ref().filter(|cpa| {
            let Some(entry) = &buffer.route_entry else {
                return false;
            };
            let check = CpaCheck {
                pnrp_id: Some(entry.pnrp_id),
                nonce: Some(resolve.inquire_nonce),
                revoke: false,
                extended_payload: buffer.extended_payload.as_ref(),
            };
            matches(&entry.pnrp_id, &resolve.target, resolve.criteria)
                && cpa.validate(now_filetime, &check).is_ok()
        });
        match (valid, &buffer.route_entry) {
            (Some(cpa), Some(entry)) if !buffer.not_found => {
                let fields = cpa.fields();
                resolve.found.push(Found {
                    id: entry.pnrp_id,
                    publisher: from,
                    app_endpoints: fields
                        .app_endpoints
                        .as_ref()
                        .map(|list| list.to_vec())
                        .unwrap_or_default(),
                    comment: fields
                        .friendly_name
                        .as_ref()
                        .map(|name| name.as_str().to_owned()),
                    // Validated with the CPA when its X flag is set; ignored otherwise.
                    payload: buffer
                        .extended_payload
                        .as_ref()
                        .filter(|_| fields.has_extended_payload)
                        .and_then(|payload| match &payload.fields().data {
                            ExtendedData::Binary(bytes) => Some(bytes.to_vec()),
                            ExtendedData::Text(_) => None,
                        }),
                });
                let publisher = entry.clone();
                let first = resolve.found.len() == 1;
                // A publisher that just proved itself with a valid CPA is worth caching, at the
                // addresses its CPA signs (a relay that forwarded the CPA is not the publisher).
                let signed_here = fields
                    .service_addresses
                    .iter()
                    .any(|endpoint| endpoint.address == *from.ip() && endpoint.port == from.port());
                if signed_here && !self.locals.contains_key(&publisher.pnrp_id) {
                    let endpoints = self.entry_endpoints(&publisher);
                    let id = publisher.pnrp_id;
                    self.cache.insert(CacheEntry {
                        id,
                        endpoints,
                        last_seen: now,
                    });
                }
                if resolve_found_len(&self.resolves, resolve_id) < MAX_RESULTS {
                    self.walk_lookup(now, resolve_id, &publisher, true);
                    self.walk_lookup(now, resolve_id, &publisher, false);
                }
                if first {
                    self.walk_from(now, resolve_id, publisher);
                    return;
                }
            }
            _ => {
                self.stats.bad_cpas += u64::from(buffer.cpa.is_some());
                // §3.1.5.6.1.1: fall back to the previous best match.
                if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
                    resolve.best = resolve.best_stack.pop();
                }
            }
        }
        self.advance(now, resolve_id);
    }

    /// Queues the other registrations of the same name this node knows of (they share the P2P
    /// ID, so they sit next to the first one on the ring and in the caches near it).
    fn walk_from(&mut self, now: Instant, resolve_id: u32, publisher: RouteEntry) {
        let same_name: Vec<RouteEntry> = self
            .cache
            .entries()
            .filter(|entry| entry.id.0[..16] == publisher.pnrp_id.0[..16])
            .filter_map(Self::cache_route_entry)
            .collect();
        if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
            for entry in same_name {
                if resolve.inquired.insert(entry.pnrp_id) {
                    resolve.walk.push(entry);
                }
            }
        }
        self.advance(now, resolve_id);
    }

    fn finish(&mut self, resolve_id: u32) {
        let Some(resolve) = self.resolves.remove(&resolve_id) else {
            return;
        };
        self.by_message.retain(|_, owner| *owner != resolve_id);
        self.walks.retain(|_, owner| *owner != resolve_id);
        if let Purpose::Registration(id) = resolve.purpose {
            if let Some(local) = self.locals.get_mut(&id) {
                local.announced = if resolve.useful > 0 {
                    Announce::Done
                } else {
                    Announce::No
                };
            }
        }
        if let Purpose::App(query) = resolve.purpose {
            let mut found = resolve.found;
            found.sort_by_key(|found| found.id);
            found.dedup_by_key(|found| found.id);
            self.events.push_back(CloudEvent::Resolved {
                query,
                found,
                hops: resolve.hops,
            });
        }
    }

    fn gave_up(&mut self, now: Instant, message_id: u32, pending: Pending) {
        match pending.kind {
            PendingKind::Inquire | PendingKind::Lookup => {
                self.reassembly
                    .remove(SocketAddr::V6(pending.to), message_id);
                if let Some(add) = self.adds.remove(&message_id) {
                    // A cached node that stopped answering (a maintenance probe) leaves the cache.
                    let endpoints = self.entry_endpoints(&add.entry);
                    if self
                        .cache
                        .get(&add.entry.pnrp_id)
                        .is_some_and(|known| known.endpoints == endpoints)
                    {
                        self.cache.remove(&add.entry.pnrp_id);
                    }
                    return;
                }
                if let Some(resolve_id) = self.walks.remove(&message_id) {
                    if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
                        resolve.outstanding = resolve.outstanding.saturating_sub(1);
                    }
                    self.advance(now, resolve_id);
                    return;
                }
                if let Some(resolve_id) = self.by_message.remove(&message_id) {
                    // The node did not answer: it is gone. Never return a dead publisher.
                    let dead: Vec<PnrpId> = self
                        .cache
                        .entries()
                        .filter(|entry| entry.endpoints.contains(&pending.to))
                        .map(|entry| entry.id)
                        .collect();
                    for id in dead {
                        self.cache.remove(&id);
                    }
                    if let Some(resolve) = self.resolves.get_mut(&resolve_id) {
                        resolve.current = None;
                        // Flag the dead node in the path we send: the next hops will not offer
                        // it again, and its address is refused from their answers.
                        resolve
                            .path
                            .push(Endpoint::from(SocketAddr::V6(pending.to)));
                        resolve.outstanding = resolve.outstanding.saturating_sub(1);
                        if resolve
                            .best
                            .as_ref()
                            .is_some_and(|best| self_endpoints_contain(best, &pending.to))
                        {
                            resolve.best = resolve.best_stack.pop();
                        }
                        resolve
                            .next_hops
                            .retain(|hop| !self_endpoints_contain(&hop.entry, &pending.to));
                    }
                    // Nothing left to try after a dead hop: start again from the closest cached
                    // node not yet flagged (the dead one has just left the cache).
                    let restart = self.resolves.get(&resolve_id).and_then(|resolve| {
                        if !resolve.next_hops.is_empty() || !resolve.found.is_empty() {
                            return None;
                        }
                        let flagged = |entry: &CacheEntry| {
                            entry.endpoints.iter().any(|endpoint| {
                                resolve.path.iter().any(|seen| {
                                    seen.address == *endpoint.ip() && seen.port == endpoint.port()
                                })
                            })
                        };
                        self.cache
                            .closest(&resolve.target, |entry| !flagged(entry))
                            .and_then(Self::cache_route_entry)
                    });
                    if let (Some(entry), Some(resolve)) =
                        (restart, self.resolves.get_mut(&resolve_id))
                    {
                        resolve.next_hops.push(Hop { entry, uses: 0 });
                    }
                    self.advance(now, resolve_id);
                }
            }
            PendingKind::Flood { validate } => {
                self.cache.remove(&validate);
            }
            PendingKind::Solicit { .. } | PendingKind::Request | PendingKind::Probe => {}
        }
    }

    // ---- maintenance ---------------------------------------------------------------------------

    fn maintain(&mut self, now: Instant) {
        if self.local_endpoints.is_empty() {
            return;
        }
        // Alone, this joins again (see `announce`).
        self.announce(now);
        // Re-publish before the CPAs we hand out expire.
        let unix = self.config.clock.unix(now);
        let stale: Vec<Publication> = self
            .locals
            .values()
            .filter(|local| local.not_after_unix <= unix + REPUBLISH_BEFORE_SECS)
            .map(|local| local.publication.clone())
            .collect();
        for publication in stale {
            self.register(now, publication);
        }
        // Check that leaf-set neighbours are alive (their failure removes them).
        let anchors: Vec<PnrpId> = self.locals.keys().copied().collect();
        let mut probes = Vec::new();
        for anchor in anchors {
            let (below, above) = self.cache.leaf_set(&anchor);
            probes.extend(below.first().map(|entry| (*entry).clone()));
            probes.extend(above.first().map(|entry| (*entry).clone()));
        }
        for probe in probes {
            if let Some(&to) = probe.endpoints.first() {
                let inquire = Inquire {
                    want_cpa: false,
                    want_extended_payload: false,
                    want_cert_chain: false,
                    validate_id: probe.id,
                    nonce: None,
                };
                if let Some(entry) = Self::cache_route_entry(&probe) {
                    let message_id =
                        self.send_pending(now, to, Message::Inquire(inquire), PendingKind::Inquire);
                    self.adds.insert(
                        message_id,
                        PendingAdd {
                            entry,
                            from: to,
                            need_cpa: false,
                            nonce: [0; 16],
                            already_flooded: Vec::new(),
                        },
                    );
                }
            }
        }
        // Cache balancing: look up the middle of the widest gap between cached IDs, once a minute.
        self.maintenance_round = self.maintenance_round.wrapping_add(1);
        if self.maintenance_round % 4 != 1 {
            return;
        }
        // Re-announce every registration once a minute: the lookup towards our own IDs finds
        // neighbours that joined since, and carries our entry to them. A node whose first
        // announcement met a poor leaf set is otherwise known to few, for good.
        for local in self.locals.values_mut() {
            if local.announced == Announce::Done {
                local.announced = Announce::No;
            }
        }
        self.announce(now);
        if let Some(target) = self.widest_gap_middle() {
            self.start_resolve(
                now,
                target,
                ResolveCriteria::None,
                Purpose::Maintenance,
                None,
            );
        }
    }

    fn widest_gap_middle(&mut self) -> Option<PnrpId> {
        let ids: Vec<PnrpId> = self.cache.entries().map(|entry| entry.id).collect();
        if ids.len() < 2 {
            return None;
        }
        let mut widest = (PnrpId([0; 32]), ids[0]);
        for pair in ids.windows(2) {
            let gap = pair[1].wrapping_sub(&pair[0]);
            if gap > widest.0 {
                widest = (gap, pair[0]);
            }
        }
        let wrap = ids[0].wrapping_sub(&ids[ids.len() - 1]);
        if wrap > widest.0 {
            widest = (wrap, ids[ids.len() - 1]);
        }
        let mut half = [0u8; 32];
        let mut carry = 0u8;
        for (index, byte) in widest.0 .0.iter().enumerate() {
            half[index] = (byte >> 1) | (carry << 7);
            carry = byte & 1;
        }
        Some(widest.1.wrapping_add(&PnrpId(half)))
    }
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

fn resolve_found_len(resolves: &HashMap<u32, Resolve>, resolve_id: u32) -> usize {
    resolves
        .get(&resolve_id)
        .map_or(0, |resolve| resolve.found.len())
}

fn self_endpoints_contain(entry: &RouteEntry, to: &SocketAddrV6) -> bool {
    entry.port == to.port() && entry.addresses.contains(to.ip())
}
