//! The outstanding-request table: every message this node sent that expects an answer, keyed by
//! its message ID, with its bytes for retransmission (§3.1.2: every second, two retries) and what
//! it is for.
//!
//! An answer completes a request only if it comes from the address the request went to and is
//! the kind of answer that request expects (an ADVERTISE for a SOLICIT, an ACK for a REQUEST or a
//! FLOOD, an AUTHORITY for an INQUIRE or a LOOKUP): the match on [`Purpose`] is exhaustive, so a
//! new kind of request cannot be forgotten. Anything else leaves the request waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;

use super::Transmit;
use crate::wire::{Endpoint, RouteEntry};

/// Retransmission period (§3.1.2).
pub const RETRANSMIT: Duration = Duration::from_secs(1);
/// Sends of a request after the first. §3.1.4.3 and its siblings set a Retry Count of 2, and
/// §3.1.6.3 decrements it at each expiry and resends while it is nonzero: two sends in all, the
/// request failing 2 s after the first.
pub const RETRIES: u8 = 1;

/// Names a resolve of this node (see `resolve`).
pub(crate) type ResolveId = u32;

/// A route entry waiting for its INQUIRE to be answered before it enters the cache (§3.1.5.11).
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    /// The entry to cache.
    pub entry: RouteEntry,
    /// Who told us about it.
    pub from: SocketAddrV6,
    /// The nonce the entry's CPA must be signed under.
    pub nonce: [u8; 16],
    /// The FLOOD's Already-Flooded list it came with (§3.2.5.11), for passing it on.
    pub already_flooded: Vec<Endpoint>,
}

/// What a request is for.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// A SOLICIT opening a synchronization (§3.1.4.3); the ADVERTISE must hash this nonce.
    Solicit {
        /// The nonce whose hash the SOLICIT carried.
        nonce: [u8; 16],
    },
    /// The REQUEST that follows an ADVERTISE (§3.1.4.3).
    Request,
    /// A FLOOD to a neighbour (a new leaf, or a revoke); NOT_FOUND in its ACK, or silence, means
    /// the neighbour is gone (§3.2.5.11).
    Flood {
        /// The neighbour's ID, the FLOOD's Validate PNRP ID.
        validate: PnrpId,
    },
    /// An INQUIRE proving a route entry, with a CPA, before it enters the cache.
    Admission(Admission),
    /// An INQUIRE checking that a cached neighbour is still alive (maintenance).
    Liveness {
        /// The cached entry, as it was when asked.
        entry: RouteEntry,
    },
    /// An empty FLOOD asking an unproven source to prove its address (see `transport`).
    Probe,
    /// A LOOKUP of a resolve (one step of §3.1.4.4.2).
    Lookup(ResolveId),
    /// An INQUIRE of a resolve, for a match's CPA.
    Inquire(ResolveId),
    /// A LOOKUP of a resolve asking a publisher for its neighbour on the ring.
    Walk(ResolveId),
}

/// The kinds of answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// ADVERTISE.
    Advertise,
    /// ACK.
    Ack,
    /// AUTHORITY.
    Authority,
}

impl Purpose {
    /// Whether the request leaves from the side port: the checks that a node can be reached
    /// unsolicited before it is cached, and while it is.
    pub fn leaves_from_side(&self) -> bool {
        matches!(self, Purpose::Admission(_) | Purpose::Liveness { .. })
    }

    /// The answer this request waits for.
    pub fn expects(&self) -> Reply {
        match self {
            Purpose::Solicit { .. } => Reply::Advertise,
            Purpose::Request | Purpose::Flood { .. } | Purpose::Probe => Reply::Ack,
            Purpose::Admission(_)
            | Purpose::Liveness { .. }
            | Purpose::Lookup(_)
            | Purpose::Inquire(_)
            | Purpose::Walk(_) => Reply::Authority,
        }
    }
}

#[derive(Debug)]
struct Outstanding {
    to: SocketAddrV6,
    bytes: Vec<u8>,
    side: bool,
    sends_left: u8,
    due: Instant,
    purpose: Purpose,
}

