//! This node's registrations in the cloud: publishing (§3.2.4.1), updating in place,
//! withdrawing (§3.2.4.2) and the CPAs that prove them (§3.2.5.7).
//!
//! A registration's PNRP ID is its P2P ID and a service location made from this node's address
//! prefix (§3.2.2.1). The cloud hears of it through an announcement: a resolve of ID + 1 that
//! carries our route entry, so the nodes nearest the ID learn of it. Each registration is an
//! anchor of the cache, which keeps its leaf set.

use std::time::Instant;

use ed25519_dalek::SigningKey;
use pnrp_shared::{P2pId, PeerName, PnrpId};
use rand::Rng;

use super::cache::CacheEntry;
use super::requests::Purpose;
use super::resolve::Goal;
use super::{one, Cloud, CloudConfig, Publication};
use crate::wire::{
    filetime_from_unix, service_location, service_location_prefix, BoundedVec, Cpa, CpaFields,
    Flood, FriendlyName, Message, ResolveCriteria,
};

/// How long a CPA we sign stays valid (§2.2.3.1 asks for 12 hours to a week).
pub(super) const CPA_LIFETIME_SECS: u64 = 12 * 3600;

/// A registration of ours.
#[derive(Debug)]
pub(super) struct Local {
    pub publication: Publication,
    pub id: PnrpId,
    pub not_after_unix: u64,
    /// Whether the cloud has heard of it: the announcing lookup reached at least one node.
    pub announced: Announce,
    /// Bytes its last signed answer to an INQUIRE took (what an unproven asker must have earned
    /// before we sign another).
    pub answer_len: u64,
}

/// How far a registration's announcement got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Announce {
    /// Not yet (or to be done again).
    No,
    /// Its lookup runs.
    Running,
    /// It reached at least one node.
    Done,
}

/// What signs a local registration's CPAs: its identity, else the node's key.
pub(super) fn signing_key<'a>(config: &'a CloudConfig, local: &'a Local) -> &'a SigningKey {
    local.publication.identity.as_ref().unwrap_or(&config.key)
}

impl Cloud {
    /// Publishes a name (replacing an earlier publication of it); returns its PNRP ID, or `None`
    /// while the node has no address to publish.
    pub fn register(&mut self, now: Instant, publication: Publication) -> Option<PnrpId> {
        self.now = now;
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
        // A new prefix (the machine moved): the old ID is withdrawn at once (§3.2.7.2).
        let moved: Vec<PnrpId> = self
            .locals
            .values()
            .filter(|local| local.publication.name == publication.name)
            .map(|local| local.id)
            .collect();
        for old in moved {
            self.withdraw(now, old);
        }
        let random = self.rng.gen::<u8>();
        let location =
            service_location(prefix, &self.public_key, &self.service_addresses(), random);
        let id = PnrpId::new(P2pId::of(&publication.name), location);
        self.locals.insert(
            id,
            Box::new(Local {
                publication,
                id,
                not_after_unix,
                announced: Announce::No,
                answer_len: super::answer::MIN_SIGNED_ANSWER,
            }),
        );
        self.refresh_anchors();
        self.announce(now);
        Some(id)
    }

