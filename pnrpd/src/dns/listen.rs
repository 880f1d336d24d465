//! The front end's sockets: one task per UDP socket, one per TCP listener and one per TCP
//! connection (RFC 7766 framing: a two-byte length before each message). Each query is read by
//! [`answer::parse`], looked up in the view or, when the view cannot say, through the run loop
//! (in a task of its own, within [`MAX_CLOUD_RESOLVES`](super::MAX_CLOUD_RESOLVES) permits), and
//! answered by [`answer::answer`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pnrp_shared::ipc::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

use super::answer::{self, Found, Parsed, Query, Subject, Zone, TCP_PAYLOAD};
use super::limits::{allowed, Counters, Prefix, RateLimiter};
use super::memo::Memo;
use super::services::Services;
use crate::daemon::server::Command;
use crate::daemon::view::{SharedView, View};

/// The largest UDP query read (the rest of a longer datagram is cut off, and it fails to parse).
const UDP_RECEIVE: usize = 4096;
/// An answer to a UDP source that is not loopback is at most this many times its query: the
/// front end cannot be used to amplify traffic at a forged address.
pub const AMPLIFICATION_FACTOR: usize = 3;
/// Most TCP connections at once, and from one source other than loopback.
const MAX_TCP_CONNECTIONS: usize = 128;
const MAX_TCP_PER_SOURCE: usize = 8;
/// How long a TCP connection may wait between messages, and a message may take to arrive.
const TCP_IDLE: Duration = Duration::from_secs(10);
const TCP_MESSAGE: Duration = Duration::from_secs(5);
/// The identity a DNS query resolves as: no local user's (resolving is open to all).
const DNS_UID: u32 = u32::MAX;

/// What every listener shares.
#[derive(Debug)]
pub struct Context {
    /// The view the Unix socket's tasks answer from.
    pub view: SharedView,
    /// The run loop.
    pub commands: mpsc::Sender<Command>,
    /// Permits for resolves through the run loop.
    pub cloud_resolves: Arc<Semaphore>,
    /// Service names.
    pub services: Services,
    /// TTLs.
    pub zone: Zone,
    /// Sources besides loopback that may ask.
    pub allow: Vec<Prefix>,
}

/// A non-blocking socket of `kind` for `address`; an IPv6 one takes IPv6 only (an IPv4
/// address has its own).
fn socket_for(address: SocketAddr, kind: socket2::Type) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        kind.nonblocking().cloexec(),
        None,
    )?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// A UDP socket for `address`.
pub fn bind_udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket_for(address, socket2::Type::DGRAM)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// A TCP listener for `address`.
pub fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket_for(address, socket2::Type::STREAM)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

/// What `view` says about `subject` now, if it can say, and whether that answer is the same
/// whenever it is asked of this view (no TTL counting down).
fn at_once(context: &Context, view: &View, subject: &Subject) -> Option<(Found, bool)> {
    let now = Instant::now();
    let ttl = |fresh_for: Option<Duration>| {
        fresh_for.map_or(context.zone.freshness_secs, |left| {
            u32::try_from(left.as_secs()).unwrap_or(u32::MAX)
        })
    };
    match subject {
        Subject::Peer { name, .. } => {
            let (response, fresh_for) = view.resolve(now, name)?;
            Some((found(response, ttl(fresh_for)), fresh_for.is_none()))
        }
        Subject::Address(address) => {
            let ip = match address {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => *v6,
            };
            let Some((names, fresh_for)) = view.names_at(now, ip) else {
                return Some((Found::Failed, false));
            };
            let found = Found::Names {
                names,
                ttl: ttl(fresh_for),
            };
            Some((found, fresh_for.is_none()))
        }
    }
}

fn found(response: Response, ttl: u32) -> Found {
    match response {
        Response::Resolved(records) if !records.is_empty() => Found::Records { records, ttl },
        Response::Resolved(_) | Response::NotFound => Found::NotFound,
        _ => Found::Failed,
    }
}

/// Resolves `subject` through the run loop, as a socket client's request would be.
async fn through_run_loop(context: &Context, subject: &Subject) -> Found {
    let Subject::Peer { name, .. } = subject else {
        return Found::Failed;
    };
    let (reply, answer) = oneshot::channel();
    let command = Command {
        request: Request::Resolve { name: name.clone() },
        reply,
        uid: DNS_UID,
    };
    if context.commands.send(command).await.is_err() {
        return Found::Failed;
    }
    match answer.await {
        Ok(response) => found(response, context.zone.freshness_secs),
        Err(_) => Found::Failed,
    }
}

/// What to do with a query: answer it now (and whether that answer may be kept in a [`Memo`]),
/// or resolve it through the run loop first.
enum Next {
    Now(answer::Reply, bool),
    Resolve(Box<Pending>),
}

