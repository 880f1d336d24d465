//! The PNRP node: a sans-IO state machine.
//!
//! The node owns what this machine publishes and answers resolves. It performs no I/O and reads no
//! clock: the driver feeds it `now`, the machine's addresses and (with the cloud) datagrams through
//! `handle_*`, and drains results with `poll_*`. A resolve is started with [`Node::start_resolve`]
//! and finishes as an [`Event::Resolved`], so that answers needing network round trips fit the same
//! shape as answers from local registrations do today.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use pnrp_shared::ipc::{Record, Registration, RegistrationInfo, ScopedAddr};
use pnrp_shared::PeerName;

/// Identifies one resolve until its [`Event::Resolved`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// What the node reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A resolve finished: its records, empty when the name is not found.
    Resolved {
        /// The resolve.
        query: QueryId,
        /// Every registration found.
        records: Vec<Record>,
    },
}

/// Where a record came from, as `pnrpctl resolve` shows it.
pub const LOCAL_SOURCE: &str = "local";

/// The node's state.
#[derive(Debug, Default)]
pub struct Node {
    registrations: BTreeMap<PeerName, Registration>,
    local_addresses: Vec<ScopedAddr>,
    events: VecDeque<Event>,
    next_query: u64,
}

impl Node {
    /// A node publishing nothing, with no known addresses.
    pub fn new() -> Self {
        Node::default()
    }

    /// Tells the node the machine's current non-loopback addresses (published for registrations
    /// that name none).
    pub fn handle_local_addresses(&mut self, _now: Instant, mut addresses: Vec<ScopedAddr>) {
        addresses.sort();
        addresses.dedup();
        self.local_addresses = addresses;
    }

    /// Publishes a name, replacing an earlier registration of it on this node.
    pub fn register(&mut self, _now: Instant, registration: Registration) -> RegistrationInfo {
        let info = self.info(&registration);
        self.registrations
            .insert(registration.name.clone(), registration);
        info
    }

    /// Withdraws a name; false when this node did not publish it.
    pub fn unregister(&mut self, _now: Instant, name: &PeerName) -> bool {
        self.registrations.remove(name).is_some()
    }

    /// Whether this node publishes a name.
    pub fn is_registered(&self, name: &PeerName) -> bool {
        self.registrations.contains_key(name)
    }

    /// What this node publishes, with the addresses published for each.
    pub fn registrations(&self) -> Vec<RegistrationInfo> {
        self.registrations
            .values()
            .map(|registration| self.info(registration))
            .collect()
    }

    /// The registrations as they are persisted.
    pub fn saved_registrations(&self) -> Vec<Registration> {
        self.registrations.values().cloned().collect()
    }

    /// Starts resolving a name; the answer arrives as [`Event::Resolved`] from [`Node::poll_event`].
    pub fn start_resolve(&mut self, _now: Instant, name: &PeerName) -> QueryId {
        let query = QueryId(self.next_query);
        self.next_query += 1;
        let records = self
            .registrations
            .get(name)
            .map(|registration| self.record(registration))
            .filter(|record| !record.addresses.is_empty())
            .into_iter()
            .collect();
        self.events.push_back(Event::Resolved { query, records });
        query
    }

    /// The names known to this node that point at an address (scope ignored unless both have one).
    pub fn names_at(&self, address: &ScopedAddr) -> Vec<PeerName> {
        self.registrations
            .values()
            .filter(|registration| {
                self.published(registration).iter().any(|published| {
                    published.ip == address.ip
                        && (published.scope_id == 0
                            || address.scope_id == 0
                            || published.scope_id == address.scope_id)
                })
            })
            .map(|registration| registration.name.clone())
            .collect()
    }

    /// The next thing the driver must act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the node next needs [`Node::handle_timeout`]; `None` while it has no timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn published<'a>(&'a self, registration: &'a Registration) -> &'a [ScopedAddr] {
        if registration.addresses.is_empty() {
            &self.local_addresses
        } else {
            &registration.addresses
        }
    }

    fn info(&self, registration: &Registration) -> RegistrationInfo {
        RegistrationInfo {
            registration: registration.clone(),
            published: self.published(registration).to_vec(),
        }
    }

    fn record(&self, registration: &Registration) -> Record {
        Record {
            name: registration.name.clone(),
            addresses: self.published(registration).to_vec(),
            port: registration.port,
            comment: registration.comment.clone(),
            source: LOCAL_SOURCE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str, scope_id: u32) -> ScopedAddr {
        ScopedAddr {
            ip: text.parse().unwrap(),
            scope_id,
        }
    }

    fn registration(name: &str, addresses: Vec<ScopedAddr>) -> Registration {
        Registration {
            name: name.parse().unwrap(),
            addresses,
            port: None,
            comment: None,
        }
    }

    fn resolve(node: &mut Node, name: &str) -> Vec<Record> {
        let now = Instant::now();
        let query = node.start_resolve(now, &name.parse().unwrap());
        match node.poll_event() {
            Some(Event::Resolved {
                query: done,
                records,
            }) if done == query => records,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn resolves_registered_names_only() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.a", vec![addr("fd00::1", 0)]));
        let records = resolve(&mut node, "0.a");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].addresses, vec![addr("fd00::1", 0)]);
        assert_eq!(records[0].source, LOCAL_SOURCE);
        assert!(resolve(&mut node, "0.A").is_empty());
        assert!(node.unregister(now, &"0.a".parse().unwrap()));
        assert!(!node.unregister(now, &"0.a".parse().unwrap()));
        assert!(resolve(&mut node, "0.a").is_empty());
        assert!(node.poll_event().is_none());
    }

    #[test]
    fn automatic_addresses_follow_the_machine() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.auto", vec![]));
        assert!(
            resolve(&mut node, "0.auto").is_empty(),
            "no addresses known yet"
        );
        node.handle_local_addresses(now, vec![addr("fe80::1", 2), addr("fd00::5", 0)]);
        assert_eq!(
            resolve(&mut node, "0.auto")[0].addresses,
            vec![addr("fd00::5", 0), addr("fe80::1", 2)]
        );
        node.handle_local_addresses(now, vec![addr("fd00::6", 0)]);
        assert_eq!(
            resolve(&mut node, "0.auto")[0].addresses,
            vec![addr("fd00::6", 0)]
        );
        assert_eq!(node.names_at(&addr("fd00::6", 0)).len(), 1);
        assert!(node.names_at(&addr("fd00::5", 0)).is_empty());
    }

    #[test]
    fn reverse_lookup_respects_scopes() {
        let now = Instant::now();
        let mut node = Node::new();
        node.register(now, registration("0.ll", vec![addr("fe80::9", 3)]));
        assert_eq!(node.names_at(&addr("fe80::9", 3)).len(), 1);
        assert_eq!(node.names_at(&addr("fe80::9", 0)).len(), 1);
        assert!(node.names_at(&addr("fe80::9", 4)).is_empty());
    }
}
