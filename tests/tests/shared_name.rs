//! A name registered on several hosts resolves to all of them.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_proto::cloud::{CloudEvent, Publication};
use pnrp_proto::wire::AppEndpoint;
use pnrp_tests::scenario::small_cloud_node;
use pnrp_tests::sim::{Conditions, Network};

fn address(index: usize) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::new(0xfd71, 0, 0, 0, 0, 0, 0, index as u16),
        3540,
        0,
        0,
    )
}

fn publication(name: &str, index: usize) -> Publication {
    Publication {
        name: name.parse().unwrap(),
        app_endpoints: vec![AppEndpoint {
            address: *address(index).ip(),
            port: 0,
            protocol: 6,
        }],
        comment: None,
        payload: None,
        identity: None,
    }
}

#[test]
fn a_name_on_several_hosts_resolves_to_all_of_them() {
    for nodes in [5, 60] {
        let start = Instant::now();
        let mut network = Network::new(3, start, Conditions::default());
        for index in 0..nodes {
            network.add(small_cloud_node(index, address(index), address(0), start));
            network.run_for(Duration::from_millis(100));
        }
        network.run_for(Duration::from_secs(5));
        let publishers = [1, 3, nodes - 1];
        for &index in &publishers {
            network.with_host(index, |node, now| {
                node.cloud.register(now, publication("0.shared", index))
            });
        }
        network.run_for(Duration::from_secs(20));
        let asker = 2;
        network.with_host(asker, |node, now| {
            node.cloud.resolve(now, &"0.shared".parse().unwrap(), 1)
        });
        network.run_for(Duration::from_secs(10));
        let Some(CloudEvent::Resolved { found, .. }) = network.host_mut(asker).cloud.poll_event()
        else {
            panic!("no answer");
        };
        let mut got: Vec<Ipv6Addr> = found
            .iter()
            .map(|found| found.app_endpoints[0].address)
            .collect();
        got.sort();
        let mut expected: Vec<Ipv6Addr> = publishers
            .iter()
            .map(|index| *address(*index).ip())
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{nodes} nodes");
    }
}
