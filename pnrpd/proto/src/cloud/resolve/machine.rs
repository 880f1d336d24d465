//! The resolve algorithm of §3.1.4.4.2 as a pure state machine: a [`Resolve`] is fed what
//! happened ([`Input`]) and answers with what to do next ([`Action`]). It sends nothing, reads no
//! clock and touches no cache; what it needs from the cache it asks through [`Routes`].
//!
//! The state is the spec's: the next-hop stack (each hop asked at most 3 times), the best match
//! and the stack of earlier best matches to fall back on (§3.1.5.6.1.1), the path of nodes asked
//! (sent as the flagged path, so no node is offered twice and no route loops), the count of
//! suspicious answers and of useful hops (§3.1.4.4.2's limits). Once a registration is found, the
//! other registrations of the same name (same P2P ID, so neighbours on the ring) are walked: the
//! publisher is asked once more for the target, with every publisher found so far flagged, so it
//! answers with the closest registration not found yet (from its leaf set) or with something
//! that does not match; each match is inquired and walked from in turn. A name on one host costs
//! one walk, sent with the first INQUIRE rather than after it: the publisher counts both toward
//! what it may send an address it has not proven (docs/PROTOCOL.md, "No amplification"), so the
//! signed answer usually fits without a proof-of-address round trip.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use pnrp_shared::PnrpId;

use crate::cloud::Found;
use crate::wire::{BoundedVec, Endpoint, ResolveCriteria, RouteEntry, MAX_PATH_ENDPOINTS};

/// §3.1.4.4.2: a resolve stops after this many suspicious answers…
pub const MAX_SUSPICIOUS: u32 = 6;
/// …or this many useful hops.
pub const MAX_USEFUL_HOPS: u32 = 22;
/// A balancing lookup only needs to reach the gap's neighbourhood.
pub const MAX_BALANCING_HOPS: u32 = 4;
/// Registrations of one name gathered by a resolve.
pub const MAX_RESULTS: usize = 16;
/// How many times one hop is asked before it is dropped from the next-hop stack.
const MAX_USES: u32 = 3;

/// Why a resolve runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// For the application: find the registrations of a name (the caller's tag).
    App(u64),
    /// To announce one of our registrations: a lookup of its ID + 1 carrying its route entry
    /// (§3.2.4.1).
    Announce(PnrpId),
    /// To fill the widest gap of our cache (§3.2.6.2).
    Balance,
    /// To test whether the cloud split (§3.2.6.2.1): a lookup of `around` + 1 (one of our
    /// registrations) that starts at a seed; `nearest` is the cached ID closest to the target
    /// when it started, which the best match it ends at is compared with.
    SplitDetection {
        /// The registration (or the cache's anchor) tested.
        around: PnrpId,
        /// The closest cached ID to the target at the start.
        nearest: Option<PnrpId>,
        /// Whether it repeats, for another registration, a test that found a split.
        follow_up: bool,
    },
}

/// Whether `candidate` matches `target` as the criteria ask.
pub fn matches(candidate: &PnrpId, target: &PnrpId, criteria: ResolveCriteria) -> bool {
    match criteria {
        ResolveCriteria::AnyPeerName => candidate.0[..16] == target.0[..16],
        ResolveCriteria::Nearest64PeerName => candidate.0[..24] == target.0[..24],
        _ => candidate == target,
    }
}

/// Whether `a` is closer to `target` than `b`.
pub fn closer(a: &PnrpId, b: &PnrpId, target: &PnrpId) -> bool {
    a.distance(target) < b.distance(target)
}

/// What a resolve asks of the cache.
pub trait Routes {
    /// The cached entry closest to `target` none of whose endpoints is `excluded`.
    fn closest(
        &self,
        target: &PnrpId,
        excluded: &dyn Fn(&SocketAddrV6) -> bool,
    ) -> Option<RouteEntry>;
    /// The cached entries of the same name as `id` (the same P2P ID), in ID order.
    fn same_name(&self, id: &PnrpId) -> Vec<RouteEntry>;
}

