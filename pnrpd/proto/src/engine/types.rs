//! What goes into the [`Engine`](super::Engine) and comes out of it: the scope of a cloud, the
//! records a resolve finds and where each came from, traces, events, and what `pnrpctl` shows of
//! registrations, clouds and caches. The daemon maps these to the socket protocol's types.

use std::fmt;
use std::net::SocketAddrV6;
use std::time::Duration;

use pnrp_shared::{PeerName, PnrpId, Protocol, Registration, ScopedAddr};

use crate::cloud::ssdp::SsdpScope;
use crate::cloud::{Counters, Reachability};

/// Which addresses a cloud listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudScope {
    /// `Global_`: global-scope addresses, ULA included.
    Global,
    /// `LinkLocal_<interface>`: that interface's fe80:: addresses.
    LinkLocal(u32),
}

impl CloudScope {
    /// The SSDP scope its nodes search and answer in.
    pub fn ssdp(self) -> SsdpScope {
        match self {
            CloudScope::Global => SsdpScope::Global,
            CloudScope::LinkLocal(_) => SsdpScope::LinkLocal,
        }
    }

    /// The interface of a `LinkLocal_` cloud; 0 for `Global_`.
    pub fn interface(self) -> u32 {
        match self {
            CloudScope::Global => 0,
            CloudScope::LinkLocal(interface) => interface,
        }
    }
}

/// Identifies one resolve until its [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// Where a [`Record`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One of this machine's own registrations.
    Local,
    /// A publisher found in a cloud.
    Cloud {
        /// The cloud's name.
        cloud: String,
        /// The publisher's PNRP endpoint.
        publisher: SocketAddrV6,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Local => f.write_str("local"),
            Source::Cloud { cloud, publisher } => write!(f, "{cloud} via {publisher}"),
        }
    }
}

/// One registration of a name, as a resolve found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The name.
    pub name: PeerName,
    /// Where it is (IPv4 v4-mapped, link-local with its scope).
    pub addresses: Vec<ScopedAddr>,
    /// The application port, if the publisher gave one.
    pub port: Option<u16>,
    /// The transport of that port.
    pub protocol: Protocol,
    /// The publisher's comment.
    pub comment: Option<String>,
    /// The publisher's extended payload.
    pub payload: Option<Vec<u8>>,
    /// Where the answer came from.
    pub source: Source,
}

/// What a traced resolve found in one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The cloud's name.
    pub cloud: String,
    /// Every node asked, in order (LOOKUPs, then INQUIREs).
    pub hops: Vec<SocketAddrV6>,
    /// The publishers found.
    pub publishers: Vec<SocketAddrV6>,
}

/// What the engine reports to its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A resolve finished: its records, empty when the name is not found.
    Resolved {
        /// The resolve.
        query: QueryId,
        /// Every registration found.
        records: Vec<Record>,
    },
    /// A traced resolve finished: what each cloud found and the nodes it asked.
    Traced {
        /// The resolve.
        query: QueryId,
        /// One per cloud asked.
        traces: Vec<Trace>,
    },
}

/// A registration and the addresses published for it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// What was registered.
    pub registration: Registration,
    /// The addresses published (the machine's own when the registration names none).
    pub addresses: Vec<ScopedAddr>,
}

/// A cloud as `pnrpctl clouds` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudStatus {
    /// `Global_` or `LinkLocal_<interface>`.
    pub name: String,
    /// Which addresses it listens on.
    pub scope: CloudScope,
    /// Where this node listens in it.
    pub endpoints: Vec<SocketAddrV6>,
    /// Route entries cached.
    pub cached: usize,
    /// The PNRP IDs this node publishes there, with their names.
    pub published: Vec<(PnrpId, PeerName)>,
    /// Its traffic counters.
    pub counters: Counters,
    /// The estimated number of nodes in it (§3.2.6.2.1.1), once neighbours are known.
    pub estimated_size: Option<u64>,
    /// Whether other nodes can reach this one there unsolicited.
    pub reachability: Reachability,
}

/// One cached route entry, as `pnrpctl cache` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedNode {
    /// The cloud's name.
    pub cloud: String,
    /// The entry's PNRP ID.
    pub id: PnrpId,
    /// Where it listens.
    pub endpoints: Vec<SocketAddrV6>,
    /// Since it last proved alive.
    pub age: Duration,
}
