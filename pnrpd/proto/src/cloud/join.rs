//! Joining a cloud (§3.1.4.3, §3.2.5.3–4) and finding it by SSDP (§3.1.4.2.2, §3.1.5.1).
//!
//! A joiner SOLICITs a node it knows (a seed, a remembered node, one that answered its SSDP
//! search); the node ADVERTISEs up to five IDs spread over its cache; the joiner REQUESTs them
//! (proving it holds the nonce it hashed) and receives each as a FLOOD. Each entry then goes
//! through admission like any other. Joining starts on the first address and again whenever the
//! cache is empty: a few seeds at a time in rotation (and the nodes lost lately, see `split`),
//! the next one whenever one stays silent.

use std::collections::HashMap;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;
use rand::RngCore;
use sha1::{Digest, Sha1};

use super::requests::{Purpose, Reply};
use super::split::SEEDS_PER_JOIN;
use super::ssdp::{self, SsdpMessage};
use super::Cloud;
use crate::wire::{
    Ack, Advertise, BoundedVec, Flood, Message, Packet, Request, Solicit, SolicitType,
};

/// Conversation entries expire after this (§3.2.2).
const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(15);
/// Conversations remembered at once, at most.
const MAX_CONVERSATIONS: usize = 64;
/// IDs an ADVERTISE offers.
const ADVERTISED: usize = 5;
/// SSDP answers a search follows, at most.
const MAX_SSDP_TARGETS: u32 = 5;

/// A synchronization a joiner opened with us: the hash of the nonce its REQUEST must bring.
#[derive(Debug)]
pub(super) struct Conversation {
    hashed_nonce: [u8; 20],
    pub(super) expires: Instant,
    /// The joiner's PNRP ID, from its SOLICIT's route entry: the Validate ID of the FLOODs that
    /// answer its REQUEST (zero for a joiner that publishes nothing).
    joiner: PnrpId,
}

