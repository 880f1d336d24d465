//! The NSS module's entry points with an injected configuration, against a fake daemon: glibc's
//! buffer contract, statuses and errno, hostile daemons, reverse lookups.

use std::cell::Cell;
use std::ffi::CString;
use std::ptr;
use std::time::{Duration, Instant};

use libc::c_int;
use nss_pnrp::{
    gethostbyname4_with, Config, GaihAddrtuple, NssStatus, HOST_NOT_FOUND, NETDB_INTERNAL, NO_DATA,
    NO_RECOVERY, TRY_AGAIN,
};
use pnrp_shared::ipc::{encode_frame, Request, Response};

use pnrp_tests::fake_daemon::*;
use pnrp_tests::nss_buffer::*;
use pnrp_tests::nss_calls::*;

fn big() -> Guarded {
    Guarded::new(64 * 1024)
}

/// A configuration whose use is recorded, to show the daemon was not asked.
fn watched(config: Config, used: &Cell<bool>) -> impl FnOnce() -> Config + '_ {
    move || {
        used.set(true);
        config
    }
}

fn absent() -> Config {
    Config {
        socket_path: absent_path(),
        timeout: Config::DEFAULT_TIMEOUT,
        snapshot: None,
    }
}

const NAME: &str = "0.myapp.pnrp.net";

#[test]
fn byname4_returns_every_address_once_with_scopes() {
    let daemon = FakeDaemon::answering(
        Response::Resolved(vec![
            record(
                "0.MyApp",
                vec![v6("2001:db8::1", 0), v4("192.0.2.7"), v6("fe80::1", 3)],
            ),
            record("0.MyApp", vec![v4("192.0.2.7"), v6("2001:db8::2", 0)]),
        ]),
        Response::NotFound,
    );
    let mut buffer = big();
    // Windows form, mixed case, trailing dot: asks for 0.MyApp, answers in the direct form.
    let answer = byname4(|| daemon.config(), b"MyApp.PNRP.net.", &mut buffer);
    assert_eq!(answer.status, NssStatus::Success);
    assert_eq!(
        (answer.errno, answer.herrno, answer.ttl),
        (UNTOUCHED, UNTOUCHED, 0)
    );
    assert_eq!(
        daemon.requests(),
        [Request::Resolve {
            name: peer("0.MyApp")
        }]
    );
    // SAFETY: success leaves a valid tuple in *pat.
    let tuples = read_tuples(&buffer, unsafe { &*answer.result });
    let canonical = "0.MyApp.pnrp.net";
    assert_eq!(
        tuples,
        [
            Tuple::v6(canonical, "2001:db8::1", 0),
            Tuple::v4(canonical, "192.0.2.7"),
            Tuple::v6(canonical, "fe80::1", 3),
            Tuple::v6(canonical, "2001:db8::2", 0),
        ]
    );
    assert!(buffer.holds(answer.result.cast(), std::mem::size_of::<GaihAddrtuple>()));
    assert!(buffer.guards_intact());
}

#[test]
fn byname4_fills_a_tuple_the_caller_supplies() {
    let daemon = FakeDaemon::answering(three_addresses(), Response::NotFound);
    let mut buffer = big();
    let name = CString::new(NAME).unwrap();
    // SAFETY: all-zero is a valid tuple (NULL pointers, zero numbers).
    let mut own: GaihAddrtuple = unsafe { std::mem::zeroed() };
    let mut pat: *mut GaihAddrtuple = &mut own;
    let (mut errno, mut herrno) = (UNTOUCHED, UNTOUCHED);
    // SAFETY: valid pointers; the buffer is as long as said; NULL ttlp is allowed.
    let status = unsafe {
        gethostbyname4_with(
            || daemon.config(),
            name.as_ptr(),
            &mut pat,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
            ptr::null_mut(),
        )
    };
    assert_eq!(status, NssStatus::Success);
    assert_eq!(pat, &mut own as *mut _, "*pat must stay the caller's tuple");
    assert_eq!(
        read_tuples(&buffer, &own),
        [
            Tuple::v6(NAME, "2001:db8::1", 0),
            Tuple::v4(NAME, "192.0.2.7"),
            Tuple::v6(NAME, "fe80::1", 3),
        ]
    );
}

