//! Reachability (`reachability`): nodes learn whether others can reach them unsolicited, and a
//! node behind a stateful firewall resolves but is never cached by others.

use std::time::Duration;

use super::Lan;
use crate::cloud::reachability::VERDICT_AFTER;
use crate::cloud::Reachability;

#[test]
fn nodes_others_can_reach_learn_it() {
    let mut lan = Lan::new(3);
    for (index, name) in ["zero", "one", "two"].into_iter().enumerate() {
        lan.register(index, name);
    }
    lan.run_for(Duration::from_secs(5));
    for node in &lan.nodes {
        assert_eq!(node.reachability(), Reachability::Reachable);
    }
    lan.run_for(VERDICT_AFTER * 2);
    for node in &lan.nodes {
        assert_eq!(node.reachability(), Reachability::Reachable, "it sticks");
    }
}

#[test]
fn a_firewalled_node_resolves_but_is_never_handed_out() {
    let mut lan = Lan::new(3);
    lan.firewalled.insert(3);
    lan.add(3, vec![super::at(0)]);
    let ids: Vec<_> = ["zero", "one", "two", "three"]
        .into_iter()
        .enumerate()
        .map(|(index, name)| lan.register(index, name))
        .collect();
    lan.run_for(VERDICT_AFTER + Duration::from_secs(20));
    assert_eq!(lan.nodes[3].reachability(), Reachability::Firewalled);
    for index in 0..3 {
        assert_eq!(lan.nodes[index].reachability(), Reachability::Reachable);
        assert!(
            !lan.caches(index, &ids[3]),
            "node {index} cached the firewalled node"
        );
    }
    // It still resolves the others' names.
    let found = lan.resolve(3, "one");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, ids[1]);
}
