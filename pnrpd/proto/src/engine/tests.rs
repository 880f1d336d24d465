//! The engine alone (no cloud): local registrations, automatic addresses, reverse lookups,
//! traces, and how sources print; in a cloud of its own: the negative window.

use super::*;

fn addr(text: &str, scope_id: u32) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id,
    }
}

fn registration(name: &str, addresses: Vec<ScopedAddr>) -> Registration {
    Registration {
        name: name.parse().unwrap(),
        addresses,
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
    }
}

fn resolve(engine: &mut Engine, name: &str) -> Vec<Record> {
    let now = Instant::now();
    let query = engine.start_resolve(now, &name.parse().unwrap());
    match engine.poll_event() {
        Some(Event::Resolved {
            query: done,
            records,
        }) if done == query => records,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn resolves_registered_names_only() {
    let now = Instant::now();
    let mut engine = Engine::new();
    engine.register(now, registration("0.a", vec![addr("fd00::1", 0)]), None);
    let records = resolve(&mut engine, "0.a");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].addresses, vec![addr("fd00::1", 0)]);
    assert_eq!(records[0].source, Source::Local);
    assert!(resolve(&mut engine, "0.A").is_empty());
    assert!(engine.unregister(now, &"0.a".parse().unwrap()));
    assert!(!engine.unregister(now, &"0.a".parse().unwrap()));
    assert!(resolve(&mut engine, "0.a").is_empty());
    assert!(engine.poll_event().is_none());
}

#[test]
fn automatic_addresses_follow_the_machine() {
    let now = Instant::now();
    let mut engine = Engine::new();
    engine.register(now, registration("0.auto", vec![]), None);
    assert!(
        resolve(&mut engine, "0.auto").is_empty(),
        "no addresses known yet"
    );
    engine.handle_local_addresses(now, vec![addr("fe80::1", 2), addr("fd00::5", 0)]);
    assert_eq!(
        resolve(&mut engine, "0.auto")[0].addresses,
        vec![addr("fd00::5", 0), addr("fe80::1", 2)]
    );
    engine.handle_local_addresses(now, vec![addr("fd00::6", 0)]);
    assert_eq!(
        resolve(&mut engine, "0.auto")[0].addresses,
        vec![addr("fd00::6", 0)]
    );
    assert_eq!(engine.names_at(&addr("fd00::6", 0)).len(), 1);
    assert!(engine.names_at(&addr("fd00::5", 0)).is_empty());
}

#[test]
fn reverse_lookup_respects_scopes() {
    let now = Instant::now();
    let mut engine = Engine::new();
    engine.register(now, registration("0.ll", vec![addr("fe80::9", 3)]), None);
    assert_eq!(engine.names_at(&addr("fe80::9", 3)).len(), 1);
    assert_eq!(engine.names_at(&addr("fe80::9", 0)).len(), 1);
    assert!(engine.names_at(&addr("fe80::9", 4)).is_empty());
}

#[test]
fn a_trace_is_its_own_event_and_bypasses_the_freshness_window() {
    let now = Instant::now();
    let mut engine = Engine::new();
    engine.set_freshness(Duration::from_secs(10));
    engine.register(now, registration("0.t", vec![addr("fd00::1", 0)]), None);
    let query = engine.start_trace(now, &"0.t".parse().unwrap());
    assert_eq!(
        engine.poll_event(),
        Some(Event::Traced {
            query,
            traces: Vec::new()
        }),
        "no cloud: nothing traced"
    );
}

#[test]
fn sources_print_as_before() {
    assert_eq!(Source::Local.to_string(), "local");
    let cloud = Source::Cloud {
        cloud: "Global_".into(),
        publisher: "[fd00::3]:3540".parse().unwrap(),
    };
    assert_eq!(cloud.to_string(), "Global_ via [fd00::3]:3540");
}

