//! `pnrp-flood`: fires hostile PNRP datagrams at one node, for `tests/scripts/hostile-flood.sh`.
//!
//! ```text
//! pnrp-flood --target [ADDR]:PORT --count N [--rate PER_SEC] [--bind ADDR]... [--id HEX]...
//! ```
//!
//! The datagrams come from a pool built with pnrpd's own wire module and varied on every send:
//! valid messages of every type with forged fields (random message and acked IDs, route
//! entries pointing at strangers, AUTHORITY fragments of no conversation, INQUIREs for the
//! target's own IDs given with `--id`, asking for CPA and payload), the same randomly mutated or
//! truncated, and random bytes. Each `--bind` address is one more source (round robin). Replies
//! are drained and counted, so the amplification the target allowed is measured. Prints one
//! line: `sent N datagrams (B bytes) in S s: R/s; received M datagrams (A bytes) back`.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pnrp_proto::wire::{
    Ack, Advertise, AuthorityBuffer, BoundedVec, Endpoint, Flood, Inquire, Lookup, Message, Packet,
    Request, ResolveCriteria, ResolveReason, RouteEntry, Solicit, SolicitType,
};
use pnrp_shared::PnrpId;

/// xorshift64*: no dependency, fast, good enough to vary datagrams.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn id(&mut self) -> PnrpId {
        let mut bytes = [0; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        PnrpId(bytes)
    }
    fn address(&mut self) -> Ipv6Addr {
        // Strangers in the test's ULA prefix and anywhere else.
        if self.next().is_multiple_of(2) {
            Ipv6Addr::new(0xfd71, 0, 0, 0, 0, 0, 0xdead, self.next() as u16)
        } else {
            Ipv6Addr::from(u128::from(self.next()) << 64 | u128::from(self.next()))
        }
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for byte in &mut out {
            *byte = self.next() as u8;
        }
        out
    }
}

fn random_entry(rng: &mut Rng) -> RouteEntry {
    let id = rng.id();
    let addresses: Vec<Ipv6Addr> = (0..1 + rng.below(3)).map(|_| rng.address()).collect();
    RouteEntry {
        pnrp_id: id,
        port: 1025 + rng.below(60000) as u16,
        addresses: BoundedVec::truncating(addresses).expect("at least one"),
    }
}

/// One valid-looking message with forged fields.
fn forged(rng: &mut Rng, targets: &[PnrpId]) -> Message {
    let some_id = |rng: &mut Rng| {
        if !targets.is_empty() && rng.next().is_multiple_of(2) {
            targets[rng.below(targets.len())]
        } else {
            rng.id()
        }
    };
    match rng.below(9) {
        0 | 1 => Message::Inquire(Inquire {
            want_cpa: true,
            want_extended_payload: true,
            want_cert_chain: rng.next().is_multiple_of(2),
            validate_id: some_id(rng),
            nonce: Some(rng.bytes()),
        }),
        2 => {
            let flagged: Vec<Endpoint> = (0..1 + rng.below(5))
                .map(|_| Endpoint {
                    port: rng.next() as u16,
                    address: rng.address(),
                })
                .collect();
            let target = some_id(rng);
            let carried = random_entry(rng);
            Message::Lookup(Lookup {
                accept_not_closer: rng.next().is_multiple_of(2),
                precision: 0,
                criteria: ResolveCriteria::AnyPeerName,
                reason: ResolveReason::AppRequest,
                target,
                validate_id: some_id(rng),
                route_entry: rng.next().is_multiple_of(2).then_some(carried),
                flagged_path: BoundedVec::truncating(flagged).expect("at least one"),
            })
        }
        3 => {
            let entry = random_entry(rng);
            Message::Solicit(Solicit {
                solicit_type: Some(SolicitType::Any),
                route_entry: rng.next().is_multiple_of(2).then_some(entry),
                hashed_nonce: rng.bytes(),
            })
        }
        4 => {
            let ids: Vec<PnrpId> = (0..1 + rng.below(20)).map(|_| some_id(rng)).collect();
            Message::Request(Request {
                nonce: rng.bytes(),
                ids: BoundedVec::truncating(ids).expect("at least one"),
            })
        }
        5 => {
            let entry = random_entry(rng);
            let already: Vec<Endpoint> = (0..rng.below(4))
                .map(|_| Endpoint {
                    port: 3540,
                    address: rng.address(),
                })
                .collect();
            Message::Flood(Flood {
                no_ack: rng.next().is_multiple_of(2),
                validate_id: some_id(rng),
                revoke_cpa: None,
                route_entry: Some(entry),
                already_flooded: BoundedVec::truncating(already).unwrap_or_else(BoundedVec::empty),
            })
        }
        6 => {
            let ids: Vec<PnrpId> = (0..1 + rng.below(5)).map(|_| rng.id()).collect();
            Message::Advertise(Advertise {
                acked_message_id: rng.next() as u32,
                ids: BoundedVec::truncating(ids).expect("at least one"),
                hashed_nonce: rng.bytes(),
            })
        }
        7 => Message::Ack(Ack {
            acked_message_id: rng.next() as u32,
            not_found: Some(rng.next().is_multiple_of(2)),
        }),
        _ => {
            // An AUTHORITY fragment of no conversation: a large buffer, one fragment of it.
            let buffer = AuthorityBuffer::answer(Some(random_entry(rng)), None);
            let mut fragments = buffer.fragments(rng.next() as u32);
            let pick = rng.below(fragments.len());
            Message::Authority(fragments.swap_remove(pick))
        }
    }
}

