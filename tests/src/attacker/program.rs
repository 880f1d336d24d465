//! The `attacker` program of `pnrp-multicall`: drives [`super::Attacker`] over a
//! real UDP socket, for the attack scenario in network namespaces (`scripts/attack-hosts.sh`).
//!
//! `attacker --bind [ADDR]:PORT --seed [ADDR]:PORT --name NAME --target [ADDR]:PORT...
//! --seconds N` attacks NAME for N seconds, then prints what it tried as `key=value` lines.

use std::ffi::OsString;
use std::net::{SocketAddr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use pnrp_proto::cloud::{CloudConfig, WallClock};

use super::{AttackConfig, Attacker};

struct Options {
    bind: SocketAddrV6,
    seed: SocketAddrV6,
    name: String,
    targets: Vec<SocketAddrV6>,
    seconds: u64,
}

fn parse(args: Vec<OsString>) -> Result<Options, String> {
    let mut bind = None;
    let mut seed = None;
    let mut name = None;
    let mut targets = Vec::new();
    let mut seconds = 30;
    let mut args = args
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned());
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let endpoint = || {
            value
                .parse::<SocketAddrV6>()
                .map_err(|error| format!("{flag} {value}: {error}"))
        };
        match flag.as_str() {
            "--bind" => bind = Some(endpoint()?),
            "--seed" => seed = Some(endpoint()?),
            "--target" => targets.push(endpoint()?),
            "--name" => name = Some(value),
            "--seconds" => seconds = value.parse().map_err(|_| "bad --seconds".to_owned())?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Options {
        bind: bind.ok_or("--bind is required")?,
        seed: seed.ok_or("--seed is required")?,
        name: name.ok_or("--name is required")?,
        targets,
        seconds,
    })
}

/// Runs the program with its arguments (after the program name).
pub fn main(args: Vec<OsString>) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("attacker: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<OsString>) -> Result<(), String> {
    let options = parse(args)?;
    let victim = options
        .name
        .parse()
        .map_err(|error| format!("{}: {error}", options.name))?;
    let socket = UdpSocket::bind(options.bind).map_err(|error| format!("bind: {error}"))?;
    let secret = pnrpd::store::random_bytes::<32>().map_err(|error| error.to_string())?;
    let start = Instant::now();
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| error.to_string())?
        .as_secs();
    let cloud = CloudConfig {
        seed: u64::from_le_bytes(secret[..8].try_into().expect("8 bytes")),
        seeds: vec![options.seed],
        key: SigningKey::from_bytes(&secret),
        clock: WallClock {
            at: start,
            unix_secs,
        },
        scope_id: 0,
        discovery: None,
    };
    let mut attacker = Attacker::new(
        start,
        cloud,
        AttackConfig {
            victim,
            address: options.bind,
            targets: options.targets,
            push_every: Duration::from_millis(300),
        },
    );
    let end = start + Duration::from_secs(options.seconds);
    let mut buffer = vec![0; 65536];
    loop {
        while let Some((to, bytes)) = attacker.poll_transmit() {
            let _ = socket.send_to(&bytes, to);
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        let wake = attacker.poll_timeout().unwrap_or(end).min(end);
        if wake <= now {
            attacker.handle_timeout(now);
            continue;
        }
        socket
            .set_read_timeout(Some(wake - now))
            .map_err(|error| error.to_string())?;
        match socket.recv_from(&mut buffer) {
            Ok((length, SocketAddr::V6(from))) => {
                attacker.handle_datagram(Instant::now(), from, &buffer[..length]);
            }
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return Err(format!("receive: {error}")),
        }
    }
    let stats = attacker.stats();
    println!("captured={}", stats.captured);
    println!("inquiries_answered={}", stats.inquiries_answered);
    println!("impostor_cpas={}", stats.impostor_cpas);
    println!("replayed_cpas={}", stats.replayed_cpas);
    println!("forged_cpas={}", stats.forged_cpas);
    println!("poisoned_floods={}", stats.poisoned_floods);
    println!("forged_revokes={}", stats.forged_revokes);
    Ok(())
}
