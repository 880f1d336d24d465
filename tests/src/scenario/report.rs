//! The figures of a run: the lookups' outcomes, the windows of a partition, the JSON report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pnrp_proto::cloud::{Cloud, Reachability};

use super::run::{Driver, LOOKUP_TIMEOUT};
use super::{Census, Json, Rtt};

/// Lookups are counted in windows of this many seconds of their start.
const WINDOW_SECS: f64 = 10.0;

/// One resolve of a scenario.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// When it started, since the start of the run.
    pub started: Duration,
    /// The node that resolved.
    pub asker: usize,
    /// The node whose name it looked for.
    pub target: usize,
    /// Whether the asker is behind a firewall.
    pub asker_firewalled: bool,
    /// Whether the publisher is behind a firewall (its name is not expected to resolve).
    pub target_firewalled: bool,
    /// Whether asker and publisher are in different halves of a partition scenario.
    pub cross: bool,
    /// Its answer, if one came.
    pub answer: Option<Answer>,
}

/// The answer to a [`Lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// After how long.
    pub latency: Duration,
    /// Registrations found.
    pub found: usize,
    /// Whether one had the publisher's address.
    pub right: bool,
    /// LOOKUP hops (the nodes asked before the INQUIRE to the publisher).
    pub hops: usize,
}

impl Lookup {
    /// Answered in time with the publisher's address.
    pub fn succeeded(&self) -> bool {
        self.answer
            .is_some_and(|answer| answer.right && answer.latency <= LOOKUP_TIMEOUT)
    }
}

/// What came out.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Resolves that found the right publisher (of those counted in `asked`).
    pub resolved: usize,
    /// Resolves of reachable publishers' names (every resolve, without firewalls).
    pub asked: usize,
    /// LOOKUP hops of each successful resolve, sorted.
    pub hops: Vec<usize>,
    /// Datagrams per resolve, background maintenance subtracted (lookups all at once only).
    pub messages_per_lookup: f64,
    /// Every resolve.
    pub lookups: Vec<Lookup>,
    /// Every figure, as `simulate --json` prints it (without `wall_s` and `peak_rss_kib`).
    pub report: Json,
}

impl Outcome {
    /// The hop count at quantile `q` (0..=1).
    pub fn hops_at(&self, q: f64) -> usize {
        quantile(&self.hops, q).unwrap_or(usize::MAX)
    }

    /// `resolved / asked`.
    pub fn success(&self) -> f64 {
        self.resolved as f64 / self.asked.max(1) as f64
    }
}

fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied()
}

/// What the phases measured.
pub(super) struct Figures {
    pub(super) messages_per_lookup: Option<f64>,
    pub(super) maintenance_bytes: f64,
    pub(super) maintenance_messages: f64,
    pub(super) steady_bytes: Option<f64>,
    pub(super) steady_start: Instant,
    pub(super) heal_at: Option<Instant>,
    /// Datagrams by kind in each phase: formation, warm-up, quiet window, lookups.
    pub(super) census: Option<Vec<Census>>,
}

/// Lookups asked and resolved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Asked.
    pub asked: usize,
    /// Resolved.
    pub resolved: usize,
}

impl Tally {
    fn add(&mut self, lookup: &Lookup) {
        self.asked += 1;
        self.resolved += usize::from(lookup.succeeded());
    }

    fn success(&self) -> Option<f64> {
        (self.asked > 0).then(|| self.resolved as f64 / self.asked as f64)
    }
}

/// The 10 s windows of lookup starts, from `origin` (negative before it): all lookups of
/// reachable names, and those across the partition.
fn windows(lookups: &[Lookup], origin: Duration) -> BTreeMap<i64, (Tally, Tally)> {
    let mut windows: BTreeMap<i64, (Tally, Tally)> = BTreeMap::new();
    for lookup in lookups.iter().filter(|lookup| !lookup.target_firewalled) {
        let offset = lookup.started.as_secs_f64() - origin.as_secs_f64();
        let window = windows
            .entry((offset / WINDOW_SECS).floor() as i64)
            .or_default();
        window.0.add(lookup);
        if lookup.cross {
            window.1.add(lookup);
        }
    }
    windows
}

/// Seconds after the heal until the cloud is whole again: the start of the earliest 10 s window
/// W (from the heal) such that, from W to the end of every later window, the cross-half lookups
/// started since W succeeded at least 99 % of the time. An isolated failure long after the heal
/// is absorbed by the successes before it; failures soon after a window push the heal past it.
/// `None` if no window qualifies.
pub fn heal_seconds(windows: &BTreeMap<i64, (Tally, Tally)>) -> Option<f64> {
    let after: Vec<(i64, Tally)> = windows
        .range(0..)
        .map(|(window, (_, cross))| (*window, *cross))
        .collect();
    (0..after.len())
        .find(|&from| {
            let mut total = Tally::default();
            after[from..].iter().all(|(_, cross)| {
                total.asked += cross.asked;
                total.resolved += cross.resolved;
                total.resolved * 100 >= total.asked * 99
            })
        })
        .map(|from| after[from].0 as f64 * WINDOW_SECS)
}

