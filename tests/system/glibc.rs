//! Through real glibc: getent, getaddrinfo and ping6 resolve `.pnrp.net` names via the NSS module
//! and a real pnrpd, inside mount namespaces with their own nsswitch.conf.

use std::time::{Duration, Instant};

use pnrp_tests::harness::{describe, multicall, nss_library, shared_copies, Sandbox};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn register_myapp(sandbox: &Sandbox) {
    sandbox.ctl_ok(&[
        "register",
        "0.myapp",
        "--address",
        "fd70::1",
        "--address",
        "192.0.2.44",
        "--address",
        "fe80::99%lo",
    ]);
}

#[test]
fn getent_ahosts_hosts_and_ahostsv4() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);

    let output = sandbox.run_inside(false, "getent", &["ahosts", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    for address in ["fd70::1", "192.0.2.44", "fe80::99"] {
        assert!(text.contains(address), "{address} missing: {text}");
    }
    assert!(
        text.contains("0.myapp.pnrp.net"),
        "canonical name missing: {text}"
    );

    let output = sandbox.run_inside(false, "getent", &["ahostsv4", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    assert!(
        text.contains("192.0.2.44") && !text.contains("fd70"),
        "{text}"
    );

    // `getent hosts` asks AF_INET6 first.
    let output = sandbox.run_inside(false, "getent", &["hosts", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("0.myapp.pnrp.net"),
        "{}",
        describe(&output)
    );

    // Windows form, trailing dot and suffix case.
    for host in ["myapp.pnrp.net", "0.myapp.PNRP.NET.", "MYAPP.pnrp.net"] {
        let output = sandbox.run_inside(false, "getent", &["ahosts", host]);
        if host == "MYAPP.pnrp.net" {
            // Classifiers are case-sensitive: 0.MYAPP is another name.
            assert_eq!(
                output.status.code(),
                Some(2),
                "{host}: {}",
                describe(&output)
            );
        } else {
            assert!(
                stdout(&output).contains("fd70::1"),
                "{host}: {}",
                describe(&output)
            );
        }
    }
}

#[test]
fn getaddrinfo_families_and_scope_ids() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);

    let output = sandbox.gai(&["lookup", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("inet6 fd70::1 0"), "{text}");
    assert!(text.contains("inet 192.0.2.44"), "{text}");
    assert!(
        text.contains("inet6 fe80::99 1"),
        "link-local must carry lo's index: {text}"
    );

    let text = stdout(&sandbox.gai(&["lookup", "0.myapp.pnrp.net", "inet"]));
    assert_eq!(text.trim(), "inet 192.0.2.44");
    let text = stdout(&sandbox.gai(&["lookup", "0.myapp.pnrp.net", "inet6"]));
    assert!(
        text.contains("fd70::1") && text.contains("fe80::99") && !text.contains("inet "),
        "{text}"
    );

    // A v6-only record asked for IPv4: no data, not a DNS leak.
    sandbox.ctl_ok(&["register", "0.v6only", "--address", "fd70::2"]);
    let text = stdout(&sandbox.gai(&["lookup", "0.v6only.pnrp.net", "inet"]));
    assert!(
        text.starts_with("error EAI_NO") || text.starts_with("error EAI_NODATA"),
        "{text}"
    );
}

#[test]
fn unknown_names_fail_without_dns() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let output = sandbox.gai(&["lookup", "0.nobody.pnrp.net"]);
    assert_eq!(
        stdout(&output).trim(),
        "error EAI_NONAME",
        "{}",
        describe(&output)
    );
    let output = sandbox.run_inside(false, "getent", &["ahosts", "0.nobody.pnrp.net"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    // Not a peer name at all (bad authority): not found, and the daemon is not even asked.
    let output = sandbox.gai(&["lookup", "1.bad.x.pnrp.net"]);
    assert!(
        stdout(&output).starts_with("error EAI_NONAME"),
        "{}",
        describe(&output)
    );
}

#[test]
fn other_names_are_unaffected() {
    // pnrp first, daemon down: a name outside .pnrp.net must pass on to `files` untouched.
    let sandbox = Sandbox::new("hosts: pnrp [!UNAVAIL=return] files");
    let output = sandbox.run_inside(false, "getent", &["hosts", "lab-router"]);
    assert!(
        stdout(&output).contains("198.51.100.7"),
        "{}",
        describe(&output)
    );
    let output = sandbox.gai(&["lookup", "lab-router"]);
    assert_eq!(
        stdout(&output).trim(),
        "inet 198.51.100.7",
        "{}",
        describe(&output)
    );
}

#[test]
fn daemon_down_is_try_again_at_once() {
    let sandbox = Sandbox::standard();
    let started = Instant::now();
    let output = sandbox.gai(&["lookup", "0.myapp.pnrp.net"]);
    let elapsed = started.elapsed();
    assert_eq!(
        stdout(&output).trim(),
        "error EAI_AGAIN",
        "{}",
        describe(&output)
    );
    // Includes creating the namespaces; the lookup itself is microseconds (see the benchmark).
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // And the name did not go on to DNS: getent reports a temporary failure.
    let output = sandbox.run_inside(false, "getent", &["ahosts", "0.myapp.pnrp.net"]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn stalled_daemon_is_try_again_after_the_deadline() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    register_myapp(&sandbox);
    daemon.signal(libc::SIGSTOP);
    let started = Instant::now();
    // A name this machine does not publish: the daemon's snapshot cannot answer it, the socket
    // must (tests/system/snapshot.rs: a local name is answered even by a frozen daemon).
    let output = sandbox.gai(&["lookup", "0.elsewhere.pnrp.net"]);
    let elapsed = started.elapsed();
    daemon.signal(libc::SIGCONT);
    assert_eq!(
        stdout(&output).trim(),
        "error EAI_AGAIN",
        "{}",
        describe(&output)
    );
    assert!(
        elapsed >= Duration::from_secs(4),
        "gave up too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(9),
        "default deadline is 5 s in all: {elapsed:?}"
    );
    // Resumed, it answers again.
    let output = sandbox.gai(&["lookup", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn forty_eight_addresses_make_glibc_grow_its_buffer() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let addresses: Vec<String> = (1..=48).map(|index| format!("fd70::{index:x}")).collect();
    let mut args = vec!["register", "0.many"];
    for address in &addresses {
        args.extend(["--address", address.as_str()]);
    }
    sandbox.ctl_ok(&args);
    let output = sandbox.gai(&["lookup", "0.many.pnrp.net", "inet6"]);
    let lines: Vec<_> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 48, "{}", describe(&output));
    for address in &addresses {
        assert!(lines.contains(&format!("inet6 {address} 0")), "{address}");
    }
    let output = sandbox.run_inside(false, "getent", &["ahosts", "0.many.pnrp.net"]);
    for address in &addresses {
        assert!(
            stdout(&output).contains(&format!("{address} ")),
            "{address}"
        );
    }
}

#[test]
fn every_buffer_length_through_gethostbyname2_r() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let mut args = vec!["register", "0.sweep"];
    let addresses: Vec<String> = (1..=5).map(|index| format!("fd70::{index}")).collect();
    for address in &addresses {
        args.extend(["--address", address.as_str()]);
    }
    args.extend(["--address", "192.0.2.9"]);
    sandbox.ctl_ok(&args);

    let output = sandbox.gai(&["sweep", "0.sweep.pnrp.net", "inet6"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("name 0.sweep.pnrp.net"), "{text}");
    for address in &addresses {
        assert!(
            text.contains(&format!("address {address}\n")),
            "{address}: {text}"
        );
    }
    let output = sandbox.gai(&["sweep", "0.sweep.pnrp.net", "inet"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("address 192.0.2.9\n"),
        "{}",
        describe(&output)
    );
}

#[test]
fn long_and_non_ascii_classifiers() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let long = format!("0.{}", "l".repeat(149));
    for (name, address) in [
        (long.as_str(), "fd70::a"),
        ("0.café", "fd70::b"),
        ("0.日本語.lab", "fd70::c"),
    ] {
        sandbox.ctl_ok(&["register", name, "--address", address]);
        let host = format!("{name}.pnrp.net");
        let output = sandbox.gai(&["lookup", &host]);
        assert_eq!(
            stdout(&output).trim(),
            format!("inet6 {address} 0"),
            "{}",
            describe(&output)
        );
        let output = sandbox.run_inside(false, "getent", &["ahosts", &host]);
        assert!(
            stdout(&output).contains(address),
            "{host}: {}",
            describe(&output)
        );
    }
    // Programs that apply IDNA send punycode; Python does for every str host name.
    let output = sandbox.run_inside(
        false,
        "python3",
        &[
            "-c",
            "import socket; print(socket.getaddrinfo('0.café.pnrp.net', None)[0][4][0])",
        ],
    );
    assert_eq!(stdout(&output).trim(), "fd70::b", "{}", describe(&output));
}

#[test]
fn many_threads_at_once() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);
    let output = sandbox.gai(&["threads", "0.myapp.pnrp.net", "32", "50"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).starts_with("ok 1600 failed 0 answer true"),
        "{}",
        describe(&output)
    );
}

#[test]
fn lookup_after_fork() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);
    let output = sandbox.gai(&["fork", "0.myapp.pnrp.net"]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("child_ok true"),
        "{}",
        describe(&output)
    );
}

#[test]
fn reverse_lookup() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);
    let output = sandbox.gai(&["reverse", "fd70::1"]);
    assert_eq!(
        stdout(&output).trim(),
        "name 0.myapp.pnrp.net",
        "{}",
        describe(&output)
    );
    let output = sandbox.gai(&["reverse", "192.0.2.44"]);
    assert_eq!(
        stdout(&output).trim(),
        "name 0.myapp.pnrp.net",
        "{}",
        describe(&output)
    );
    let output = sandbox.run_inside(false, "getent", &["hosts", "fd70::1"]);
    assert!(
        stdout(&output).contains("0.myapp.pnrp.net"),
        "{}",
        describe(&output)
    );
    let output = sandbox.gai(&["reverse", "fd70::77"]);
    assert!(
        stdout(&output).starts_with("error"),
        "{}",
        describe(&output)
    );
}

