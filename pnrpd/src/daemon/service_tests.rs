//! The service's policy, driven directly: a temporary state directory, users given by uid (no
//! root needed to act as several), and `Instant`s of the test's choosing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pnrp_shared::ipc::{ErrorKind, Request, Response, Source};
use pnrp_shared::{Registration, ScopedAddr};

use super::{Handled, Service};

/// A state directory removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pnrpd-service-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        StateDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ALICE: u32 = 1000;
const BOB: u32 = 1001;
const ROOT: u32 = 0;

fn open(dir: &StateDir, now: Instant) -> Service {
    let address = ScopedAddr {
        ip: "fd00::1".parse().unwrap(),
        scope_id: 0,
    };
    Service::open(dir.path(), now, vec![address]).expect("open the state directory")
}

fn registration(name: &str) -> Registration {
    Registration {
        name: name.parse().unwrap(),
        addresses: vec![ScopedAddr {
            ip: "fd70::1".parse().unwrap(),
            scope_id: 0,
        }],
        port: Some(80),
        protocol: Default::default(),
        comment: Some("a comment".into()),
        payload: None,
    }
}

/// The answer to a request that is answered at once.
#[track_caller]
fn ask(service: &mut Service, now: Instant, uid: u32, request: Request) -> Response {
    match service.handle(now, uid, request) {
        Handled::Done(response) => response,
        Handled::Pending(query) => panic!("pending as {query:?}"),
    }
}

/// The answer to a resolve or traceroute, which goes through the engine.
#[track_caller]
fn ask_later(service: &mut Service, now: Instant, uid: u32, request: Request) -> Response {
    let Handled::Pending(query) = service.handle(now, uid, request) else {
        panic!("answered at once");
    };
    match service.poll_answer() {
        Some((answered, response)) if answered == query => response,
        other => panic!("{other:?}"),
    }
}

fn register(service: &mut Service, now: Instant, uid: u32, name: &str) -> Response {
    ask(service, now, uid, Request::Register(registration(name)))
}

fn unregister(service: &mut Service, now: Instant, uid: u32, name: &str) -> Response {
    ask(
        service,
        now,
        uid,
        Request::Unregister {
            name: name.parse().unwrap(),
        },
    )
}

