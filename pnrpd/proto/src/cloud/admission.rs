//! Admission to the cache (§3.1.5.11, §3.2.5.1) and the FLOODs that spread entries and revokes
//! (§3.2.5.11, §3.2.4.2).
//!
//! A route entry learned from anyone (a FLOOD, a SOLICIT, a LOOKUP or its answer) enters the
//! cache only once its node answered our INQUIRE with a CPA for that ID, signed under our fresh
//! nonce, whose service addresses are the entry's: otherwise any node could point a secured
//! name's ID at itself in our cache (a deviation from §3.1.5.11, docs/PROTOCOL.md). A newcomer to
//! one of our leaf sets is flooded to the nearest cached nodes on both sides of it.

use std::collections::HashSet;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Instant;

use pnrp_shared::PnrpId;
use rand::RngCore;

use super::cache::{CacheEntry, Endpoints, RouteCache};
use super::requests::{Admission, Purpose, Reply};
use super::Cloud;
use crate::wire::{
    Ack, AuthorityBuffer, BoundedVec, CpaCheck, Endpoint, Flood, Inquire, Message, RouteEntry,
};

/// Entries waiting for their INQUIRE to be answered, at most.
const MAX_ADMISSIONS: usize = 256;

impl Cloud {
    /// Submits a route entry for the cache: it enters only after answering an INQUIRE with a
    /// valid CPA.
    pub(super) fn submit(
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
            if known.endpoints[..] == endpoints[..] {
                return;
            }
        }
        // No INQUIRE for an entry the cache would refuse anyway (a full level, fresh holders).
        if !self.cache.wants(&entry.pnrp_id, now) {
            return;
        }
        // One INQUIRE per ID at a time, admission or liveness check alike; and a bounded number.
        let mut asking = 0;
        for (_, _, purpose) in self.requests.purposes() {
            if let Purpose::Admission(Admission { entry: asked, .. })
            | Purpose::Liveness { entry: asked } = purpose
            {
                if asked.pnrp_id == entry.pnrp_id {
                    return;
                }
                asking += 1;
            }
        }
        if asking >= MAX_ADMISSIONS {
            return;
        }
        let to = endpoints[0];
        let mut nonce = [0; 16];
        self.rng.fill_bytes(&mut nonce);
        let admission = Admission {
            entry,
            from,
            nonce,
            already_flooded,
        };
        self.ask_admission(now, to, admission);
    }

    /// Sends an admission's INQUIRE to `to`, one of the entry's addresses.
    fn ask_admission(&mut self, now: Instant, to: SocketAddrV6, admission: Admission) {
        let inquire = Inquire {
            want_cpa: true,
            want_extended_payload: false,
            want_cert_chain: true,
            validate_id: admission.entry.pnrp_id,
            nonce: Some(admission.nonce),
        };
        self.send_request(
            now,
            to,
            Message::Inquire(inquire),
            Purpose::Admission(admission),
        );
    }

    /// An admission's INQUIRE went unanswered at `to`: the entry's next address is asked, or,
    /// when none is left, the entry is not admitted (and leaves the cache if it was there).
    pub(super) fn admission_silent(
        &mut self,
        now: Instant,
        admission: Admission,
        to: SocketAddrV6,
    ) {
        match self.next_endpoint(&admission.entry, to) {
            Some(next) => self.ask_admission(now, next, admission),
            None => self.liveness_lost(now, &admission.entry, to),
        }
    }

    /// The INQUIRE of an admission was answered: the entry enters the cache if the answer
    /// proves it.
    pub(super) fn admission_answered(
        &mut self,
        now: Instant,
        admission: Admission,
        buffer: AuthorityBuffer,
    ) {
        if buffer.not_found {
            return;
        }
        let Some(cpa) = buffer.cpa.as_ref() else {
            return;
        };
        let check = CpaCheck {
            pnrp_id: Some(admission.entry.pnrp_id),
            nonce: Some(admission.nonce),
            revoke: false,
            extended_payload: None,
        };
        if cpa.validate(self.now_filetime(now), &check).is_err() {
            self.counters.bad_cpas += 1;
            return;
        }
        // The route entry's endpoints (its addresses at its port) must be service addresses of
        // the CPA (§3.1.5.6.1.2).
        let service: HashSet<(Ipv6Addr, u16)> = cpa
            .fields()
            .service_addresses
            .iter()
            .map(|endpoint| (endpoint.address, endpoint.port))
            .collect();
        let port = admission.entry.port;
        if !admission
            .entry
            .addresses
            .iter()
            .all(|address| service.contains(&(*address, port)))
        {
            self.counters.bad_cpas += 1;
            return;
        }
        self.admit(now, &admission);
    }

    /// Caches (or refreshes) a proven entry; a newcomer to a leaf set is flooded.
    pub(super) fn admit(&mut self, now: Instant, admission: &Admission) {
        let endpoints = self.entry_endpoints(&admission.entry);
        let id = admission.entry.pnrp_id;
        // Only a newcomer to a leaf set is flooded; a known entry is merely refreshed.
        let was_leaf = self.cache.get(&id).is_none() && self.cache.would_be_leaf(&id);
        for endpoint in &endpoints {
            self.rendezvous.found(endpoint);
        }
        if !self.cache.insert(CacheEntry {
            id,
            endpoints: Endpoints::from_slice(&endpoints),
            last_seen: now,
        }) {
            return;
        }
        self.announce(now);
        if was_leaf && !self.locals.is_empty() {
            self.flood_new_leaf(now, admission);
        }
    }

    /// §3.2.5.11: a new leaf-set member is flooded to the nearest cached IDs on both sides of it.
    fn flood_new_leaf(&mut self, now: Instant, admission: &Admission) {
        let id = admission.entry.pnrp_id;
        let excluded: HashSet<Endpoint> = admission.already_flooded.iter().copied().collect();
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
                        .all(|endpoint| !admission.entry.addresses.contains(endpoint.ip()))
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
        let mut already: Vec<Endpoint> = admission.already_flooded.clone();
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
                route_entry: Some(admission.entry.clone()),
                already_flooded: already.clone(),
            };
            self.send_request(
                now,
                to,
                Message::Flood(flood),
                Purpose::Flood {
                    validate: target.id,
                },
            );
        }
        // Tell the newcomer about us when it came from someone else's flood.
        let from_endpoint = Endpoint::from(SocketAddr::V6(admission.from));
        let from_is_entry = admission.entry.addresses.contains(&from_endpoint.address);
        if !admission.already_flooded.is_empty() && !from_is_entry && !self.firewalled() {
            if let Some(own) = self
                .nearest_local(&id)
                .and_then(|local| self.own_route_entry(local))
            {
                let to = self.entry_endpoints(&admission.entry)[0];
                let flood = Flood {
                    no_ack: false,
                    validate_id: id,
                    revoke_cpa: None,
                    route_entry: Some(own),
                    already_flooded: BoundedVec::empty(),
                };
                self.send_request(
                    now,
                    to,
                    Message::Flood(flood),
                    Purpose::Flood { validate: id },
                );
            }
        }
    }

    pub(super) fn on_flood(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        flood: Flood,
    ) {
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
            match cpa.validate(self.now_filetime(now), &check) {
                Ok(()) => self.revoked(now, from, &cpa),
                Err(_) => self.counters.bad_cpas += 1,
            }
        }
        if let Some(entry) = flood.route_entry {
            self.submit(now, entry, from, flood.already_flooded.to_vec());
        }
    }

    /// A valid revoke CPA arrived from `from`: its ID leaves the cache, and if it was in the
    /// leaf set of one of our registrations, the revoke goes on to our nearest neighbour on the
    /// other side (§4.3), until it reaches nodes that never had the ID.
    fn revoked(&mut self, now: Instant, from: SocketAddrV6, cpa: &crate::wire::Cpa) {
        let id = cpa.pnrp_id();
        let mut onward: Vec<CacheEntry> = Vec::new();
        for anchor in self.locals.keys() {
            let (below, above) = self.cache.leaf_set(anchor);
            let in_below = below.iter().any(|entry| entry.id == id);
            let in_above = above.iter().any(|entry| entry.id == id);
            let next = match (in_below, in_above) {
                (_, true) => below.first(),
                (true, false) => above.first(),
                (false, false) => None,
            };
            if let Some(next) = next.filter(|next| next.id != id) {
                if !onward.iter().any(|known| known.id == next.id) {
                    onward.push((*next).clone());
                }
            }
        }
        self.forget(&id);
        for next in onward {
            let Some(&to) = next.endpoints.first() else {
                continue;
            };
            if to == from {
                continue;
            }
            let flood = Flood {
                no_ack: false,
                validate_id: next.id,
                revoke_cpa: Some(Box::new(cpa.clone())),
                route_entry: None,
                already_flooded: BoundedVec::empty(),
            };
            self.send_request(
                now,
                to,
                Message::Flood(flood),
                Purpose::Flood { validate: next.id },
            );
        }
    }

    pub(super) fn on_ack(&mut self, now: Instant, from: SocketAddrV6, ack: Ack) {
        // Only the node we sent the message to may acknowledge it.
        let Some(purpose) = self.requests.answer(ack.acked_message_id, from, Reply::Ack) else {
            return;
        };
        self.proven(now, from);
        match purpose {
            // NOT_FOUND: the neighbour no longer holds the ID we flooded it by.
            Purpose::Flood { validate } if ack.not_found == Some(true) => self.forget(&validate),
            _ => {}
        }
    }
}
