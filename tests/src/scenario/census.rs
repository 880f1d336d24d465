//! A census of the datagrams delivered, by kind of message (`simulate --census`): what the
//! protocol spends its traffic and its signatures on. Each INQUIRE that asks for a CPA costs its
//! answerer a signature and its asker a verification.

use std::cell::RefCell;
use std::net::SocketAddrV6;
use std::rc::Rc;

use pnrp_proto::wire::{Message, Packet, ResolveReason};

use super::{Json, SIDE_PORT};

/// The kinds counted, in the order of [`Census::counts`].
pub const KINDS: [&str; 17] = [
    "solicit",
    "advertise",
    "request",
    "ack",
    "flood_leaf",
    "flood_revoke",
    "flood_probe",
    "inquire_cpa",
    "inquire_liveness",
    "authority_fragment",
    "lookup_app",
    "lookup_registration",
    "lookup_maintenance",
    "lookup_other",
    "undecodable",
    "to_side_port",
    "bytes",
];

/// Datagrams delivered so far, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    /// One count per [`KINDS`].
    pub counts: [u64; KINDS.len()],
}

impl Default for Census {
    fn default() -> Self {
        Census {
            counts: [0; KINDS.len()],
        }
    }
}

impl Census {
    /// Counts one delivered datagram.
    pub fn count(&mut self, to: SocketAddrV6, bytes: &[u8]) {
        let kind = match Packet::decode(bytes).map(|packet| packet.message) {
            Ok(Message::Solicit(_)) => 0,
            Ok(Message::Advertise(_)) => 1,
            Ok(Message::Request(_)) => 2,
            Ok(Message::Ack(_)) => 3,
            Ok(Message::Flood(flood)) if flood.revoke_cpa.is_some() => 5,
            Ok(Message::Flood(flood)) if flood.route_entry.is_some() => 4,
            Ok(Message::Flood(_)) => 6,
            Ok(Message::Inquire(inquire)) if inquire.want_cpa => 7,
            Ok(Message::Inquire(_)) => 8,
            Ok(Message::Authority(_)) => 9,
            Ok(Message::Lookup(lookup)) => match lookup.reason {
                ResolveReason::AppRequest => 10,
                ResolveReason::Registration => 11,
                ResolveReason::CacheMaintenance => 12,
                _ => 13,
            },
            Err(_) => 14,
        };
        self.counts[kind] += 1;
        if to.port() == SIDE_PORT {
            self.counts[15] += 1;
        }
        self.counts[16] += bytes.len() as u64;
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &Census) -> Census {
        let mut counts = self.counts;
        for (count, before) in counts.iter_mut().zip(earlier.counts) {
            *count -= before;
        }
        Census { counts }
    }

    /// These counts less `background`'s (at zero at least): what a period added to another.
    pub fn less(&self, background: &Census) -> Census {
        let mut counts = self.counts;
        for (count, other) in counts.iter_mut().zip(background.counts) {
            *count = count.saturating_sub(other);
        }
        Census { counts }
    }

    /// The counts divided by `per` (e.g. per join, per node and minute).
    pub fn json(&self, per: f64) -> Json {
        Json::object(
            KINDS
                .iter()
                .zip(self.counts)
                .map(|(kind, count)| (*kind, Json::from(count as f64 / per.max(1e-9)))),
        )
    }
}

/// A census shared with the network's tap.
pub fn tap() -> (Rc<RefCell<Census>>, crate::sim::Tap) {
    let census = Rc::new(RefCell::new(Census::default()));
    let counted = Rc::clone(&census);
    let tap: crate::sim::Tap = Box::new(move |_from, to, bytes: &[u8]| {
        counted.borrow_mut().count(to, bytes);
    });
    (census, tap)
}
