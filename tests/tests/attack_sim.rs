//! A secured name under attack in a simulated cloud: a hostile node registers it with its own
//! key, pushes route entries for it at its own address, answers for it with impostor, replayed
//! and forged CPAs, and floods forged revokes. Every honest resolver must get the publisher's
//! addresses, every time, before and after the publisher updates them.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_proto::cloud::{Cloud, CloudConfig, CloudEvent, Found, Publication};
use pnrp_proto::wire::{AppEndpoint, CpaPublicKey};
use pnrp_shared::{Authority, PeerName};
use pnrp_tests::attacker::{AttackConfig, Attacker};
use pnrp_tests::scenario::{small_cloud_config, small_cloud_node, SimNode};
use pnrp_tests::sim::{Conditions, Host, Network, Transmit};

const HONEST: usize = 12;
const PUBLISHER: usize = 3;

fn address(index: usize) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::new(0xfd72, 0, 0, 0, 0, 0, 0, index as u16 + 1),
        3540,
        0,
        0,
    )
}

fn config(index: usize, start: Instant) -> CloudConfig {
    small_cloud_config(index, address(0), start)
}

#[derive(Debug)]
enum Participant {
    Honest(Box<SimNode>),
    Hostile(Box<Attacker>, SocketAddrV6),
}

impl Host for Participant {
    fn address(&self) -> SocketAddrV6 {
        match self {
            Participant::Honest(node) => node.address(),
            Participant::Hostile(_, address) => *address,
        }
    }
    fn side_address(&self) -> Option<SocketAddrV6> {
        match self {
            Participant::Honest(node) => node.side_address(),
            Participant::Hostile(..) => None,
        }
    }
    fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        match self {
            Participant::Honest(node) => node.handle_side_datagram(now, from, bytes),
            Participant::Hostile(attacker, _) => attacker.handle_datagram(now, from, bytes),
        }
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        match self {
            Participant::Honest(node) => node.handle_datagram(now, from, bytes),
            Participant::Hostile(attacker, _) => attacker.handle_datagram(now, from, bytes),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Participant::Honest(node) => node.handle_timeout(now),
            Participant::Hostile(attacker, _) => attacker.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Participant::Honest(node) => node.poll_transmit(),
            // The attacker has one port: what its cloud sends from the side port leaves from it.
            Participant::Hostile(attacker, _) => {
                attacker.poll_transmit().map(|(to, bytes)| Transmit {
                    to,
                    bytes,
                    side: false,
                })
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Participant::Honest(node) => node.poll_timeout(),
            Participant::Hostile(attacker, _) => attacker.poll_timeout(),
        }
    }
}

fn honest(network: &mut Network<Participant>, index: usize) -> &mut Cloud {
    match network.host_mut(index) {
        Participant::Honest(node) => &mut node.cloud,
        Participant::Hostile(..) => panic!("host {index} is the attacker"),
    }
}

fn publication(name: &PeerName, address: Ipv6Addr, identity: &SigningKey) -> Publication {
    Publication {
        name: name.clone(),
        app_endpoints: vec![AppEndpoint {
            address,
            port: 443,
            protocol: 6,
        }],
        comment: Some("the real one".into()),
        payload: None,
        identity: Some(identity.clone()),
    }
}

/// Every honest node but the publisher resolves `name`; returns what each found.
fn resolve_everywhere(network: &mut Network<Participant>, name: &PeerName) -> Vec<Vec<Found>> {
    let resolvers: Vec<usize> = (0..HONEST).filter(|index| *index != PUBLISHER).collect();
    for &index in &resolvers {
        let now = network.now();
        honest(network, index).resolve(now, name, index as u64);
        network.flush(index);
    }
    network.run_for(Duration::from_secs(8));
    resolvers
        .iter()
        .map(|&index| {
            let mut answer = None;
            while let Some(CloudEvent::Resolved { query, found, .. }) =
                honest(network, index).poll_event()
            {
                if query == index as u64 {
                    answer = Some(found);
                }
            }
            answer.unwrap_or_else(|| panic!("node {index}: the resolve never finished"))
        })
        .collect()
}

fn addresses(found: &[Found]) -> Vec<Ipv6Addr> {
    found
        .iter()
        .flat_map(|found| found.app_endpoints.iter().map(|endpoint| endpoint.address))
        .collect()
}

