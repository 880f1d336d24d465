//! A hostile cloud node, for the attack tests (simulated and in network namespaces).
//!
//! It tries to take over a secured name it does not own, in every way a node on the path can:
//! - it registers the same name with its own key (an honest-looking node of the cloud otherwise);
//! - it pushes route entries claiming the name's real PNRP ID at its own address (FLOODs to every
//!   target, and its answers to INQUIREs and LOOKUPs);
//! - it answers every INQUIRE for the name with a bad CPA, in turn: one signed with its own key
//!   (impostor), the publisher's genuine CPA captured earlier (replay, stale nonce), and that CPA
//!   with its addresses and nonce rewritten under the original signature (forgery);
//! - it floods a revoke CPA for the name signed with its own key.
//!
//! Sans-IO like [`Cloud`], which it wraps: the simulator (`tests/attack_sim.rs`) and the
//! `attacker` program of `pnrp-multicall` ([`program`], in `system/attack.rs`) drive it.

use std::collections::VecDeque;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::{P2pId, PeerName, PnrpId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub mod program;

use pnrp_proto::cloud::{Cloud, CloudConfig, CloudEvent, Publication, WallClock};
use pnrp_proto::wire::{
    filetime_from_unix, Ack, AppEndpoint, AuthorityBuffer, BoundedVec, Classifier, Cpa, CpaFields,
    Endpoint, Flood, Inquire, Message, Packet, RouteEntry,
};

/// Counts of what the attacker tried, so that a test can tell the attack really ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttackStats {
    /// INQUIREs for the name answered with a bad CPA.
    pub inquiries_answered: u64,
    /// Of those, answers signed with the attacker's own key.
    pub impostor_cpas: u64,
    /// Of those, the publisher's captured CPA replayed.
    pub replayed_cpas: u64,
    /// Of those, the captured CPA rewritten under its original signature.
    pub forged_cpas: u64,
    /// FLOODs pushing the name's PNRP ID at the attacker's address.
    pub poisoned_floods: u64,
    /// FLOODs of a forged revoke CPA.
    pub forged_revokes: u64,
    /// Whether the publisher's genuine CPA was captured (replays and forgeries need it).
    pub captured: bool,
}

/// What the attacker is set up with.
#[derive(Debug, Clone)]
pub struct AttackConfig {
    /// The secured name to steal.
    pub victim: PeerName,
    /// Where the attacker listens.
    pub address: SocketAddrV6,
    /// Nodes to push poisoned entries and forged revokes to.
    pub targets: Vec<SocketAddrV6>,
    /// How often to push.
    pub push_every: Duration,
}

/// The publisher's genuine answer, once captured.
#[derive(Debug, Clone)]
struct Captured {
    id: PnrpId,
    cpa: Cpa,
    victim_address: [u8; 16],
}

/// The hostile node.
#[derive(Debug)]
pub struct Attacker {
    cloud: Cloud,
    key: SigningKey,
    config: AttackConfig,
    victim_p2p: P2pId,
    captured: Option<Captured>,
    /// The message ID and route of the INQUIRE sent to capture the genuine CPA.
    capturing: Option<(u32, PnrpId)>,
    transmits: VecDeque<(SocketAddrV6, Vec<u8>)>,
    next_push: Instant,
    rng: SmallRng,
    clock: WallClock,
    stats: AttackStats,
}

impl Attacker {
    /// An attacker that joins the cloud as `cloud_config` says, signing with its own key.
    pub fn new(now: Instant, cloud_config: CloudConfig, config: AttackConfig) -> Self {
        let key = cloud_config.key.clone();
        let clock = cloud_config.clock;
        let rng = SmallRng::seed_from_u64(cloud_config.seed ^ 0xa77ac4);
        let mut cloud = Cloud::new(cloud_config, now);
        cloud.set_local_endpoints(now, vec![config.address]);
        // The impostor registration: the victim's name, our key, our address.
        cloud.register(
            now,
            Publication {
                name: config.victim.clone(),
                app_endpoints: vec![AppEndpoint {
                    address: *config.address.ip(),
                    port: 80,
                    protocol: 6,
                }],
                comment: Some("impostor".into()),
                payload: None,
                identity: Some(key.clone()),
            },
        );
        Attacker {
            victim_p2p: P2pId::of(&config.victim),
            cloud,
            key,
            next_push: now,
            config,
            captured: None,
            capturing: None,
            transmits: VecDeque::new(),
            rng,
            clock,
            stats: AttackStats::default(),
        }
    }

