//! The install/uninstall scripts and the nsswitch.conf editor, run against temporary trees.

use std::process::Command;

use pnrp_tests::harness::{describe, run_with_timeout};

#[test]
fn packaging_scripts() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/test.sh");
    let mut command = Command::new("bash");
    command.arg(script);
    let output = run_with_timeout(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", describe(&output));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
}

/// Every manual page, generated (pnrpd(8), pnrpctl(1) and a page per subcommand) or written by
/// hand (pnrpd.toml(5), nss-pnrp(8)), renders without a single groff warning.
#[test]
fn manual_pages_render_without_warnings() {
    let dir = pnrp_tests::harness::TempDir::new("manuals");
    let mut generate = Command::new(pnrp_tests::harness::multicall());
    generate.args(["pnrpctl", "generate-docs"]).arg(dir.path());
    let output = run_with_timeout(generate);
    assert!(output.status.success(), "{}", describe(&output));
    let mut pages: Vec<std::path::PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(std::path::PathBuf::from)
        .filter(|path| path.to_string_lossy().contains("/man/man"))
        .collect();
    let handwritten = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/man");
    for name in ["pnrpd.toml.5", "nss-pnrp.8"] {
        pages.push(std::path::Path::new(handwritten).join(name));
    }
    assert!(pages.len() > 10, "{pages:?}");
    for page in &pages {
        let mut groff = Command::new("groff");
        groff.args(["-man", "-ww", "-z"]).arg(page);
        let output = run_with_timeout(groff);
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{}: {}",
            page.display(),
            describe(&output)
        );
        let mut man = Command::new("man");
        man.arg("-l")
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_STDERR", "1");
        let output = run_with_timeout(man);
        assert!(
            output.status.success(),
            "man -l {}: {}",
            page.display(),
            describe(&output)
        );
        assert!(
            !output.stdout.is_empty(),
            "man -l {} printed nothing",
            page.display()
        );
    }
}
