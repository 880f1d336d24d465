//! Six hosts in network namespaces on a bridge (ULA and link-local addresses), one pnrpd each:
//! a name registered on one host resolves on another through glibc (getent, ping6, Python),
//! a name on two hosts resolves to both, names disappear when unregistered or when their
//! publisher dies, survive other nodes dying; a restarted node rejoins from its persistent
//! cache; a node with no seed finds the cloud by SSDP; a link-local name pings over fe80::.
//! The scenario is `tests/scripts/cloud-hosts.sh`.

use pnrp_tests::harness::run_host_scenario;

#[test]
fn six_hosts_share_names_through_the_cloud() {
    run_host_scenario("cloud-hosts.sh", &[]);
}
