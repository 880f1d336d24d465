//! The layers hold, as `cargo tree` shows them: the protocol crate stays sans-IO (no runtime, no
//! sockets, no libc, no command line, no JSON, no log output), and the daemon ships no test
//! support (neither this crate nor the protocol crate's `testing` and `fuzzing` features).

use std::process::Command;

/// `cargo tree ARGS` for this workspace, one line per crate (or feature), without the tree's
/// drawing.
fn cargo_tree(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "--prefix", "none", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .args(args)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn crate_names(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

#[test]
fn the_protocol_crate_is_sans_io() {
    let tree = cargo_tree(&["-p", "pnrp-proto", "-e", "normal"]);
    let names = crate_names(&tree);
    assert!(names.contains(&"ed25519-dalek"), "{names:?}");
    for forbidden in [
        "tokio",
        "mio",
        "libc",
        "socket2",
        "clap",
        "serde_json",
        "tracing",
        "tracing-subscriber",
    ] {
        assert!(
            !names.contains(&forbidden),
            "pnrp-proto depends on {forbidden}:\n{}",
            tree.join("\n")
        );
    }
}

#[test]
fn the_daemon_ships_no_test_support() {
    let tree = cargo_tree(&["-p", "pnrpd", "-e", "normal"]);
    let names = crate_names(&tree);
    assert!(
        names.contains(&"pnrp-proto") && names.contains(&"tokio"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"pnrp-tests"),
        "pnrpd depends on the test support:\n{}",
        tree.join("\n")
    );
    let features = cargo_tree(&["-p", "pnrpd", "-e", "features", "-i", "pnrp-proto"]);
    for feature in ["\"testing\"", "\"fuzzing\""] {
        assert!(
            !features.iter().any(|line| line.contains(feature)),
            "pnrpd builds pnrp-proto with feature {feature}:\n{}",
            features.join("\n")
        );
    }
    // Nor its own DNS fuzz entry point.
    let own = cargo_tree(&["-p", "pnrpd", "-e", "features", "-i", "pnrpd"]);
    assert!(
        !own.iter().any(|line| line.contains("\"fuzzing\"")),
        "pnrpd is built with its feature fuzzing:\n{}",
        own.join("\n")
    );
    // The shared crate's fuzz entry points stay out of the daemon and of the NSS module.
    for package in ["pnrpd", "nss_pnrp"] {
        let features = cargo_tree(&["-p", package, "-e", "features", "-i", "pnrp-shared"]);
        assert!(
            !features.iter().any(|line| line.contains("\"fuzzing\"")),
            "{package} builds pnrp-shared with feature fuzzing:\n{}",
            features.join("\n")
        );
    }
}
