//! UDP that knows its local address: the cloud socket listens on `[::]`, so on a host with several
//! addresses (a stable and a temporary SLAAC address, say) the kernel would pick any of them as
//! the source of a reply. PNRP peers match answers to the address they asked, so a reply must
//! leave from the address the question reached. `recvmsg` with `IPV6_RECVPKTINFO` tells which one
//! that was; `sendmsg` with `IPV6_PKTINFO` sends from it.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Room for one `in6_pktinfo` control message (with alignment slack).
const CONTROL_LEN: usize = 64;

/// Asks the kernel to report each datagram's destination address.
pub fn enable_destination_info(socket: &UdpSocket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the size passed.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A received datagram: its length, its source, and the local address it was sent to (when the
/// kernel said).
pub async fn receive(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
    loop {
        socket.readable().await?;
        match socket.try_io(Interest::READABLE, || receive_now(socket, buffer)) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

/// A datagram already queued, if any (never waits).
pub fn try_receive(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
    socket.try_io(Interest::READABLE, || receive_now(socket, buffer))
}

#[repr(C, align(8))]
struct Control([u8; CONTROL_LEN]);

fn receive_now(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
    // SAFETY: all-zero is a valid sockaddr_in6, msghdr and control buffer.
    let mut source: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut control = Control([0; CONTROL_LEN]);
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    let mut message: libc::msghdr = unsafe { zeroed() };
    message.msg_name = (&mut source as *mut libc::sockaddr_in6).cast();
    message.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.0.as_mut_ptr().cast();
    message.msg_controllen = CONTROL_LEN as _;
    // SAFETY: every pointer in `message` points at live buffers of the lengths given.
    let length = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, 0) };
    if length < 0 {
        return Err(io::Error::last_os_error());
    }
    if i32::from(source.sin6_family) != libc::AF_INET6 {
        return Err(io::Error::other("not an IPv6 source"));
    }
    let from = SocketAddrV6::new(
        Ipv6Addr::from(source.sin6_addr.s6_addr),
        u16::from_be(source.sin6_port),
        u32::from_be(source.sin6_flowinfo),
        source.sin6_scope_id,
    );
    let mut destination = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within its length.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::IPPROTO_IPV6
                && (*header).cmsg_type == libc::IPV6_PKTINFO
            {
                let info: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(header).cast());
                destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
    }
    Ok((length as usize, from, destination))
}

/// Sends a datagram now (never waits), from `source` when given.
pub fn send_from(
    socket: &UdpSocket,
    bytes: &[u8],
    to: SocketAddrV6,
    source: Option<Ipv6Addr>,
) -> io::Result<usize> {
    let Some(source) = source else {
        return socket.try_send_to(bytes, to.into());
    };
    socket.try_io(Interest::WRITABLE, || send_now(socket, bytes, to, source))
}

fn send_now(
    socket: &UdpSocket,
    bytes: &[u8],
    to: SocketAddrV6,
    source: Ipv6Addr,
) -> io::Result<usize> {
    // SAFETY: all-zero is a valid sockaddr_in6, msghdr and control buffer.
    let mut target: libc::sockaddr_in6 = unsafe { zeroed() };
    target.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    target.sin6_port = to.port().to_be();
    target.sin6_addr.s6_addr = to.ip().octets();
    target.sin6_scope_id = to.scope_id();
    let mut control = Control([0; CONTROL_LEN]);
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut message: libc::msghdr = unsafe { zeroed() };
    message.msg_name = (&mut target as *mut libc::sockaddr_in6).cast();
    message.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE/CMSG_LEN only compute sizes.
    message.msg_controllen =
        unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as _;
    // SAFETY: the control buffer holds one in6_pktinfo message (CMSG_SPACE ≤ CONTROL_LEN), and
    // every pointer in `message` points at live buffers of the lengths given.
    let sent = unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::IPPROTO_IPV6;
        (*header).cmsg_type = libc::IPV6_PKTINFO;
        (*header).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: source.octets(),
            },
            ipi6_ifindex: if source.is_unicast_link_local() {
                to.scope_id()
            } else {
                0
            },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast(), info);
        libc::sendmsg(socket.as_raw_fd(), &message, 0)
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_and_uses_the_local_address() {
        let server = UdpSocket::bind("[::1]:0").await.unwrap();
        enable_destination_info(&server).unwrap();
        let client = UdpSocket::bind("[::1]:0").await.unwrap();
        let std::net::SocketAddr::V6(server_address) = server.local_addr().unwrap() else {
            unreachable!()
        };
        client.send_to(b"ping", server_address).await.unwrap();
        let mut buffer = [0; 16];
        let (length, from, destination) = receive(&server, &mut buffer).await.unwrap();
        assert_eq!(&buffer[..length], b"ping");
        assert_eq!(destination, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(
            from,
            match client.local_addr().unwrap() {
                std::net::SocketAddr::V6(address) => address,
                _ => unreachable!(),
            }
        );
        client.writable().await.unwrap();
        server.writable().await.unwrap();
        send_from(&server, b"pong", from, destination).unwrap();
        let (length, reply_from) = client.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..length], b"pong");
        assert_eq!(reply_from, server_address.into());
    }
}
