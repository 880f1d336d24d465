//! The NSS module reading the daemon's snapshot of local names (`nss_pnrp/src/snapshot.rs`),
//! against a fake daemon that answers other addresses, so every answer tells where it came from:
//! a local name never reaches the socket; every doubtful snapshot (untrusted owner or mode, cut
//! short, oversized, another version, a symlink, a FIFO) is ignored and the socket answers;
//! glibc's buffer contract holds for snapshot answers; threads read it while it is replaced; the
//! snapshot the module keeps between lookups is dropped as soon as the file is replaced,
//! rewritten, or stops being trustworthy. (Fork with the snapshot kept: nss_snapshot_fork.rs.)

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nss_pnrp::{Config, GaihAddrtuple, NssStatus, NO_DATA};
use pnrp_shared::ipc::Response;
use pnrp_shared::snapshot::{self, MAX_SNAPSHOT_LEN};
use pnrp_shared::{PeerName, ScopedAddr};

use pnrp_tests::fake_daemon::*;
use pnrp_tests::nss_buffer::*;
use pnrp_tests::nss_calls::*;

const LOCAL: &str = "0.web.pnrp.net";

/// A fake daemon answering every resolve with fd00::d (the socket's answer) and no snapshot yet.
fn daemon() -> FakeDaemon {
    FakeDaemon::answering(
        Response::Resolved(vec![record("0.web", vec![v6("fd00::d", 0)])]),
        Response::NotFound,
    )
}

/// A snapshot in which 0.web is at `addresses` (and 0.v4only at an IPv4 address).
fn snapshot_bytes(addresses: &[ScopedAddr]) -> Vec<u8> {
    let web: PeerName = "0.web".parse().unwrap();
    let v4only: PeerName = "0.v4only".parse().unwrap();
    let v4 = [v4("192.0.2.9")];
    snapshot::encode([(&v4only, &v4[..]), (&web, addresses)])
}

fn local_addresses() -> Vec<ScopedAddr> {
    vec![v6("fd00::1", 0), v4("192.0.2.1"), v6("fe80::1", 3)]
}

/// Writes the snapshot as the daemon does: mode 0644, replaced by rename.
fn install(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// gethostbyname4 of `name`: the tuples, or the failed answer's status.
fn tuples(config: Config, name: &str) -> Result<Vec<Tuple>, NssStatus> {
    let mut buffer = Guarded::new(64 * 1024);
    let answer = byname4(|| config, name.as_bytes(), &mut buffer);
    assert!(buffer.guards_intact());
    if answer.status != NssStatus::Success {
        return Err(answer.status);
    }
    // SAFETY: success leaves a valid tuple in *pat.
    Ok(read_tuples(&buffer, unsafe { &*answer.result }))
}

fn from_the_socket() -> Vec<Tuple> {
    vec![Tuple::v6(LOCAL, "fd00::d", 0)]
}

fn from_the_snapshot() -> Vec<Tuple> {
    vec![
        Tuple::v6(LOCAL, "fd00::1", 0),
        Tuple::v4(LOCAL, "192.0.2.1"),
        Tuple::v6(LOCAL, "fe80::1", 3),
    ]
}

#[test]
fn a_local_name_is_answered_from_the_snapshot_without_asking() {
    let daemon = daemon();
    install(&daemon.snapshot_path(), &snapshot_bytes(&local_addresses()));
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(from_the_snapshot())
    );
    assert!(daemon.requests().is_empty(), "the socket was asked");
    // Per family, through gethostbyname3: IPv4 unmapped, IPv6 without the mapped ones.
    let mut buffer = Guarded::new(4096);
    let answer = byname3(
        || daemon.config_with_snapshot(),
        LOCAL.as_bytes(),
        libc::AF_INET,
        &mut buffer,
    );
    assert_eq!(answer.status, NssStatus::Success);
    assert_eq!(
        read_hostent(&buffer, &answer.result.0).addresses,
        [octets4("192.0.2.1")]
    );
    let answer = byname3(
        || daemon.config_with_snapshot(),
        b"0.v4only.pnrp.net",
        libc::AF_INET6,
        &mut buffer,
    );
    answer.assert_failed(NssStatus::NotFound, libc::ENOENT, NO_DATA);
    assert!(daemon.requests().is_empty(), "the socket was asked");
    // A name this machine does not publish is the daemon's to answer.
    assert_eq!(
        tuples(daemon.config_with_snapshot(), "0.elsewhere.pnrp.net"),
        Ok(vec![Tuple::v6("0.elsewhere.pnrp.net", "fd00::d", 0)])
    );
    assert_eq!(daemon.requests().len(), 1);
    // Without a snapshot configured, the socket answers local names too.
    assert_eq!(tuples(daemon.config(), LOCAL), Ok(from_the_socket()));
}

