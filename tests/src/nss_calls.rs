//! Calling the NSS module's entry points as glibc does, with an injected configuration: the
//! answer with what the module wrote to errno, h_errno and the TTL, and the sweep over every
//! buffer length that checks glibc's grow-and-retry contract (`tests/nss.rs`,
//! `tests/nss_snapshot.rs`).

use std::ffi::CString;
use std::ptr;

use libc::{c_char, c_int};
use nss_pnrp::{
    gethostbyaddr2_with, gethostbyname3_with, gethostbyname4_with, Config, GaihAddrtuple,
    NssStatus, NETDB_INTERNAL,
};

use crate::fake_daemon::{v4, v6};
use crate::nss_buffer::{empty_hostent, read_tuples, Guarded, Tuple};
use pnrp_shared::ScopedAddr;

/// Marks errno / h_errno / ttl values the module did not write.
pub const UNTOUCHED: c_int = -999;

#[derive(Debug)]
pub struct Answer<T> {
    /// What the module returned.
    pub status: NssStatus,
    /// What it wrote to `*errnop` ([`UNTOUCHED`] if nothing).
    pub errno: c_int,
    /// What it wrote to `*herrnop`.
    pub herrno: c_int,
    /// What it wrote to `*ttlp`.
    pub ttl: i32,
    /// The result pointer(s).
    pub result: T,
}

impl<T> Answer<T> {
    #[track_caller]
    /// Fails the test unless the answer is this failure.
    pub fn assert_failed(&self, status: NssStatus, errno: c_int, herrno: c_int) {
        assert_eq!(
            (self.status, self.errno, self.herrno),
            (status, errno, herrno)
        );
    }
}

/// `gethostbyname4_r` of `name` into `buffer`.
pub fn byname4(
    config: impl FnOnce() -> Config,
    name: &[u8],
    buffer: &mut Guarded,
) -> Answer<*mut GaihAddrtuple> {
    let name = CString::new(name).unwrap();
    let (mut pat, mut errno, mut herrno, mut ttl) =
        (ptr::null_mut(), UNTOUCHED, UNTOUCHED, UNTOUCHED);
    let len = buffer.len();
    // SAFETY: every pointer is valid; the buffer is `len` writable bytes.
    let status = unsafe {
        gethostbyname4_with(
            config,
            name.as_ptr(),
            &mut pat,
            buffer.ptr(),
            len,
            &mut errno,
            &mut herrno,
            &mut ttl,
        )
    };
    Answer {
        status,
        errno,
        herrno,
        ttl,
        result: pat,
    }
}

/// `gethostbyname3_r` of `name` for family `af` into `buffer`.
pub fn byname3(
    config: impl FnOnce() -> Config,
    name: &[u8],
    af: c_int,
    buffer: &mut Guarded,
) -> Answer<(libc::hostent, *mut c_char)> {
    let name = CString::new(name).unwrap();
    let mut host = empty_hostent();
    let (mut canon, mut errno, mut herrno, mut ttl) =
        (ptr::null_mut(), UNTOUCHED, UNTOUCHED, UNTOUCHED);
    let len = buffer.len();
    // SAFETY: every pointer is valid; the buffer is `len` writable bytes.
    let status = unsafe {
        gethostbyname3_with(
            config,
            name.as_ptr(),
            af,
            &mut host,
            buffer.ptr(),
            len,
            &mut errno,
            &mut herrno,
            &mut ttl,
            &mut canon,
        )
    };
    Answer {
        status,
        errno,
        herrno,
        ttl,
        result: (host, canon),
    }
}

/// `gethostbyaddr2_r` of `address` (family `af`) into `buffer`.
pub fn byaddr2(
    config: impl FnOnce() -> Config,
    address: &[u8],
    af: c_int,
    buffer: &mut Guarded,
) -> Answer<libc::hostent> {
    let mut host = empty_hostent();
    let (mut errno, mut herrno, mut ttl) = (UNTOUCHED, UNTOUCHED, UNTOUCHED);
    let len = buffer.len();
    // SAFETY: every pointer is valid; the buffer is `len` writable bytes.
    let status = unsafe {
        gethostbyaddr2_with(
            config,
            address.as_ptr().cast(),
            address.len() as libc::socklen_t,
            af,
            &mut host,
            buffer.ptr(),
            len,
            &mut errno,
            &mut herrno,
            &mut ttl,
        )
    };
    Answer {
        status,
        errno,
        herrno,
        ttl,
        result: host,
    }
}

/// Runs `call` for every buffer length up to the needed size + 64: too small must be
/// TRYAGAIN/ERANGE/NETDB_INTERNAL with nothing returned, big enough must be `expected`, and the
/// guard bytes around the buffer must never change. Returns the needed size.
pub fn sweep<T: std::fmt::Debug>(
    mut call: impl FnMut(&mut Guarded) -> Answer<T>,
    returned_nothing: impl Fn(&T) -> bool,
    mut check: impl FnMut(&Guarded, &T),
) -> usize {
    let mut needed = None;
    let mut buflen = 0;
    while needed.is_none_or(|needed| buflen <= needed + 64) {
        let mut buffer = Guarded::new(buflen);
        let answer = call(&mut buffer);
        assert!(
            buffer.guards_intact(),
            "wrote outside a {buflen}-byte buffer"
        );
        if answer.status == NssStatus::Success {
            needed.get_or_insert(buflen);
            check(&buffer, &answer.result);
        } else {
            assert!(
                needed.is_none(),
                "failed with {buflen} bytes after success: {answer:?}"
            );
            answer.assert_failed(NssStatus::TryAgain, libc::ERANGE, NETDB_INTERNAL);
            assert!(returned_nothing(&answer.result));
        }
        buflen += 1;
        assert!(buflen < 64 * 1024, "never succeeded");
    }
    needed.unwrap()
}

/// 48 addresses (16 each of global IPv6, IPv4, link-local IPv6 with scope ids 1–16), and the
/// tuples gethostbyname4 must give for them under `host`: an answer that makes glibc grow its
/// buffer.
pub fn forty_eight_addresses(host: &str) -> (Vec<ScopedAddr>, Vec<Tuple>) {
    let mut addresses = Vec::new();
    let mut tuples = Vec::new();
    for index in 0..16 {
        let (global, ipv4, link_local) = (
            format!("2001:db8::{index:x}"),
            format!("198.51.100.{index}"),
            format!("fe80::{index:x}"),
        );
        addresses.extend([v6(&global, 0), v4(&ipv4), v6(&link_local, index + 1)]);
        tuples.extend([
            Tuple::v6(host, &global, 0),
            Tuple::v4(host, &ipv4),
            Tuple::v6(host, &link_local, index + 1),
        ]);
    }
    (addresses, tuples)
}

/// The buffer sweep of `gethostbyname4_r` for `name`: every answer that fits is `expected`,
/// with every tuple inside the buffer. Returns the size needed.
pub fn sweep_byname4(config: impl Fn() -> Config, name: &str, expected: &[Tuple]) -> usize {
    sweep(
        |buffer| byname4(&config, name.as_bytes(), buffer),
        |pat| pat.is_null(),
        |buffer, &pat| {
            assert!(buffer.holds(pat.cast(), std::mem::size_of::<GaihAddrtuple>()));
            // SAFETY: inside the buffer, checked.
            assert_eq!(read_tuples(buffer, unsafe { &*pat }), expected);
        },
    )
}