#[test]
fn byname3_answers_per_family() {
    let daemon = FakeDaemon::answering(three_addresses(), Response::NotFound);
    let mut buffer = big();
    let answer = byname3(
        || daemon.config(),
        NAME.as_bytes(),
        libc::AF_INET,
        &mut buffer,
    );
    assert_eq!(
        (answer.status, answer.ttl, answer.errno),
        (NssStatus::Success, 0, UNTOUCHED)
    );
    let (host, canon) = answer.result;
    assert_eq!(canon, host.h_name);
    let expected = Host {
        name: NAME.into(),
        aliases: vec![],
        family: libc::AF_INET,
        length: 4,
        addresses: vec![octets4("192.0.2.7")],
    };
    assert_eq!(read_hostent(&buffer, &host), expected);

    let answer = byname3(
        || daemon.config(),
        NAME.as_bytes(),
        libc::AF_INET6,
        &mut buffer,
    );
    assert_eq!(answer.status, NssStatus::Success);
    let expected = Host {
        family: libc::AF_INET6,
        length: 16,
        addresses: vec![octets6("2001:db8::1"), octets6("fe80::1")],
        ..expected
    };
    assert_eq!(read_hostent(&buffer, &answer.result.0), expected);
    assert!(buffer.guards_intact());
}

#[test]
fn missing_family_is_no_data() {
    let only_v6 = FakeDaemon::answering(
        Response::Resolved(vec![record("0.myapp", vec![v6("2001:db8::1", 0)])]),
        Response::NotFound,
    );
    let answer = byname3(
        || only_v6.config(),
        NAME.as_bytes(),
        libc::AF_INET,
        &mut big(),
    );
    answer.assert_failed(NssStatus::NotFound, libc::ENOENT, NO_DATA);

    let only_v4 = FakeDaemon::answering(
        Response::Resolved(vec![record("0.myapp", vec![v4("10.0.0.1")])]),
        Response::NotFound,
    );
    let answer = byname3(
        || only_v4.config(),
        NAME.as_bytes(),
        libc::AF_INET6,
        &mut big(),
    );
    answer.assert_failed(NssStatus::NotFound, libc::ENOENT, NO_DATA);

    let none = FakeDaemon::answering(
        Response::Resolved(vec![record("0.myapp", vec![])]),
        Response::NotFound,
    );
    byname4(|| none.config(), NAME.as_bytes(), &mut big()).assert_failed(
        NssStatus::NotFound,
        libc::ENOENT,
        NO_DATA,
    );
}

#[test]
fn other_families_are_unavailable() {
    let used = Cell::new(false);
    for af in [libc::AF_UNSPEC, libc::AF_UNIX, 12345] {
        let answer = byname3(watched(absent(), &used), NAME.as_bytes(), af, &mut big());
        answer.assert_failed(NssStatus::Unavail, libc::EAFNOSUPPORT, NO_RECOVERY);
    }
    assert!(!used.get());
}

#[test]
fn unknown_name_is_not_found() {
    let daemon = FakeDaemon::answering(Response::NotFound, Response::NotFound);
    byname4(|| daemon.config(), NAME.as_bytes(), &mut big()).assert_failed(
        NssStatus::NotFound,
        libc::ENOENT,
        HOST_NOT_FOUND,
    );
    byname3(
        || daemon.config(),
        NAME.as_bytes(),
        libc::AF_INET6,
        &mut big(),
    )
    .assert_failed(NssStatus::NotFound, libc::ENOENT, HOST_NOT_FOUND);
}

#[test]
fn names_outside_pnrp_net_are_left_to_others_untouched() {
    let used = Cell::new(false);
    for name in [
        "example.com",
        "pnrp.net",
        ".pnrp.net",
        "a.pnrp.network",
        "localhost",
        "",
    ] {
        let answer = byname4(watched(absent(), &used), name.as_bytes(), &mut big());
        answer.assert_failed(NssStatus::Unavail, UNTOUCHED, NO_RECOVERY);
        let answer = byname3(
            watched(absent(), &used),
            name.as_bytes(),
            libc::AF_INET,
            &mut big(),
        );
        answer.assert_failed(NssStatus::Unavail, UNTOUCHED, NO_RECOVERY);
    }
    assert!(!used.get(), "the daemon must not be asked");
}