#[test]
fn doubtful_snapshots_are_ignored_and_the_socket_answers() {
    let good = snapshot_bytes(&local_addresses());
    let mut other_version = good.clone();
    other_version[8] = 2;
    let mut oversized = good.clone();
    oversized.resize(MAX_SNAPSHOT_LEN + 1, 0);
    let mut with_trailing_byte = good.clone();
    with_trailing_byte.push(0);
    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xff;
    type Plant = Box<dyn Fn(&Path)>;
    let write = |bytes: Vec<u8>, mode: u32| -> Plant {
        Box::new(move |path: &Path| {
            install(path, &bytes);
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        })
    };
    let good_elsewhere = good.clone();
    let cases: Vec<(&str, Plant)> = vec![
        ("group-writable", write(good.clone(), 0o664)),
        ("world-writable", write(good.clone(), 0o666)),
        ("cut short", write(good[..good.len() - 1].to_vec(), 0o644)),
        (
            "cut to its header",
            write(good[..snapshot::HEADER_LEN].to_vec(), 0o644),
        ),
        ("oversized", write(oversized, 0o644)),
        ("of another version", write(other_version, 0o644)),
        ("with a bad magic", write(bad_magic, 0o644)),
        ("longer than it says", write(with_trailing_byte, 0o644)),
        (
            "a symlink to a good one",
            Box::new(move |path: &Path| {
                let target = path.with_extension("real");
                install(&target, &good_elsewhere);
                std::os::unix::fs::symlink(&target, path).unwrap();
            }),
        ),
        (
            "a FIFO (must not block the open)",
            Box::new(|path: &Path| {
                let path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
            }),
        ),
        (
            "a directory",
            Box::new(|path: &Path| std::fs::create_dir(path).unwrap()),
        ),
    ];
    for (case, plant) in cases {
        let daemon = daemon();
        plant(&daemon.snapshot_path());
        let started = Instant::now();
        assert_eq!(
            tuples(daemon.config_with_snapshot(), LOCAL),
            Ok(from_the_socket()),
            "a snapshot {case}"
        );
        assert_eq!(daemon.requests().len(), 1, "a snapshot {case}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a snapshot {case}"
        );
    }
}

#[test]
fn another_users_snapshot_is_ignored() {
    let daemon = daemon();
    let path = daemon.snapshot_path();
    install(&path, &snapshot_bytes(&local_addresses()));
    // SAFETY: plain system call.
    if unsafe { libc::geteuid() } == 0 {
        // The socket is root's: a snapshot given to nobody is not the daemon's.
        let name = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::chown(name.as_ptr(), 65534, 65534) }, 0);
        assert_eq!(
            tuples(daemon.config_with_snapshot(), LOCAL),
            Ok(from_the_socket())
        );
        assert_eq!(daemon.requests().len(), 1);
    } else {
        // Unprivileged, the snapshot cannot be given away; a socket path of root's (here `/`,
        // where no daemon answers) makes it another user's snapshot all the same.
        let config = Config {
            socket_path: "/".into(),
            ..daemon.config_with_snapshot()
        };
        assert_eq!(tuples(config, LOCAL), Err(NssStatus::TryAgain));
    }
}