/// A query waiting for the run loop, holding one of the permits.
struct Pending {
    query: Query,
    limit: usize,
    _permit: OwnedSemaphorePermit,
}

impl Pending {
    async fn answer(self, context: &Context) -> answer::Reply {
        let found = through_run_loop(context, self.query.subject()).await;
        answer::answer(&self.query, &found, context.zone, self.limit)
    }
}

/// Answers `query` at once from the view; else, within the permits, leaves it to the run loop;
/// SERVFAIL at once when every permit is taken.
fn next(context: &Context, view: &View, query: Query, limit: usize) -> Next {
    if let Some((found, timeless)) = at_once(context, view, query.subject()) {
        return Next::Now(
            answer::answer(&query, &found, context.zone, limit),
            timeless,
        );
    }
    let Ok(permit) = context.cloud_resolves.clone().try_acquire_owned() else {
        debug!("DNS: every cloud resolve slot is taken; SERVFAIL");
        let reply = answer::answer(&query, &Found::Failed, context.zone, limit);
        return Next::Now(reply, false);
    };
    Next::Resolve(Box::new(Pending {
        query,
        limit,
        _permit: permit,
    }))
}

/// Whether `source` may be answered now; counts it if not.
fn admitted(
    context: &Context,
    limiter: &Mutex<RateLimiter>,
    counters: &Counters,
    source: IpAddr,
) -> bool {
    if !allowed(&context.allow, source) {
        counters.denied();
        return false;
    }
    // Loopback has no rate: no lock taken on its (usual) path.
    if source.to_canonical().is_loopback() {
        return true;
    }
    let admitted = limiter
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .admit(source, Instant::now());
    if !admitted {
        counters.rate_limited();
    }
    admitted
}

/// Serves one UDP socket for ever.
pub async fn serve_udp(socket: Arc<UdpSocket>, context: Arc<Context>, counters: Arc<Counters>) {
    let limiter = Mutex::new(RateLimiter::default());
    let mut memo = Memo::default();
    let mut buffer = vec![0u8; UDP_RECEIVE];
    loop {
        let (length, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                warn!(%error, "DNS: UDP receive failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        counters.query();
        if !admitted(&context, &limiter, &counters, from.ip()) {
            continue;
        }
        let bytes = &buffer[..length];
        let view = context.view.load();
        if let Some(reply) = memo.get(&view, bytes) {
            send(&socket, &counters, from, reply, length).await;
            continue;
        }
        let query = match answer::parse(bytes, &context.services, context.zone) {
            Parsed::Drop => {
                counters.dropped();
                continue;
            }
            Parsed::Reply(reply) => {
                memo.put(&view, bytes, &reply);
                send(&socket, &counters, from, reply, length).await;
                continue;
            }
            Parsed::Ask(query) => query,
        };
        let limit = query.udp_limit();
        match next(&context, &view, query, limit) {
            Next::Now(reply, timeless) => {
                if timeless {
                    memo.put(&view, bytes, &reply);
                }
                send(&socket, &counters, from, reply, length).await;
            }
            Next::Resolve(pending) => {
                let socket = socket.clone();
                let counters = counters.clone();
                let context = context.clone();
                tokio::spawn(async move {
                    let reply = pending.answer(&context).await;
                    send(&socket, &counters, from, reply, length).await;
                });
            }
        }
    }
}

/// Sends a UDP answer; to a source other than loopback, never more than
/// [`AMPLIFICATION_FACTOR`] times the query (the answer is re-made truncated if it is longer).
async fn send(
    socket: &UdpSocket,
    counters: &Counters,
    to: SocketAddr,
    mut reply: answer::Reply,
    query_length: usize,
) {
    if !to.ip().to_canonical().is_loopback() {
        let most = query_length.saturating_mul(AMPLIFICATION_FACTOR);
        if reply.bytes.len() > most {
            reply = answer::truncate(&reply, most);
        }
    }
    counters.replied(&reply);
    if reply.bytes.is_empty() {
        return;
    }
    // A datagram almost always fits the socket's buffer: sent without waiting.
    match socket.try_send_to(&reply.bytes, to) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
            let _ = socket.send_to(&reply.bytes, to).await;
        }
        Err(error) => debug!(%error, %to, "DNS: UDP send failed"),
    }
}

