//! Resolving in the cloud (§3.1.4.4.2, §3.1.5.6): the node's side of each resolve.
//!
//! Layout:
//! - [`machine`] — the algorithm as a pure state machine: what happened in, what to do out.
//! - this file — what runs it: starting resolves, turning their actions into LOOKUPs and
//!   INQUIREs, feeding them the answers (after checking each CPA), caching what they teach, and
//!   reporting the outcome.

pub mod machine;

use std::net::SocketAddrV6;
use std::time::Instant;

use pnrp_shared::{P2pId, PeerName, PnrpId, ServiceLocation};
use rand::RngCore;

pub use self::machine::{closer, matches, Action, Goal, Input, Outcome, Resolve, Routes};

use super::cache::{CacheEntry, Endpoints, RouteCache};
use super::requests::{Purpose, ResolveId};
use super::{route_entry, Cloud, CloudEvent, Found};
use crate::wire::{
    AuthorityBuffer, BoundedVec, CpaCheck, Endpoint, ExtendedData, Inquire, Lookup, Message,
    ResolveCriteria, ResolveReason,
};

/// Resolves running at once, at most.
const MAX_RESOLVES: usize = 256;
/// Service location suffix a resolver uses (§3.1.4.4).
const RESOLVE_SUFFIX: [u8; 8] = [0x80, 0, 0, 0, 0, 0, 0, 0];
/// Below this many entries the cache is small: LOOKUPs accept entries that are not closer.
const SMALL_CACHE: usize = 8;

impl Routes for RouteCache {
    fn closest(
        &self,
        target: &PnrpId,
        excluded: &dyn Fn(&SocketAddrV6) -> bool,
    ) -> Option<crate::wire::RouteEntry> {
        RouteCache::closest(self, target, |entry| !entry.endpoints.iter().any(excluded))
            .and_then(|entry| route_entry(entry.id, &entry.endpoints))
    }

    fn same_name(&self, id: &PnrpId) -> Vec<crate::wire::RouteEntry> {
        self.entries()
            .filter(|entry| entry.id.0[..16] == id.0[..16])
            .filter_map(|entry| route_entry(entry.id, &entry.endpoints))
            .collect()
    }
}

impl Cloud {
    /// Starts resolving a peer name in this cloud; the answer comes as [`CloudEvent::Resolved`].
    pub fn resolve(&mut self, now: Instant, name: &PeerName, query: u64) {
        self.now = now;
        let mut location = [0; 16];
        location[8..].copy_from_slice(&RESOLVE_SUFFIX);
        let target = PnrpId::new(P2pId::of(name), ServiceLocation(location));
        self.start_resolve(
            now,
            target,
            ResolveCriteria::AnyPeerName,
            Goal::App(query),
            None,
        );
    }

    pub(in crate::cloud) fn start_resolve(
        &mut self,
        now: Instant,
        target: PnrpId,
        criteria: ResolveCriteria,
        goal: Goal,
        carried: Option<crate::wire::RouteEntry>,
    ) {
        let first = self
            .cache
            .closest(&target, |_| true)
            .and_then(Self::cache_route_entry);
        self.start_resolve_from(now, target, criteria, goal, carried, first);
    }

    /// A resolve whose first hop is `first` (the closest cached entry, unless the goal wants
    /// another).
    pub(in crate::cloud) fn start_resolve_from(
        &mut self,
        now: Instant,
        target: PnrpId,
        criteria: ResolveCriteria,
        goal: Goal,
        carried: Option<crate::wire::RouteEntry>,
        first: Option<crate::wire::RouteEntry>,
    ) {
        if self.resolves.len() >= MAX_RESOLVES || self.local_endpoints.is_empty() {
            if let Goal::App(query) = goal {
                self.events.push_back(CloudEvent::Resolved {
                    query,
                    found: Vec::new(),
                    hops: Vec::new(),
                });
            }
            return;
        }
        let own = self.service_addresses().into_iter().next();
        let mut nonce = [0; 16];
        self.rng.fill_bytes(&mut nonce);
        let mut resolve = Resolve::new(
            goal,
            target,
            criteria,
            self.config.scope_id,
            own,
            first,
            carried,
            nonce,
        );
        let id = self.next_resolve;
        self.next_resolve = self.next_resolve.wrapping_add(1);
        let actions = resolve.start();
        self.resolves.insert(id, Box::new(resolve));
        self.run(now, id, actions);
    }