/// What happened to a resolve.
#[derive(Debug, Clone)]
pub enum Input {
    /// The hop we sent a LOOKUP answered, from `from`.
    Answer {
        /// Where the answer came from (the hop).
        from: SocketAddrV6,
        /// The route entry it offered.
        route_entry: Option<RouteEntry>,
        /// Its N flag: it does not hold the ID we validated it by.
        not_found: bool,
        /// Its L flag: the target falls in its leaf set yet it knows nothing closer.
        leaf_set: bool,
        /// Whether our cache is small (under 8 entries): then entries that are not closer are
        /// followed too.
        small_cache: bool,
    },
    /// An INQUIRE for a match was answered: with a valid CPA (the publisher's route entry and
    /// what its CPA says), or not (`None`).
    Inquired {
        /// Where the answer came from (where the INQUIRE went).
        from: SocketAddrV6,
        /// The publisher's entry and record, when its CPA was valid.
        valid: Option<(RouteEntry, Found)>,
    },
    /// A publisher answered our LOOKUP for its neighbour (`Some` entry or nothing), or never
    /// answered (`None`).
    Neighbour(Option<RouteEntry>),
    /// A LOOKUP or INQUIRE of this resolve to `to` went unanswered: the node is gone.
    Silent {
        /// Where it went.
        to: SocketAddrV6,
    },
}

/// What the resolve wants done, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The hop answered NOT_FOUND for its own ID: it no longer holds it; forget the entry.
    Forget {
        /// Its ID.
        id: PnrpId,
        /// Where it answered: only an entry at this address is forgotten (a hop cannot make us
        /// forget a node by naming its ID at an address of its own).
        at: SocketAddrV6,
    },
    /// The hop answered, at `from`, the address we chose: it is reachable, worth caching.
    Reached(RouteEntry, SocketAddrV6),
    /// Nothing answered at this address, the last one of its node we knew to try: the node is
    /// gone (or unreachable from here).
    Unreachable(SocketAddrV6),
    /// Send a LOOKUP to `to`, validating it by `validate`, with this flagged path.
    Lookup {
        /// The hop.
        to: SocketAddrV6,
        /// The hop's PNRP ID (Validate PNRP ID).
        validate: PnrpId,
        /// The nodes already asked (at most 22, the latest).
        flagged: BoundedVec<Endpoint, 1, MAX_PATH_ENDPOINTS>,
    },
    /// Send an INQUIRE for `id`'s CPA to `to`.
    Inquire {
        /// The node believed to publish it.
        to: SocketAddrV6,
        /// The matching ID.
        id: PnrpId,
    },
    /// Ask the publisher at `to` for the closest registration of the name not found yet: a
    /// LOOKUP of the target validated by `publisher`, with this flagged path (us and every
    /// publisher found).
    Walk {
        /// The publisher.
        to: SocketAddrV6,
        /// Its registration's ID.
        publisher: PnrpId,
        /// Us and the publishers found so far.
        flagged: BoundedVec<Endpoint, 1, MAX_PATH_ENDPOINTS>,
    },
    /// The resolve is over: report it.
    Finish,
}

#[derive(Debug, Clone)]
struct Hop {
    entry: RouteEntry,
    uses: u32,
    /// Which of its addresses is asked (the next one once it stays silent).
    address: usize,
}

impl Hop {
    fn new(entry: RouteEntry) -> Self {
        Hop {
            entry,
            uses: 0,
            address: 0,
        }
    }
}

