//! The exported symbols themselves, configured through the environment as in real use. One test
//! only: it sets environment variables, which no other thread of this process may be reading.

use std::ffi::CString;
use std::path::PathBuf;
use std::ptr;
use std::time::Duration;

use libc::c_int;
use nss_pnrp::*;
use pnrp_shared::ipc::{Response, DEFAULT_SOCKET_PATH};

use pnrp_tests::fake_daemon::*;
use pnrp_tests::nss_buffer::*;

const NAME: &str = "0.myapp.pnrp.net";

#[test]
fn exported_functions_read_the_environment() {
    std::env::remove_var("PNRP_SOCKET");
    std::env::remove_var("PNRP_TIMEOUT_MS");
    assert_eq!(
        Config::from_env(),
        Config {
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            timeout: Config::DEFAULT_TIMEOUT,
            snapshot: Some(PathBuf::from("/run/pnrp/pnrpd.names")),
        }
    );
    for (value, ms) in [("250", 250), ("0", 1), ("100000", 5000), ("soon", 5000)] {
        std::env::set_var("PNRP_TIMEOUT_MS", value);
        assert_eq!(
            Config::from_env().timeout,
            Duration::from_millis(ms),
            "{value}"
        );
    }

    let names = Response::Names(vec![peer("0.printer")]);
    let daemon = FakeDaemon::answering(three_addresses(), names);
    std::env::set_var("PNRP_SOCKET", &daemon.path);
    std::env::set_var("PNRP_TIMEOUT_MS", "3000");
    // The snapshot is looked for beside whichever socket the environment names.
    assert_eq!(Config::from_env().snapshot, Some(daemon.snapshot_path()));
    let name = CString::new(NAME).unwrap();
    let mut buffer = Guarded::new(4096);
    let (mut errno, mut herrno, mut ttl): (c_int, c_int, i32) = (0, 0, -1);

    let mut pat = ptr::null_mut();
    // SAFETY (all calls below): valid pointers and a buffer as long as said.
    let status = unsafe {
        _nss_pnrp_gethostbyname4_r(
            name.as_ptr(),
            &mut pat,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
            &mut ttl,
        )
    };
    assert_eq!((status, ttl), (NssStatus::Success, 0));
    // SAFETY: success leaves a valid tuple in *pat.
    assert_eq!(read_tuples(&buffer, unsafe { &*pat }).len(), 3);

    let mut host = empty_hostent();
    let v4 = || Host {
        name: NAME.into(),
        aliases: vec![],
        family: libc::AF_INET,
        length: 4,
        addresses: vec![octets4("192.0.2.7")],
    };
    let v6 = Host {
        family: libc::AF_INET6,
        length: 16,
        addresses: vec![octets6("2001:db8::1"), octets6("fe80::1")],
        ..v4()
    };

    let status = unsafe {
        _nss_pnrp_gethostbyname_r(
            name.as_ptr(),
            &mut host,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
        )
    };
    assert_eq!(status, NssStatus::Success);
    assert_eq!(read_hostent(&buffer, &host), v4());

    for (af, expected) in [(libc::AF_INET, v4()), (libc::AF_INET6, v6.clone())] {
        let status = unsafe {
            _nss_pnrp_gethostbyname2_r(
                name.as_ptr(),
                af,
                &mut host,
                buffer.ptr(),
                buffer.len(),
                &mut errno,
                &mut herrno,
            )
        };
        assert_eq!(status, NssStatus::Success);
        assert_eq!(read_hostent(&buffer, &host), expected);
    }

    let mut canon = ptr::null_mut();
    ttl = -1;
    let status = unsafe {
        _nss_pnrp_gethostbyname3_r(
            name.as_ptr(),
            libc::AF_INET6,
            &mut host,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
            &mut ttl,
            &mut canon,
        )
    };
    assert_eq!((status, ttl), (NssStatus::Success, 0));
    assert_eq!(read_hostent(&buffer, &host), v6);
    assert_eq!(buffer.c_str(canon), NAME);

    let address = octets4("192.0.2.7");
    let printer = Host {
        name: "0.printer.pnrp.net".into(),
        ..v4()
    };
    let status = unsafe {
        _nss_pnrp_gethostbyaddr_r(
            address.as_ptr().cast(),
            4,
            libc::AF_INET,
            &mut host,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
        )
    };
    assert_eq!(status, NssStatus::Success);
    assert_eq!(read_hostent(&buffer, &host), printer);
    ttl = -1;
    let status = unsafe {
        _nss_pnrp_gethostbyaddr2_r(
            address.as_ptr().cast(),
            4,
            libc::AF_INET,
            &mut host,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
            &mut ttl,
        )
    };
    assert_eq!((status, ttl), (NssStatus::Success, 0));
    assert_eq!(read_hostent(&buffer, &host), printer);
    assert!(buffer.guards_intact());

    // PNRP_SOCKET is honoured for failures too.
    std::env::set_var("PNRP_SOCKET", absent_path());
    let status = unsafe {
        _nss_pnrp_gethostbyname2_r(
            name.as_ptr(),
            libc::AF_INET,
            &mut host,
            buffer.ptr(),
            buffer.len(),
            &mut errno,
            &mut herrno,
        )
    };
    assert_eq!(
        (status, errno, herrno),
        (NssStatus::TryAgain, libc::ENOENT, TRY_AGAIN)
    );
}
