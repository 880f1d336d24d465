//! `fork` with the snapshot kept by the NSS module (`nss_pnrp/src/snapshot.rs`): the child answers
//! from what the parent kept while the file is unchanged, and notices when it is replaced; the
//! parent then notices too. A test binary of its own, with a single test and no helper thread
//! (the "daemon" is a bound socket nobody serves), so that nothing holds a lock when it forks.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use nss_pnrp::{Config, NssStatus};
use pnrp_shared::snapshot;
use pnrp_shared::{PeerName, ScopedAddr};

use pnrp_tests::fake_daemon::v6;
use pnrp_tests::nss_buffer::*;
use pnrp_tests::nss_calls::*;

const LOCAL: &str = "0.web.pnrp.net";

fn install(path: &Path, address: &str) {
    let web: PeerName = "0.web".parse().unwrap();
    let addresses: [ScopedAddr; 1] = [v6(address, 0)];
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, snapshot::encode([(&web, &addresses[..])])).unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// The one address gethostbyname4 gives for [`LOCAL`], or its status. The socket is never
/// served: asking it is a TRYAGAIN after the short deadline.
fn lookup(config: &Config) -> Result<String, NssStatus> {
    let mut buffer = Guarded::new(4096);
    let answer = byname4(|| config.clone(), LOCAL.as_bytes(), &mut buffer);
    if answer.status != NssStatus::Success {
        return Err(answer.status);
    }
    // SAFETY: success leaves a valid tuple in *pat.
    let tuples = read_tuples(&buffer, unsafe { &*answer.result });
    Ok(format!("{tuples:?}"))
}

fn expected(address: &str) -> Result<String, NssStatus> {
    Ok(format!("{:?}", vec![Tuple::v6(LOCAL, address, 0)]))
}

#[test]
fn a_child_uses_the_kept_snapshot_and_notices_a_new_one() {
    let dir = std::env::temp_dir().join(format!("pnrp-fork-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("pnrpd.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let config = Config {
        snapshot: Some(snapshot::path_for(&socket)),
        socket_path: socket.clone(),
        timeout: Duration::from_millis(200),
    };
    let path = snapshot::path_for(&socket);
    install(&path, "fd00::1");
    assert_eq!(lookup(&config), expected("fd00::1"), "before the fork");
    // SAFETY: this process runs no other thread of ours; the child only resolves, writes a file
    // and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let code = if lookup(&config) != expected("fd00::1") {
            1
        } else {
            install(&path, "fd00::2");
            if lookup(&config) != expected("fd00::2") {
                2
            } else {
                0
            }
        };
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    assert!(child > 0, "fork failed");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: waiting for the child we forked, without blocking.
        let waited = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        if waited == child {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: the child we forked.
            unsafe { libc::kill(child, libc::SIGKILL) };
            panic!("the child hung (a lock held across fork?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "1: the child did not answer from the kept snapshot; 2: it missed the new one"
    );
    assert_eq!(
        lookup(&config),
        expected("fd00::2"),
        "the parent missed the snapshot its child installed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
