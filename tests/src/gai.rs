//! `pnrp-multicall gai …`: resolves names through glibc, as any program on the machine does, and
//! prints what it got so that tests can check it.
//!
//! - `lookup NAME [unspec|inet|inet6]`: getaddrinfo; one line `inet6 ADDR SCOPE` / `inet ADDR` per
//!   distinct address, or `error EAI_…`.
//! - `timed NAME`: `lookup` twice, printing the second's result and then `elapsed_ms N`, how long
//!   that getaddrinfo took (the first loads the NSS modules).
//! - `threads NAME THREADS ROUNDS`: getaddrinfo from many threads at once; `ok N failed M`.
//! - `fork NAME`: getaddrinfo before `fork`, in the child, and in the parent after it.
//! - `sweep NAME inet|inet6`: gethostbyname2_r with every buffer length from 0 up, poison bytes
//!   around the buffer; checks glibc's grow-and-retry signal, the guards and every pointer.
//! - `reverse ADDR`: getnameinfo with NI_NAMEREQD.
//! - `bench NAME ITERATIONS [unspec|inet|inet6]`: 200 warm-up lookups, then times each
//!   getaddrinfo+freeaddrinfo; one line `bench name=… family=… n=… min_ns=… p50_ns=… p99_ns=…
//!   mean_ns=… max_ns=…` (exit 1 if any lookup fails). Used by `bench/getaddrinfo.sh`.
//! - `socket-bench NAME ITERATIONS`: the NSS module's socket path alone (no glibc, no
//!   snapshot), one connection per lookup as the module makes; the same line, `socket-bench …`.
//! - `syscalls NAME ITERATIONS`: one lookup, then ITERATIONS between two marker writes
//!   (`write(-1, "pnrp-bench-mark")`), for `strace` to count the system calls of each.
//! - `floor-server SOCKET`: a minimal blocking server with a ready-made answer, the floor
//!   pnrpd's CPU per socket request is compared with.
//!
//! The benchmark subcommands are in `gai_bench.rs`.

use std::ffi::{CStr, CString, OsString};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

/// One address getaddrinfo returned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Found {
    /// AF_INET.
    V4(Ipv4Addr),
    /// AF_INET6 with its scope id.
    V6(Ipv6Addr, u32),
}

pub(crate) fn eai_name(code: i32) -> String {
    let name = match code {
        libc::EAI_AGAIN => "EAI_AGAIN",
        libc::EAI_NONAME => "EAI_NONAME",
        libc::EAI_FAIL => "EAI_FAIL",
        libc::EAI_NODATA => "EAI_NODATA",
        libc::EAI_FAMILY => "EAI_FAMILY",
        libc::EAI_MEMORY => "EAI_MEMORY",
        libc::EAI_SYSTEM => "EAI_SYSTEM",
        _ => return format!("EAI_{code}"),
    };
    name.into()
}

/// getaddrinfo(name) with the given family hint; the distinct addresses, or the EAI name.
pub fn lookup(name: &str, family: i32) -> Result<Vec<Found>, String> {
    let host = CString::new(name).map_err(|_| "NUL in name".to_string())?;
    // SAFETY: all-zero addrinfo is a valid "no hints" value; we then set the fields we use.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string, hints and out-pointer; the list is freed below.
    let code = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if code != 0 {
        return Err(eai_name(code));
    }
    let mut found = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: nodes of the list getaddrinfo returned.
        let entry = unsafe { &*cursor };
        cursor = entry.ai_next;
        match entry.ai_family {
            libc::AF_INET => {
                // SAFETY: AF_INET entries hold a sockaddr_in.
                let v4 = unsafe { &*(entry.ai_addr as *const libc::sockaddr_in) };
                found.push(Found::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6 entries hold a sockaddr_in6.
                let v6 = unsafe { &*(entry.ai_addr as *const libc::sockaddr_in6) };
                found.push(Found::V6(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    v6.sin6_scope_id,
                ));
            }
            _ => {}
        }
    }
    // SAFETY: freed once, from getaddrinfo.
    unsafe { libc::freeaddrinfo(list) };
    found.dedup();
    Ok(found)
}