/// Accepts TCP connections for ever, within the connection limits.
pub async fn serve_tcp(listener: TcpListener, context: Arc<Context>, counters: Arc<Counters>) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let per_source: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let limiter = Arc::new(Mutex::new(RateLimiter::default()));
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "DNS: TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let source = from.ip().to_canonical();
        if !allowed(&context.allow, source) {
            counters.denied();
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!("DNS: too many TCP connections; closing a new one");
            continue;
        };
        if !source.is_loopback() {
            let mut counts = per_source
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = counts.entry(source).or_default();
            if *count >= MAX_TCP_PER_SOURCE {
                continue;
            }
            *count += 1;
        }
        let context = context.clone();
        let counters = counters.clone();
        let per_source = per_source.clone();
        let limiter = limiter.clone();
        tokio::spawn(async move {
            serve_connection(stream, source, &context, &counters, &limiter).await;
            if !source.is_loopback() {
                let mut counts = per_source
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(count) = counts.get_mut(&source) {
                    *count -= 1;
                    if *count == 0 {
                        counts.remove(&source);
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Serves one TCP connection: messages in order, until the client closes, idles or breaks the
/// framing.
async fn serve_connection(
    mut stream: TcpStream,
    source: IpAddr,
    context: &Arc<Context>,
    counters: &Counters,
    limiter: &Mutex<RateLimiter>,
) {
    let mut message = Vec::new();
    loop {
        let mut length = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut length)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        message.resize(usize::from(u16::from_be_bytes(length)), 0);
        match tokio::time::timeout(TCP_MESSAGE, stream.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        counters.query();
        if !admitted(context, limiter, counters, source) {
            return;
        }
        let reply = match answer::parse(&message, &context.services, context.zone) {
            Parsed::Drop => {
                counters.dropped();
                return;
            }
            Parsed::Reply(reply) => reply,
            Parsed::Ask(query) => match next(context, &context.view.load(), query, TCP_PAYLOAD) {
                Next::Now(reply, _) => reply,
                Next::Resolve(pending) => pending.answer(context).await,
            },
        };
        counters.replied(&reply);
        let Ok(length) = u16::try_from(reply.bytes.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(2 + reply.bytes.len());
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(&reply.bytes);
        match tokio::time::timeout(TCP_MESSAGE, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RecordType;

    fn query(name: &str) -> Query {
        let bytes = answer::query_bytes(1, name, RecordType::AAAA, None);
        match answer::parse(&bytes, &Services::default(), Zone { freshness_secs: 10 }) {
            Parsed::Ask(query) => query,
            other => panic!("{other:?}"),
        }
    }

    /// A context over a closed view (as before the first publish: every name goes to the run
    /// loop), with `permits` cloud resolves at a time; the receiver must live as long.
    fn context(permits: usize, allow: Vec<Prefix>) -> (Context, mpsc::Receiver<Command>) {
        let (commands, incoming) = mpsc::channel(1);
        let context = Context {
            view: SharedView::default(),
            commands,
            cloud_resolves: Arc::new(Semaphore::new(permits)),
            services: Services::default(),
            zone: Zone { freshness_secs: 10 },
            allow,
        };
        (context, incoming)
    }

    #[test]
    fn resolves_through_the_run_loop_are_bounded() {
        let (context, _incoming) = context(2, Vec::new());
        let view = context.view.load();
        let first = next(&context, &view, query("0.a.pnrp.net"), 512);
        let second = next(&context, &view, query("0.b.pnrp.net"), 512);
        assert!(matches!(first, Next::Resolve(_)) && matches!(second, Next::Resolve(_)));
        // Every permit taken: SERVFAIL at once, not a queue.
        let Next::Now(reply, memo) = next(&context, &view, query("0.c.pnrp.net"), 512) else {
            panic!("a third resolve waited")
        };
        assert_eq!(reply.outcome, answer::Outcome::Failed);
        assert!(!memo, "a failure is not kept");
        // A finished resolve gives its permit back.
        drop(first);
        assert!(matches!(
            next(&context, &view, query("0.d.pnrp.net"), 512),
            Next::Resolve(_)
        ));
        drop(second);
    }

    #[test]
    fn only_loopback_and_allowed_sources_are_answered_and_others_are_rate_limited() {
        let (context, _incoming) = context(1, vec![Prefix::parse("fd00::/64").unwrap()]);
        let limiter = Mutex::new(RateLimiter::default());
        let counters = Counters::default();
        let source = |text: &str| -> IpAddr { text.parse().unwrap() };
        assert!((0..1000).all(|_| admitted(&context, &limiter, &counters, source("::1"))));
        assert!(!admitted(&context, &limiter, &counters, source("fd01::1")));
        let admitted_peer = (0..1000)
            .filter(|_| admitted(&context, &limiter, &counters, source("fd00::9")))
            .count();
        assert!((200..=210).contains(&admitted_peer), "{admitted_peer}");
        let counts = counters.snapshot();
        assert_eq!(counts.denied, 1);
        assert_eq!(counts.rate_limited, 1000 - admitted_peer as u64);
    }
}
