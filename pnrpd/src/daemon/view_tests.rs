//! The view and the snapshot: what the view answers (and leaves to the run loop), the freshness
//! mirror expiring no later than the engine's window, and the snapshot following registrations
//! through the service, written before the caller hears "done".

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pnrp_proto::engine::QueryId;
use pnrp_shared::ipc::{Record, Request, Response, Source};
use pnrp_shared::snapshot::Snapshot;
use pnrp_shared::{PeerName, Registration, ScopedAddr};

use super::{Publisher, SharedView, View};
use crate::daemon::service::{Handled, Service};

fn name(text: &str) -> PeerName {
    text.parse().unwrap()
}

fn address(text: &str) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id: 0,
    }
}

fn record(text: &str, ip: &str, source: Source) -> Record {
    Record {
        name: name(text),
        addresses: vec![address(ip)],
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
        source,
    }
}

fn remote() -> Source {
    Source::Cloud {
        cloud: "Global_".into(),
        publisher: "[fd00::9]:3540".parse().unwrap(),
    }
}

fn registration(text: &str, addresses: Vec<ScopedAddr>) -> Registration {
    Registration {
        name: name(text),
        addresses,
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
    }
}

fn resolve(text: &str) -> Request {
    Request::Resolve { name: name(text) }
}

#[test]
fn the_view_answers_only_what_needs_no_cloud() {
    let now = Instant::now();
    let freshness = Duration::from_secs(10);
    let local = record("0.here", "fd00::1", Source::Local);
    let far = record("0.far", "fd00::2", remote());
    let view = View {
        open: true,
        local: [(name("0.here"), local.clone())].into(),
        fresh: [
            (name("0.far"), (now, vec![far.clone()])),
            (name("0.here"), (now, vec![far.clone()])),
        ]
        .into(),
        freshness,
        absent: [(name("0.gone"), now), (name("0.here"), now)].into(),
        negative: Duration::from_secs(5),
        clouds_active: true,
    };
    // In the window: this machine's record first, then the others', as the engine answers.
    assert_eq!(
        view.answer(now, &resolve("0.far")),
        Some(Response::Resolved(vec![far.clone()]))
    );
    assert_eq!(
        view.answer(now, &resolve("0.here")),
        Some(Response::Resolved(vec![local.clone(), far.clone()]))
    );
    // Out of the window, or never resolved: the cloud's work, for the run loop.
    assert_eq!(view.answer(now + freshness, &resolve("0.far")), None);
    assert_eq!(view.answer(now, &resolve("0.unknown")), None);
    // Not found by the clouds a moment ago: not found, for the negative window only; never a
    // name this machine publishes.
    assert_eq!(
        view.answer(now + Duration::from_secs(4), &resolve("0.gone")),
        Some(Response::NotFound)
    );
    assert_eq!(
        view.answer(now + Duration::from_secs(5), &resolve("0.gone")),
        None
    );
    assert_eq!(
        view.answer(now + freshness, &resolve("0.here")),
        None,
        "a local name answered not found"
    );
    // Nothing but resolves.
    assert_eq!(view.answer(now, &Request::List), None);
    assert_eq!(view.answer(now, &Request::Status), None);
    // Without an active cloud, a resolve is answered at once: the local name or not found.
    let alone = View {
        clouds_active: false,
        ..view
    };
    assert_eq!(
        alone.answer(now + freshness, &resolve("0.here")),
        Some(Response::Resolved(vec![local]))
    );
    assert_eq!(
        alone.answer(now, &resolve("0.unknown")),
        Some(Response::NotFound)
    );
    // A closed view (the daemon stopping) answers nothing.
    assert_eq!(
        View::default().answer(now, &resolve("0.unknown")),
        None,
        "closed"
    );
}

#[test]
fn the_freshness_mirror_is_timed_from_the_start_and_forgets() {
    let start = Instant::now();
    let freshness = Duration::from_secs(10);
    let shared = SharedView::default();
    let mut publisher = Publisher::default();
    publisher.start(shared.clone(), None, freshness);
    let engine = pnrp_proto::engine::Engine::new();
    publisher.resolve_started(QueryId(1), &name("0.far"), start);
    publisher.resolve_started(QueryId(2), &name("0.none"), start);
    // It finished 3 s later; the engine's window runs from then, the mirror's from the start.
    let far = record("0.far", "fd00::2", remote());
    assert!(publisher.resolved(QueryId(1), std::slice::from_ref(&far)));
    assert!(
        publisher.resolved(QueryId(2), &[]),
        "not found from a cloud is kept for the negative window"
    );
    assert!(
        !publisher.resolved(QueryId(3), std::slice::from_ref(&far)),
        "unknown query"
    );
    publisher.publish(&engine, start + Duration::from_secs(3));
    let view = shared.load();
    let found = Some(Response::Resolved(vec![far]));
    assert_eq!(view.answer(start + freshness / 2, &resolve("0.far")), found);
    assert_eq!(
        view.answer(start, &resolve("0.none")),
        Some(Response::NotFound)
    );
    // Timed from the start too: the engine's negative window ran from 3 s later.
    let negative = pnrp_proto::engine::negative_window(freshness);
    assert_eq!(
        view.answer(
            start + negative - Duration::from_millis(1),
            &resolve("0.none")
        ),
        Some(Response::NotFound)
    );
    publisher.forget(&name("0.none"));
    publisher.publish(&engine, start);
    assert!(
        shared.load().absent.is_empty(),
        "registered or unregistered here: the engine forgot it too"
    );
    publisher.forget(&name("0.far"));
    publisher.publish(&engine, start);
    assert_eq!(
        shared.load().answer(start, &resolve("0.far")),
        Some(Response::NotFound),
        "registered or unregistered here: the engine forgot it too"
    );
    publisher.close();
    assert_eq!(shared.load().answer(start, &resolve("0.far")), None);
}