#[test]
fn ping6_by_peer_name() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.myapp", "--address", "::1"]);
    // A fresh network namespace: only its own loopback exists, so nothing leaves the machine.
    let output = sandbox.run_inside(
        true,
        "ping",
        &["-6", "-c", "1", "-W", "5", "0.myapp.pnrp.net"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("1 received"),
        "{}",
        describe(&output)
    );
}

#[test]
fn valgrind_clean_getent() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    register_myapp(&sandbox);
    // A local name comes from the daemon's snapshot; a name this machine does not publish goes
    // through the socket (getent's exit status 2: not found; 99 would be a valgrind error).
    let output = sandbox.valgrind_getent("0.elsewhere.pnrp.net");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = sandbox.valgrind_getent("0.myapp.pnrp.net");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stdout(&output).contains("fd70::1"), "{}", describe(&output));
}

/// CI runs as root; this proves the same tests also pass for an ordinary user through
/// unprivileged user namespaces, by running one of them again as `nobody`.
#[test]
fn also_passes_unprivileged() {
    if !pnrp_tests::harness::is_root() {
        println!("not root: every test in this file already ran through user namespaces");
        return;
    }
    // Copies nobody can run (the build directory may be private): this test binary, the
    // multi-call binary, and the module beside them where `nss_library` looks.
    let exe = std::env::current_exe().unwrap();
    let library = nss_library();
    let copies = shared_copies(&[&exe, &multicall(), &library]);
    let mut command = std::process::Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(copies.path().join(exe.file_name().unwrap()))
        .args([
            "--exact",
            "getaddrinfo_families_and_scope_ids",
            "--nocapture",
        ])
        .env("TMPDIR", "/tmp")
        .env("PNRP_TEST_MULTICALL", copies.path().join("pnrp-multicall"));
    let output = pnrp_tests::harness::run_with_timeout(command);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout(&output).contains("test result: ok. 1 passed"),
        "{}",
        describe(&output)
    );
}
