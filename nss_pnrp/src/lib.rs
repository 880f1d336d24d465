//! `libnss_pnrp.so.2`: the glibc NSS module that resolves host names under `.pnrp.net` by asking
//! `pnrpd`. It never resolves by itself.
//!
//! Meant for `hosts: files pnrp [!UNAVAIL=return] dns` in nsswitch.conf:
//!
//! - A name not ending in `.pnrp.net` is answered `UNAVAIL` at once, with no system call and no
//!   allocation (every host lookup on the machine passes here), so the next source answers it.
//! - A `.pnrp.net` name is mapped to a peer name (`pnrp_shared::hostname`). A name this machine
//!   publishes is answered from the daemon's snapshot beside its socket (`snapshot`: only a
//!   regular file of the socket's owner, writable by no one else, checked whole); any other name,
//!   or any doubt about the snapshot, is sent to the daemon ([`Request::Resolve`]). Found:
//!   `SUCCESS`. No such name: `NOTFOUND`/`HOST_NOT_FOUND`.
//!   Name found but no address of the asked family: `NOTFOUND`/`NO_DATA`. A name that cannot be a
//!   peer name: `NOTFOUND`/`HOST_NOT_FOUND` without asking. Daemon absent, slow past the deadline
//!   (`PNRP_TIMEOUT_MS`, default 5000 ms, for connect, send and receive together) or talking
//!   nonsense: `TRYAGAIN`/`TRY_AGAIN` with the errno — never `UNAVAIL`, so that peer names do
//!   not leak to DNS.
//! - Reverse lookups ([`Request::ResolveAddress`]) cannot tell peer addresses from others, so
//!   anything short of an answer (unknown address, daemon absent) is `UNAVAIL`, letting DNS answer.
//! - Results follow glibc's buffer contract: all they point at is packed into the caller's
//!   buffer; when it is too small the answer is `TRYAGAIN` with `ERANGE`/`NETDB_INTERNAL`, which
//!   makes glibc grow it and call again. `errno` is restored before returning and only then is
//!   `*errnop` written (glibc often passes `&errno`); on success neither is changed.
//! - No threads (the module is loaded into every program, forks included), and one mutable
//!   static: the snapshot kept between lookups (`snapshot`), keyed by what `lstat` says of the
//!   file and taken only with `try_lock`, so that neither `fork` nor threads can make it stale
//!   or block a lookup; each entry point catches panics and answers `TRYAGAIN` (`UNAVAIL` for
//!   reverse lookups) instead of unwinding into C. The socket is `SOCK_CLOEXEC`, written with
//!   `MSG_NOSIGNAL`, and shut for writing once the request is sent.
//!
//! Layout: this file holds the six exported functions (glibc 2.36 signatures) and the glibc
//! status mapping; `client` talks to the daemon within one deadline ([`Config`]); `snapshot`
//! reads the daemon's snapshot of local names; `pack` lays answers out in the caller's buffer. The `*_with` functions are the exported ones with the
//! configuration injected, for tests and for callers that do not want the environment read.

use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use libc::{c_char, c_int, c_void, hostent, size_t, socklen_t};
use pnrp_shared::hostname::{host_name_of, is_pnrp_host, peer_name_of_host};
use pnrp_shared::ipc::{Request, Response, ScopedAddr};
use pnrp_shared::PeerName;

mod client;
mod pack;
mod snapshot;

pub use client::Config;

use pack::{Bump, Erange};

/// glibc's `enum nss_status`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NssStatus {
    /// Temporary failure, or (with `ERANGE`) a buffer too small.
    TryAgain = -2,
    /// This source cannot answer; the next one should.
    Unavail = -1,
    /// No such name (or no address of the asked family).
    NotFound = 0,
    /// Found.
    Success = 1,
}

/// glibc's `struct gaih_addrtuple` (`nss.h`), the result list of gethostbyname4_r.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GaihAddrtuple {
    /// The next tuple, or NULL.
    pub next: *mut GaihAddrtuple,
    /// The canonical name.
    pub name: *mut c_char,
    /// `AF_INET` or `AF_INET6`.
    pub family: c_int,
    /// The address in network byte order (4 or 16 bytes used).
    pub addr: [u32; 4],
    /// The interface of a link-local IPv6 address, else 0.
    pub scopeid: u32,
}

/// `h_errno`: the buffer is too small (together with `ERANGE`) or another internal error.
pub const NETDB_INTERNAL: c_int = -1;
/// `h_errno`: no such name.
pub const HOST_NOT_FOUND: c_int = 1;
/// `h_errno`: temporary failure.
pub const TRY_AGAIN: c_int = 2;
/// `h_errno`: permanent failure.
pub const NO_RECOVERY: c_int = 3;
/// `h_errno`: the name exists but has no address of the asked family.
pub const NO_DATA: c_int = 4;

