//! The NSS module under valgrind against hostile daemons: real programs (`getent` and the
//! `gai` program of pnrp-multicall) load libnss_pnrp.so.2 through glibc inside a sandbox whose
//! `/run/pnrp/pnrpd.sock` is a fake daemon that answers garbage, trickles its answer byte by byte,
//! announces or sends a huge frame, closes mid-frame or stalls. Each lookup must fail cleanly
//! (`EAI_AGAIN`, a temporary failure) within the deadline, and valgrind must report no error and
//! no definite leak.
//!
//! The fake daemon and its hostile answers are the ones the module's own tests use
//! (`pnrp_tests::fake_daemon`, `tests/nss.rs`).

use std::os::unix::fs::symlink;
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pnrp_shared::ipc::encode_frame;
use pnrp_tests::fake_daemon::{hostile_replies, three_addresses, Ends, FakeDaemon, Hostile, Reply};
use pnrp_tests::harness::{describe, Sandbox};

const NAME: &str = "0.myapp.pnrp.net";
/// The module's deadline for the whole exchange (`PNRP_TIMEOUT_MS`).
const DEADLINE: Duration = Duration::from_millis(4000);
/// Exit status valgrind gives a program in which it found an error.
const VALGRIND_ERROR: i32 = 99;

/// How much longer than the deadline a lookup that waits for it may take (gai measures the
/// lookup itself, after a first one has loaded the module).
const SLACK: Duration = Duration::from_millis(2000);
/// getent is timed from outside, valgrind's start-up included (measured against an absent
/// daemon, which fails at once): only a hang past deadline and this much is caught there.
const OUTSIDE_SLACK: Duration = Duration::from_millis(8000);

fn frame() -> Vec<u8> {
    encode_frame(&three_addresses()).unwrap()
}

/// Runs `program ARGS` under valgrind inside `sandbox`, with the module's deadline set.
fn valgrind(sandbox: &Sandbox, program: &str, args: &[&str]) -> (Output, Duration) {
    let timeout = format!("PNRP_TIMEOUT_MS={}", DEADLINE.as_millis());
    let error_exitcode = format!("--error-exitcode={VALGRIND_ERROR}");
    let mut full = vec![
        timeout.as_str(),
        "valgrind",
        "-q",
        &error_exitcode,
        "--errors-for-leak-kinds=definite",
        "--leak-check=full",
        program,
    ];
    full.extend_from_slice(args);
    let started = Instant::now();
    let output = sandbox.run_inside(false, "env", &full);
    (output, started.elapsed())
}