/// One resolve in progress.
#[derive(Debug)]
pub struct Resolve {
    goal: Goal,
    target: PnrpId,
    criteria: ResolveCriteria,
    scope_id: u32,
    carried: Option<RouteEntry>,
    nonce: [u8; 16],
    path: Vec<Endpoint>,
    next_hops: Vec<Hop>,
    best: Option<RouteEntry>,
    best_stack: Vec<RouteEntry>,
    current: Option<Hop>,
    suspicious: u32,
    useful: u32,
    inquired: HashSet<PnrpId>,
    found: Vec<Found>,
    hops: Vec<SocketAddrV6>,
    walk: Vec<RouteEntry>,
    outstanding: usize,
    /// INQUIREs sent: where to, for which entry, at which of its addresses.
    inquiries: Vec<(SocketAddrV6, RouteEntry, usize)>,
    /// The publishers walked from (each once), and where.
    walked: HashMap<PnrpId, SocketAddrV6>,
}

/// A resolve's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Why it ran.
    pub goal: Goal,
    /// The registrations found, by ID, each once.
    pub found: Vec<Found>,
    /// Every node asked, in order.
    pub hops: Vec<SocketAddrV6>,
    /// Whether any node answered a LOOKUP.
    pub reached: bool,
    /// The best match it ended at: the closest node to the target that answered.
    pub best: Option<RouteEntry>,
}