/// The pool: a quarter each of valid forged messages, mutated ones, truncated ones, random bytes.
fn pool(rng: &mut Rng, targets: &[PnrpId], size: usize) -> Vec<Vec<u8>> {
    (0..size)
        .map(|index| {
            if index % 4 == 3 {
                let len = rng.below(1400);
                return (0..len).map(|_| rng.next() as u8).collect();
            }
            let mut bytes = Packet {
                message_id: rng.next() as u32,
                message: forged(rng, targets),
            }
            .encode();
            match index % 4 {
                1 => {
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] ^= 1 << rng.below(8);
                    }
                }
                2 => bytes.truncate(rng.below(bytes.len())),
                _ => {}
            }
            bytes
        })
        .collect()
}

struct Options {
    target: SocketAddr,
    count: u64,
    rate: u64,
    binds: Vec<Ipv6Addr>,
    ids: Vec<PnrpId>,
}

fn parse_id(hex: &str) -> Option<PnrpId> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(PnrpId(bytes))
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        target: SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 3540, 0, 0)),
        count: 1_000_000,
        rate: 0,
        binds: Vec::new(),
        ids: Vec::new(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = format!("bad {flag} {value:?}");
        match flag.as_str() {
            "--target" => options.target = value.parse().map_err(|_| bad)?,
            "--count" => options.count = value.parse().map_err(|_| bad)?,
            "--rate" => options.rate = value.parse().map_err(|_| bad)?,
            "--bind" => options.binds.push(value.parse().map_err(|_| bad)?),
            "--id" => options
                .ids
                .push(parse_id(&value).ok_or(format!("bad --id {value}"))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.binds.is_empty() {
        options.binds.push(Ipv6Addr::UNSPECIFIED);
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("pnrp-flood: {message}");
            eprintln!(
                "usage: pnrp-flood --target [ADDR]:PORT --count N [--rate PER_SEC] [--bind ADDR]... [--id HEX]..."
            );
            return ExitCode::from(2);
        }
    };
    let mut sockets = Vec::new();
    for address in &options.binds {
        match UdpSocket::bind(SocketAddrV6::new(*address, 0, 0, 0)) {
            Ok(socket) => {
                socket.set_nonblocking(true).expect("non-blocking");
                sockets.push(socket);
            }
            Err(error) => {
                eprintln!("pnrp-flood: cannot bind {address}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    let pool = pool(&mut rng, &options.ids, 8192);
    let (mut sent, mut sent_bytes, mut back, mut back_bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut buffer = vec![0u8; 65536];
    let start = Instant::now();
    let mut drain = |sockets: &[UdpSocket], back: &mut u64, back_bytes: &mut u64| {
        for socket in sockets {
            while let Ok(length) = socket.recv(&mut buffer) {
                *back += 1;
                *back_bytes += length as u64;
            }
        }
    };
    while sent < options.count {
        let mut datagram = pool[rng.below(pool.len())].clone();
        // A fresh message ID (or a flipped byte in the random ones) on every send.
        if datagram.len() >= 12 {
            let id = rng.next() as u32;
            datagram[8..12].copy_from_slice(&id.to_be_bytes());
        }
        let socket = &sockets[(sent % sockets.len() as u64) as usize];
        match socket.send_to(&datagram, options.target) {
            Ok(_) => {
                sent += 1;
                sent_bytes += datagram.len() as u64;
            }
            // The socket's buffer is full: let it drain.
            Err(_) => std::thread::sleep(Duration::from_micros(200)),
        }
        if sent % 1000 == 0 {
            drain(&sockets, &mut back, &mut back_bytes);
            if options.rate > 0 {
                let due = Duration::from_secs_f64(sent as f64 / options.rate as f64);
                if let Some(ahead) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(ahead);
                }
            }
        }
    }
    // Late answers.
    std::thread::sleep(Duration::from_millis(500));
    drain(&sockets, &mut back, &mut back_bytes);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} datagrams ({sent_bytes} bytes) in {seconds:.1} s: {:.0}/s; received {back} datagrams ({back_bytes} bytes) back",
        sent as f64 / seconds
    );
    ExitCode::SUCCESS
}
