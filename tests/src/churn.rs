//! Continuous churn: session lengths and arrivals.
//!
//! Sessions follow a Weibull distribution of shape 0.5 (heavy-tailed, as measured in deployed
//! peer-to-peer systems: most sessions are short, a few last for days), given by its median.
//! Arrivals are a Poisson process whose rate keeps the population at N: with mean session `m`,
//! `N / m` arrivals per second (an M/G/∞ queue). The nodes present when churn starts are
//! mid-session: their remaining time is drawn from the stationary residual distribution, so the
//! population neither dips nor overshoots at the start.

use std::time::Duration;

use rand::Rng;

/// Weibull session lengths of shape 0.5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sessions {
    /// The Weibull scale λ, in seconds.
    scale: f64,
}

impl Sessions {
    /// Sessions whose median is `median`.
    pub fn with_median(median: Duration) -> Self {
        // Median of Weibull(λ, k) = λ (ln 2)^(1/k); k = 0.5.
        Sessions {
            scale: median.as_secs_f64() / std::f64::consts::LN_2.powi(2),
        }
    }

    /// The mean session: λ Γ(1 + 1/k) = 2λ.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(2.0 * self.scale)
    }

    /// The arrival rate (per second) that keeps `population` nodes present.
    pub fn arrival_rate(&self, population: usize) -> f64 {
        population as f64 / self.mean().as_secs_f64()
    }

    /// A fresh session's length: λ (−ln U)^(1/k).
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let u: f64 = 1.0 - rng.gen::<f64>();
        Duration::from_secs_f64(self.scale * (-u.ln()).powi(2))
    }

    /// What remains of the session of a node found present at a random moment of a stationary
    /// population: its session is length-biased (for k = 0.5, (L/λ)^k is Gamma(3, 1): a sum of
    /// three unit exponentials), and the moment falls uniformly within it.
    pub fn sample_residual(&self, rng: &mut impl Rng) -> Duration {
        let gamma: f64 = (0..3).map(|_| -(1.0 - rng.gen::<f64>()).ln()).sum();
        let length = self.scale * gamma * gamma;
        Duration::from_secs_f64(rng.gen::<f64>() * length)
    }
}

/// The time to the next arrival of a Poisson process of `rate` per second.
pub fn next_arrival(rate: f64, rng: &mut impl Rng) -> Duration {
    let u: f64 = 1.0 - rng.gen::<f64>();
    Duration::from_secs_f64(-u.ln() / rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }

    #[test]
    fn weibull_sessions_have_the_median_asked_and_a_heavy_tail() {
        let sessions = Sessions::with_median(Duration::from_secs(3600));
        let mut rng = SmallRng::seed_from_u64(1);
        let samples: Vec<Duration> = (0..100_000).map(|_| sessions.sample(&mut rng)).collect();
        let got = median(samples.clone()).as_secs_f64();
        assert!((3450.0..3750.0).contains(&got), "median {got} s");
        let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
        let expected = sessions.mean().as_secs_f64();
        // Mean = 2λ = 2 / (ln 2)² × median ≈ 4.16 × median.
        assert!((expected / 3600.0 - 4.163).abs() < 0.01);
        assert!(
            (mean / expected - 1.0).abs() < 0.05,
            "mean {mean} s, {expected} s"
        );
    }

    #[test]
    fn a_population_under_churn_stays_near_its_size() {
        // Simulate the M/G/∞ queue alone: N nodes with residual sessions, Poisson arrivals.
        let (population, sessions) = (2000, Sessions::with_median(Duration::from_secs(300)));
        let mut rng = SmallRng::seed_from_u64(2);
        let mut ends: Vec<f64> = (0..population)
            .map(|_| sessions.sample_residual(&mut rng).as_secs_f64())
            .collect();
        let rate = sessions.arrival_rate(population);
        let mut now = 0.0;
        let mut counts = Vec::new();
        for checkpoint in 1..=20 {
            let until = checkpoint as f64 * 600.0;
            loop {
                let next = now + next_arrival(rate, &mut rng).as_secs_f64();
                if next > until {
                    break;
                }
                now = next;
                ends.push(now + sessions.sample(&mut rng).as_secs_f64());
            }
            now = until;
            counts.push(ends.iter().filter(|end| **end > until).count());
        }
        for count in counts {
            assert!((1800..=2200).contains(&count), "{count} present");
        }
    }
}