impl Resolve {
    /// A resolve of `target` that starts at `first` (the closest cached entry), from a node at
    /// `own` (the path's first entry). Link-local hops get `scope_id`; INQUIREs carry `nonce`;
    /// LOOKUPs carry `carried` (our own route entry, when announcing).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        goal: Goal,
        target: PnrpId,
        criteria: ResolveCriteria,
        scope_id: u32,
        own: Option<Endpoint>,
        first: Option<RouteEntry>,
        carried: Option<RouteEntry>,
        nonce: [u8; 16],
    ) -> Self {
        Resolve {
            goal,
            target,
            criteria,
            scope_id,
            carried,
            nonce,
            path: own.into_iter().collect(),
            next_hops: first.into_iter().map(Hop::new).collect(),
            best: None,
            best_stack: Vec::new(),
            current: None,
            suspicious: 0,
            useful: 0,
            inquired: HashSet::new(),
            found: Vec::new(),
            hops: Vec::new(),
            walk: Vec::new(),
            outstanding: 0,
            inquiries: Vec::new(),
            walked: HashMap::new(),
        }
    }

    /// Why it runs.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// The ID it looks for.
    pub fn target(&self) -> PnrpId {
        self.target
    }

    /// How matches are recognised.
    pub fn criteria(&self) -> ResolveCriteria {
        self.criteria
    }

    /// The nonce its INQUIREs carry, which a valid answer's CPA is signed under.
    pub fn nonce(&self) -> [u8; 16] {
        self.nonce
    }

    /// The route entry its LOOKUPs carry.
    pub fn carried(&self) -> Option<&RouteEntry> {
        self.carried.as_ref()
    }

    /// The first moves.
    pub fn start(&mut self) -> Vec<Action> {
        self.advance()
    }

    /// Takes in what happened; returns what to do.
    pub fn step(&mut self, input: Input, routes: &impl Routes) -> Vec<Action> {
        match input {
            Input::Answer {
                from,
                route_entry,
                not_found,
                leaf_set,
                small_cache,
            } => {
                let mut actions =
                    self.answered(from, route_entry, not_found, leaf_set, small_cache);
                actions.extend(self.advance());
                actions
            }
            Input::Inquired { from, valid } => self.inquired(from, valid, routes),
            Input::Neighbour(entry) => {
                self.outstanding = self.outstanding.saturating_sub(1);
                if let Some(entry) = entry {
                    let same_name = entry.pnrp_id.0[..16] == self.target.0[..16];
                    if same_name
                        && self.found.len() + self.walk.len() < MAX_RESULTS
                        && self.inquired.insert(entry.pnrp_id)
                    {
                        self.walk.push(entry);
                    }
                }
                self.advance()
            }
            Input::Silent { to } => self.silent(to, routes),
        }
    }

    /// The outcome, once [`Action::Finish`] was returned.
    pub fn finish(self) -> Outcome {
        let mut found = self.found;
        found.sort_by_key(|found| found.id);
        found.dedup_by_key(|found| found.id);
        Outcome {
            goal: self.goal,
            found,
            hops: self.hops,
            reached: self.useful > 0,
            best: self.best,
        }
    }

    /// The `index`th address of `entry` (they come in order of preference), as a socket address.
    fn address(&self, entry: &RouteEntry, index: usize) -> SocketAddrV6 {
        let address: Ipv6Addr = entry.addresses[index.min(entry.addresses.len() - 1)];
        let scope = if address.is_unicast_link_local() {
            self.scope_id
        } else {
            0
        };
        SocketAddrV6::new(address, entry.port, 0, scope)
    }

    fn replace_best(&mut self, entry: RouteEntry) {
        let better = self
            .best
            .as_ref()
            .is_none_or(|best| closer(&entry.pnrp_id, &best.pnrp_id, &self.target));
        if better {
            if let Some(previous) = self.best.replace(entry) {
                self.best_stack.push(previous);
            }
        }
    }

    /// §3.1.5.6.1: what a LOOKUP's answer teaches.
    fn answered(
        &mut self,
        from: SocketAddrV6,
        route_entry: Option<RouteEntry>,
        not_found: bool,
        leaf_set: bool,
        small_cache: bool,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        self.path.push(Endpoint::from(SocketAddr::V6(from)));
        self.useful += 1;
        if leaf_set {
            self.suspicious += 1;
        }
        // A seed we know by address only (split detection's first hop, PNRP ID zero) is no
        // route entry: neither cached nor a best match.
        let mut current = self
            .current
            .take()
            .filter(|hop| hop.entry.pnrp_id != PnrpId([0; 32]));
        if not_found {
            if let Some(hop) = current.take() {
                actions.push(Action::Forget {
                    id: hop.entry.pnrp_id,
                    at: from,
                });
            }
        } else if let Some(hop) = &current {
            actions.push(Action::Reached(hop.entry.clone(), from));
        }
        if let Some(hop) = &current {
            self.replace_best(hop.entry.clone());
        }
        if current.as_ref().is_some_and(|hop| hop.uses >= MAX_USES) {
            current = None;
        }
        let source_id = current.as_ref().map(|hop| hop.entry.pnrp_id);
        let pushed_back = current.is_some();
        if let Some(hop) = current {
            self.next_hops.push(hop);
        }
        let usable = route_entry.as_ref().is_some_and(|new| {
            !self
                .next_hops
                .iter()
                .any(|hop| hop.entry.pnrp_id == new.pnrp_id)
                && source_id != Some(new.pnrp_id)
        });
        if !usable && pushed_back {
            // Nothing new from it: asking it again would only repeat the answer.
            self.next_hops.pop();
        }
        let Some(new) = route_entry.filter(|_| usable) else {
            return actions;
        };
        let loops = new.addresses.iter().any(|address| {
            self.path
                .iter()
                .rev()
                .skip(1)
                .any(|endpoint| endpoint.address == *address && endpoint.port == new.port)
        });
        if loops {
            return actions;
        }
        let already_best = self
            .best
            .as_ref()
            .is_some_and(|best| best.pnrp_id == new.pnrp_id);
        let not_closer =
            source_id.is_some_and(|source| !closer(&new.pnrp_id, &source, &self.target));
        if !not_closer || small_cache {
            self.next_hops.push(Hop::new(new.clone()));
        } else if pushed_back {
            self.next_hops.pop();
        }
        let matching = matches(&new.pnrp_id, &self.target, self.criteria);
        // Another registration of the name, once one is found: inquire it too.
        if matching
            && !self.found.is_empty()
            && self.found.len() < MAX_RESULTS
            && self.inquired.insert(new.pnrp_id)
        {
            self.walk.push(new.clone());
        }
        // An exact match found by the answer may become the best match directly.
        if matching && !already_best {
            self.replace_best(new);
        }
        actions
    }

    fn inquired(
        &mut self,
        from: SocketAddrV6,
        valid: Option<(RouteEntry, Found)>,
        routes: &impl Routes,
    ) -> Vec<Action> {
        self.outstanding = self.outstanding.saturating_sub(1);
        let asked = self
            .inquiries
            .iter()
            .position(|(at, ..)| *at == from)
            .map(|index| self.inquiries.swap_remove(index).1);
        let Some((publisher, found)) = valid else {
            // §3.1.5.6.1.1: the best match's own CPA failed: fall back to the previous one.
            let was_best = asked.is_some_and(|asked| {
                self.best
                    .as_ref()
                    .is_some_and(|best| best.pnrp_id == asked.pnrp_id)
            });
            if was_best {
                self.best = self.best_stack.pop();
            }
            return self.advance();
        };
        let to = found.publisher;
        self.found.push(found);
        let mut actions = Vec::new();
        // Walked from another of its addresses, which stayed silent: once more from this one.
        let walked_here = self.walked.get(&publisher.pnrp_id) == Some(&to);
        if self.found.len() < MAX_RESULTS && !walked_here {
            actions.push(self.walk_from(to, publisher.pnrp_id));
        }
        if self.found.len() == 1 {
            // The other registrations of the name this node knows of.
            for entry in routes.same_name(&publisher.pnrp_id) {
                if self.inquired.insert(entry.pnrp_id) {
                    self.walk.push(entry);
                }
            }
        }
        actions.extend(self.advance());
        actions
    }

    fn silent(&mut self, to: SocketAddrV6, routes: &impl Routes) -> Vec<Action> {
        // A multi-homed node is given up only once each of its addresses stayed silent (its
        // other addresses are not flagged meanwhile: flagged, it would not offer itself).
        let hop_silent = self
            .current
            .as_ref()
            .is_some_and(|hop| self.address(&hop.entry, hop.address) == to);
        let silent_hop = if hop_silent {
            self.current.take()
        } else {
            None
        };
        if let Some(mut hop) = silent_hop {
            if hop.address + 1 < hop.entry.addresses.len() {
                hop.address += 1;
                hop.uses = hop.uses.saturating_sub(1);
                self.next_hops.push(hop);
                return self.advance();
            }
            // A split test whose seed is silent tells nothing: it ends (from our own cache it
            // would only find our own piece).
            if hop.entry.pnrp_id == PnrpId([0; 32]) {
                return vec![Action::Finish];
            }
        } else if let Some(index) = self.inquiries.iter().position(|(at, ..)| *at == to) {
            let (_, entry, address) = self.inquiries.swap_remove(index);
            if address + 1 < entry.addresses.len() {
                self.outstanding = self.outstanding.saturating_sub(1);
                return vec![self.inquire_at(entry, address + 1)];
            }
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        // Flag the silent address in the path we send: the next hops will not offer it again,
        // and it is refused from their answers.
        self.path.push(Endpoint::from(SocketAddr::V6(to)));
        let at = |entry: &RouteEntry| entry.port == to.port() && entry.addresses.contains(to.ip());
        let mut actions = vec![Action::Unreachable(to)];
        if self.best.as_ref().is_some_and(at) {
            self.best = self.best_stack.pop();
        }
        self.next_hops.retain(|hop| !at(&hop.entry));
        // Nothing left to try: start again from the closest cached node not yet flagged.
        if self.next_hops.is_empty() && self.found.is_empty() {
            let path = &self.path;
            let flagged = |endpoint: &SocketAddrV6| {
                path.iter()
                    .any(|seen| seen.address == *endpoint.ip() && seen.port == endpoint.port())
            };
            if let Some(entry) = routes.closest(&self.target, &flagged) {
                self.next_hops.push(Hop::new(entry));
            }
        }
        actions.extend(self.advance());
        actions
    }

    /// Step 7 of §3.1.4.4.2: inquire the best match if it is good enough, else ask the next hop,
    /// else finish.
    fn advance(&mut self) -> Vec<Action> {
        // Registrations of the same name found next to the first one.
        if self.found.len() < MAX_RESULTS {
            if let Some(next) = self.walk.pop() {
                return vec![self.inquire(next)];
            }
        }
        if !self.found.is_empty() {
            return if self.outstanding == 0 {
                vec![Action::Finish]
            } else {
                Vec::new()
            };
        }
        let wants_cpa = matches!(self.goal, Goal::App(_));
        if let Some(best) = self.best.clone() {
            if wants_cpa
                && matches(&best.pnrp_id, &self.target, self.criteria)
                && self.inquired.insert(best.pnrp_id)
            {
                // The walk goes first: its LOOKUP also earns the budget the signed answer needs.
                let walk = self.walk_from(self.address(&best, 0), best.pnrp_id);
                return vec![walk, self.inquire(best)];
            }
        }
        // A match's INQUIRE (or its walk) is out: its answer decides what comes next.
        if self.outstanding > 0 {
            return Vec::new();
        }
        let hop_limit = if self.goal == Goal::Balance {
            MAX_BALANCING_HOPS
        } else {
            MAX_USEFUL_HOPS
        };
        let exhausted = self.suspicious > MAX_SUSPICIOUS || self.useful > hop_limit;
        let next = if exhausted {
            None
        } else {
            self.next_hops.pop()
        };
        let Some(mut hop) = next else {
            return vec![Action::Finish];
        };
        let latest = self.path.len().saturating_sub(MAX_PATH_ENDPOINTS);
        let flagged = BoundedVec::truncating(self.path[latest..].to_vec()).unwrap_or_else(|| {
            BoundedVec::truncating(vec![Endpoint {
                port: 0,
                address: Ipv6Addr::UNSPECIFIED,
            }])
            .expect("one endpoint")
        });
        hop.uses += 1;
        let to = self.address(&hop.entry, hop.address);
        let validate = hop.entry.pnrp_id;
        self.current = Some(hop);
        self.hops.push(to);
        vec![Action::Lookup {
            to,
            validate,
            flagged,
        }]
    }

    /// A walk from the publisher of `publisher` at `to` (see [`Action::Walk`]).
    fn walk_from(&mut self, to: SocketAddrV6, publisher: PnrpId) -> Action {
        self.outstanding += 1;
        self.walked.insert(publisher, to);
        let mut flagged: Vec<Endpoint> = self.path.first().copied().into_iter().collect();
        let publishers = self.found.iter().map(|found| found.publisher);
        for at in publishers.chain([to]) {
            let endpoint = Endpoint::from(SocketAddr::V6(at));
            if !flagged.contains(&endpoint) {
                flagged.push(endpoint);
            }
        }
        let latest = flagged.len().saturating_sub(MAX_PATH_ENDPOINTS);
        let flagged = BoundedVec::truncating(flagged.split_off(latest))
            .expect("at least the publisher just found");
        Action::Walk {
            to,
            publisher,
            flagged,
        }
    }

    fn inquire(&mut self, entry: RouteEntry) -> Action {
        self.inquire_at(entry, 0)
    }

    /// An INQUIRE for `entry`'s CPA at its `index`th address.
    fn inquire_at(&mut self, entry: RouteEntry, index: usize) -> Action {
        let to = self.address(&entry, index);
        self.hops.push(to);
        self.outstanding += 1;
        let id = entry.pnrp_id;
        // Each leaves on its answer or its silence: bounded by the INQUIREs in flight.
        self.inquiries.push((to, entry, index));
        Action::Inquire { to, id }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
