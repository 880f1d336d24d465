//! Latency models of the simulated network.
//!
//! - [`Latency::Uniform`]: each datagram's one-way delay drawn uniformly from a range (a LAN or a
//!   well-provisioned data centre; the simulator's historical 5–40 ms).
//! - [`Latency::Internet`]: a synthetic wide-area model, stable per pair of hosts. Each host gets
//!   a position in a unit square (the world, crossed in about 100 ms one way) and an access delay
//!   (its last mile, log-normal: median 5 ms, a tenth above 18 ms). One way between two hosts is
//!   propagation by distance plus both access delays, times a per-pair log-normal factor (median
//!   1, σ 0.45: routing detours), at least 5 ms and at most 700 ms. Median RTT about 100 ms, p99 about 400 ms,
//!   p99.9 about 600 ms (`tests` below checks these). Positions, access delays and pair factors
//!   are pure functions of the seed and the host indices: the same pair always sees the same
//!   delay, whatever else happened.

use std::ops::Range;
use std::time::Duration;

/// How long datagrams take.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// One-way delay drawn uniformly from this range for each datagram.
    Uniform(Range<Duration>),
    /// Wide-area, stable per pair of hosts (see the module documentation).
    Internet,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Uniform(Duration::from_millis(5)..Duration::from_millis(40))
    }
}

/// One-way propagation across the whole unit square's diagonal is `PROPAGATION_MS * √2`.
const PROPAGATION_MS: f64 = 72.0;
/// Median access delay of a host, and the σ of its logarithm.
const ACCESS_MEDIAN_MS: f64 = 5.0;
const ACCESS_SIGMA: f64 = 1.0;
/// σ of the logarithm of the per-pair factor.
const PAIR_SIGMA: f64 = 0.45;
/// Longest one-way delay.
const CAP_MS: f64 = 700.0;
/// Shortest one-way delay (two hosts in the same town still cross two access links). It is also
/// the length of the simulator's time windows: the longer, the more hosts per window to share
/// between threads.
pub const MIN_ONE_WAY: Duration = Duration::from_millis(5);

/// Where a host sits for [`Latency::Internet`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Place {
    x: f32,
    y: f32,
    access_ms: f32,
}

/// SplitMix64: a good 64-bit mix of one word.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in (0, 1) from a hash.
fn unit(hash: u64) -> f64 {
    ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal number from two hashes (Box–Muller).
fn normal(a: u64, b: u64) -> f64 {
    (-2.0 * unit(a).ln()).sqrt() * (std::f64::consts::TAU * unit(b)).cos()
}

impl Place {
    /// The place of host `index` in a network seeded with `seed`.
    pub fn of(seed: u64, index: usize) -> Place {
        let base = mix(seed ^ 0x706c_6163_6500_0000 ^ mix(index as u64));
        let access = ACCESS_MEDIAN_MS * (ACCESS_SIGMA * normal(mix(base ^ 3), mix(base ^ 4))).exp();
        Place {
            x: unit(mix(base ^ 1)) as f32,
            y: unit(mix(base ^ 2)) as f32,
            access_ms: access as f32,
        }
    }
}

/// The one-way delay between hosts `a` and `b` (either order) at `place_a` and `place_b`.
pub fn internet_one_way(seed: u64, a: usize, place_a: Place, b: usize, place_b: Place) -> Duration {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let pair = mix(seed ^ 0x7061_6972 ^ mix(low as u64) ^ mix(high as u64).rotate_left(17));
    let factor = (PAIR_SIGMA * normal(mix(pair ^ 1), mix(pair ^ 2))).exp();
    let (dx, dy) = (
        f64::from(place_a.x - place_b.x),
        f64::from(place_a.y - place_b.y),
    );
    let base = PROPAGATION_MS * (dx * dx + dy * dy).sqrt()
        + f64::from(place_a.access_ms)
        + f64::from(place_b.access_ms);
    let one_way = Duration::from_micros(((base * factor).min(CAP_MS) * 1000.0) as u64);
    one_way.max(MIN_ONE_WAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtts(seed: u64, hosts: usize, pairs: usize) -> Vec<f64> {
        let places: Vec<Place> = (0..hosts).map(|index| Place::of(seed, index)).collect();
        let mut rtts: Vec<f64> = (0..pairs)
            .map(|pair| {
                let a = (mix(pair as u64) % hosts as u64) as usize;
                let b = (mix(pair as u64 ^ 0xabcdef) % hosts as u64) as usize;
                let one_way = internet_one_way(seed, a, places[a], b, places[b]);
                2.0 * one_way.as_secs_f64() * 1000.0
            })
            .collect();
        rtts.sort_by(f64::total_cmp);
        rtts
    }

    #[test]
    fn internet_rtt_has_a_median_near_100_ms_and_a_bounded_heavy_tail() {
        let rtts = rtts(1, 5000, 200_000);
        let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize];
        let (p50, p99, p999) = (at(0.5), at(0.99), at(0.999));
        eprintln!("RTT p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms");
        assert!((90.0..=110.0).contains(&p50), "median RTT {p50} ms");
        assert!(p99 > 2.5 * p50, "a heavy tail: p99 {p99} ms");
        assert!(p999 < 1500.0, "p99.9 {p999} ms");
        assert!(at(0.0) > 0.0);
    }

    #[test]
    fn internet_latency_is_stable_per_pair_and_symmetric() {
        let (a, b) = (17, 4242);
        let (place_a, place_b) = (Place::of(9, a), Place::of(9, b));
        assert_eq!(
            place_a,
            Place::of(9, a),
            "a place depends on the seed and index alone"
        );
        let there = internet_one_way(9, a, place_a, b, place_b);
        assert_eq!(there, internet_one_way(9, b, place_b, a, place_a));
        assert_eq!(there, internet_one_way(9, a, place_a, b, place_b));
        assert_ne!(Place::of(10, a), place_a, "another seed, another world");
    }
}