pub(super) fn report(driver: &Driver<'_>, figures: Figures) -> Outcome {
    let scenario = driver.scenario;
    let lookups = &driver.lookups;
    let (mut all, mut open_open, mut closed_open, mut to_closed) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let (mut unanswered, mut not_found, mut wrong) = (0usize, 0usize, 0usize);
    let mut hops = Vec::new();
    let mut latencies = Vec::new();
    for lookup in lookups {
        if lookup.target_firewalled {
            to_closed.add(lookup);
            continue;
        }
        all.add(lookup);
        if lookup.asker_firewalled {
            closed_open.add(lookup);
        } else {
            open_open.add(lookup);
        }
        match lookup.answer {
            None => unanswered += 1,
            Some(answer) if answer.latency > LOOKUP_TIMEOUT => unanswered += 1,
            Some(answer) if answer.right => {
                hops.push(answer.hops);
                latencies.push(answer.latency.as_secs_f64() * 1000.0);
            }
            Some(answer) if answer.found == 0 => not_found += 1,
            Some(_) => wrong += 1,
        }
    }
    hops.sort_unstable();
    latencies.sort_by(f64::total_cmp);

    let network = &driver.network;
    let live: Vec<&Cloud> = driver
        .live
        .iter()
        .map(|&index| &network.host(index).cloud)
        .collect();
    let mut sizes: Vec<u64> = live.iter().filter_map(|c| c.estimated_size()).collect();
    sizes.sort_unstable();
    let mut reach = [[0usize; 3]; 2];
    for &index in &driver.live {
        let column = match network.host(index).cloud.reachability() {
            Reachability::Unknown => 0,
            Reachability::Reachable => 1,
            Reachability::Firewalled => 2,
        };
        reach[usize::from(driver.members[index].firewalled)][column] += 1;
    }
    let reach_json = |row: [usize; 3]| {
        Json::object([
            ("unknown", row[0].into()),
            ("reachable", row[1].into()),
            ("firewalled", row[2].into()),
        ])
    };
    let counters = live
        .iter()
        .map(|cloud| cloud.counters())
        .fold(Default::default(), |a: pnrp_proto::cloud::Counters, b| {
            a + b
        });
    let cache_mean = live.iter().map(|cloud| cloud.cache().len()).sum::<usize>() as f64
        / live.len().max(1) as f64;
    let traffic = network.traffic();

    let steady = scenario.steady();
    let origin = figures.heal_at.unwrap_or(figures.steady_start) - driver.start;
    let windows = steady.map(|_| windows(lookups, origin));
    let heal = match (&windows, figures.heal_at) {
        (Some(windows), Some(_)) => heal_seconds(windows),
        _ => None,
    };
    let windows_json = windows.as_ref().map(|windows| {
        Json::Array(
            windows
                .iter()
                .map(|(window, (all, cross))| {
                    Json::object([
                        ("start_s", Json::from(*window as f64 * WINDOW_SECS)),
                        ("asked", all.asked.into()),
                        ("resolved", all.resolved.into()),
                        ("cross_asked", cross.asked.into()),
                        ("cross_resolved", cross.resolved.into()),
                    ])
                })
                .collect(),
        )
    });
    let secs = |duration: Option<Duration>| duration.map(|d| d.as_secs_f64());
    let firewalls = scenario.unreachable > 0.0;
    let report = Json::object([
        ("nodes", Json::from(scenario.nodes)),
        ("lookups", scenario.lookups.into()),
        ("churn", scenario.churn.into()),
        ("loss", scenario.loss.into()),
        ("seed", scenario.seed.into()),
        (
            "rtt",
            match scenario.rtt {
                Rtt::Lan => "lan",
                Rtt::Internet => "internet",
            }
            .into(),
        ),
        ("join_rate", scenario.join_rate.into()),
        ("warmup_s", scenario.warmup.as_secs_f64().into()),
        ("quiet_s", scenario.quiet.as_secs_f64().into()),
        ("session_median_s", secs(scenario.session_median).into()),
        (
            "graceful",
            scenario.session_median.map(|_| scenario.graceful).into(),
        ),
        ("duration_s", secs(steady).into()),
        ("lookup_rate", steady.map(|_| driver.lookup_rate()).into()),
        ("unreachable", scenario.unreachable.into()),
        ("partition_s", secs(scenario.partition).into()),
        ("asked", all.asked.into()),
        ("resolved", all.resolved.into()),
        ("success", all.success().into()),
        ("unanswered", Json::from(unanswered)),
        ("not_found", Json::from(not_found)),
        ("wrong", Json::from(wrong)),
        ("hops_p50", quantile(&hops, 0.5).into()),
        ("hops_p99", quantile(&hops, 0.99).into()),
        ("hops_max", hops.last().copied().into()),
        ("latency_ms_p50", quantile(&latencies, 0.5).into()),
        ("latency_ms_p99", quantile(&latencies, 0.99).into()),
        ("messages_per_lookup", figures.messages_per_lookup.into()),
        (
            "maintenance_bytes_per_node_s",
            figures.maintenance_bytes.into(),
        ),
        (
            "maintenance_messages_per_node_s",
            figures.maintenance_messages.into(),
        ),
        ("steady_bytes_per_node_s", figures.steady_bytes.into()),
        ("heal_s", heal.into()),
        (
            "reachable_success",
            firewalls.then(|| open_open.success()).flatten().into(),
        ),
        (
            "unreachable_success",
            firewalls.then(|| closed_open.success()).flatten().into(),
        ),
        (
            "unreachable_askers",
            firewalls.then_some(closed_open.asked).into(),
        ),
        (
            "unreachable_targets_asked",
            firewalls.then_some(to_closed.asked).into(),
        ),
        (
            "unreachable_targets_resolved",
            firewalls.then_some(to_closed.resolved).into(),
        ),
        ("arrivals", driver.arrivals.into()),
        ("departures_graceful", driver.graceful.into()),
        ("departures_abrupt", driver.abrupt.into()),
        ("population_min", steady.map(|_| driver.population.0).into()),
        ("population_max", steady.map(|_| driver.population.1).into()),
        ("live_at_end", driver.live.len().into()),
        ("estimated_size_p50", quantile(&sizes, 0.5).into()),
        ("cache_entries_mean", cache_mean.into()),
        (
            "reachability",
            Json::object([
                ("open", reach_json(reach[0])),
                ("firewalled", reach_json(reach[1])),
            ]),
        ),
        (
            "counters",
            Json::object([
                ("malformed", counters.malformed.into()),
                ("bad_cpas", counters.bad_cpas.into()),
                ("rate_limited", counters.rate_limited.into()),
                ("withheld", counters.withheld.into()),
            ]),
        ),
        ("datagrams_sent", traffic.sent.into()),
        ("datagrams_dropped", traffic.dropped.into()),
        ("datagrams_blocked", traffic.blocked.into()),
        ("events", network.events().into()),
        (
            "simulated_s",
            (driver.now() - driver.start).as_secs_f64().into(),
        ),
        ("windows", windows_json.into()),
    ]);
    let mut report = report;
    if let Some(phases) = &figures.census {
        let live = driver.live.len() as f64;
        let minutes = |d: Duration| d.as_secs_f64() / 60.0;
        let per = [
            ("formation_per_join", scenario.nodes as f64),
            ("warmup_per_node_minute", live * minutes(scenario.warmup)),
            ("quiet_per_node_minute", live * minutes(scenario.quiet)),
            // At once: less the background (messages per lookup); steady: everything.
            ("lookups_per_lookup", driver.lookups.len() as f64),
        ];
        report.set(
            "census",
            Json::object(
                per.iter()
                    .zip(phases)
                    .map(|((name, per), census)| (*name, census.json(*per))),
            ),
        );
    }
    Outcome {
        resolved: all.resolved,
        asked: all.asked,
        hops,
        messages_per_lookup: figures.messages_per_lookup.unwrap_or(f64::NAN),
        lookups: driver.lookups.clone(),
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(cross: &[(usize, usize)]) -> BTreeMap<i64, (Tally, Tally)> {
        let mut windows = BTreeMap::new();
        // A window before the heal, all failed: it does not count.
        let cut = Tally {
            asked: 50,
            resolved: 0,
        };
        windows.insert(-1, (cut, cut));
        for (index, &(asked, resolved)) in cross.iter().enumerate() {
            let tally = Tally { asked, resolved };
            windows.insert(index as i64, (tally, tally));
        }
        windows
    }

    #[test]
    fn the_heal_is_when_cross_half_lookups_succeed_from_then_on() {
        assert_eq!(heal_seconds(&windows(&[(100, 100); 6])), Some(0.0));
        // Two bad windows after the heal.
        let slow = [(100, 20), (100, 90), (100, 100), (100, 100), (100, 100)];
        assert_eq!(heal_seconds(&windows(&slow)), Some(20.0));
        // One failure long after, among many successes, is absorbed…
        let mut late = vec![(100, 100); 10];
        late.push((100, 99));
        assert_eq!(heal_seconds(&windows(&late)), Some(0.0));
        // …but not right after a window: the heal moves past it.
        let early = [(100, 100), (100, 97), (100, 100), (100, 100)];
        assert_eq!(heal_seconds(&windows(&early)), Some(20.0));
        // Windows without cross-half lookups do not count either way.
        let empty = [(100, 50), (0, 0), (100, 100)];
        assert_eq!(heal_seconds(&windows(&empty)), Some(10.0));
        // Never healed.
        assert_eq!(heal_seconds(&windows(&[(100, 50); 3])), None);
    }
}