pub(super) fn sha1_20(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// Forgets expired conversations; whether `from` may have one (it has, or there is room).
fn room_for(
    conversations: &mut HashMap<SocketAddrV6, Conversation>,
    now: Instant,
    from: &SocketAddrV6,
) -> bool {
    conversations.retain(|_, conversation| conversation.expires > now);
    conversations.contains_key(from) || conversations.len() < MAX_CONVERSATIONS
}

impl Cloud {
    /// Looks for the cloud: an SSDP search, and a SOLICIT to the next few seeds in rotation.
    pub(super) fn join(&mut self, now: Instant) {
        if let Some(scope) = self.config.discovery {
            self.ssdp_targets = 0;
            self.ssdp_out.push_back(ssdp::search(scope));
        }
        let asking = self
            .requests
            .purposes()
            .filter(|(_, _, purpose)| matches!(purpose, Purpose::Solicit { .. }))
            .count();
        let count = self
            .rendezvous
            .len(&self.config.seeds)
            .min(SEEDS_PER_JOIN)
            .saturating_sub(asking);
        self.solicits_this_round = asking + count;
        for _ in 0..count {
            self.solicit_next(now);
        }
    }

    /// SOLICITs the next seed in rotation.
    fn solicit_next(&mut self, now: Instant) {
        if let Some(seed) = self
            .rendezvous
            .next(now, &self.config.seeds, &self.local_endpoints)
        {
            self.solicit(now, seed);
        }
    }

    /// A SOLICIT went unanswered: still alone, the next seed is asked (each seed at most once
    /// per round of them).
    pub(super) fn solicit_silent(&mut self, now: Instant) {
        if self.cache.is_empty()
            && self.solicits_this_round < self.rendezvous.len(&self.config.seeds)
        {
            self.solicits_this_round += 1;
            self.solicit_next(now);
        }
    }

    /// Starts a synchronization conversation with `seed` (§3.1.4.3).
    pub(super) fn solicit(&mut self, now: Instant, seed: SocketAddrV6) {
        let mut nonce = [0; 16];
        self.rng.fill_bytes(&mut nonce);
        let route_entry = self
            .locals
            .keys()
            .next()
            .copied()
            .filter(|_| !self.firewalled())
            .and_then(|id| self.own_route_entry(id));
        let solicit = Solicit {
            solicit_type: Some(SolicitType::Any),
            route_entry,
            hashed_nonce: sha1_20(&nonce),
        };
        self.send_request(
            now,
            seed,
            Message::Solicit(solicit),
            Purpose::Solicit { nonce },
        );
    }

    pub(super) fn on_solicit(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        solicit: Solicit,
    ) {
        let mut ids: Vec<PnrpId> = if room_for(&mut self.conversations, now, &from) {
            let joiner = solicit
                .route_entry
                .as_ref()
                .map_or(PnrpId([0; 32]), |entry| entry.pnrp_id);
            self.conversations.insert(
                from,
                Conversation {
                    hashed_nonce: solicit.hashed_nonce,
                    expires: now + CONVERSATION_TIMEOUT,
                    joiner,
                },
            );
            if solicit.solicit_type == Some(SolicitType::Local) {
                // SOLICIT_TYPE_LOCAL (§2.2.2.1): our own registrations only.
                self.locals.keys().copied().take(ADVERTISED).collect()
            } else {
                let mut ids: Vec<PnrpId> = self
                    .cache
                    .spread(ADVERTISED)
                    .iter()
                    .map(|entry| entry.id)
                    .collect();
                if ids.len() < ADVERTISED {
                    ids.extend(self.locals.keys().copied());
                }
                ids
            }
        } else {
            Vec::new()
        };
        // To an unproven joiner, as many IDs as its budget allows (a short ADVERTISE still
        // works: the REQUEST and FLOODs that follow are answered within its growing budget).
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

    pub(super) fn on_advertise(&mut self, now: Instant, from: SocketAddrV6, advertise: Advertise) {
        let acked = advertise.acked_message_id;
        let Some(&Purpose::Solicit { nonce }) = self.requests.get(acked, from, Reply::Advertise)
        else {
            return;
        };
        if sha1_20(&nonce) != advertise.hashed_nonce {
            return;
        }
        self.requests.remove(acked);
        self.proven(now, from);
        if advertise.ids.is_empty() {
            return;
        }
        let request = Request {
            nonce,
            ids: advertise.ids,
        };
        self.send_request(now, from, Message::Request(request), Purpose::Request);
    }

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        request: Request,
    ) {
        let Some(conversation) = self.conversations.get(&from) else {
            return;
        };
        if conversation.expires <= now || sha1_20(&request.nonce) != conversation.hashed_nonce {
            return;
        }
        let joiner = conversation.joiner;
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
                // §2.2.2.4: a FLOOD providing a route entry names its destination's ID.
                let flood = Flood {
                    no_ack: true,
                    validate_id: joiner,
                    revoke_cpa: None,
                    route_entry: Some(entry),
                    already_flooded: BoundedVec::empty(),
                };
                self.answer_fresh(now, from, Message::Flood(flood));
            }
        }
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
        self.now = now;
        match message {
            SsdpMessage::Search { scope: asked } if *asked == scope => {
                if self.locals.is_empty() {
                    return None;
                }
                // The PNRP rules hold on port 1900 too: the source's rate, and what an answer
                // to a source that may be forged may cost.
                if !self.guard.admit(now, from.ip(), len) {
                    self.counters.rate_limited += 1;
                    return None;
                }
                let endpoint = *self.local_endpoints.first()?;
                let answer = ssdp::response(scope, endpoint);
                if !self.guard.charge(now, from.ip(), answer.len()) {
                    self.counters.withheld += 1;
                    return None;
                }
                Some(answer)
            }
            SsdpMessage::Response {
                scope: answered,
                al,
            } if *answered == scope => {
                let link_local = al.ip().is_unicast_link_local();
                let target = SocketAddrV6::new(
                    *al.ip(),
                    al.port(),
                    0,
                    if link_local { from.scope_id() } else { 0 },
                );
                if self.ssdp_targets >= MAX_SSDP_TARGETS
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
}