    /// Announces every registration the cloud has not heard of yet: a lookup of ID+1 carrying
    /// our own route entry (§3.2.4.1). Alone (empty cache) it waits for the first neighbour.
    pub(super) fn announce(&mut self, now: Instant) {
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
                Goal::Announce(id),
                own,
            );
        }
    }

    /// The announcement of `id` ended; whether it reached anyone.
    pub(super) fn announced(&mut self, id: PnrpId, reached: bool) {
        if let Some(local) = self.locals.get_mut(&id) {
            local.announced = if reached {
                Announce::Done
            } else {
                Announce::No
            };
            if reached {
                self.self_check.announced(self.now);
            }
        }
    }

    /// Withdraws a name (§3.2.4.2; see [`Cloud::withdraw`]).
    pub fn unregister(&mut self, now: Instant, name: &PeerName) {
        self.now = now;
        let ids: Vec<PnrpId> = self
            .locals
            .values()
            .filter(|local| &local.publication.name == name)
            .map(|local| local.id)
            .collect();
        for id in ids {
            self.withdraw(now, id);
        }
    }

    /// Withdraws one registration (§3.2.4.2, §4.3): its revoke CPA is flooded to the nearest
    /// neighbour on each side, and the farthest leaf on each side is told of the nearest
    /// neighbour on the other side, so that the leaf sets around the gap mend at once.
    fn withdraw(&mut self, now: Instant, id: PnrpId) {
        let Some(local) = self.locals.remove(&id) else {
            return;
        };
        let revoke = self.sign_cpa(now, &local, [0; 16], true, false);
        let (below, above) = self.cache.leaf_set(&id);
        let first = |side: &[&CacheEntry]| side.first().map(|entry| (*entry).clone());
        let last = |side: &[&CacheEntry]| side.last().map(|entry| (*entry).clone());
        let (nearest_below, nearest_above) = (first(&below), first(&above));
        let (farthest_below, farthest_above) = (last(&below), last(&above));
        let mut floods: Vec<(CacheEntry, Flood)> = Vec::new();
        for neighbour in [&nearest_below, &nearest_above].into_iter().flatten() {
            floods.push((
                neighbour.clone(),
                Flood {
                    no_ack: false,
                    validate_id: neighbour.id,
                    revoke_cpa: Some(Box::new(revoke.clone())),
                    route_entry: None,
                    already_flooded: BoundedVec::empty(),
                },
            ));
        }
        for (far, news) in [
            (&farthest_below, &nearest_above),
            (&farthest_above, &nearest_below),
        ] {
            if let (Some(far), Some(news)) = (far, news) {
                if far.id == news.id {
                    continue;
                }
                floods.push((
                    far.clone(),
                    Flood {
                        no_ack: false,
                        validate_id: far.id,
                        revoke_cpa: None,
                        route_entry: Self::cache_route_entry(news),
                        already_flooded: BoundedVec::empty(),
                    },
                ));
            }
        }
        for (to, flood) in floods {
            if let Some(&address) = to.endpoints.first() {
                self.send_request(
                    now,
                    address,
                    Message::Flood(flood),
                    Purpose::Flood { validate: to.id },
                );
            }
        }
        self.refresh_anchors();
    }

    /// Leaves the cloud (§1.3.3.4): every registration is withdrawn, its revoke flooded to its
    /// neighbours. [`Cloud::is_settled`] tells when they have acknowledged.
    pub fn leave(&mut self, now: Instant) {
        let names: Vec<PeerName> = self
            .locals
            .values()
            .map(|local| local.publication.name.clone())
            .collect();
        for name in names {
            self.unregister(now, &name);
        }
    }

    /// Whether no FLOOD (a revoke, a new leaf) waits for its acknowledgement: a node that leaves
    /// may stop once this holds, or after its retries.
    pub fn is_settled(&self) -> bool {
        !self
            .requests
            .purposes()
            .any(|(_, _, purpose)| matches!(purpose, Purpose::Flood { .. }))
    }

    /// The estimated number of nodes in the cloud (§3.2.6.2.1.1), from the span of the leaf
    /// set of each registration (of our own random ID while we publish nothing): `(k − 1)·2^256 /
    /// span` IDs for a span of `k` gaps between neighbours, averaged, divided by our count of
    /// registrations. `None` until a neighbour is known on each side.
    ///
    /// The spec measures one span of two gaps (the nearest neighbour on each side) with
    /// `2·2^256 / span`, whose mean is twice the true size and median 1.19 times it; the whole
    /// leaf set (up to ten gaps) with `k − 1` is unbiased and five times less spread.
    pub fn estimated_size(&self) -> Option<u64> {
        let anchors = self.cache.anchors();
        let estimates: Vec<f64> = anchors
            .iter()
            .filter_map(|anchor| {
                let (below, above) = self.cache.leaf_set(anchor);
                let span = above.last()?.id.wrapping_sub(&below.last()?.id);
                let gaps = (below.len() + above.len()) as f64;
                let estimate = (gaps - 1.0).max(1.0) * 2f64.powi(256) / id_as_f64(&span);
                (estimate.is_finite() && estimate < 2f64.powi(32)).then_some(estimate)
            })
            .collect();
        if estimates.is_empty() {
            return None;
        }
        let ids = estimates.iter().sum::<f64>() / estimates.len() as f64;
        Some((ids / anchors.len() as f64).round().max(1.0) as u64)
    }

    /// Re-publishes the registrations whose CPAs expire within `margin_secs`.
    pub(super) fn republish_expiring(&mut self, now: Instant, margin_secs: u64) {
        let unix = self.config.clock.unix(now);
        let stale: Vec<Publication> = self
            .locals
            .values()
            .filter(|local| local.not_after_unix <= unix + margin_secs)
            .map(|local| local.publication.clone())
            .collect();
        for publication in stale {
            self.register(now, publication);
        }
    }

    /// Floods the route entry of each registration to every member of its leaf set (after our
    /// addresses changed under the same IDs).
    pub(super) fn tell_leaf_sets(&mut self, now: Instant) {
        if self.firewalled() {
            return;
        }
        let mut floods: Vec<(CacheEntry, PnrpId)> = Vec::new();
        for id in self.locals.keys() {
            let (below, above) = self.cache.leaf_set(id);
            for neighbour in below.into_iter().chain(above) {
                floods.push((neighbour.clone(), *id));
            }
        }
        for (neighbour, id) in floods {
            let (Some(&to), Some(own)) = (neighbour.endpoints.first(), self.own_route_entry(id))
            else {
                continue;
            };
            let flood = Flood {
                no_ack: false,
                validate_id: neighbour.id,
                revoke_cpa: None,
                route_entry: Some(own),
                already_flooded: BoundedVec::empty(),
            };
            self.send_request(
                now,
                to,
                Message::Flood(flood),
                Purpose::Flood {
                    validate: neighbour.id,
                },
            );
        }
    }

    /// Marks every announced registration to be announced again.
    pub(super) fn reannounce_all(&mut self) {
        for local in self.locals.values_mut() {
            if local.announced == Announce::Done {
                local.announced = Announce::No;
            }
        }
    }

    /// The cache keeps a leaf set around each registration (or around a random ID of ours while
    /// there is none).
    pub(super) fn refresh_anchors(&mut self) {
        let mut anchors: Vec<PnrpId> = self.locals.keys().copied().collect();
        if anchors.is_empty() {
            anchors.push(self.anchor);
        }
        if anchors != self.cache.anchors() {
            self.cache.set_anchors(anchors);
        }
    }

    /// Our registration closest to `target`.
    pub(super) fn nearest_local(&self, target: &PnrpId) -> Option<PnrpId> {
        self.locals
            .keys()
            .min_by_key(|id| id.distance(target))
            .copied()
    }

    /// A CPA for a registration of ours: under `nonce`, a revoke or not, announcing the
    /// extended payload or not.
    pub(super) fn sign_cpa(
        &self,
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
}

/// A PNRP ID (or a distance) as a float: enough precision for a size estimate.
fn id_as_f64(id: &PnrpId) -> f64 {
    id.0.iter()
        .fold(0.0, |value, byte| value * 256.0 + f64::from(*byte))
}