/// TTL reported through `ttlp`: 0, so that caches (nscd) keep nothing — registrations come and go
/// and the daemon already caches.
pub const TTL_SECS: i32 = 0;

/// # Safety
///
/// glibc's contract: `name` NUL-terminated; `pat` valid (and `*pat` NULL or a writable tuple);
/// `buffer` writable for `buflen` bytes; `errnop`, `herrnop` valid; `ttlp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname4_r(
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        gethostbyname4_with(
            Config::from_env,
            name,
            pat,
            buffer,
            buflen,
            errnop,
            herrnop,
            ttlp,
        )
    }
}

/// # Safety
///
/// glibc's contract: `name` NUL-terminated; `host` writable; `buffer` writable for `buflen` bytes;
/// `errnop`, `herrnop` valid; `ttlp`, `canonp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname3_r(
    name: *const c_char,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> NssStatus {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        gethostbyname3_with(
            Config::from_env,
            name,
            af,
            host,
            buffer,
            buflen,
            errnop,
            herrnop,
            ttlp,
            canonp,
        )
    }
}

/// # Safety
///
/// As [`_nss_pnrp_gethostbyname3_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    let (ttlp, canonp) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: the caller's contract is this function's.
    unsafe {
        _nss_pnrp_gethostbyname3_r(
            name, af, host, buffer, buflen, errnop, herrnop, ttlp, canonp,
        )
    }
}

/// # Safety
///
/// As [`_nss_pnrp_gethostbyname3_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyname_r(
    name: *const c_char,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        _nss_pnrp_gethostbyname2_r(name, libc::AF_INET, host, buffer, buflen, errnop, herrnop)
    }
}

/// # Safety
///
/// glibc's contract: `addr` readable for `len` bytes; `host` writable; `buffer` writable for
/// `buflen` bytes; `errnop`, `herrnop` valid; `ttlp` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyaddr2_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        gethostbyaddr2_with(
            Config::from_env,
            addr,
            len,
            af,
            host,
            buffer,
            buflen,
            errnop,
            herrnop,
            ttlp,
        )
    }
}

/// # Safety
///
/// As [`_nss_pnrp_gethostbyaddr2_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_pnrp_gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    let ttlp = ptr::null_mut();
    // SAFETY: the caller's contract is this function's.
    unsafe {
        _nss_pnrp_gethostbyaddr2_r(addr, len, af, host, buffer, buflen, errnop, herrnop, ttlp)
    }
}

/// [`_nss_pnrp_gethostbyname4_r`] with the configuration from `config`, which is called only once
/// the name is known to be a peer name.
///
/// # Safety
///
/// As [`_nss_pnrp_gethostbyname4_r`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyname4_with(
    config: impl FnOnce() -> Config,
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    let lookup = || {
        // SAFETY: `name` is NULL or NUL-terminated.
        let peer = unsafe { peer_name(name) }?;
        if pat.is_null() {
            return Err(Fail::unavail(libc::EINVAL));
        }
        let addresses = resolve(&config(), &peer)?;
        // SAFETY: `buffer` is writable for `buflen` bytes.
        let mut bump = unsafe { bump(buffer, buflen) };
        let first = pack::addrtuples(&mut bump, &host_name_of(&peer), &addresses)?;
        // SAFETY: `pat` is valid and `*pat`, when not NULL, is a writable tuple. Copying into a
        // caller's tuple is what glibc expects when it supplies one (as systemd's module does).
        unsafe {
            match *pat {
                caller if !caller.is_null() => *caller = *first,
                _ => *pat = first,
            }
            set_ttl(ttlp);
        }
        Ok(())
    };
    // SAFETY: `errnop` and `herrnop` are valid.
    unsafe { report(errnop, herrnop, Fail::try_again(libc::EIO), lookup) }
}

