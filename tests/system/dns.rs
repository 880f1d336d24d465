//! The DNS front end with real clients in network namespaces (`scripts/dns-hosts.sh`): dig for
//! every record type and negative answer, TCP and truncation, letter case; dnsmasq forwarding
//! pnrp.net to pnrpd; a static musl program and a Go program without cgo resolving a name
//! published on another host; hostile queries from an allowed peer.
//!
//! The two client programs are built once and kept in `target/tmp/dns-clients/` (Go's build
//! cache too), so that a second run costs nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use pnrp_tests::harness::{describe, run_host_scenario, run_with_timeout};

/// `target/tmp/dns-clients`.
fn clients_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/dns-clients");
    std::fs::create_dir_all(&dir).expect("create target/tmp/dns-clients");
    dir
}

/// Runs `command` (a compiler), failing the test with its output if it fails or is missing.
fn build(mut command: Command, what: &str) {
    command.current_dir(clients_dir());
    let output = run_with_timeout(command);
    assert!(
        output.status.success(),
        "building {what} failed (tests/system.sh installs musl-tools and golang-go): {}",
        describe(&output)
    );
}

#[test]
fn real_clients_resolve_through_the_dns_front_end() {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dns");
    let dir = clients_dir();
    let gai = dir.join("gai-musl");
    let mut musl = Command::new("musl-gcc");
    musl.args(["-static", "-O2", "-o"])
        .arg(&gai)
        .arg(sources.join("gai.c"));
    build(musl, "the static musl program");
    let lookup = dir.join("lookup-go");
    let mut go = Command::new("go");
    go.args(["build", "-o"])
        .arg(&lookup)
        .arg(sources.join("lookup.go"))
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOPATH", dir.join("go-path"))
        .env("GO111MODULE", "off");
    build(go, "the Go program");
    let report = run_host_scenario(
        "dns-hosts.sh",
        &[gai.to_str().unwrap(), lookup.to_str().unwrap()],
    );
    assert!(report.contains("figure: pnrpd resident memory"), "{report}");
}
