//! glibc's side of an NSS answer: a caller's buffer with poisoned guards on both sides, and
//! readers that follow what the module packed into it (address tuples, hostents), checking that
//! every pointer stays inside.

use std::ffi::CStr;
use std::net::Ipv6Addr;

use libc::c_char;
use nss_pnrp::GaihAddrtuple;

/// A buffer with 64 poison bytes on each side of the `len` bytes handed out.
#[derive(Debug)]
pub struct Guarded {
    storage: Vec<u8>,
    len: usize,
}

pub const GUARD: usize = 64;
pub const POISON: u8 = 0xA5;

impl Guarded {
    pub fn new(len: usize) -> Self {
        Guarded {
            storage: vec![POISON; len + 2 * GUARD],
            len,
        }
    }

    pub fn ptr(&mut self) -> *mut c_char {
        self.storage[GUARD..].as_mut_ptr().cast()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is handed out.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `pointer .. pointer + size` lies inside the handed-out bytes.
    pub fn holds(&self, pointer: *const u8, size: usize) -> bool {
        let start = self.storage[GUARD..].as_ptr() as usize;
        let pointer = pointer as usize;
        pointer >= start
            && pointer
                .checked_add(size)
                .is_some_and(|end| end <= start + self.len)
    }

    pub fn guards_intact(&self) -> bool {
        let (before, rest) = self.storage.split_at(GUARD);
        let after = &rest[self.len..];
        before.iter().chain(after).all(|&byte| byte == POISON)
    }

    /// The NUL-terminated string at `pointer`, which must lie wholly inside.
    pub fn c_str(&self, pointer: *const c_char) -> String {
        assert!(
            self.holds(pointer.cast(), 1),
            "string pointer outside the buffer"
        );
        let start = pointer as usize - self.storage[GUARD..].as_ptr() as usize;
        let bytes = &self.storage[GUARD + start..GUARD + self.len];
        let text = CStr::from_bytes_until_nul(bytes).expect("string runs past the buffer");
        text.to_str().unwrap().to_owned()
    }
}

/// One tuple as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    pub name: String,
    pub family: i32,
    pub bytes: Vec<u8>,
    pub scopeid: u32,
}

impl Tuple {
    pub fn v6(name: &str, text: &str, scopeid: u32) -> Self {
        let ip: Ipv6Addr = text.parse().unwrap();
        Tuple {
            name: name.into(),
            family: libc::AF_INET6,
            bytes: ip.octets().to_vec(),
            scopeid,
        }
    }

    pub fn v4(name: &str, text: &str) -> Self {
        let ip: std::net::Ipv4Addr = text.parse().unwrap();
        Tuple {
            name: name.into(),
            family: libc::AF_INET,
            bytes: ip.octets().to_vec(),
            scopeid: 0,
        }
    }
}

/// Walks a tuple list whose tuples (except perhaps `first`, the caller's own) lie in `buffer`.
pub fn read_tuples(buffer: &Guarded, first: &GaihAddrtuple) -> Vec<Tuple> {
    let mut tuples = Vec::new();
    let mut tuple = *first;
    loop {
        let bytes: Vec<u8> = tuple
            .addr
            .iter()
            .flat_map(|word| word.to_ne_bytes())
            .collect();
        let bytes = match tuple.family {
            libc::AF_INET => bytes[..4].to_vec(),
            libc::AF_INET6 => bytes,
            family => panic!("family {family}"),
        };
        tuples.push(Tuple {
            name: buffer.c_str(tuple.name),
            family: tuple.family,
            bytes,
            scopeid: tuple.scopeid,
        });
        if tuple.next.is_null() {
            return tuples;
        }
        let size = std::mem::size_of::<GaihAddrtuple>();
        assert!(
            buffer.holds(tuple.next.cast(), size),
            "tuple outside the buffer"
        );
        assert_eq!(
            tuple.next as usize % std::mem::align_of::<GaihAddrtuple>(),
            0
        );
        // SAFETY: checked to lie inside the buffer, aligned.
        tuple = unsafe { *tuple.next };
        assert!(tuples.len() < 10_000, "tuple list loops");
    }
}

/// A hostent as plain data: name, aliases, family, address length, addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub aliases: Vec<String>,
    pub family: i32,
    pub length: i32,
    pub addresses: Vec<Vec<u8>>,
}

/// Reads a hostent, checking that everything it points at lies inside `buffer`.
pub fn read_hostent(buffer: &Guarded, host: &libc::hostent) -> Host {
    let pointer_size = std::mem::size_of::<*mut c_char>();
    let read_array = |array: *mut *mut c_char| {
        let mut items = Vec::new();
        for index in 0.. {
            let slot = array.wrapping_add(index);
            assert!(
                buffer.holds(slot.cast(), pointer_size),
                "pointer array outside the buffer"
            );
            assert_eq!(slot as usize % pointer_size, 0, "misaligned pointer array");
            // SAFETY: checked to lie inside the buffer, aligned.
            let item = unsafe { *slot };
            if item.is_null() {
                return items;
            }
            items.push(item);
        }
        unreachable!()
    };
    let length = host.h_length;
    Host {
        name: buffer.c_str(host.h_name),
        aliases: read_array(host.h_aliases)
            .into_iter()
            .map(|alias| buffer.c_str(alias))
            .collect(),
        family: host.h_addrtype,
        length,
        addresses: read_array(host.h_addr_list)
            .into_iter()
            .map(|address| {
                assert!(
                    buffer.holds(address.cast(), length as usize),
                    "address outside"
                );
                assert_eq!(address as usize % 4, 0, "misaligned address");
                // SAFETY: checked to lie inside the buffer.
                unsafe { std::slice::from_raw_parts(address.cast::<u8>(), length as usize) }
                    .to_vec()
            })
            .collect(),
    }
}

pub fn octets6(text: &str) -> Vec<u8> {
    text.parse::<Ipv6Addr>().unwrap().octets().to_vec()
}

pub fn octets4(text: &str) -> Vec<u8> {
    text.parse::<std::net::Ipv4Addr>()
        .unwrap()
        .octets()
        .to_vec()
}

pub fn empty_hostent() -> libc::hostent {
    libc::hostent {
        h_name: std::ptr::null_mut(),
        h_aliases: std::ptr::null_mut(),
        h_addrtype: 0,
        h_length: 0,
        h_addr_list: std::ptr::null_mut(),
    }
}