/// [`_nss_pnrp_gethostbyname3_r`] with the configuration from `config`, which is called only once
/// the name is known to be a peer name.
///
/// # Safety
///
/// As [`_nss_pnrp_gethostbyname3_r`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyname3_with(
    config: impl FnOnce() -> Config,
    name: *const c_char,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> NssStatus {
    let lookup = || {
        // SAFETY: `name` is NULL or NUL-terminated.
        let peer = unsafe { peer_name(name) }?;
        let ipv4 = match af {
            libc::AF_INET => true,
            libc::AF_INET6 => false,
            _ => return Err(Fail::unavail(libc::EAFNOSUPPORT)),
        };
        if host.is_null() {
            return Err(Fail::unavail(libc::EINVAL));
        }
        // hostent has one family: IPv4 asks get the v4-mapped addresses unmapped, IPv6 asks the
        // native IPv6 ones. Scope ids have no place in a hostent.
        let bytes: Vec<u8> = resolve(&config(), &peer)?
            .iter()
            .filter_map(|address| match (address.ipv4(), ipv4) {
                (Some(v4), true) => Some(v4.octets().to_vec()),
                (None, false) => Some(address.ip.octets().to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        if bytes.is_empty() {
            return Err(Fail::NO_DATA);
        }
        let length = if ipv4 { 4 } else { 16 };
        // SAFETY: `buffer` is writable for `buflen` bytes.
        let mut bump = unsafe { bump(buffer, buflen) };
        let result = pack::hostent(&mut bump, &host_name_of(&peer), &[], af, length, &bytes)?;
        // SAFETY: `host` is writable; `ttlp` and `canonp` are NULL or valid.
        unsafe {
            *host = result;
            set_ttl(ttlp);
            if !canonp.is_null() {
                *canonp = result.h_name;
            }
        }
        Ok(())
    };
    // SAFETY: `errnop` and `herrnop` are valid.
    unsafe { report(errnop, herrnop, Fail::try_again(libc::EIO), lookup) }
}

/// [`_nss_pnrp_gethostbyaddr2_r`] with the configuration from `config`.
///
/// # Safety
///
/// As [`_nss_pnrp_gethostbyaddr2_r`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gethostbyaddr2_with(
    config: impl FnOnce() -> Config,
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    host: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    let lookup = || {
        let length = match af {
            libc::AF_INET => 4,
            libc::AF_INET6 => 16,
            _ => return Err(Fail::unavail(libc::EAFNOSUPPORT)),
        };
        if addr.is_null() || host.is_null() || len as usize != length {
            return Err(Fail::unavail(libc::EINVAL));
        }
        // SAFETY: `addr` is readable for `len` bytes, which is `length`.
        let bytes = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), length) };
        let ip = match <[u8; 4]>::try_from(bytes) {
            Ok(v4) => Ipv4Addr::from(v4).to_ipv6_mapped(),
            Err(_) => Ipv6Addr::from(<[u8; 16]>::try_from(bytes).expect("16 bytes")),
        };
        let request = Request::ResolveAddress {
            address: ScopedAddr { ip, scope_id: 0 },
        };
        // Any address may be asked about, not only peers': whatever the daemon cannot answer
        // must fall through to DNS, which `[!UNAVAIL=return]` only allows for UNAVAIL.
        let names = match client::request(&config(), &request) {
            Ok(Response::Names(names)) if !names.is_empty() => names,
            Ok(Response::NotFound | Response::Names(_)) => {
                return Err(Fail {
                    herrno: HOST_NOT_FOUND,
                    ..Fail::unavail(libc::ENOENT)
                })
            }
            Ok(Response::Error { .. }) => return Err(Fail::unavail(libc::EAGAIN)),
            Ok(_) => return Err(Fail::unavail(libc::EPROTO)),
            Err(errno) => return Err(Fail::unavail(errno)),
        };
        let aliases: Vec<String> = names[1..].iter().map(host_name_of).collect();
        // SAFETY: `buffer` is writable for `buflen` bytes.
        let mut bump = unsafe { bump(buffer, buflen) };
        let result = pack::hostent(
            &mut bump,
            &host_name_of(&names[0]),
            &aliases,
            af,
            length,
            bytes,
        )?;
        // SAFETY: `host` is writable; `ttlp` is NULL or valid.
        unsafe {
            *host = result;
            set_ttl(ttlp);
        }
        Ok(())
    };
    // SAFETY: `errnop` and `herrnop` are valid.
    unsafe { report(errnop, herrnop, Fail::unavail(libc::EIO), lookup) }
}

/// How a lookup failed, as glibc is told.
#[derive(Debug, Clone, Copy)]
struct Fail {
    status: NssStatus,
    /// For `*errnop`; `None` leaves it alone.
    errno: Option<c_int>,
    herrno: c_int,
}

impl Fail {
    /// Not under `.pnrp.net`: the next source answers. errno is left alone, since every lookup on
    /// the machine passes here and most are none of our business.
    const NOT_OURS: Fail = Fail {
        status: NssStatus::Unavail,
        errno: None,
        herrno: NO_RECOVERY,
    };
    const NOT_FOUND: Fail = Fail {
        status: NssStatus::NotFound,
        errno: Some(libc::ENOENT),
        herrno: HOST_NOT_FOUND,
    };
    const NO_DATA: Fail = Fail {
        status: NssStatus::NotFound,
        errno: Some(libc::ENOENT),
        herrno: NO_DATA,
    };