#[test]
fn an_attacker_cannot_take_a_secured_name() {
    let start = Instant::now();
    let mut network = Network::new(11, start, Conditions::default());
    for index in 0..HONEST {
        let mut node = small_cloud_node(index, address(index), address(0), start);
        let cloud = &mut node.cloud;
        // Every node publishes a name of its own, as daemons do: that is what the caches hold.
        cloud.register(
            start,
            Publication {
                name: format!("0.node-{index}").parse().unwrap(),
                app_endpoints: vec![AppEndpoint {
                    address: *address(index).ip(),
                    port: 22,
                    protocol: 6,
                }],
                comment: None,
                payload: None,
                identity: None,
            },
        );
        network.add(Participant::Honest(Box::new(node)));
        network.run_for(Duration::from_millis(200));
    }
    network.run_for(Duration::from_secs(20));

    let identity = SigningKey::from_bytes(&[0xa5; 32]);
    let authority = Authority::Secured(CpaPublicKey::of(&identity).authority_hash());
    let name: PeerName = format!("{authority}.bank").parse().unwrap();
    let name_p2p = pnrp_shared::P2pId::of(&name);
    let first = Ipv6Addr::new(0xfd72, 0, 0, 0, 0, 0, 0xb, 1);
    let now = network.now();
    honest(&mut network, PUBLISHER).register(now, publication(&name, first, &identity));
    network.flush(PUBLISHER);
    network.run_for(Duration::from_secs(20));
    for found in resolve_everywhere(&mut network, &name) {
        assert_eq!(addresses(&found), vec![first], "before the attack");
    }

    let hostile = address(HONEST);
    let attacker = Attacker::new(
        network.now(),
        config(HONEST, start),
        AttackConfig {
            victim: name.clone(),
            address: hostile,
            targets: (0..HONEST).map(address).collect(),
            push_every: Duration::from_millis(500),
        },
    );
    let attacker_index = network.add(Participant::Hostile(Box::new(attacker), hostile));
    network.run_for(Duration::from_secs(20));

    let mut rounds = 0;
    let mut check = |network: &mut Network<Participant>, expected: Ipv6Addr, when: &str| {
        for _ in 0..4 {
            rounds += 1;
            for (resolver, found) in resolve_everywhere(network, &name).iter().enumerate() {
                assert_eq!(
                    addresses(found),
                    vec![expected],
                    "{when}, round {rounds}, resolver #{resolver}: {found:?}"
                );
            }
        }
    };
    check(&mut network, first, "under attack");

    // The publisher moves; the attacker keeps replaying the old CPA.
    let second = Ipv6Addr::new(0xfd72, 0, 0, 0, 0, 0, 0xb, 2);
    let now = network.now();
    honest(&mut network, PUBLISHER).register(now, publication(&name, second, &identity));
    network.flush(PUBLISHER);
    network.run_for(Duration::from_secs(2));
    check(&mut network, second, "after the update");

    let Participant::Hostile(attacker, _) = network.host(attacker_index) else {
        unreachable!()
    };
    let stats = attacker.stats();
    println!("attack: {stats:?}");
    assert!(stats.captured, "the attacker captured the genuine CPA");
    assert!(stats.impostor_cpas > 0, "{stats:?}");
    assert!(stats.replayed_cpas > 0, "{stats:?}");
    assert!(stats.forged_cpas > 0, "{stats:?}");
    assert!(stats.poisoned_floods > 0 && stats.forged_revokes > 0);
    // No honest cache holds the name at the attacker's address or under the impostor's ID.
    let genuine: Vec<pnrp_shared::PnrpId> = honest(&mut network, PUBLISHER)
        .published()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for index in 0..HONEST {
        for entry in honest(&mut network, index).cache().entries() {
            if entry.id.p2p_id() == name_p2p {
                assert!(
                    genuine.contains(&entry.id) && !entry.endpoints.contains(&hostile),
                    "node {index} caches {entry:?}"
                );
            }
        }
    }
    let rejected: u64 = (0..HONEST)
        .map(|index| honest(&mut network, index).counters().bad_cpas)
        .sum();
    println!("CPAs rejected by honest nodes: {rejected}");
    assert!(
        rejected >= stats.inquiries_answered / 2,
        "{rejected} rejected"
    );
}