    /// Feeds what happened to resolve `id` (if it still runs) and carries out its answer.
    fn step(&mut self, now: Instant, id: ResolveId, input: Input) {
        let Some(resolve) = self.resolves.get_mut(&id) else {
            return;
        };
        let actions = resolve.step(input, &self.cache);
        self.run(now, id, actions);
    }

    /// Carries out a resolve's actions, in order.
    fn run(&mut self, now: Instant, id: ResolveId, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Forget { id, at } => {
                    if self
                        .cache
                        .get(&id)
                        .is_some_and(|entry| entry.endpoints.contains(&at))
                    {
                        self.forget(&id);
                    }
                }
                Action::Unreachable(address) => self.unreachable(now, address),
                Action::Reached(entry, from) => self.reached(now, entry, from),
                Action::Lookup {
                    to,
                    validate,
                    flagged,
                } => {
                    let Some(resolve) = self.resolves.get(&id) else {
                        return;
                    };
                    let lookup = Lookup {
                        accept_not_closer: self.cache.len() < SMALL_CACHE,
                        precision: 0,
                        criteria: resolve.criteria(),
                        reason: match resolve.goal() {
                            Goal::App(_) => ResolveReason::AppRequest,
                            Goal::Announce(_) => ResolveReason::Registration,
                            Goal::Balance => ResolveReason::CacheMaintenance,
                            Goal::SplitDetection { .. } => ResolveReason::SplitDetection,
                        },
                        target: resolve.target(),
                        validate_id: validate,
                        route_entry: resolve.carried().cloned(),
                        flagged_path: flagged,
                    };
                    self.send_request(now, to, Message::Lookup(lookup), Purpose::Lookup(id));
                }
                Action::Inquire { to, id: match_id } => {
                    let Some(resolve) = self.resolves.get(&id) else {
                        return;
                    };
                    let inquire = Inquire {
                        want_cpa: true,
                        want_extended_payload: true,
                        want_cert_chain: true,
                        validate_id: match_id,
                        nonce: Some(resolve.nonce()),
                    };
                    self.send_request(now, to, Message::Inquire(inquire), Purpose::Inquire(id));
                }
                Action::Walk {
                    to,
                    publisher,
                    flagged,
                } => self.walk(now, id, to, publisher, flagged),
                Action::Finish => return self.finish(id),
            }
        }
    }

    /// A hop answered from the address we chose: refresh its entry, or (a newcomer, which must
    /// bring a CPA: answering a LOOKUP proves an address, not an ID) submit it for admission.
    fn reached(&mut self, now: Instant, entry: crate::wire::RouteEntry, from: SocketAddrV6) {
        if self.locals.contains_key(&entry.pnrp_id) {
            return;
        }
        let endpoints = self.entry_endpoints(&entry);
        match self.cache.get(&entry.pnrp_id) {
            Some(known) if known.endpoints[..] == endpoints[..] => {
                let mut refreshed = known.clone();
                refreshed.last_seen = now;
                self.cache.insert(refreshed);
            }
            _ => self.submit(now, entry, from, Vec::new()),
        }
    }

    /// Asks a publisher of the name for the closest registration of it not found yet (a LOOKUP
    /// of the target with every publisher found flagged, so it answers from its cache):
    /// registrations of the same name share the P2P ID and so sit side by side on the ring, in
    /// each other's leaf sets.
    fn walk(
        &mut self,
        now: Instant,
        id: ResolveId,
        to: SocketAddrV6,
        publisher: PnrpId,
        flagged_path: BoundedVec<Endpoint, 1, { crate::wire::MAX_PATH_ENDPOINTS }>,
    ) {
        let Some(resolve) = self.resolves.get(&id) else {
            return;
        };
        let lookup = Lookup {
            accept_not_closer: true,
            precision: 0,
            criteria: resolve.criteria(),
            reason: ResolveReason::AppRequest,
            target: resolve.target(),
            validate_id: publisher,
            route_entry: None,
            flagged_path,
        };
        self.send_request(now, to, Message::Lookup(lookup), Purpose::Walk(id));
    }

    /// A hop answered our LOOKUP.
    pub(in crate::cloud) fn lookup_answered(
        &mut self,
        now: Instant,
        id: ResolveId,
        from: SocketAddrV6,
        buffer: AuthorityBuffer,
    ) {
        let input = Input::Answer {
            from,
            route_entry: buffer
                .route_entry
                .and_then(|entry| self.preferred_entry(&entry)),
            not_found: buffer.not_found,
            leaf_set: buffer.leaf_set,
            small_cache: self.cache.len() < SMALL_CACHE,
        };
        self.step(now, id, input);
    }

    /// A match answered our INQUIRE: its CPA must name the ID, be signed under our nonce and
    /// validate (with its extended payload, when announced).
    pub(in crate::cloud) fn inquire_answered(
        &mut self,
        now: Instant,
        id: ResolveId,
        from: SocketAddrV6,
        buffer: AuthorityBuffer,
    ) {
        let Some(resolve) = self.resolves.get(&id) else {
            return;
        };
        let now_filetime = self.now_filetime(now);
        let valid = match (&buffer.cpa, &buffer.route_entry) {
            (Some(cpa), Some(entry)) if !buffer.not_found => {
                let check = CpaCheck {
                    pnrp_id: Some(entry.pnrp_id),
                    nonce: Some(resolve.nonce()),
                    revoke: false,
                    extended_payload: buffer.extended_payload.as_ref(),
                };
                (matches(&entry.pnrp_id, &resolve.target(), resolve.criteria())
                    && cpa.validate(now_filetime, &check).is_ok())
                .then_some((cpa, entry))
            }
            _ => None,
        };
        let Some((cpa, entry)) = valid else {
            self.counters.bad_cpas += u64::from(buffer.cpa.is_some());
            return self.step(now, id, Input::Inquired { from, valid: None });
        };
        let fields = cpa.fields();
        let found = Found {
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
        };
        // A publisher that just proved itself with a valid CPA is worth caching, at the
        // addresses its CPA signs (a relay that forwarded the CPA is not the publisher).
        let signed_here = fields
            .service_addresses
            .iter()
            .any(|endpoint| endpoint.address == *from.ip() && endpoint.port == from.port());
        let publisher = entry.clone();
        if signed_here && !self.locals.contains_key(&publisher.pnrp_id) {
            // Only the addresses its CPA signs (as admission asks); none left, nothing cached.
            let mut endpoints = self.entry_endpoints(&publisher);
            endpoints.retain(|endpoint| {
                fields.service_addresses.iter().any(|signed| {
                    signed.address == *endpoint.ip() && signed.port == endpoint.port()
                })
            });
            if !endpoints.is_empty() {
                self.cache.insert(CacheEntry {
                    id: publisher.pnrp_id,
                    endpoints: Endpoints::from_slice(&endpoints),
                    last_seen: now,
                });
            }
        }
        self.step(
            now,
            id,
            Input::Inquired {
                from,
                valid: Some((publisher, found)),
            },
        );
    }

    /// A publisher answered our LOOKUP for its neighbour.
    pub(in crate::cloud) fn walk_answered(
        &mut self,
        now: Instant,
        id: ResolveId,
        buffer: AuthorityBuffer,
    ) {
        self.step(now, id, Input::Neighbour(buffer.route_entry));
    }

    /// A publisher never answered our LOOKUP for its neighbour.
    pub(in crate::cloud) fn walk_lost(&mut self, now: Instant, id: ResolveId) {
        self.step(now, id, Input::Neighbour(None));
    }

    /// A hop or a match never answered at `to`: the resolve tries its next address, or gives it
    /// up ([`Action::Unreachable`]). Never return a dead publisher.
    pub(in crate::cloud) fn hop_lost(&mut self, now: Instant, id: ResolveId, to: SocketAddrV6) {
        self.step(now, id, Input::Silent { to });
    }

    /// Nothing answers at `address` any more: the entries we know there, for which it was the
    /// last address to try, leave the cache, and the address joins the nodes lost to silence
    /// (only then: an address a hop merely offered is no node we knew).
    fn unreachable(&mut self, now: Instant, address: SocketAddrV6) {
        let dead: Vec<PnrpId> = self
            .cache
            .entries()
            .filter(|entry| entry.endpoints.last() == Some(&address))
            .map(|entry| entry.id)
            .collect();
        if dead.is_empty() {
            return;
        }
        for dead in dead {
            self.forget(&dead);
        }
        self.rendezvous.lost(now, address);
    }

    fn finish(&mut self, id: ResolveId) {
        let Some(resolve) = self.resolves.remove(&id) else {
            return;
        };
        let outcome = resolve.finish();
        match outcome.goal {
            Goal::App(query) => self.events.push_back(CloudEvent::Resolved {
                query,
                found: outcome.found,
                hops: outcome.hops,
            }),
            Goal::Announce(registration) => self.announced(registration, outcome.reached),
            Goal::Balance => {}
            Goal::SplitDetection {
                around,
                nearest,
                follow_up,
            } => {
                let seed = outcome.hops.first().copied();
                self.split_tested(self.now, around, nearest, outcome.best, seed, follow_up);
            }
        }
    }
}
