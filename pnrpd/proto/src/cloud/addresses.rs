//! Which of a multi-homed peer's addresses to try first: RFC 6724's destination address
//! selection (§6), reduced to what a node knows — its own addresses and the peer's.
//!
//! A route entry or CPA may carry several addresses (one port). Entries are kept in this order,
//! so a hop, an admission or a liveness check asks the preferred address first and, when it stays
//! silent, the next one (docs/PROTOCOL.md, "Multi-homed peers").

use std::net::{Ipv6Addr, SocketAddrV6};

/// Sorts `candidates`, best first, for a node whose own addresses are `ours`. The sort is stable:
/// where the rules do not decide, the peer's own order stands (rule 10).
pub(super) fn prefer(candidates: &mut [SocketAddrV6], ours: &[SocketAddrV6]) {
    candidates.sort_by_key(|candidate| {
        let destination = candidate.ip();
        let scope = scope(destination);
        let (precedence, label) = policy(destination);
        // The source the kernel would pick (RFC 6724 §5, reduced): of the destination's scope,
        // of its label if we have one, sharing the longest prefix.
        let source = ours
            .iter()
            .map(|own| own.ip())
            .filter(|own| self::scope(own) == scope)
            .max_by_key(|own| (policy(own).1 == label, common_prefix(own, destination)));
        (
            // Rule 2: a destination we have a source of its scope for.
            source.is_none(),
            // Rule 5: a source of the destination's label (a ULA-only node tries ULAs first).
            source.is_none_or(|own| policy(own).1 != label),
            // Rule 6: higher precedence.
            std::cmp::Reverse(precedence),
            // Rule 8: smaller scope.
            scope,
            // Rule 9: the longest prefix shared with our source.
            std::cmp::Reverse(source.map_or(0, |own| common_prefix(own, destination))),
        )
    });
}

/// RFC 4291 scope values: link-local 2, global 14 (unique-local counts as global, RFC 6724 §3.1).
fn scope(address: &Ipv6Addr) -> u8 {
    if address.is_loopback() || address.is_unicast_link_local() {
        2
    } else {
        14
    }
}

/// Precedence and label in RFC 6724's default policy table (§2.1).
fn policy(address: &Ipv6Addr) -> (u8, u8) {
    let segments = address.segments();
    let octets = address.octets();
    if address.is_loopback() {
        (50, 0)
    } else if segments[..5] == [0; 5] && segments[5] == 0xffff {
        (35, 4)
    } else if segments[0] == 0x2002 {
        (30, 2)
    } else if segments[0] == 0x2001 && segments[1] == 0 {
        (5, 5)
    } else if octets[0] & 0xfe == 0xfc {
        (3, 13)
    } else if segments[..6] == [0; 6] {
        (1, 3)
    } else if segments[0] & 0xffc0 == 0xfec0 {
        (1, 11)
    } else if segments[0] == 0x3ffe {
        (1, 12)
    } else {
        (40, 1)
    }
}

/// How many leading bits two addresses share (rule 9 compares at most the 64-bit prefix).
fn common_prefix(a: &Ipv6Addr, b: &Ipv6Addr) -> u32 {
    let shared = (u128::from(*a) ^ u128::from(*b)).leading_zeros();
    shared.min(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: &str) -> SocketAddrV6 {
        SocketAddrV6::new(address.parse().unwrap(), 3540, 0, 0)
    }

    #[test]
    fn a_scope_we_have_comes_first() {
        // Only a link-local source here: the peer's global address cannot be our first choice.
        let mut candidates = vec![at("2001:db8::1"), at("fe80::1")];
        prefer(&mut candidates, &[at("fe80::9")]);
        assert_eq!(candidates, vec![at("fe80::1"), at("2001:db8::1")]);
    }

    #[test]
    fn native_before_6to4_before_teredo_before_ula() {
        let mut candidates = vec![
            at("fd00::1"),
            at("2001:0:1::1"),
            at("2002:c000:201::1"),
            at("2a01::1"),
        ];
        prefer(&mut candidates, &[at("2a02::9")]);
        assert_eq!(
            candidates,
            vec![
                at("2a01::1"),
                at("2002:c000:201::1"),
                at("2001:0:1::1"),
                at("fd00::1"),
            ]
        );
    }

    #[test]
    fn a_ula_only_node_tries_the_peers_ula_first() {
        // Rule 5: from a ULA source, a ULA destination (label 13) beats a global one (label 1),
        // whatever their precedence.
        let mut candidates = vec![at("2a01::1"), at("fd00::1")];
        prefer(&mut candidates, &[at("fd00::9")]);
        assert_eq!(candidates, vec![at("fd00::1"), at("2a01::1")]);
        // With a global source too, the global destination comes first again (rule 6).
        prefer(&mut candidates, &[at("fd00::9"), at("2a02::9")]);
        assert_eq!(candidates, vec![at("2a01::1"), at("fd00::1")]);
    }

    #[test]
    fn the_longest_shared_prefix_wins_then_the_peers_order() {
        let mut candidates = vec![at("2a01:1::1"), at("2a00::1"), at("2a02:5::1")];
        prefer(&mut candidates, &[at("2a02:5::9")]);
        assert_eq!(candidates[0], at("2a02:5::1"));
        // Neither shares more with us than the other (14 bits): the peer's order stands.
        assert_eq!(candidates[1..], [at("2a01:1::1"), at("2a00::1")]);
    }
}