/// A request whose timer fired.
#[derive(Debug)]
pub(crate) enum Expired {
    /// Send this again.
    Resend(Transmit),
    /// No answer after every retry: the request is gone from the table.
    GaveUp {
        /// Its message ID.
        message_id: u32,
        /// Where it went.
        to: SocketAddrV6,
        /// What it was for.
        purpose: Purpose,
    },
}

/// The table. Ordered by message ID, so that a seeded run handles expiries in the same order
/// every time.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Boxed: a map's node reserves room for several values.
    entries: BTreeMap<u32, Box<Outstanding>>,
    /// (due, message ID) of every entry: the next timer without a scan (`poll_timeout` is asked
    /// after every datagram).
    timers: BTreeSet<(Instant, u32)>,
}

impl Requests {
    /// Whether a message ID is in use.
    pub fn contains(&self, message_id: u32) -> bool {
        self.entries.contains_key(&message_id)
    }

    /// Files a request just sent for the first time.
    pub fn insert(
        &mut self,
        now: Instant,
        message_id: u32,
        to: SocketAddrV6,
        bytes: Vec<u8>,
        purpose: Purpose,
    ) {
        self.timers.insert((now + RETRANSMIT, message_id));
        if let Some(replaced) = self.entries.insert(
            message_id,
            Box::new(Outstanding {
                to,
                bytes,
                side: purpose.leaves_from_side(),
                sends_left: RETRIES,
                due: now + RETRANSMIT,
                purpose,
            }),
        ) {
            self.timers.remove(&(replaced.due, message_id));
        }
    }

    /// The request `reply` from `from` would answer, if it is one: sent to `from`, and waiting
    /// for that kind of answer. It stays in the table.
    pub fn get(&self, message_id: u32, from: SocketAddrV6, reply: Reply) -> Option<&Purpose> {
        self.entries
            .get(&message_id)
            .filter(|outstanding| outstanding.to == from && outstanding.purpose.expects() == reply)
            .map(|outstanding| &outstanding.purpose)
    }

    /// Completes the request `reply` from `from` answers (see [`Requests::get`]) and returns its
    /// purpose; `None` leaves the table as it was.
    pub fn answer(&mut self, message_id: u32, from: SocketAddrV6, reply: Reply) -> Option<Purpose> {
        self.get(message_id, from, reply)?;
        self.take(message_id).map(|outstanding| outstanding.purpose)
    }

    /// Forgets a request without an answer.
    pub fn remove(&mut self, message_id: u32) {
        self.take(message_id);
    }

    fn take(&mut self, message_id: u32) -> Option<Box<Outstanding>> {
        let outstanding = self.entries.remove(&message_id)?;
        self.timers.remove(&(outstanding.due, message_id));
        Some(outstanding)
    }

    /// The purposes in the table, with where each went.
    pub fn purposes(&self) -> impl Iterator<Item = (u32, SocketAddrV6, &Purpose)> {
        self.entries
            .iter()
            .map(|(id, outstanding)| (*id, outstanding.to, &outstanding.purpose))
    }

    /// The message ID of the request of that kind whose timer fires first (the oldest: every
    /// request waits the same period).
    pub fn oldest(&self, which: impl Fn(&Purpose) -> bool) -> Option<u32> {
        self.entries
            .iter()
            .filter(|(_, outstanding)| which(&outstanding.purpose))
            .min_by_key(|(_, outstanding)| outstanding.due)
            .map(|(id, _)| *id)
    }