#[track_caller]
fn assert_refused(response: Response, kind: ErrorKind, words: &str) {
    match response {
        Response::Error {
            kind: found,
            message,
        } => {
            assert_eq!(found, kind, "{message}");
            assert!(message.contains(words), "{message:?} lacks {words:?}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

fn owners(service: &mut Service, now: Instant) -> Vec<(String, u32)> {
    match ask(service, now, ROOT, Request::List) {
        Response::Registrations(list) => list
            .into_iter()
            .map(|info| (info.registration.name.to_string(), info.owner))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn registrations_are_persisted_with_their_owners_before_they_are_acknowledged() {
    let dir = StateDir::new();
    let now = Instant::now();
    {
        let mut service = open(&dir, now);
        assert!(matches!(
            register(&mut service, now, ALICE, "0.alice"),
            Response::Registered(info) if info.owner == ALICE
        ));
        register(&mut service, now, BOB, "0.bob");
        assert!(matches!(
            unregister(&mut service, now, BOB, "0.bob"),
            Response::Unregistered
        ));
    }
    // A new service on the same directory (as after kill -9) has exactly what was acknowledged.
    let mut service = open(&dir, now);
    assert_eq!(
        owners(&mut service, now),
        vec![("0.alice".to_owned(), ALICE)]
    );
    match ask_later(
        &mut service,
        now,
        BOB,
        Request::Resolve {
            name: "0.alice".parse().unwrap(),
        },
    ) {
        Response::Resolved(records) => {
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].source, Source::Local);
            assert_eq!(records[0].port, Some(80));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_write_changes_nothing_and_says_so() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    register(&mut service, now, ALICE, "0.kept");
    // The file cannot be replaced (a directory is in its place; root cannot do it either).
    let file = dir.path().join("registrations.json");
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("in-the-way"), b"x").unwrap();
    assert_refused(
        register(&mut service, now, ALICE, "0.new"),
        ErrorKind::Storage,
        "nothing changed",
    );
    assert_refused(
        unregister(&mut service, now, ALICE, "0.kept"),
        ErrorKind::Storage,
        "nothing changed",
    );
    assert_eq!(
        owners(&mut service, now),
        vec![("0.kept".to_owned(), ALICE)]
    );
    assert!(matches!(
        ask_later(
            &mut service,
            now,
            ALICE,
            Request::Resolve {
                name: "0.new".parse().unwrap()
            }
        ),
        Response::NotFound
    ));
}

#[test]
fn only_the_owner_or_root_changes_a_name() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    register(&mut service, now, ALICE, "0.mine");
    assert_refused(
        register(&mut service, now, BOB, "0.mine"),
        ErrorKind::NotOwner,
        "belongs to another user (uid 1000)",
    );
    assert_refused(
        unregister(&mut service, now, BOB, "0.mine"),
        ErrorKind::NotOwner,
        "only they or root",
    );
    // Anyone resolves it; its owner updates it; root's update keeps the owner.
    assert!(matches!(
        ask_later(
            &mut service,
            now,
            BOB,
            Request::Resolve {
                name: "0.mine".parse().unwrap()
            }
        ),
        Response::Resolved(_)
    ));
    assert!(matches!(
        register(&mut service, now, ALICE, "0.mine"),
        Response::Registered(_)
    ));
    assert!(matches!(
        register(&mut service, now, ROOT, "0.mine"),
        Response::Registered(info) if info.owner == ALICE
    ));
    assert_refused(
        unregister(&mut service, now, BOB, "0.nothing"),
        ErrorKind::NotRegistered,
        "not registered",
    );
    assert!(matches!(
        unregister(&mut service, now, ROOT, "0.mine"),
        Response::Unregistered
    ));
    // Ownership survives a restart.
    register(&mut service, now, BOB, "0.theirs");
    drop(service);
    let mut service = open(&dir, now);
    assert_refused(
        unregister(&mut service, now, ALICE, "0.theirs"),
        ErrorKind::NotOwner,
        "uid 1001",
    );
}

#[test]
fn each_user_has_a_quota_and_the_node_a_limit() {
    use pnrp_shared::ipc::{MAX_REGISTRATIONS, MAX_REGISTRATIONS_PER_USER};
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    for index in 0..MAX_REGISTRATIONS_PER_USER {
        let response = register(&mut service, now, ALICE, &format!("0.a{index}"));
        assert!(matches!(response, Response::Registered(_)), "{response:?}");
    }
    assert_refused(
        register(&mut service, now, ALICE, "0.one-too-many"),
        ErrorKind::Quota,
        "the most one user may",
    );
    // Re-registering one's own name is no new name; others still have their quota.
    assert!(matches!(
        register(&mut service, now, ALICE, "0.a0"),
        Response::Registered(_)
    ));
    assert!(matches!(
        register(&mut service, now, BOB, "0.b"),
        Response::Registered(_)
    ));
    // Root is bound only by the node's limit.
    let mut index = 0;
    while owners(&mut service, now).len() < MAX_REGISTRATIONS {
        register(&mut service, now, ROOT, &format!("0.r{index}"));
        index += 1;
    }
    assert_refused(
        register(&mut service, now, ROOT, "0.past-the-limit"),
        ErrorKind::BadRequest,
        "the most it may",
    );
}

#[test]
fn bad_registrations_are_refused_as_pnrpctl_refuses_them() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    let mut long_comment = registration("0.x");
    long_comment.comment = Some("x".repeat(79));
    assert_refused(
        ask(&mut service, now, ALICE, Request::Register(long_comment)),
        ErrorKind::BadRequest,
        "at most 78",
    );
    assert!(owners(&mut service, now).is_empty());
}

/// The authority of an identity the service answered with.
fn created(response: Response) -> String {
    match response {
        Response::Identities(list) if list.len() == 1 => list[0].authority.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn identities_belong_to_their_users() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    let alices = created(ask(
        &mut service,
        now,
        ALICE,
        Request::IdentityCreate { secret: None },
    ));
    let secured = format!("{alices}.web");
    // Only Alice (and root) may publish her secured names.
    assert_refused(
        register(&mut service, now, BOB, &secured),
        ErrorKind::NoIdentity,
        "secured name",
    );
    assert!(matches!(
        register(&mut service, now, ALICE, &secured),
        Response::Registered(_)
    ));
    // Bob sees none of her identities, and cannot export or delete them: they are "absent".
    assert!(matches!(
        ask(&mut service, now, BOB, Request::IdentityList),
        Response::Identities(list) if list.is_empty()
    ));
    for request in [
        Request::IdentityExport {
            authority: alices.clone(),
            secret: true,
        },
        Request::IdentityDelete {
            authority: alices.clone(),
        },
    ] {
        assert_refused(
            ask(&mut service, now, BOB, request),
            ErrorKind::NoIdentity,
            "no identity",
        );
    }
    // Bob cannot claim her key by importing it.
    let Response::IdentitySecret { secret, .. } = ask(
        &mut service,
        now,
        ALICE,
        Request::IdentityExport {
            authority: alices.clone(),
            secret: true,
        },
    ) else {
        panic!("no secret");
    };
    assert_refused(
        ask(
            &mut service,
            now,
            BOB,
            Request::IdentityCreate {
                secret: Some(secret),
            },
        ),
        ErrorKind::NotOwner,
        "another user's identity",
    );
    // While a name uses it, it stays.
    assert_refused(
        ask(
            &mut service,
            now,
            ALICE,
            Request::IdentityDelete {
                authority: alices.clone(),
            },
        ),
        ErrorKind::BadRequest,
        "unregister first",
    );
    unregister(&mut service, now, ALICE, &secured);
    assert!(matches!(
        ask(
            &mut service,
            now,
            ALICE,
            Request::IdentityDelete {
                authority: alices.clone()
            }
        ),
        Response::IdentityDeleted
    ));
    assert!(!dir
        .path()
        .join(format!("identities/{ALICE}/{alices}.pem"))
        .exists());
}

#[test]
fn identities_are_kept_in_the_state_directory_and_capped() {
    use crate::identity::MAX_IDENTITIES_PER_USER;
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    let mut made = Vec::new();
    for _ in 0..MAX_IDENTITIES_PER_USER {
        made.push(created(ask(
            &mut service,
            now,
            ALICE,
            Request::IdentityCreate { secret: None },
        )));
    }
    assert_refused(
        ask(
            &mut service,
            now,
            ALICE,
            Request::IdentityCreate { secret: None },
        ),
        ErrorKind::Quota,
        "the most one user may",
    );
    drop(service);
    let mut service = open(&dir, now);
    match ask(&mut service, now, ALICE, Request::IdentityList) {
        Response::Identities(list) => {
            let mut listed: Vec<String> = list.into_iter().map(|info| info.authority).collect();
            listed.sort();
            made.sort();
            assert_eq!(listed, made);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn traceroute_is_an_ordinary_request() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    // Without a cloud there is nothing to trace; the answer still comes through the engine.
    assert_eq!(
        ask_later(
            &mut service,
            now,
            ALICE,
            Request::Traceroute {
                name: "0.x".parse().unwrap()
            }
        ),
        Response::Trace(Vec::new())
    );
}

#[test]
fn status_counts_from_the_start() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    register(&mut service, now, ALICE, "0.one");
    match ask(
        &mut service,
        now + Duration::from_secs(42),
        BOB,
        Request::Status,
    ) {
        Response::Status(status) => {
            assert_eq!(status.uptime_secs, 42);
            assert_eq!(status.registrations, 1);
            assert_eq!(Path::new(&status.state_dir), dir.path());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reverse_lookups_name_registered_addresses() {
    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    register(&mut service, now, ALICE, "0.here");
    let address = ScopedAddr {
        ip: "fd70::1".parse().unwrap(),
        scope_id: 0,
    };
    assert!(matches!(
        ask(&mut service, now, BOB, Request::ResolveAddress { address }),
        Response::Names(names) if names.len() == 1
    ));
    let elsewhere = ScopedAddr {
        ip: "fd70::2".parse().unwrap(),
        scope_id: 0,
    };
    assert_eq!(
        ask(
            &mut service,
            now,
            BOB,
            Request::ResolveAddress { address: elsewhere }
        ),
        Response::NotFound
    );
}

#[test]
fn clouds_and_status_carry_size_and_reachability() {
    use pnrp_proto::cloud::{Cloud, CloudConfig, Reachability, WallClock};
    use pnrp_proto::engine::CloudScope;
    use pnrp_shared::ipc;

    let dir = StateDir::new();
    let now = Instant::now();
    let mut service = open(&dir, now);
    let config = CloudConfig {
        seed: 1,
        seeds: Vec::new(),
        key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        clock: WallClock {
            at: now,
            unix_secs: 1_700_000_000,
        },
        scope_id: 0,
        discovery: None,
    };
    service.engine_mut().add_cloud(
        now,
        "Global_".into(),
        CloudScope::Global,
        3540,
        Cloud::new(config, now),
    );
    match ask(&mut service, now, BOB, Request::Clouds) {
        Response::Clouds(clouds) => {
            assert_eq!(clouds.len(), 1);
            assert_eq!(clouds[0].name, "Global_");
            assert_eq!(clouds[0].estimated_size, None, "alone: no neighbour yet");
            assert_eq!(clouds[0].reachability, ipc::Reachability::Unknown);
        }
        other => panic!("{other:?}"),
    }
    match ask(&mut service, now, BOB, Request::Status) {
        Response::Status(status) => assert!(status.firewalled_clouds.is_empty()),
        other => panic!("{other:?}"),
    }
    for (engine, carried) in [
        (Reachability::Unknown, ipc::Reachability::Unknown),
        (Reachability::Reachable, ipc::Reachability::Reachable),
        (Reachability::Firewalled, ipc::Reachability::Firewalled),
    ] {
        assert_eq!(super::reachability(engine), carried);
    }
}