#[test]
fn snapshot_answers_keep_glibcs_buffer_contract() {
    let daemon = daemon();
    let (addresses, expected) = forty_eight_addresses(LOCAL);
    install(&daemon.snapshot_path(), &snapshot_bytes(&addresses));
    let needed = sweep_byname4(|| daemon.config_with_snapshot(), LOCAL, &expected);
    let tuple_bytes = expected.len() * std::mem::size_of::<GaihAddrtuple>();
    assert!(needed >= LOCAL.len() + 1 + tuple_bytes, "{needed}");
    sweep(
        |buffer| {
            byname3(
                || daemon.config_with_snapshot(),
                LOCAL.as_bytes(),
                libc::AF_INET6,
                buffer,
            )
        },
        |(host, _)| host.h_name.is_null(),
        |buffer, (host, _)| assert_eq!(read_hostent(buffer, host).addresses.len(), 32),
    );
    assert!(daemon.requests().is_empty());
}

#[test]
fn threads_read_the_snapshot_while_it_is_replaced() {
    let daemon = Arc::new(daemon());
    let path = daemon.snapshot_path();
    let first = snapshot_bytes(&local_addresses());
    let second = snapshot_bytes(&[v6("fd00::2", 0)]);
    install(&path, &first);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut flips = 0;
            while !stop.load(Ordering::Relaxed) {
                install(&path, if flips % 2 == 0 { &second } else { &first });
                flips += 1;
            }
            flips
        })
    };
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let daemon = daemon.clone();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    let found = tuples(daemon.config_with_snapshot(), LOCAL).unwrap();
                    assert!(
                        found == from_the_snapshot() || found == [Tuple::v6(LOCAL, "fd00::2", 0)],
                        "a mix or a stale read: {found:?}"
                    );
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    assert!(daemon.requests().is_empty(), "a rename made a reader doubt");
}

/// 0.web at three addresses other than [`local_addresses`], as many: a snapshot of the same size.
fn same_size_addresses() -> Vec<ScopedAddr> {
    vec![v6("fd00::7", 0), v4("192.0.2.7"), v6("fe80::7", 3)]
}

fn tuples_of(addresses: &[ScopedAddr]) -> Vec<Tuple> {
    addresses
        .iter()
        .map(|address| match address.ipv4() {
            Some(ip) => Tuple::v4(LOCAL, &ip.to_string()),
            None => Tuple::v6(LOCAL, &address.ip.to_string(), address.scope_id),
        })
        .collect()
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().ino()
}

#[test]
fn a_kept_snapshot_is_dropped_when_the_file_is_replaced_or_rewritten() {
    let daemon = daemon();
    let path = daemon.snapshot_path();
    install(&path, &snapshot_bytes(&local_addresses()));
    for _ in 0..2 {
        // The second is answered from what the first kept.
        assert_eq!(
            tuples(daemon.config_with_snapshot(), LOCAL),
            Ok(from_the_snapshot())
        );
    }
    // Replaced (a new inode, as the daemon does it), of the same size.
    let before = inode(&path);
    install(&path, &snapshot_bytes(&same_size_addresses()));
    assert_ne!(inode(&path), before, "not replaced");
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(tuples_of(&same_size_addresses()))
    );
    // Rewritten in place (the same inode), of the same size, with a modification time of its
    // own (as every snapshot the daemon writes has).
    let before = inode(&path);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let rewritten = [v6("fd00::8", 0), v4("192.0.2.8"), v6("fe80::8", 3)];
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Write::write_all(&mut file, &snapshot_bytes(&rewritten)).unwrap();
    file.set_modified(modified + Duration::from_nanos(1))
        .unwrap();
    drop(file);
    assert_eq!(inode(&path), before, "not rewritten in place");
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(tuples_of(&rewritten))
    );
    // Made group-writable: no longer trusted, kept or not.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(from_the_socket())
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(tuples_of(&rewritten))
    );
    // Removed (the daemon stopped): the socket answers.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        tuples(daemon.config_with_snapshot(), LOCAL),
        Ok(from_the_socket())
    );
    assert_eq!(daemon.requests().len(), 2);
}
