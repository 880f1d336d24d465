//! Sending: requests (kept in the table for retransmission), answers within the
//! anti-amplification budget of their destination, and the proofs of return routability that
//! lift it (docs/PROTOCOL.md, "Hostile input").
//!
//! An answer to a source that has not proven it receives at its address may total at most three
//! times what it sent us. An INQUIRE whose signed answer does not fit is held (`deferred`) while
//! its sender is asked to prove its address: a FLOOD of ours that carries nothing, which every
//! node, even one that only resolves (§3.1.5.5), acknowledges at once with an ACK echoing our
//! message ID.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;
use rand::RngCore;

use super::requests::{Purpose, RETRIES};
use super::{Cloud, Transmit};
use crate::wire::{AuthorityBuffer, BoundedVec, Flood, Inquire, Message, Packet};

/// INQUIREs held while their unproven sender answers our probe, at most.
const MAX_DEFERRED: usize = 64;
/// How long such an INQUIRE is held: about its sender's retransmission period.
const DEFERRED_TIMEOUT: Duration = Duration::from_secs(3);
/// Probes of return routability in flight, at most (one per address).
const MAX_PROBES: usize = 64;

/// An INQUIRE whose answer waits for its sender to prove its address.
#[derive(Debug)]
pub(super) struct Deferred {
    from: SocketAddrV6,
    /// Whether it came to the side port (its answer leaves from there).
    side: bool,
    message_id: u32,
    inquire: Inquire,
    pub(super) expires: Instant,
    /// The budget its answer needs (`u64::MAX`: fragmented, so only a proof will do).
    needed: u64,
}

impl Cloud {
    pub(super) fn transmit(&mut self, transmit: Transmit) {
        self.counters.sent += 1;
        if !transmit.side {
            self.contacts.record(&transmit.to, self.now);
        }
        self.transmits.push_back(transmit);
    }

    /// An answer to the datagram being handled: it leaves from the port that datagram reached.
    fn transmit_answer(&mut self, to: SocketAddrV6, bytes: Vec<u8>) {
        let side = self.on_side;
        self.transmit(Transmit { to, bytes, side });
    }

    /// A fresh message ID: not zero, not in use by an outstanding request.
    pub(super) fn message_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.requests.contains(id) {
                return id;
            }
        }
    }

    /// Sends a request and keeps it for retransmission until answered; returns its message ID.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message: Message,
        purpose: Purpose,
    ) -> u32 {
        let message_id = self.message_id();
        let bytes = Packet {
            message_id,
            message,
        }
        .encode();
        self.track(now, to, message_id, bytes, purpose);
        message_id
    }

    /// Sends an encoded request and files it.
    fn track(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message_id: u32,
        bytes: Vec<u8>,
        purpose: Purpose,
    ) {
        let side = purpose.leaves_from_side();
        self.transmit(Transmit {
            to,
            bytes: bytes.clone(),
            side,
        });
        self.requests.insert(now, message_id, to, bytes, purpose);
    }

    /// Answers `to`, the source of the datagram being handled, if the answer fits its
    /// amplification budget (unlimited once it proved its address); returns whether it went.
    pub(super) fn answer(
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
            self.counters.withheld += 1;
            return false;
        }
        self.transmit_answer(to, bytes);
        true
    }

    /// [`Cloud::answer`] under a fresh message ID (a message that expects no answer).
    pub(super) fn answer_fresh(
        &mut self,
        now: Instant,
        to: SocketAddrV6,
        message: Message,
    ) -> bool {
        let message_id = self.rng.next_u32();
        self.answer(now, to, message_id, message)
    }

    /// Answers with an AUTHORITY buffer, whole or not at all: a fragmented (large) one only to a
    /// source that proved its address, a single datagram within the budget. The caller counts
    /// a refusal (or holds the INQUIRE for a proof).
    pub(super) fn answer_authority(
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
            self.transmit_answer(to, bytes);
        }
        true
    }

    /// `from` echoed a message ID we sent to its address: it receives there. INQUIREs held for
    /// that address are answered now.
    pub(super) fn proven(&mut self, now: Instant, from: SocketAddrV6) {
        self.guard.prove(now, from.ip());
        self.answer_deferred(now, |deferred| deferred.from.ip() == from.ip());
    }

    /// More bytes arrived from `address`, raising its budget: INQUIREs held for it are tried
    /// again (a resolver's walk LOOKUP may arrive after its INQUIRE), before any proof.
    pub(super) fn retry_deferred(&mut self, now: Instant, address: &Ipv6Addr) {
        if !self
            .deferred
            .iter()
            .any(|deferred| deferred.from.ip() == address)
        {
            return;
        }
        let budget = self.guard.budget(now, address).unwrap_or(u64::MAX);
        // Only those whose answer now fits (each costs a signature: none is spent in vain).
        self.answer_deferred(now, |deferred| {
            deferred.from.ip() == address && deferred.needed <= budget
        });
    }

    /// Answers the held INQUIREs `ready` picks (each as if it arrived now, on the port it came
    /// to), forgets the expired ones and keeps the rest.
    fn answer_deferred(&mut self, now: Instant, ready: impl Fn(&Deferred) -> bool) {
        let (ready, waiting): (Vec<Deferred>, Vec<Deferred>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .filter(|deferred| deferred.expires > now)
            .partition(|deferred| ready(deferred));
        self.deferred = waiting;
        let on_side = self.on_side;
        for deferred in ready {
            self.on_side = deferred.side;
            self.on_inquire(now, deferred.from, deferred.message_id, deferred.inquire);
        }
        self.on_side = on_side;
    }

    /// Holds an INQUIRE whose answer is too large for its unproven sender, and asks the sender to
    /// prove its address. One probe in flight per address; its two sends fit the budget the
    /// INQUIRE earned.
    pub(super) fn defer_inquire(
        &mut self,
        now: Instant,
        from: SocketAddrV6,
        message_id: u32,
        inquire: Inquire,
        needed: u64,
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
                side: self.on_side,
                message_id,
                inquire,
                expires: now + DEFERRED_TIMEOUT,
                needed,
            });
        }
        let probes: Vec<(u32, bool)> = self
            .requests
            .purposes()
            .filter(|(_, _, purpose)| matches!(purpose, Purpose::Probe))
            .map(|(id, to, _)| (id, to.ip() == from.ip()))
            .collect();
        if probes.iter().any(|(_, same)| *same) {
            return;
        }
        if probes.len() >= MAX_PROBES {
            // Likewise the oldest probe makes room: forged sources cannot starve honest ones.
            if let Some(oldest) = self
                .requests
                .oldest(|purpose| matches!(purpose, Purpose::Probe))
            {
                self.requests.remove(oldest);
            }
        }
        // An empty FLOOD with D clear: no entry, no revoke, a zero Validate ID (§2.2.2.4).
        let probe = Message::Flood(Flood {
            no_ack: false,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: None,
            route_entry: None,
            already_flooded: BoundedVec::empty(),
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
            self.counters.withheld += 1;
            return;
        }
        self.track(now, from, message_id, bytes, Purpose::Probe);
    }
}
