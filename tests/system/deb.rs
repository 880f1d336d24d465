//! The Debian packages and the service they ship: `packaging/deb.sh` builds pnrpd and
//! libnss-pnrp and lintian passes them; `packaging/deb-test.sh` installs, runs, upgrades,
//! removes and purges them in a fresh Debian 12 tree (debootstrap); the unit's exposure by
//! `systemd-analyze security --offline=yes` is at most 1.5.

use std::process::Command;
use std::time::Instant;

use pnrp_tests::harness::{describe, run_with_timeout, run_within, TempDir};

const PACKAGING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging");

/// The build compiles the release programs (minutes on two cores), debootstrap fetches a base
/// system from the mirror (about a minute).
const LIMIT_SECS: u64 = 1500;

#[test]
fn packages_build_pass_lintian_and_install_upgrade_remove_purge_in_debian_12() {
    // debootstrap waits on the mirror while cargo compiles: both at once. The tree goes where
    // deb-test.sh works (/var/tmp), so that it moves in rather than being copied.
    let tree = std::path::PathBuf::from(format!("/var/tmp/pnrp-deb-tree.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    let making = {
        let tree = tree.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut command = Command::new(format!("{PACKAGING}/deb-test.sh"));
            command.arg("--make-tree").arg(&tree);
            (run_within(command, LIMIT_SECS), started.elapsed())
        })
    };
    let started = Instant::now();
    let output = run_within(Command::new(format!("{PACKAGING}/deb.sh")), LIMIT_SECS);
    let built = started.elapsed();
    let (made, debootstrap) = making.join().unwrap();
    if !made.status.success() || !output.status.success() {
        let _ = std::fs::remove_dir_all(&tree);
    }
    assert!(made.status.success(), "debootstrap: {}", describe(&made));
    assert!(output.status.success(), "deb.sh: {}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("lintian: no error, no warning"), "{stdout}");

    let started = Instant::now();
    let mut command = Command::new(format!("{PACKAGING}/deb-test.sh"));
    command.arg("--tree").arg(&tree);
    let output = run_within(command, LIMIT_SECS);
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "deb.sh took {:.0} s, debootstrap meanwhile {:.0} s; then deb-test.sh {:.0} s:\n{stdout}",
        built.as_secs_f64(),
        debootstrap.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "deb-test.sh: {}",
        describe(&output)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
}

/// The unit as shipped (PREFIX /usr), scored by systemd's own assessment.
#[test]
fn unit_exposure_is_at_most_1_5() {
    let dir = TempDir::new("unit");
    let unit = dir.path().join("pnrpd.service");
    let template = std::fs::read_to_string(format!("{PACKAGING}/pnrpd.service.in")).unwrap();
    std::fs::write(&unit, template.replace("@PREFIX@", "/usr")).unwrap();
    let mut command = Command::new("systemd-analyze");
    command.args(["security", "--offline=yes"]).arg(&unit);
    let output = run_with_timeout(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.contains("Overall exposure level for pnrpd.service:"))
        .unwrap_or_else(|| panic!("no overall exposure: {}", describe(&output)));
    let exposure: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the figure in {line:?}"));
    eprintln!("{line}");
    assert!(exposure <= 1.5, "{stdout}");
}
