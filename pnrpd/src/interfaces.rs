//! The machine's own addresses, published for registrations that name none.
//!
//! `getifaddrs` lists every address but says nothing of an IPv6 address's state; the kernel
//! tells it in `/proc/net/if_inet6` (one line per address: address, interface index, prefix
//! length, scope, flags, interface name; the flags are the low byte of the `IFA_F_*` bits of
//! `<linux/if_addr.h>`, the same `ip -6 addr` prints). Addresses that must not be published are
//! left out: deprecated (preferred lifetime over: leaving), temporary (RFC 4941 privacy
//! addresses: short-lived, and meant not to identify the machine), tentative (duplicate address
//! detection not finished: not usable yet) and DAD-failed (someone else's).

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use pnrp_shared::ipc::ScopedAddr;

/// Where the kernel lists its IPv6 addresses with their flags.
// `/proc/net` is a link to `/proc/self/net`, which alone stays visible under the unit's
// ProcSubset=pid.
const IF_INET6: &str = "/proc/self/net/if_inet6";

/// `IFA_F_TEMPORARY`: an RFC 4941 privacy address.
pub const IFA_F_TEMPORARY: u32 = 0x01;
/// `IFA_F_DADFAILED`: duplicate address detection found the address in use elsewhere.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_DEPRECATED`: its preferred lifetime is over.
pub const IFA_F_DEPRECATED: u32 = 0x20;
/// `IFA_F_TENTATIVE`: duplicate address detection has not finished.
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// The flags that keep an address out of what this machine publishes.
const UNPUBLISHED: u32 = IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE;

/// One line of `/proc/net/if_inet6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inet6Entry {
    /// The address.
    pub ip: Ipv6Addr,
    /// The interface's index.
    pub interface: u32,
    /// The interface's name.
    pub name: String,
    /// The `IFA_F_*` flags (low byte).
    pub flags: u32,
}

impl Inet6Entry {
    /// Whether this machine may publish the address.
    pub fn publishable(&self) -> bool {
        self.flags & UNPUBLISHED == 0
    }
}

/// Parses `/proc/net/if_inet6`, e.g.
/// `fe8000000000000000fc00fffe000001 04 40 20 80     eth0`; lines that do not parse are skipped.
pub fn parse_if_inet6(text: &str) -> Vec<Inet6Entry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next()?;
            if hex.len() != 32 {
                return None;
            }
            let ip = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
            let interface = u32::from_str_radix(fields.next()?, 16).ok()?;
            let _prefix_length = fields.next()?;
            let _scope = fields.next()?;
            let flags = u32::from_str_radix(fields.next()?, 16).ok()?;
            let name = fields.next()?.to_owned();
            Some(Inet6Entry {
                ip,
                interface,
                name,
                flags,
            })
        })
        .collect()
}

/// The IPv6 addresses not to publish, with their interface's name; `None` when the kernel's
/// list cannot be read (then every address `getifaddrs` lists is published).
fn unpublishable() -> Option<HashSet<(Ipv6Addr, String)>> {
    let text = std::fs::read_to_string(IF_INET6).ok()?;
    Some(
        parse_if_inet6(&text)
            .into_iter()
            .filter(|entry| !entry.publishable())
            .map(|entry| (entry.ip, entry.name))
            .collect(),
    )
}

/// Every address of every interface that is up and not loopback, but for IPv6 addresses that
/// are deprecated, temporary, tentative or DAD-failed (see the module's documentation); IPv4
/// v4-mapped, IPv6 link-local with its interface index as scope. Empty if the kernel will not
/// say.
pub fn local_addresses() -> Vec<ScopedAddr> {
    let excluded = unpublishable().unwrap_or_default();
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
                if !excluded.is_empty() {
                    // SAFETY: ifa_name is a NUL-terminated string alive until freeifaddrs.
                    let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
                    if excluded.contains(&(ip, name.to_string_lossy().into_owned())) {
                        continue;
                    }
                }
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

    #[test]
    fn parses_the_kernels_address_list() {
        // As the kernel writes it: address, index, prefix length, scope, flags, name.
        let text = "\
fd000000000000000000000000000002 04 40 00 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
20010db8000000001c2f3e4d5a6b7c8d 04 40 00 01     eth0
20010db8000000000000000000000007 04 40 00 a0     eth0
20010db8000000000000000000000008 04 40 00 c0     eth0
20010db8000000000000000000000009 04 40 00 88     eth0
fd000000000000000000000000000003 1a2 40 00 02  wlp0s20f3
garbage
20010db80000000000000000000000 04 40 00 80     eth0
20010db8000000000000000000000010 04 40 00 zz     eth0
";
        let entries = parse_if_inet6(text);
        let by_ip = |ip: &str| {
            let ip: Ipv6Addr = ip.parse().unwrap();
            entries.iter().find(|entry| entry.ip == ip).unwrap().clone()
        };
        assert_eq!(entries.len(), 8, "{entries:?}");
        assert_eq!(
            by_ip("fd00::2"),
            Inet6Entry {
                ip: "fd00::2".parse().unwrap(),
                interface: 4,
                name: "eth0".into(),
                flags: 0x80,
            }
        );
        assert!(by_ip("fd00::2").publishable(), "permanent");
        assert!(by_ip("fe80::fc:ff:fe00:1").publishable());
        assert!(
            !by_ip("2001:db8::1c2f:3e4d:5a6b:7c8d").publishable(),
            "temporary"
        );
        assert!(!by_ip("2001:db8::7").publishable(), "deprecated");
        assert!(!by_ip("2001:db8::8").publishable(), "tentative");
        assert!(!by_ip("2001:db8::9").publishable(), "DAD failed");
        let nodad = by_ip("fd00::3");
        assert_eq!((nodad.interface, nodad.name.as_str()), (0x1a2, "wlp0s20f3"));
        assert!(nodad.publishable(), "no DAD asked is fine");
    }

    #[test]
    fn leaves_out_what_the_kernel_flags() {
        // Without IPv6 (or /proc) there is nothing to leave out.
        let text = std::fs::read_to_string(IF_INET6).unwrap_or_default();
        let entries = parse_if_inet6(&text);
        let lines = text.lines().filter(|line| !line.trim().is_empty()).count();
        assert_eq!(entries.len(), lines, "{text}");
        let listed = local_addresses();
        for entry in entries.iter().filter(|entry| !entry.publishable()) {
            let elsewhere = entries
                .iter()
                .any(|other| other.ip == entry.ip && other.publishable());
            assert!(
                elsewhere || listed.iter().all(|address| address.ip != entry.ip),
                "{entry:?} is published"
            );
        }
    }
}