    fn unavail(errno: c_int) -> Self {
        Fail {
            status: NssStatus::Unavail,
            errno: Some(errno),
            herrno: NO_RECOVERY,
        }
    }

    fn try_again(errno: c_int) -> Self {
        Fail {
            status: NssStatus::TryAgain,
            errno: Some(errno),
            herrno: TRY_AGAIN,
        }
    }
}

impl From<Erange> for Fail {
    /// The one combination that makes glibc grow the buffer and call again.
    fn from(_: Erange) -> Self {
        Fail {
            status: NssStatus::TryAgain,
            errno: Some(libc::ERANGE),
            herrno: NETDB_INTERNAL,
        }
    }
}

/// Runs `lookup` and reports it the glibc way: panics become `on_panic` (TRYAGAIN for names under .pnrp.net, which must not reach DNS), errno comes back as it was,
/// and only then are `*errnop` and `*herrnop` written (`errnop` is often `&errno`).
///
/// # Safety
///
/// `errnop` and `herrnop` are NULL or valid for writes.
unsafe fn report(
    errnop: *mut c_int,
    herrnop: *mut c_int,
    on_panic: Fail,
    lookup: impl FnOnce() -> Result<(), Fail>,
) -> NssStatus {
    // SAFETY: the calling thread's errno is always valid.
    let saved = unsafe { *libc::__errno_location() };
    let outcome = panic::catch_unwind(AssertUnwindSafe(lookup)).unwrap_or(Err(on_panic));
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
    let Err(fail) = outcome else {
        return NssStatus::Success;
    };
    // SAFETY: both are NULL or valid for writes.
    unsafe {
        if let (Some(errno), false) = (fail.errno, errnop.is_null()) {
            *errnop = errno;
        }
        if !herrnop.is_null() {
            *herrnop = fail.herrno;
        }
    }
    fail.status
}

/// The peer name `name` stands for. Anything not under `.pnrp.net` is refused first, before any
/// allocation; what is under it but cannot be a peer name is not found without asking.
///
/// # Safety
///
/// `name` is NULL or NUL-terminated.
unsafe fn peer_name(name: *const c_char) -> Result<PeerName, Fail> {
    if name.is_null() {
        return Err(Fail::NOT_OURS);
    }
    // SAFETY: `name` is NUL-terminated.
    let host = unsafe { CStr::from_ptr(name) }.to_bytes();
    if !is_pnrp_host(host) {
        return Err(Fail::NOT_OURS);
    }
    let host = std::str::from_utf8(host).map_err(|_| Fail::NOT_FOUND)?;
    peer_name_of_host(host).map_err(|_| Fail::NOT_FOUND)
}

/// The addresses of `peer`, each once, in the daemon's order: from the daemon's snapshot when
/// this machine publishes the name (and the snapshot can be trusted), else over every record the
/// daemon holds.
fn resolve(config: &Config, peer: &PeerName) -> Result<Vec<ScopedAddr>, Fail> {
    if let Some(path) = &config.snapshot {
        if let Some(addresses) = snapshot::lookup(path, &config.socket_path, &peer.to_string()) {
            return distinct(addresses);
        }
    }
    match client::request(config, &Request::Resolve { name: peer.clone() }) {
        Ok(Response::Resolved(records)) => {
            distinct(records.into_iter().flat_map(|record| record.addresses))
        }
        Ok(Response::NotFound) => Err(Fail::NOT_FOUND),
        Ok(Response::Error { .. }) => Err(Fail::try_again(libc::EAGAIN)),
        Ok(_) => Err(Fail::try_again(libc::EPROTO)),
        Err(errno) => Err(Fail::try_again(errno)),
    }
}

/// Each address once, in their order; `NO_DATA` when there is none.
fn distinct(all: impl IntoIterator<Item = ScopedAddr>) -> Result<Vec<ScopedAddr>, Fail> {
    // A linear dedup keeps the order and, unlike a HashSet, needs no random seed (a getrandom
    // call some sandboxed programs forbid).
    let mut addresses: Vec<ScopedAddr> = Vec::new();
    for address in all {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(Fail::NO_DATA);
    }
    Ok(addresses)
}

/// # Safety
///
/// `buffer` is writable for `buflen` bytes (or NULL).
unsafe fn bump(buffer: *mut c_char, buflen: size_t) -> Bump {
    let buflen = if buffer.is_null() { 0 } else { buflen };
    // SAFETY: forwarded.
    unsafe { Bump::new(buffer, buflen) }
}

/// # Safety
///
/// `ttlp` is NULL or valid for writes.
unsafe fn set_ttl(ttlp: *mut i32) {
    if !ttlp.is_null() {
        // SAFETY: forwarded.
        unsafe { *ttlp = TTL_SECS };
    }
}