/// An engine in one cloud of its own (a node alone at fd00::1, knowing no other), so that a
/// resolve goes to a cloud and finds nothing there.
fn in_a_lone_cloud(now: Instant, freshness: Duration) -> Engine {
    use crate::cloud::{CloudConfig, WallClock};
    let mut engine = Engine::new();
    engine.set_freshness(freshness);
    let config = CloudConfig {
        seed: 1,
        seeds: Vec::new(),
        key: SigningKey::from_bytes(&[1; 32]),
        clock: WallClock {
            at: now,
            unix_secs: 1_800_000_000,
        },
        scope_id: 0,
        discovery: None,
    };
    engine.add_cloud(
        now,
        "Global_".into(),
        CloudScope::Global,
        3540,
        Cloud::new(config, now),
    );
    engine.handle_local_addresses(now, vec![addr("fd00::1", 0)]);
    engine
}

/// Resolves `name` at `now`, running the engine's timers until it reports; its records.
fn resolve_at(engine: &mut Engine, now: Instant, name: &str) -> Vec<Record> {
    let query = engine.start_resolve(now, &name.parse().unwrap());
    let mut at = now;
    for _ in 0..1000 {
        while engine.poll_transmit().is_some() {}
        match engine.poll_event() {
            Some(Event::Resolved {
                query: done,
                records,
            }) if done == query => return records,
            Some(other) => panic!("unexpected {other:?}"),
            None => {}
        }
        at = engine.poll_timeout().unwrap_or(at).max(at);
        engine.handle_timeout(at);
    }
    panic!("the resolve never finished");
}

#[test]
fn not_found_from_the_clouds_is_reused_for_the_negative_window() {
    let start = Instant::now();
    let freshness = Duration::from_secs(10);
    let negative = negative_window(freshness);
    assert_eq!(negative, MAX_NEGATIVE_WINDOW);
    let gone: PeerName = "0.gone".parse().unwrap();
    let mut engine = in_a_lone_cloud(start, freshness);
    // The cloud finds nothing (it knows no one): kept, from when it said so.
    assert!(resolve_at(&mut engine, start, "0.gone").is_empty());
    assert_eq!(engine.absent.get(&gone), Some(&start));
    // Within the window, answered at once from it: the cloud was not asked again (it would
    // have renewed the entry).
    let later = start + negative / 2;
    let query = engine.start_resolve(later, &gone);
    assert_eq!(
        engine.poll_event(),
        Some(Event::Resolved {
            query,
            records: Vec::new()
        })
    );
    assert_eq!(
        engine.absent.get(&gone),
        Some(&start),
        "the cloud was asked"
    );
    // A trace still searches, and leaves the window as it was.
    engine.start_trace(later, &gone);
    assert!(matches!(engine.poll_event(), Some(Event::Traced { .. })));
    assert_eq!(engine.absent.get(&gone), Some(&start));
    // Past the window, the cloud again.
    let past = start + negative;
    assert!(resolve_at(&mut engine, past, "0.gone").is_empty());
    assert_eq!(
        engine.absent.get(&gone),
        Some(&past),
        "the cloud was not asked"
    );
    // Registering the name here ends its window at once.
    engine.register(past, registration("0.gone", vec![addr("fd00::9", 0)]), None);
    assert!(engine.absent.is_empty());
    assert_eq!(resolve_at(&mut engine, past, "0.gone").len(), 1);
}

#[test]
fn without_a_cloud_not_found_is_not_kept() {
    let now = Instant::now();
    let mut engine = Engine::new();
    engine.set_freshness(Duration::from_secs(10));
    assert!(resolve_at(&mut engine, now, "0.gone").is_empty());
    assert!(engine.absent.is_empty(), "kept without a cloud asked");
    assert_eq!(
        negative_window(Duration::from_secs(2)),
        Duration::from_secs(2)
    );
    assert_eq!(negative_window(Duration::ZERO), Duration::ZERO);
}