#[test]
fn impossible_peer_names_are_not_found_without_asking() {
    let used = Cell::new(false);
    let too_long = format!("0.{}.pnrp.net", "a".repeat(150));
    let names: [&[u8]; 4] = [
        b"\xff.pnrp.net",
        b"0.\xc3.pnrp.net",
        too_long.as_bytes(),
        b"0.xn--ab-!.pnrp.net",
    ];
    for name in names {
        let answer = byname4(watched(absent(), &used), name, &mut big());
        answer.assert_failed(NssStatus::NotFound, libc::ENOENT, HOST_NOT_FOUND);
    }
    assert!(!used.get(), "the daemon must not be asked");
}

#[test]
fn absent_daemon_is_try_again_with_the_connect_error() {
    byname4(absent, NAME.as_bytes(), &mut big()).assert_failed(
        NssStatus::TryAgain,
        libc::ENOENT,
        TRY_AGAIN,
    );

    // A socket file nobody listens on any more.
    let dir = pnrp_tests::harness::TempDir::new("stale");
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let stale = Config {
        socket_path: path,
        ..absent()
    };
    byname3(|| stale, NAME.as_bytes(), libc::AF_INET, &mut big()).assert_failed(
        NssStatus::TryAgain,
        libc::ECONNREFUSED,
        TRY_AGAIN,
    );

    let too_long = Config {
        socket_path: dir.path().join("x".repeat(200)),
        ..absent()
    };
    byname4(|| too_long, NAME.as_bytes(), &mut big()).assert_failed(
        NssStatus::TryAgain,
        libc::ENAMETOOLONG,
        TRY_AGAIN,
    );
}

#[test]
fn hostile_daemons_are_try_again_within_the_deadline() {
    let timeout = Duration::from_millis(200);
    for hostile in hostile_replies(timeout) {
        let reply = hostile.reply.clone();
        let daemon = FakeDaemon::start(move |_| reply.clone());
        let start = Instant::now();
        let answer = byname4(
            || daemon.config_with_timeout(timeout),
            NAME.as_bytes(),
            &mut big(),
        );
        let elapsed = start.elapsed();
        assert_eq!(
            (answer.status, answer.errno, answer.herrno),
            (NssStatus::TryAgain, hostile.errno, TRY_AGAIN),
            "{}",
            hostile.case
        );
        match hostile.ends {
            Ends::AtTheDeadline => assert!(
                elapsed + Duration::from_millis(2) >= timeout,
                "{}: {elapsed:?}",
                hostile.case
            ),
            Ends::Promptly => assert!(elapsed < timeout, "{}: {elapsed:?}", hostile.case),
        }
    }
}

#[test]
fn bytes_after_the_frame_are_never_read() {
    let mut frame = encode_frame(&three_addresses()).unwrap();
    frame.extend_from_slice(b"trailing garbage");
    let daemon = FakeDaemon::start(move |_| Reply::RawThenStall(frame.clone()));
    assert_eq!(
        byname4(|| daemon.config(), NAME.as_bytes(), &mut big()).status,
        NssStatus::Success
    );
}

#[test]
fn slow_but_timely_answer_is_read() {
    let frame = encode_frame(&three_addresses()).unwrap();
    let daemon =
        FakeDaemon::start(move |_| Reply::Trickle(frame.clone(), Duration::from_millis(2)));
    let mut buffer = big();
    let answer = byname4(|| daemon.config(), NAME.as_bytes(), &mut buffer);
    assert_eq!(answer.status, NssStatus::Success);
    // SAFETY: success leaves a valid tuple in *pat.
    assert_eq!(read_tuples(&buffer, unsafe { &*answer.result }).len(), 3);
}

