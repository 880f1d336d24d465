//! The NSS module under valgrind against hostile daemons: real programs (`getent` and the
//! `gai` program of pnrp-multicall) load libnss_pnrp.so.2 through glibc inside a sandbox whose
//! `/run/pnrp/pnrpd.sock` is a fake daemon that answers garbage, trickles its answer byte by byte,
//! announces or sends a huge frame, closes mid-frame or stalls. Each lookup must fail cleanly
//! (`EAI_AGAIN`, a temporary failure) within the deadline, and valgrind must report no error and
//! no definite leak.
//!
//! The fake daemon is the one the module's own tests use (`nss_pnrp/tests/common/mod.rs`).

#[path = "../../nss_pnrp/tests/common/mod.rs"]
mod common;

use std::os::unix::fs::symlink;
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{three_addresses, FakeDaemon, Reply};
use pnrp_shared::ipc::{encode_frame, MAX_FRAME_LEN, PROTOCOL_VERSION};
use pnrp_tests::harness::{describe, multicall, Sandbox, RECOMMENDED_HOSTS_LINE};

const MULTICALL: &str = env!("CARGO_BIN_EXE_pnrp-multicall");
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

fn length(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
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

fn sandbox() -> Sandbox {
    Sandbox::new(
        &multicall(MULTICALL).to_string_lossy(),
        RECOMMENDED_HOSTS_LINE,
    )
}

/// Valgrind's cost for getent: a lookup with no daemon at all fails at once (connect says
/// ENOENT), so what it takes is start-up and exit under valgrind. Measured once.
fn getent_baseline() -> Duration {
    static BASELINE: OnceLock<Duration> = OnceLock::new();
    *BASELINE.get_or_init(|| {
        let sandbox = sandbox();
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

/// How a hostile daemon must end the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// At once: what it sent settles the matter.
    Promptly,
    /// At the deadline: it never finishes.
    AtTheDeadline,
}

fn check_case(case: &str, reply: Reply, ends: Ends) {
    let getent_cost = getent_baseline();
    let sandbox = sandbox();
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

#[test]
fn garbage_answers() {
    check_case(
        "an HTTP error page",
        Reply::Raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()),
        Ends::Promptly,
    );
    check_case(
        "a frame whose body is not a response",
        Reply::Raw([length(5), vec![PROTOCOL_VERSION, 0xff, 0xff, 0xff, 0xff]].concat()),
        Ends::Promptly,
    );
}

#[test]
fn byte_by_byte_past_the_deadline() {
    // Each byte comes well within the deadline; the whole answer does not.
    let frame = frame();
    let pause = DEADLINE * 2 / u32::try_from(frame.len()).unwrap();
    check_case(
        "a trickle of one byte per pause",
        Reply::Trickle(frame, pause),
        Ends::AtTheDeadline,
    );
}

#[test]
fn huge_frames() {
    check_case(
        "a frame announcing 4 GiB",
        Reply::RawThenStall(length(u32::MAX)),
        Ends::Promptly,
    );
    check_case(
        "a frame just over the limit",
        Reply::RawThenStall(length(MAX_FRAME_LEN as u32 + 1)),
        Ends::Promptly,
    );
    // The largest frame allowed, sent whole: read, then refused as malformed.
    let mut huge = length(MAX_FRAME_LEN as u32);
    huge.push(PROTOCOL_VERSION);
    huge.resize(4 + MAX_FRAME_LEN, 0xff);
    check_case("a 1 MiB frame of garbage", Reply::Raw(huge), Ends::Promptly);
}

#[test]
fn closed_mid_frame() {
    let frame = frame();
    check_case(
        "closed three bytes before the end of the body",
        Reply::Raw(frame[..frame.len() - 3].to_vec()),
        Ends::Promptly,
    );
    check_case(
        "closed inside the length",
        Reply::Raw(frame[..2].to_vec()),
        Ends::Promptly,
    );
    check_case(
        "closed without a byte",
        Reply::Raw(Vec::new()),
        Ends::Promptly,
    );
}

#[test]
fn stalls() {
    check_case("never answers", Reply::Stall, Ends::AtTheDeadline);
    check_case(
        "announces a frame, then never sends it",
        Reply::RawThenStall(length(MAX_FRAME_LEN as u32)),
        Ends::AtTheDeadline,
    );
}

/// The control: a slow but timely daemon is read in full, also under valgrind.
#[test]
fn slow_but_timely_answer_is_read() {
    let sandbox = sandbox();
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
