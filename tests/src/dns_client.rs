//! A small DNS client for the front end's tests: one query over UDP or TCP, the answer decoded
//! (hickory-proto), with a deadline so that a silent server fails the test instead of hanging it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

pub use pnrpd::dns::answer::query_bytes;

/// How long one exchange may take.
const DEADLINE: Duration = Duration::from_secs(3);

/// Sends `query` to `server` over UDP; the answer's bytes, or `None` if none came in time.
pub fn udp_bytes(server: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().expect("an address")
    } else {
        "[::1]:0".parse().expect("an address")
    };
    let socket = UdpSocket::bind(local).expect("bind a UDP socket");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    socket.send_to(query, server).expect("send");
    let mut buffer = vec![0u8; 65536];
    let length = socket.recv(&mut buffer).ok()?;
    buffer.truncate(length);
    Some(buffer)
}

/// Asks `name` of `query_type` over UDP (EDNS with `edns` as payload size, if given).
pub fn udp(server: SocketAddr, name: &str, query_type: RecordType, edns: Option<u16>) -> Message {
    let bytes = udp_bytes(server, &query_bytes(0x5151, name, query_type, edns))
        .unwrap_or_else(|| panic!("no UDP answer from {server} to {name} {query_type}"));
    Message::from_vec(&bytes).expect("the answer decodes")
}

/// Sends `query` to `server` over TCP (two-byte length framing); the answer's bytes.
pub fn tcp_bytes(server: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, DEADLINE).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    let length = u16::try_from(query.len()).expect("a query fits TCP");
    stream.write_all(&length.to_be_bytes()).ok()?;
    stream.write_all(query).ok()?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut answer).ok()?;
    Some(answer)
}

/// Asks `name` of `query_type` over TCP.
pub fn tcp(server: SocketAddr, name: &str, query_type: RecordType) -> Message {
    let bytes = tcp_bytes(server, &query_bytes(0x7272, name, query_type, None))
        .unwrap_or_else(|| panic!("no TCP answer from {server} to {name} {query_type}"));
    Message::from_vec(&bytes).expect("the answer decodes")
}

/// The answers' data as text (`fd00::1`, `0 0 631 0.printer.pnrp.net.`, `lab printer`), names in
/// their ASCII (punycode) form.
pub fn answers(message: &Message) -> Vec<String> {
    use hickory_proto::rr::rdata::PTR;
    use hickory_proto::rr::RData;
    message
        .answers
        .iter()
        .map(|record| match &record.data {
            RData::PTR(PTR(target)) => target.to_ascii(),
            data => data.to_string(),
        })
        .collect()
}