fn print_lookup(result: &Result<Vec<Found>, String>) {
    match result {
        Ok(found) => {
            for address in found {
                match address {
                    Found::V4(ip) => println!("inet {ip}"),
                    Found::V6(ip, scope) => println!("inet6 {ip} {scope}"),
                }
            }
        }
        Err(error) => println!("error {error}"),
    }
}

pub(crate) fn family_arg(text: Option<&str>) -> i32 {
    match text {
        Some("inet") => libc::AF_INET,
        Some("inet6") => libc::AF_INET6,
        _ => libc::AF_UNSPEC,
    }
}

/// Runs a `gai` subcommand.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["lookup", name, rest @ ..] => {
            let result = lookup(name, family_arg(rest.first().copied()));
            print_lookup(&result);
            ExitCode::from(u8::from(result.is_err()))
        }
        ["timed", name] => {
            // Load the NSS modules first (slow under valgrind) with a name that reaches the pnrp
            // module but not the daemon (outside pnrp.net); then time the real lookup.
            let _ = lookup("nss-warm-up.invalid", libc::AF_UNSPEC);
            let started = std::time::Instant::now();
            let result = lookup(name, libc::AF_UNSPEC);
            let elapsed = started.elapsed();
            print_lookup(&result);
            println!("elapsed_ms {}", elapsed.as_millis());
            ExitCode::from(u8::from(result.is_err()))
        }
        ["threads", name, threads, rounds] => threads_main(name, threads, rounds),
        ["fork", name] => fork_main(name),
        ["sweep", name, family] => sweep_main(name, family_arg(Some(family))),
        ["reverse", address] => reverse_main(address),
        ["bench", name, iterations, rest @ ..] => {
            crate::gai_bench::bench_main(name, iterations, rest.first().copied())
        }
        ["socket-bench", name, iterations] => crate::gai_bench::socket_bench_main(name, iterations),
        ["syscalls", name, iterations] => crate::gai_bench::syscalls_main(name, iterations),
        ["floor-server", socket] => crate::gai_bench::floor_server_main(socket),
        _ => {
            eprintln!(
                "usage: gai lookup|timed|threads|fork|sweep|reverse|bench|socket-bench|syscalls|floor-server …"
            );
            ExitCode::from(2)
        }
    }
}

fn threads_main(name: &str, threads: &str, rounds: &str) -> ExitCode {
    let (Ok(threads), Ok(rounds)) = (threads.parse::<usize>(), rounds.parse::<usize>()) else {
        return ExitCode::from(2);
    };
    let expected = lookup(name, libc::AF_UNSPEC);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let name = name.to_owned();
            let expected = expected.clone();
            std::thread::spawn(move || {
                (0..rounds)
                    .filter(|_| lookup(&name, libc::AF_UNSPEC) == expected)
                    .count()
            })
        })
        .collect();
    let ok: usize = handles
        .into_iter()
        .map(|handle| handle.join().unwrap_or(0))
        .sum();
    let failed = threads * rounds - ok;
    println!("ok {ok} failed {failed} answer {}", expected.is_ok());
    ExitCode::from(u8::from(failed > 0 || expected.is_err()))
}