/// A temporary directory for a state directory and a snapshot, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pnrpd-view-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn snapshot_names(path: &std::path::Path) -> Vec<(String, Vec<ScopedAddr>)> {
    let bytes = std::fs::read(path).unwrap();
    Snapshot::parse(&bytes)
        .unwrap()
        .entries()
        .iter()
        .map(|entry| (entry.name.to_string(), entry.addresses().collect()))
        .collect()
}

#[test]
fn the_snapshot_follows_registrations_before_they_are_acknowledged() {
    let dir = Dir::new();
    let now = Instant::now();
    let snapshot = dir.0.join("pnrpd.names");
    let mut service = Service::open(&dir.0.join("state"), now, vec![address("fd00::1")]).unwrap();
    let shared = SharedView::default();
    service.start_publishing(now, shared.clone(), Some(snapshot.clone()), Duration::ZERO);
    assert!(snapshot_names(&snapshot).is_empty(), "written at start");
    let mode = std::fs::metadata(&snapshot).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o644,
        "readable by all, writable by the daemon only"
    );

    let register = |service: &mut Service, registration: Registration| {
        let Handled::Done(Response::Registered(_)) =
            service.handle(now, 1000, Request::Register(registration))
        else {
            panic!("not registered");
        };
    };
    register(
        &mut service,
        registration(
            "0.web",
            vec![address("fd70::1"), address("::ffff:192.0.2.1")],
        ),
    );
    // Without addresses of its own, a name is published at the machine's.
    register(&mut service, registration("0.auto", Vec::new()));
    assert_eq!(
        snapshot_names(&snapshot),
        [
            ("0.auto".to_string(), vec![address("fd00::1")]),
            (
                "0.web".to_string(),
                vec![address("fd70::1"), address("::ffff:192.0.2.1")]
            ),
        ]
    );
    assert_eq!(
        shared.load().answer(now, &resolve("0.auto")),
        Some(Response::Resolved(vec![Record {
            addresses: vec![address("fd00::1")],
            ..record("0.auto", "fd00::1", Source::Local)
        }]))
    );

    // The machine's addresses change: the automatic name follows, once republished.
    service
        .engine_mut()
        .handle_local_addresses(now, vec![address("fd00::2")]);
    service.publish(now);
    assert_eq!(snapshot_names(&snapshot)[0].1, [address("fd00::2")]);

    let Handled::Done(Response::Unregistered) = service.handle(
        now,
        1000,
        Request::Unregister {
            name: name("0.web"),
        },
    ) else {
        panic!("not unregistered");
    };
    // Gone before the caller hears "unregistered".
    assert_eq!(
        snapshot_names(&snapshot),
        [("0.auto".to_string(), vec![address("fd00::2")])]
    );
    assert_eq!(
        shared.load().answer(now, &resolve("0.web")),
        Some(Response::NotFound)
    );

    // A snapshot that cannot be written is removed, never left stale: a directory is in the
    // way of the temporary file.
    std::fs::create_dir(dir.0.join("pnrpd.names.tmp")).unwrap();
    std::fs::write(dir.0.join("pnrpd.names.tmp/x"), b"x").unwrap();
    register(&mut service, registration("0.third", Vec::new()));
    assert!(!snapshot.exists(), "an unwritable snapshot is removed");
    std::fs::remove_dir_all(dir.0.join("pnrpd.names.tmp")).unwrap();
    service.publish(now);
    assert_eq!(snapshot_names(&snapshot).len(), 2, "written again");

    service.stop_publishing();
    assert!(!snapshot.exists(), "removed when the daemon stops");
}

#[test]
fn answers_the_engine_had_at_once_never_enter_the_mirror() {
    // The engine answers at once from its own window (timed from an earlier resolve) or without
    // a cloud; mirrored from now, such an answer would outlive the engine's. Here: no cloud.
    let dir = Dir::new();
    let now = Instant::now();
    let mut service = Service::open(&dir.0.join("state"), now, vec![address("fd00::1")]).unwrap();
    let shared = SharedView::default();
    service.start_publishing(now, shared.clone(), None, Duration::from_secs(10));
    let Handled::Done(Response::Registered(_)) = service.handle(
        now,
        0,
        Request::Register(registration("0.web", vec![address("fd70::1")])),
    ) else {
        panic!("not registered");
    };
    let Handled::Pending(query) = service.handle(now, 0, resolve("0.web")) else {
        panic!("a resolve is answered through the engine");
    };
    let (answered, response) = service.poll_answer().expect("answered at once");
    assert_eq!(answered, query);
    assert!(matches!(response, Response::Resolved(_)), "{response:?}");
    service.publish_if_outdated(now);
    assert!(
        shared.load().fresh.is_empty(),
        "an immediate answer was mirrored"
    );
}