    /// What it has tried so far.
    pub fn stats(&self) -> AttackStats {
        AttackStats {
            captured: self.captured.is_some(),
            ..self.stats
        }
    }

    /// The cloud node inside (its cache, its stats).
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// A datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        let Ok(packet) = Packet::decode(bytes) else {
            return;
        };
        match &packet.message {
            Message::Inquire(inquire) if self.is_victim(&inquire.validate_id) => {
                self.answer_inquire(now, from, packet.message_id, inquire);
                return;
            }
            Message::Authority(authority)
                if self
                    .capturing
                    .is_some_and(|(id, _)| id == authority.acked_message_id()) =>
            {
                self.capture(authority.is_whole().then(|| authority.fragment()));
                let ack = Message::Ack(Ack {
                    acked_message_id: packet.message_id,
                    not_found: None,
                });
                self.send(from, packet.message_id, ack);
                return;
            }
            _ => {}
        }
        self.cloud.handle_datagram(now, from, bytes);
        self.drain_events();
    }

    /// Its timer fired.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cloud.handle_timeout(now);
        self.drain_events();
        if now >= self.next_push {
            self.next_push = now + self.config.push_every;
            self.push(now);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddrV6, Vec<u8>)> {
        self.transmits.pop_front().or_else(|| {
            self.cloud
                .poll_transmit()
                .map(|transmit| (transmit.to, transmit.bytes))
        })
    }

    /// When it next needs [`Attacker::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        Some(
            self.cloud
                .poll_timeout()
                .map_or(self.next_push, |at| at.min(self.next_push)),
        )
    }

    /// The name's IDs that are not the attacker's own impostor registration.
    fn is_victim(&self, id: &PnrpId) -> bool {
        id.p2p_id() == self.victim_p2p && !self.cloud.published().iter().any(|(own, _)| own == id)
    }

    fn own_entry(&self, id: PnrpId) -> RouteEntry {
        RouteEntry {
            pnrp_id: id,
            port: self.config.address.port(),
            addresses: BoundedVec::truncating(vec![*self.config.address.ip()])
                .expect("one address"),
        }
    }

    fn send(&mut self, to: SocketAddrV6, message_id: u32, message: Message) {
        self.transmits.push_back((
            to,
            Packet {
                message_id,
                message,
            }
            .encode(),
        ));
    }

    fn message_id(&mut self) -> u32 {
        self.rng.gen_range(1..u32::MAX)
    }

    fn not_after(&self, now: Instant) -> u64 {
        filetime_from_unix(self.clock.unix(now) + 3600)
    }

    /// Finds the publisher in the cloud, then asks it for its genuine CPA.
    fn drain_events(&mut self) {
        while let Some(event) = self.cloud.poll_event() {
            let CloudEvent::Resolved { found, .. } = event;
            if self.capturing.is_some() {
                continue;
            }
            let Some(genuine) = found
                .into_iter()
                .find(|found| found.publisher != self.config.address)
            else {
                continue;
            };
            let message_id = self.message_id();
            let nonce: [u8; 16] = self.rng.gen();
            self.capturing = Some((message_id, genuine.id));
            let inquire = Message::Inquire(Inquire {
                want_cpa: true,
                want_extended_payload: false,
                want_cert_chain: false,
                validate_id: genuine.id,
                nonce: Some(nonce),
            });
            self.send(genuine.publisher, message_id, inquire);
        }
    }

    fn capture(&mut self, whole: Option<&[u8]>) {
        let Some(buffer) = whole.and_then(|bytes| AuthorityBuffer::decode(bytes).ok()) else {
            return;
        };
        let (Some(cpa), Some((_, id))) = (buffer.cpa, self.capturing) else {
            return;
        };
        let Some(victim_address) = cpa
            .fields()
            .app_endpoints
            .as_ref()
            .and_then(|list| list.iter().next().map(|endpoint| endpoint.address.octets()))
        else {
            return;
        };
        self.captured = Some(Captured {
            id,
            cpa,
            victim_address,
        });
    }

    /// One round: look for the publisher until captured, poison every target, flood a forged
    /// revoke.
    fn push(&mut self, now: Instant) {
        if self.captured.is_none() {
            self.capturing = None;
            let tag = self.rng.gen();
            self.cloud.resolve(now, &self.config.victim.clone(), tag);
        }
        let Some(id) = self.captured.as_ref().map(|captured| captured.id) else {
            return;
        };
        let mut revoke = CpaFields::for_name(
            &self.config.victim,
            id.service_location(),
            self.not_after(now),
            [0; 16],
        );
        revoke.revoke = true;
        revoke.service_addresses = BoundedVec::truncating(vec![Endpoint {
            address: *self.config.address.ip(),
            port: self.config.address.port(),
        }])
        .unwrap_or_else(BoundedVec::empty);
        let revoke = Cpa::sign(revoke, &self.key);
        for target in self.config.targets.clone() {
            let poison = Message::Flood(Flood {
                no_ack: true,
                validate_id: id,
                revoke_cpa: None,
                route_entry: Some(self.own_entry(id)),
                already_flooded: BoundedVec::empty(),
            });
            let message_id = self.message_id();
            self.send(target, message_id, poison);
            self.stats.poisoned_floods += 1;
            let forged_revoke = Message::Flood(Flood {
                no_ack: true,
                validate_id: id,
                revoke_cpa: Some(Box::new(revoke.clone())),
                route_entry: None,
                already_flooded: BoundedVec::empty(),
            });
            let message_id = self.message_id();
            self.send(target, message_id, forged_revoke);
            self.stats.forged_revokes += 1;
        }
    }

    /// Answers an INQUIRE for the name with a bad CPA: impostor, replay and forgery in turn
    /// (impostor only until the genuine CPA is captured).
    fn answer_inquire(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message_id: u32,
        inquire: &Inquire,
    ) {
        let nonce = inquire.nonce.unwrap_or([0; 16]);
        let id = inquire.validate_id;
        self.stats.inquiries_answered += 1;
        let turn = if self.captured.is_some() {
            self.stats.inquiries_answered % 3
        } else {
            0
        };
        let classifier = Classifier::new(self.config.victim.classifier()).ok();
        let mut buffer = AuthorityBuffer {
            classifier,
            ..AuthorityBuffer::answer(Some(self.own_entry(id)), None)
        };
        let bytes = match (turn, &self.captured) {
            (1, Some(captured)) => {
                self.stats.replayed_cpas += 1;
                buffer.cpa = Some(captured.cpa.clone());
                buffer.encode()
            }
            (2, Some(captured)) => {
                self.stats.forged_cpas += 1;
                let old_nonce = captured.cpa.fields().nonce;
                let victim = captured.victim_address;
                buffer.cpa = Some(captured.cpa.clone());
                let mut bytes = buffer.encode();
                // Our address for theirs, the fresh nonce for the old one; the signature stays.
                let ours = self.config.address.ip().octets();
                replace_all(&mut bytes, &victim, &ours);
                replace_all(&mut bytes, &old_nonce, &nonce);
                bytes
            }
            _ => {
                self.stats.impostor_cpas += 1;
                let mut fields = CpaFields::for_name(
                    &self.config.victim,
                    id.service_location(),
                    self.not_after(now),
                    nonce,
                );
                fields.service_addresses = BoundedVec::truncating(vec![Endpoint {
                    address: *self.config.address.ip(),
                    port: self.config.address.port(),
                }])
                .unwrap_or_else(BoundedVec::empty);
                fields.app_endpoints = BoundedVec::truncating(vec![AppEndpoint {
                    address: *self.config.address.ip(),
                    port: 80,
                    protocol: 6,
                }]);
                buffer.cpa = Some(Cpa::sign(fields, &self.key));
                buffer.encode()
            }
        };
        for fragment in pnrp_proto::wire::split_authority_buffer(message_id, &bytes) {
            self.send(to, message_id, Message::Authority(fragment));
        }
    }
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let mut at = 0;
    while at + from.len() <= bytes.len() {
        if &bytes[at..at + from.len()] == from {
            bytes[at..at + from.len()].copy_from_slice(to);
            at += from.len();
        } else {
            at += 1;
        }
    }
}