fn fork_main(name: &str) -> ExitCode {
    let before = lookup(name, libc::AF_UNSPEC);
    print!("before ");
    print_lookup(&before);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: the child only resolves and exits; this program runs no other threads.
    let child = unsafe { libc::fork() };
    if child == 0 {
        let inside = lookup(name, libc::AF_UNSPEC);
        let code = i32::from(inside != before || inside.is_err());
        print!("child ");
        print_lookup(&inside);
        let _ = std::io::stdout().flush();
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we forked.
    unsafe { libc::waitpid(child, &mut status, 0) };
    let after = lookup(name, libc::AF_UNSPEC);
    print!("after ");
    print_lookup(&after);
    let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    println!("child_ok {child_ok}");
    ExitCode::from(u8::from(!child_ok || after != before || before.is_err()))
}

const GUARD: usize = 64;
const POISON: u8 = 0xA5;

fn sweep_main(name: &str, family: i32) -> ExitCode {
    let Ok(host) = CString::new(name) else {
        return ExitCode::from(2);
    };
    let mut problems = Vec::new();
    let mut first_success = None;
    for length in 0..65536usize {
        let mut storage = vec![POISON; length + 2 * GUARD];
        // SAFETY: zeroed hostent is a valid out-parameter.
        let mut entry: libc::hostent = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::hostent = std::ptr::null_mut();
        let mut h_error = 0;
        let buffer = storage[GUARD..].as_mut_ptr().cast::<libc::c_char>();
        // SAFETY: `buffer` has `length` writable bytes (guards around it are ours to check).
        let code = unsafe {
            gethostbyname2_r(
                host.as_ptr(),
                family,
                &mut entry,
                buffer,
                length,
                &mut result,
                &mut h_error,
            )
        };
        if storage[..GUARD]
            .iter()
            .chain(&storage[GUARD + length..])
            .any(|&byte| byte != POISON)
        {
            problems.push(format!("length {length}: guard bytes overwritten"));
        }
        if code == libc::ERANGE {
            continue;
        }
        if code != 0 || result.is_null() {
            problems.push(format!("length {length}: code {code} h_errno {h_error}"));
            break;
        }
        let start = storage.as_ptr() as usize + GUARD;
        let inside =
            |pointer: usize, size: usize| pointer >= start && pointer + size <= start + length;
        // SAFETY: on success glibc filled `entry`, whose pointers we check before reading.
        let addresses = unsafe { read_hostent(&entry, &inside, &mut problems) };
        println!("success at length {length}");
        for address in addresses {
            println!("address {address}");
        }
        first_success = Some(length);
        break;
    }
    if first_success.is_none() {
        problems.push("never succeeded".into());
    }
    for problem in &problems {
        println!("problem {problem}");
    }
    ExitCode::from(u8::from(!problems.is_empty()))
}

/// # Safety
/// `entry` must be a hostent filled by a successful gethostbyname2_r.
unsafe fn read_hostent(
    entry: &libc::hostent,
    inside: &dyn Fn(usize, usize) -> bool,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let pointer_size = std::mem::size_of::<*mut libc::c_char>();
    let mut addresses = Vec::new();
    if !inside(entry.h_name as usize, 1) {
        problems.push("h_name outside the buffer".into());
        return addresses;
    }
    // SAFETY: h_name points inside the buffer at a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(entry.h_name) };
    println!("name {}", name.to_string_lossy());
    if !inside(entry.h_aliases as usize, pointer_size) {
        problems.push("h_aliases outside the buffer".into());
    }
    let mut index = 0;
    loop {
        let slot = entry.h_addr_list as usize + index * pointer_size;
        if !inside(slot, pointer_size) {
            problems.push("h_addr_list outside the buffer".into());
            break;
        }
        // SAFETY: the slot lies inside the buffer.
        let address = unsafe { *entry.h_addr_list.add(index) };
        if address.is_null() {
            break;
        }
        let length = entry.h_length as usize;
        if !inside(address as usize, length) {
            problems.push(format!("address {index} outside the buffer"));
            break;
        }
        // SAFETY: `length` bytes inside the buffer.
        let bytes = unsafe { std::slice::from_raw_parts(address.cast::<u8>(), length) };
        match length {
            4 => addresses.push(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
            16 => {
                let mut octets = [0; 16];
                octets.copy_from_slice(bytes);
                addresses.push(Ipv6Addr::from(octets).to_string());
            }
            other => problems.push(format!("h_length {other}")),
        }
        index += 1;
    }
    addresses
}

extern "C" {
    fn gethostbyname2_r(
        name: *const libc::c_char,
        af: libc::c_int,
        ret: *mut libc::hostent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut libc::c_int,
    ) -> libc::c_int;
}

fn reverse_main(address: &str) -> ExitCode {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return ExitCode::from(2);
    };
    let socket_address = std::net::SocketAddr::new(ip, 0);
    // SAFETY: zeroed sockaddr_storage, then filled with the right family's layout.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let length = match socket_address {
        std::net::SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: valid sockaddr of `length` bytes and an output buffer of its stated size.
    let code = unsafe {
        libc::getnameinfo(
            &storage as *const _ as *const libc::sockaddr,
            length as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if code != 0 {
        println!("error {}", eai_name(code));
        return ExitCode::from(1);
    }
    // SAFETY: getnameinfo wrote a NUL-terminated name.
    println!(
        "name {}",
        unsafe { CStr::from_ptr(host.as_ptr()) }.to_string_lossy()
    );
    ExitCode::SUCCESS
}
