//! Answering other nodes: LOOKUPs with the closest entry we know (§3.2.5.2), INQUIREs for our
//! registrations with a fresh CPA (§3.2.5.6), within each asker's amplification budget.

use std::net::SocketAddrV6;
use std::time::Instant;

use pnrp_shared::PnrpId;

use super::publish::signing_key;
use super::resolve::{closer, matches};
use super::Cloud;
use rand::Rng;

use crate::wire::{
    filetime_from_unix, AuthorityBuffer, BoundedVec, Classifier, ExtendedData, ExtendedPayload,
    ExtendedPayloadFields, Inquire, Lookup, RouteEntry, FRAGMENT_LEN,
};

/// No AUTHORITY carrying a signed CPA is smaller (about 300 bytes with the shortest name).
pub(super) const MIN_SIGNED_ANSWER: u64 = 256;
/// The weights of the closest suitable entries in a LOOKUP answer, closest first (those
/// within twice the closest one's distance of the target).
const CHOICES: [u32; 3] = [6, 3, 1];

impl Cloud {
    /// One of `candidates` (closest first), drawn with the weights of [`CHOICES`].
    fn weighted_pick<T>(&mut self, mut candidates: Vec<T>) -> Option<T> {
        let weights = &CHOICES[..candidates.len()];
        let total: u32 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut draw = self.rng.gen_range(0..total);
        let index = weights
            .iter()
            .position(|weight| {
                let hit = draw < *weight;
                draw = draw.saturating_sub(*weight);
                hit
            })
            .unwrap_or(0);
        Some(candidates.swap_remove(index))
    }

    pub(super) fn on_inquire(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        inquire: Inquire,
    ) {
        if !self.locals.contains_key(&inquire.validate_id) {
            if !self.answer_authority(now, from, message_id, &AuthorityBuffer::not_found()) {
                self.counters.withheld += 1;
            }
            return;
        }
        // What its signed answer took last time (at least the smallest there is).
        let expected = self.locals[&inquire.validate_id].answer_len;
        if inquire.want_cpa
            && self
                .guard
                .budget(now, from.ip())
                .is_some_and(|left| left < expected)
        {
            // It cannot fit: no signature is spent on a sender that may be forged.
            self.defer_inquire(now, from, message_id, inquire, expected);
            return;
        }
        let buffer = self.authority_for(now, &inquire);
        let encoded = buffer.encode().len();
        // The AUTHORITY's own header and fields around the buffer; fragmented, only a proof will do.
        let needed = if encoded > FRAGMENT_LEN {
            u64::MAX
        } else {
            encoded as u64 + 32
        };
        if inquire.want_cpa {
            if let Some(local) = self.locals.get_mut(&inquire.validate_id) {
                local.answer_len = needed.min(encoded as u64 + 32);
            }
        }
        if !self.answer_authority(now, from, message_id, &buffer) {
            // Too large for what an unproven sender earned: answered once it proves its address,
            // or once it sent enough to earn it (or when its retransmission finds it proven).
            self.defer_inquire(now, from, message_id, inquire, needed);
        }
    }

    /// The answer to an INQUIRE for one of our registrations: its route entry, the classifier,
    /// and what was asked for (a CPA under the asker's nonce, the extended payload).
    fn authority_for(&self, now: Instant, inquire: &Inquire) -> AuthorityBuffer {
        let local = &self.locals[&inquire.validate_id];
        let nonce = inquire.nonce.unwrap_or([0; 16]);
        let with_payload = inquire.want_cpa && inquire.want_extended_payload;
        let cpa = inquire
            .want_cpa
            .then(|| self.sign_cpa(now, local, nonce, false, with_payload));
        let extended_payload = local
            .publication
            .payload
            .as_ref()
            .filter(|_| with_payload)
            .and_then(|payload| BoundedVec::new(payload.clone()).ok())
            .map(|data| {
                let fields = ExtendedPayloadFields {
                    not_after: filetime_from_unix(local.not_after_unix),
                    pnrp_id: local.id,
                    nonce,
                    data: ExtendedData::Binary(data),
                };
                ExtendedPayload::sign(fields, signing_key(&self.config, local))
            });
        AuthorityBuffer {
            leaf_set: false,
            busy: false,
            not_found: false,
            cert_chain: None,
            classifier: Classifier::new(local.publication.name.classifier()).ok(),
            extended_payload,
            route_entry: self.own_route_entry(local.id),
            cpa,
        }
    }

    pub(super) fn on_lookup(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        lookup: Lookup,
    ) {
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
        // A firewalled node offers no route entry of its own: nobody could reach it.
        let local_match = if we_are_flagged || self.firewalled() {
            None
        } else {
            self.locals
                .keys()
                // §3.2.5.2: closer than the Validate ID (so never the asked ID itself), unless
                // that ID is not ours.
                .filter(|id| validate_not_local || closer(id, &lookup.validate_id, &target))
                .min_by_key(|id| id.distance(&target))
                .copied()
        };
        // §3.2.5.2: among the suitable entries, a random choice weighted towards the closest,
        // so that one dead or slow entry does not stall every resolver that passes here.
        let mut candidates: Vec<(PnrpId, Option<RouteEntry>)> = self
            .cache
            .closest_few(&target, CHOICES.len(), |entry| {
                !entry.endpoints.iter().any(in_path)
                    && (lookup.accept_not_closer || closer(&entry.id, &lookup.validate_id, &target))
            })
            .into_iter()
            .map(|entry| (entry.id, Self::cache_route_entry(entry)))
            .collect();
        // Only entries about as close as the closest (at most twice its distance) are drawn: one
        // a cache level farther would cost the asker a hop each time it is drawn.
        if let Some(best) = candidates.first().map(|(id, _)| id.distance(&target)) {
            candidates.retain(|(id, _)| id.distance(&target).wrapping_sub(&best) <= best);
        }
        // A candidate that matches what the asker looks for ends its search: the closest such is
        // the answer, not a draw (it may be a registration the asker has not found yet).
        let remote_match = match candidates.first() {
            Some((id, _)) if matches(id, &target, lookup.criteria) => candidates.into_iter().next(),
            _ => self.weighted_pick(candidates),
        };
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
            self.counters.withheld += 1;
        }
        // After the answer: it acks the asker's message ID, so the asker has proven our address
        // before our admission INQUIRE reaches it, and answers that at once, without a probe.
        if let Some(entry) = lookup.route_entry {
            self.submit(now, entry, from, Vec::new());
        }
    }
}
