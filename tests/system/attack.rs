//! A secured name under attack in network namespaces: a hostile node registers it with its own
//! key, pushes route entries for it at itself, answers with impostor, replayed and forged CPAs and
//! floods forged revokes; honest resolvers get the publisher's addresses every time, before and
//! after it moves. The scenario is `tests/scripts/attack-hosts.sh`.

use pnrp_tests::harness::run_host_scenario;

#[test]
fn an_attacker_cannot_take_a_secured_name() {
    run_host_scenario("attack-hosts.sh", &[]);
}
