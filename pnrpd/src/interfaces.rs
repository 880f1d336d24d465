//! The machine's own addresses, published for registrations that name none.

use std::net::{Ipv4Addr, Ipv6Addr};

use pnrp_shared::ipc::ScopedAddr;

/// Every address of every interface that is up and not loopback; IPv4 v4-mapped, IPv6 link-local
/// with its interface index as scope. Empty if the kernel will not say.
pub fn local_addresses() -> Vec<ScopedAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut addresses = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        let flags = entry.ifa_flags;
        if entry.ifa_addr.is_null()
            || flags & libc::IFF_UP as u32 == 0
            || flags & libc::IFF_LOOPBACK as u32 != 0
        {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family says its real type.
        let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
        let address = match family {
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6 means the storage is a sockaddr_in6.
                let v6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                let scoped = ScopedAddr { ip, scope_id: 0 };
                let scope_id = if scoped.is_link_local() {
                    v6.sin6_scope_id
                } else {
                    0
                };
                ScopedAddr { ip, scope_id }
            }
            libc::AF_INET => {
                // SAFETY: family AF_INET means the storage is a sockaddr_in.
                let v4 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                ScopedAddr {
                    ip: ip.to_ipv6_mapped(),
                    scope_id: 0,
                }
            }
            _ => continue,
        };
        if !address.ip.is_loopback() && address.ipv4().is_none_or(|v4| !v4.is_loopback()) {
            addresses.push(address);
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    addresses.sort();
    addresses.dedup();
    addresses
}

/// The index of a network interface by name (`eth0` → 2), for `fe80::1%eth0`.
pub fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// The name of a network interface by index (2 → `eth0`).
pub fn interface_name(index: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer has IF_NAMESIZE bytes, as if_indextoname requires.
    let found = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if found.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    Some(
        unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_lists_loopback() {
        for address in local_addresses() {
            assert!(!address.ip.is_loopback());
            assert!(address.ipv4().is_none_or(|v4| !v4.is_loopback()));
            if address.is_link_local() {
                assert_ne!(address.scope_id, 0);
            }
        }
        assert_eq!(interface_index("lo"), Some(1));
        assert_eq!(interface_name(1).as_deref(), Some("lo"));
        assert_eq!(interface_index("no-such-interface0"), None);
    }
}