/// Valgrind's own lines (`==PID== …`): with `-q`, only errors and leaks.
fn valgrind_reports(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| {
            line.strip_prefix("==")
                .and_then(|rest| rest.split_once("=="))
                .is_some_and(|(pid, _)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
        .collect()
}

/// The lookup through both programs, each under valgrind.
struct Runs {
    gai: (Output, Duration),
    getent: (Output, Duration),
}

fn run_both(sandbox: &Sandbox) -> Runs {
    let multicall = sandbox.multicall().to_string_lossy().into_owned();
    Runs {
        gai: valgrind(sandbox, &multicall, &["gai", "timed", NAME]),
        getent: valgrind(sandbox, "getent", &["ahosts", NAME]),
    }
}

/// Valgrind's cost for getent: a lookup with no daemon at all fails at once (connect says
/// ENOENT), so what it takes is start-up and exit under valgrind. Measured once.
fn getent_baseline() -> Duration {
    static BASELINE: OnceLock<Duration> = OnceLock::new();
    *BASELINE.get_or_init(|| {
        let sandbox = Sandbox::standard();
        let runs = run_both(&sandbox);
        for (program, (output, _)) in [("gai", &runs.gai), ("getent", &runs.getent)] {
            assert_clean_failure(program, "no daemon", output);
        }
        runs.getent.1
    })
}

/// What `gai timed` measured: the second getaddrinfo's duration.
fn lookup_time(output: &Output) -> Duration {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("elapsed_ms "))
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_else(|| panic!("gai timed printed no time: {}", describe(output)))
}

#[track_caller]
fn assert_clean_failure(program: &str, case: &str, output: &Output) {
    let reports = valgrind_reports(output);
    assert!(
        reports.is_empty() && output.status.code() != Some(VALGRIND_ERROR),
        "{case}: valgrind found errors in {program}: {}",
        describe(output)
    );
    match program {
        "gai" => assert_eq!(
            String::from_utf8_lossy(&output.stdout).lines().next(),
            Some("error EAI_AGAIN"),
            "{case}: {}",
            describe(output)
        ),
        // getent ahosts exits 2 when getaddrinfo fails, and prints nothing.
        _ => {
            assert_eq!(
                output.status.code(),
                Some(2),
                "{case}: {}",
                describe(output)
            );
            assert!(output.stdout.is_empty(), "{case}: {}", describe(output));
        }
    }
    if program == "gai" {
        assert_eq!(
            output.status.code(),
            Some(1),
            "{case}: {}",
            describe(output)
        );
    }
}

fn check_case(
    Hostile {
        case, reply, ends, ..
    }: Hostile,
) {
    let getent_cost = getent_baseline();
    let sandbox = Sandbox::standard();
    let daemon = FakeDaemon::start(move |_| reply.clone());
    symlink(&daemon.path, sandbox.socket()).expect("point the sandbox's socket at the fake daemon");
    let runs = run_both(&sandbox);

    let (output, _) = &runs.gai;
    assert_clean_failure("gai", case, output);
    let lookup = lookup_time(output);
    println!("{case}: gai: EAI_AGAIN after {lookup:?}, valgrind clean");
    match ends {
        Ends::Promptly => assert!(
            lookup < DEADLINE / 2,
            "{case}: the lookup took {lookup:?}; it should not wait for the {DEADLINE:?} deadline"
        ),
        Ends::AtTheDeadline => assert!(
            lookup >= DEADLINE && lookup < DEADLINE + SLACK,
            "{case}: the lookup took {lookup:?}; the deadline is {DEADLINE:?}"
        ),
    }

    let (output, elapsed) = &runs.getent;
    assert_clean_failure("getent", case, output);
    println!("{case}: getent: exit 2 in {elapsed:?} (no daemon: {getent_cost:?}), valgrind clean");
    assert!(
        *elapsed < getent_cost + DEADLINE + OUTSIDE_SLACK,
        "{case}: getent took {elapsed:?}"
    );
    if ends == Ends::AtTheDeadline {
        assert!(*elapsed >= DEADLINE, "{case}: getent took only {elapsed:?}");
    }
    assert!(
        !daemon.requests().is_empty(),
        "{case}: the fake daemon was never asked"
    );
}

/// Every hostile answer of the table that settles the lookup at once.
#[test]
fn answers_that_end_the_lookup_at_once() {
    let cases: Vec<Hostile> = hostile_replies(DEADLINE)
        .into_iter()
        .filter(|hostile| hostile.ends == Ends::Promptly)
        .collect();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    cases.into_iter().for_each(check_case);
}

/// Every hostile answer of the table that never finishes: stalls, trickles.
#[test]
fn answers_that_never_finish() {
    let cases: Vec<Hostile> = hostile_replies(DEADLINE)
        .into_iter()
        .filter(|hostile| hostile.ends == Ends::AtTheDeadline)
        .collect();
    assert!(cases.len() >= 3, "{} cases", cases.len());
    cases.into_iter().for_each(check_case);
}

/// The control: a slow but timely daemon is read in full, also under valgrind.
#[test]
fn slow_but_timely_answer_is_read() {
    let sandbox = Sandbox::standard();
    let frame = frame();
    let daemon =
        FakeDaemon::start(move |_| Reply::Trickle(frame.clone(), Duration::from_millis(5)));
    symlink(&daemon.path, sandbox.socket()).expect("symlink the socket");
    let runs = run_both(&sandbox);
    for (program, (output, _)) in [("gai", &runs.gai), ("getent", &runs.getent)] {
        assert!(
            valgrind_reports(output).is_empty() && output.status.success(),
            "{program}: {}",
            describe(output)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        for address in ["2001:db8::1", "192.0.2.7", "fe80::1"] {
            assert!(
                text.contains(address),
                "{program}: {address} missing: {text}"
            );
        }
    }
}