#[test]
fn a_panic_is_try_again_not_an_unwind_into_c() {
    // TRYAGAIN, not UNAVAIL: a .pnrp.net name must never go on to DNS.
    let answer = byname4(|| panic!("injected"), NAME.as_bytes(), &mut big());
    answer.assert_failed(NssStatus::TryAgain, libc::EIO, TRY_AGAIN);
}

fn errno() -> *mut c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[test]
fn errno_survives_success_and_carries_the_error_on_failure() {
    let daemon = FakeDaemon::answering(three_addresses(), Response::NotFound);
    let mut buffer = big();
    let name = CString::new(NAME).unwrap();
    let mut pat = ptr::null_mut();
    let mut herrno = UNTOUCHED;
    let mut call = |config: Config, pat: &mut *mut GaihAddrtuple| {
        // SAFETY: valid pointers; errnop is errno itself, as glibc passes it.
        unsafe {
            *errno() = 4242;
            gethostbyname4_with(
                || config,
                name.as_ptr(),
                pat,
                buffer.ptr(),
                buffer.len(),
                errno(),
                &mut herrno,
                ptr::null_mut(),
            )
        }
    };
    assert_eq!(call(daemon.config(), &mut pat), NssStatus::Success);
    // SAFETY: valid for this thread.
    assert_eq!(unsafe { *errno() }, 4242);
    assert_eq!(call(absent(), &mut pat), NssStatus::TryAgain);
    // SAFETY: as above.
    assert_eq!(unsafe { *errno() }, libc::ENOENT);

    // With a separate errnop, errno itself is as it was even after failing system calls.
    let mut errno_slot = UNTOUCHED;
    // SAFETY: valid pointers.
    let status = unsafe {
        *errno() = 4242;
        gethostbyname4_with(
            absent,
            name.as_ptr(),
            &mut pat,
            ptr::null_mut(),
            0,
            &mut errno_slot,
            &mut herrno,
            ptr::null_mut(),
        )
    };
    assert_eq!((status, errno_slot), (NssStatus::TryAgain, libc::ENOENT));
    // SAFETY: as above.
    assert_eq!(unsafe { *errno() }, 4242);
}

fn many_addresses() -> (Response, Vec<Tuple>) {
    let (addresses, tuples) = forty_eight_addresses(NAME);
    (
        Response::Resolved(vec![record("0.myapp", addresses)]),
        tuples,
    )
}

#[test]
fn byname4_never_overflows_the_buffer() {
    let (many, many_tuples) = many_addresses();
    let cases = [
        (
            three_addresses(),
            vec![
                Tuple::v6(NAME, "2001:db8::1", 0),
                Tuple::v4(NAME, "192.0.2.7"),
                Tuple::v6(NAME, "fe80::1", 3),
            ],
        ),
        (many, many_tuples),
    ];
    for (response, expected) in cases {
        assert_eq!(expected.len() % 3, 0);
        let daemon = FakeDaemon::answering(response, Response::NotFound);
        let needed = sweep_byname4(|| daemon.config(), NAME, &expected);
        let tuple_bytes = expected.len() * std::mem::size_of::<GaihAddrtuple>();
        assert!((NAME.len() + 1 + tuple_bytes..=NAME.len() + 8 + tuple_bytes).contains(&needed));
    }

    // No buffer at all.
    let daemon = FakeDaemon::answering(three_addresses(), Response::NotFound);
    let name = CString::new(NAME).unwrap();
    let (mut pat, mut errno, mut herrno) = (ptr::null_mut(), UNTOUCHED, UNTOUCHED);
    // SAFETY: a NULL buffer of length 0 is never written.
    let status = unsafe {
        gethostbyname4_with(
            || daemon.config(),
            name.as_ptr(),
            &mut pat,
            ptr::null_mut(),
            0,
            &mut errno,
            &mut herrno,
            ptr::null_mut(),
        )
    };
    assert_eq!(
        (status, errno, herrno),
        (NssStatus::TryAgain, libc::ERANGE, NETDB_INTERNAL)
    );
}

