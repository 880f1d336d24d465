//! The benchmark subcommands of `pnrp-multicall gai` (`bench/getaddrinfo.sh`): getaddrinfo timed
//! through glibc, the NSS module's socket path timed alone, the marked stretch of lookups whose
//! system calls `strace` counts, and the floor a daemon's socket path is measured against.

use std::ffi::CString;
use std::process::ExitCode;
use std::time::Instant;

use crate::gai::{eai_name, family_arg};

/// Lookups before timing starts: loads the NSS modules, fills caches, wakes the daemon up.
pub const BENCH_WARMUP: usize = 200;

pub fn bench_main(name: &str, iterations: &str, family: Option<&str>) -> ExitCode {
    let (Ok(host), Ok(iterations)) = (CString::new(name), iterations.parse::<usize>()) else {
        return ExitCode::from(2);
    };
    if iterations == 0 {
        return ExitCode::from(2);
    }
    // SAFETY: all-zero addrinfo is a valid "no hints" value; we then set the fields we use.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family_arg(family);
    hints.ai_socktype = libc::SOCK_STREAM;
    // One getaddrinfo+freeaddrinfo; the error code on failure.
    let once = || -> Result<(), i32> {
        let mut list: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: valid C string, hints and out-pointer; the list is freed right after.
        let code = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut list) };
        if code != 0 {
            return Err(code);
        }
        // SAFETY: freed once, from getaddrinfo.
        unsafe { libc::freeaddrinfo(list) };
        Ok(())
    };
    for _ in 0..BENCH_WARMUP {
        if let Err(code) = once() {
            println!("error {} name={name}", eai_name(code));
            return ExitCode::from(1);
        }
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = std::time::Instant::now();
        let result = once();
        let elapsed = start.elapsed();
        if let Err(code) = result {
            println!("error {} name={name}", eai_name(code));
            return ExitCode::from(1);
        }
        samples.push(elapsed.as_nanos() as u64);
    }
    report("bench", name, family.unwrap_or("unspec"), samples);
    ExitCode::SUCCESS
}

/// Prints one result line: `WHAT name=… family=… n=… min_ns=… p50_ns=… p99_ns=… mean_ns=…
/// max_ns=…` over `samples` (nanoseconds).
fn report(what: &str, name: &str, family: &str, mut samples: Vec<u64>) {
    samples.sort_unstable();
    // Nearest-rank percentile.
    let percentile = |p: usize| samples[(samples.len() * p).div_ceil(100).max(1) - 1];
    let mean = samples.iter().sum::<u64>() / samples.len() as u64;
    println!(
        "{what} name={name} family={family} n={} min_ns={} p50_ns={} p99_ns={} mean_ns={mean} max_ns={}",
        samples.len(),
        samples[0],
        percentile(50),
        percentile(99),
        samples[samples.len() - 1],
    );
}

/// `socket-bench NAME ITERATIONS`: the module's own socket exchange (the daemon named by
/// `PNRP_SOCKET`, else the default), without glibc and without the snapshot, so every lookup
/// is one request to the daemon on a connection of its own.
pub fn socket_bench_main(name: &str, iterations: &str) -> ExitCode {
    let (Ok(host), Ok(iterations)) = (CString::new(name), iterations.parse::<usize>()) else {
        return ExitCode::from(2);
    };
    if iterations == 0 {
        return ExitCode::from(2);
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut once = || -> Result<(), String> {
        let config = || nss_pnrp::Config {
            snapshot: None,
            ..nss_pnrp::Config::from_env()
        };
        let (mut pat, mut errno, mut herrno, mut ttl) = (std::ptr::null_mut(), 0, 0, 0);
        // SAFETY: valid name, out-pointers and a buffer of the length given.
        let status = unsafe {
            nss_pnrp::gethostbyname4_with(
                config,
                host.as_ptr(),
                &mut pat,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut errno,
                &mut herrno,
                &mut ttl,
            )
        };
        match status {
            nss_pnrp::NssStatus::Success => Ok(()),
            other => Err(format!("{other:?} errno {errno}")),
        }
    };
    let mut samples = Vec::with_capacity(iterations);
    for index in 0..BENCH_WARMUP + iterations {
        let start = Instant::now();
        if let Err(error) = once() {
            println!("error {error} name={name}");
            return ExitCode::from(1);
        }
        if index >= BENCH_WARMUP {
            samples.push(start.elapsed().as_nanos() as u64);
        }
    }
    report("socket-bench", name, "unspec", samples);
    ExitCode::SUCCESS
}

/// What `strace` sees between the lookups counted: a write no other code makes.
const MARK: &[u8] = b"pnrp-bench-mark";

/// `syscalls NAME ITERATIONS`: loads the NSS modules with one lookup, then runs ITERATIONS
/// lookups between two marker writes to fd -1 (which fail with EBADF and do nothing else).
pub fn syscalls_main(name: &str, iterations: &str) -> ExitCode {
    let Ok(iterations) = iterations.parse::<usize>() else {
        return ExitCode::from(2);
    };
    let mark = || {
        // SAFETY: a write to an invalid descriptor only fails.
        unsafe { libc::write(-1, MARK.as_ptr().cast(), MARK.len()) };
    };
    let first = crate::gai::lookup(name, libc::AF_UNSPEC);
    mark();
    for _ in 0..iterations {
        let _ = crate::gai::lookup(name, libc::AF_UNSPEC);
    }
    mark();
    match first {
        Ok(found) => println!("syscalls name={name} found={}", found.len()),
        Err(error) => println!("syscalls name={name} error={error}"),
    }
    ExitCode::SUCCESS
}

/// `floor-server SOCKET`: the least a daemon can do per socket request, for scale: one blocking
/// thread accepts, reads one request frame, writes a ready-made answer (one record, one IPv6
/// and one IPv4 address), waits for the client to close, and closes. No runtime, no lookup.
pub fn floor_server_main(socket: &str) -> ExitCode {
    use pnrp_shared::ipc::{self, Record, Response, Source, HEADER_LEN};
    use std::io::{Read, Write};
    let Ok(listener) = std::os::unix::net::UnixListener::bind(socket) else {
        return ExitCode::from(1);
    };
    let address = |text: &str| pnrp_shared::ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id: 0,
    };
    let answer = ipc::encode_frame(&Response::Resolved(vec![Record {
        name: "0.bench".parse().unwrap(),
        addresses: vec![address("fd70::1"), address("::ffff:192.0.2.1")],
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
        source: Source::Local,
    }]))
    .unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut header = [0; HEADER_LEN];
        if stream.read_exact(&mut header).is_err() {
            continue;
        }
        let Ok(length) = ipc::frame_length(header) else {
            continue;
        };
        if length > buffer.len() || stream.read_exact(&mut buffer[..length]).is_err() {
            continue;
        }
        let _ = stream.write_all(&answer);
        let _ = stream.read(&mut buffer);
    }
    ExitCode::SUCCESS
}
