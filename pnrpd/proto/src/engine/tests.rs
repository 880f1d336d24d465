//! The engine alone (no cloud): local registrations, automatic addresses, reverse lookups,
//! traces, and how sources print.

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