#[test]
fn hostents_never_overflow_the_buffer() {
    let (many, many_tuples) = many_addresses();
    let daemon = FakeDaemon::answering(many, Response::NotFound);
    for af in [libc::AF_INET, libc::AF_INET6] {
        let expected: Vec<Vec<u8>> = many_tuples
            .iter()
            .filter(|tuple| tuple.family == af)
            .map(|tuple| tuple.bytes.clone())
            .collect();
        assert_eq!(expected.len(), if af == libc::AF_INET { 16 } else { 32 });
        sweep(
            |buffer| byname3(|| daemon.config(), NAME.as_bytes(), af, buffer),
            |(host, canon)| host.h_name.is_null() && canon.is_null(),
            |buffer, (host, canon)| {
                assert_eq!(canon, &host.h_name);
                let host = read_hostent(buffer, host);
                assert_eq!((host.name.as_str(), host.family), (NAME, af));
                assert!(host.aliases.is_empty());
                assert_eq!(host.addresses, expected);
            },
        );
    }

    let names = Response::Names(vec![peer("0.first"), peer("0.second"), peer("0.third")]);
    let daemon = FakeDaemon::answering(Response::NotFound, names);
    sweep(
        |buffer| {
            byaddr2(
                || daemon.config(),
                &octets6("fe80::1"),
                libc::AF_INET6,
                buffer,
            )
        },
        |host| host.h_name.is_null(),
        |buffer, host| {
            let expected = Host {
                name: "0.first.pnrp.net".into(),
                aliases: vec!["0.second.pnrp.net".into(), "0.third.pnrp.net".into()],
                family: libc::AF_INET6,
                length: 16,
                addresses: vec![octets6("fe80::1")],
            };
            assert_eq!(read_hostent(buffer, host), expected);
        },
    );
}

#[test]
fn reverse_lookup_names_the_address() {
    let names = Response::Names(vec![peer("0.printer"), peer("0.lab")]);
    let daemon = FakeDaemon::answering(Response::NotFound, names);
    let mut buffer = big();
    let answer = byaddr2(
        || daemon.config(),
        &octets4("192.0.2.7"),
        libc::AF_INET,
        &mut buffer,
    );
    assert_eq!(
        (answer.status, answer.errno, answer.ttl),
        (NssStatus::Success, UNTOUCHED, 0)
    );
    let expected = Host {
        name: "0.printer.pnrp.net".into(),
        aliases: vec!["0.lab.pnrp.net".into()],
        family: libc::AF_INET,
        length: 4,
        addresses: vec![octets4("192.0.2.7")],
    };
    assert_eq!(read_hostent(&buffer, &answer.result), expected);

    let answer = byaddr2(
        || daemon.config(),
        &octets6("2001:db8::5"),
        libc::AF_INET6,
        &mut buffer,
    );
    assert_eq!(answer.status, NssStatus::Success);
    assert_eq!(
        read_hostent(&buffer, &answer.result).addresses,
        [octets6("2001:db8::5")]
    );
    assert_eq!(
        daemon.requests(),
        [
            Request::ResolveAddress {
                address: v4("192.0.2.7")
            },
            Request::ResolveAddress {
                address: v6("2001:db8::5", 0)
            },
        ]
    );
}

#[test]
fn reverse_lookup_misses_fall_through_to_the_next_source() {
    let daemon = FakeDaemon::answering(Response::NotFound, Response::NotFound);
    let address = octets4("192.0.2.7");
    byaddr2(|| daemon.config(), &address, libc::AF_INET, &mut big()).assert_failed(
        NssStatus::Unavail,
        libc::ENOENT,
        HOST_NOT_FOUND,
    );
    byaddr2(absent, &address, libc::AF_INET, &mut big()).assert_failed(
        NssStatus::Unavail,
        libc::ENOENT,
        NO_RECOVERY,
    );
    let used = Cell::new(false);
    byaddr2(
        watched(absent(), &used),
        &address,
        libc::AF_INET6,
        &mut big(),
    )
    .assert_failed(NssStatus::Unavail, libc::EINVAL, NO_RECOVERY);
    byaddr2(
        watched(absent(), &used),
        &address,
        libc::AF_UNIX,
        &mut big(),
    )
    .assert_failed(NssStatus::Unavail, libc::EAFNOSUPPORT, NO_RECOVERY);
    assert!(!used.get());
}