    /// When the next timer fires.
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.first().map(|(due, _)| *due)
    }

    /// The requests due at `now`: each is resent (and due again a period later) until its
    /// retries are spent, then removed.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let due: Vec<u32> = self
            .timers
            .iter()
            .take_while(|(due, _)| *due <= now)
            .map(|(_, id)| *id)
            .collect();
        let mut expired = Vec::with_capacity(due.len());
        for message_id in due {
            let Some(outstanding) = self.entries.get_mut(&message_id) else {
                continue;
            };
            if outstanding.sends_left > 0 {
                outstanding.sends_left -= 1;
                self.timers.remove(&(outstanding.due, message_id));
                outstanding.due = now + RETRANSMIT;
                self.timers.insert((outstanding.due, message_id));
                expired.push(Expired::Resend(Transmit {
                    to: outstanding.to,
                    bytes: outstanding.bytes.clone(),
                    side: outstanding.side,
                }));
            } else if let Some(outstanding) = self.take(message_id) {
                expired.push(Expired::GaveUp {
                    message_id,
                    to: outstanding.to,
                    purpose: outstanding.purpose,
                });
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(last: u16) -> SocketAddrV6 {
        SocketAddrV6::new(
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last),
            3540,
            0,
            0,
        )
    }

    #[test]
    fn only_the_addressee_completes_a_request_with_the_answer_it_expects() {
        let now = Instant::now();
        let mut table = Requests::default();
        table.insert(now, 7, at(1), vec![1], Purpose::Lookup(3));
        table.insert(
            now,
            8,
            at(1),
            vec![2],
            Purpose::Flood {
                validate: PnrpId([1; 32]),
            },
        );
        // Another address, or another kind of answer: nothing happens.
        assert!(table.answer(7, at(2), Reply::Authority).is_none());
        assert!(table.answer(7, at(1), Reply::Ack).is_none());
        assert!(table.answer(8, at(1), Reply::Authority).is_none());
        assert!(
            table.answer(9, at(1), Reply::Authority).is_none(),
            "never sent"
        );
        assert!(table.contains(7) && table.contains(8));
        // The addressee's AUTHORITY completes the LOOKUP, for the resolve that sent it.
        assert!(matches!(
            table.answer(7, at(1), Reply::Authority),
            Some(Purpose::Lookup(3))
        ));
        assert!(table.answer(7, at(1), Reply::Authority).is_none(), "once");
        assert!(matches!(
            table.answer(8, at(1), Reply::Ack),
            Some(Purpose::Flood { .. })
        ));
        assert!(table.next_due().is_none());
    }

    #[test]
    fn every_purpose_expects_its_answer() {
        let entry = RouteEntry {
            pnrp_id: PnrpId([2; 32]),
            port: 3540,
            addresses: crate::wire::BoundedVec::truncating(vec![*at(1).ip()]).unwrap(),
        };
        let cases = [
            (Purpose::Solicit { nonce: [0; 16] }, Reply::Advertise),
            (Purpose::Request, Reply::Ack),
            (
                Purpose::Flood {
                    validate: PnrpId([0; 32]),
                },
                Reply::Ack,
            ),
            (
                Purpose::Admission(Admission {
                    entry: entry.clone(),
                    from: at(1),
                    nonce: [0; 16],
                    already_flooded: Vec::new(),
                }),
                Reply::Authority,
            ),
            (Purpose::Liveness { entry }, Reply::Authority),
            (Purpose::Probe, Reply::Ack),
            (Purpose::Lookup(1), Reply::Authority),
            (Purpose::Inquire(1), Reply::Authority),
            (Purpose::Walk(1), Reply::Authority),
        ];
        for (purpose, reply) in cases {
            assert_eq!(purpose.expects(), reply, "{purpose:?}");
        }
    }

    #[test]
    fn a_request_is_sent_twice_then_given_up() {
        let now = Instant::now();
        let mut table = Requests::default();
        table.insert(now, 1, at(1), vec![9], Purpose::Probe);
        assert!(table.expire(now).is_empty(), "not due yet");
        let mut resent = 0;
        let mut at_time = now;
        loop {
            at_time += RETRANSMIT;
            assert_eq!(table.next_due(), Some(at_time));
            match table.expire(at_time).as_slice() {
                [Expired::Resend(transmit)] => {
                    assert_eq!(
                        (transmit.to, transmit.bytes.as_slice(), transmit.side),
                        (at(1), &[9][..], false)
                    );
                    resent += 1;
                }
                [Expired::GaveUp {
                    message_id: 1,
                    purpose: Purpose::Probe,
                    ..
                }] => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(resent, RETRIES);
        assert!(!table.contains(1));
    }
}
