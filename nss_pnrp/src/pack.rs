//! Packing answers into the caller's buffer, as glibc requires: every string, address, pointer
//! array and tuple the result points at lives inside `buffer[..buflen]`, and a buffer that is too
//! small is reported as [`Erange`] (glibc then grows it and asks again) rather than overflowed.

use std::mem::{align_of, size_of, size_of_val};
use std::ptr;

use libc::{c_char, c_int};
use pnrp_shared::ipc::ScopedAddr;

use crate::GaihAddrtuple;

/// The buffer is too small for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Erange;

/// A bump allocator over the caller's buffer. Every pointer it returns is aligned and inside the
/// buffer; nothing is ever written outside it.
#[derive(Debug)]
pub(crate) struct Bump {
    start: *mut u8,
    len: usize,
    used: usize,
}

impl Bump {
    /// # Safety
    ///
    /// `start..start + len` must be valid for writes for as long as the pointers handed out are
    /// used (`start` may be NULL when `len` is 0).
    pub(crate) unsafe fn new(start: *mut c_char, len: usize) -> Self {
        Bump {
            start: start.cast(),
            len,
            used: 0,
        }
    }

    /// Reserves `size` bytes aligned to `align` (a power of two), uninitialised.
    fn reserve(&mut self, size: usize, align: usize) -> Result<*mut u8, Erange> {
        // Align the address, not the offset: glibc's buffer has no particular alignment.
        let padding = (self.start as usize).wrapping_add(self.used).wrapping_neg() & (align - 1);
        let offset = self.used.checked_add(padding).ok_or(Erange)?;
        let end = offset.checked_add(size).ok_or(Erange)?;
        if end > self.len {
            return Err(Erange);
        }
        self.used = end;
        Ok(self.start.wrapping_add(offset))
    }

    /// Copies `items` into the buffer, aligned for `T`.
    fn copy<T: Copy>(&mut self, items: &[T]) -> Result<*mut T, Erange> {
        let destination = self
            .reserve(size_of_val(items), align_of::<T>())?
            .cast::<T>();
        // SAFETY: `reserve` returned room for `items`, aligned for T, inside the buffer, which
        // cannot overlap a Rust slice we own.
        unsafe { ptr::copy_nonoverlapping(items.as_ptr(), destination, items.len()) };
        Ok(destination)
    }

    /// Copies `text` plus a terminating NUL (peer names never contain NUL).
    fn c_str(&mut self, text: &str) -> Result<*mut c_char, Erange> {
        let destination = self.reserve(text.len() + 1, 1)?;
        // SAFETY: `reserve` returned `text.len() + 1` bytes inside the buffer.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), destination, text.len());
            destination.add(text.len()).write(0);
        }
        Ok(destination.cast())
    }
}

/// Packs `addresses` (non-empty) as a linked list of tuples for gethostbyname4_r, each naming
/// `name`; returns the first.
pub(crate) fn addrtuples(
    bump: &mut Bump,
    name: &str,
    addresses: &[ScopedAddr],
) -> Result<*mut GaihAddrtuple, Erange> {
    let name = bump.c_str(name)?;
    let size = size_of::<GaihAddrtuple>()
        .checked_mul(addresses.len())
        .ok_or(Erange)?;
    let first = bump
        .reserve(size, align_of::<GaihAddrtuple>())?
        .cast::<GaihAddrtuple>();
    let tuples: Vec<GaihAddrtuple> = addresses
        .iter()
        .enumerate()
        .map(|(index, address)| {
            let next = match index + 1 {
                next if next < addresses.len() => first.wrapping_add(next),
                _ => ptr::null_mut(),
            };
            let (family, bytes, scopeid) = match address.ipv4() {
                Some(ipv4) => {
                    let mut bytes = [0; 16];
                    bytes[..4].copy_from_slice(&ipv4.octets());
                    (libc::AF_INET, bytes, 0)
                }
                None => (libc::AF_INET6, address.ip.octets(), address.scope_id),
            };
            // In memory order, so the u32s hold the bytes in network order as glibc reads them.
            let addr = [0, 1, 2, 3].map(|word| {
                u32::from_ne_bytes(bytes[word * 4..word * 4 + 4].try_into().expect("4 bytes"))
            });
            GaihAddrtuple {
                next,
                name,
                family,
                addr,
                scopeid,
            }
        })
        .collect();
    // SAFETY: `first` is room for exactly these tuples, aligned, inside the buffer.
    unsafe { ptr::copy_nonoverlapping(tuples.as_ptr(), first, tuples.len()) };
    Ok(first)
}

/// Packs a hostent's strings, addresses (`addresses` holds them back to back, `length` bytes each)
/// and NULL-terminated pointer arrays; returns the hostent to hand back.
pub(crate) fn hostent(
    bump: &mut Bump,
    name: &str,
    aliases: &[String],
    family: c_int,
    length: usize,
    addresses: &[u8],
) -> Result<libc::hostent, Erange> {
    let h_name = bump.c_str(name)?;
    let mut alias_pointers = Vec::with_capacity(aliases.len() + 1);
    for alias in aliases {
        alias_pointers.push(bump.c_str(alias)?);
    }
    alias_pointers.push(ptr::null_mut());
    let h_aliases = bump.copy(&alias_pointers)?;
    // Aligned like the pointers: callers cast h_addr_list entries to struct in_addr / in6_addr.
    let first = bump.reserve(addresses.len(), align_of::<*mut c_char>())?;
    // SAFETY: room for `addresses` was just reserved inside the buffer.
    unsafe { ptr::copy_nonoverlapping(addresses.as_ptr(), first, addresses.len()) };
    let address_pointers: Vec<*mut c_char> = (0..addresses.len() / length)
        .map(|index| first.wrapping_add(index * length).cast())
        .chain([ptr::null_mut()])
        .collect();
    let h_addr_list = bump.copy(&address_pointers)?;
    Ok(libc::hostent {
        h_name,
        h_aliases,
        h_addrtype: family,
        h_length: length as c_int,
        h_addr_list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_aligns_addresses_and_stops_at_the_end() {
        let mut storage = [0u64; 4];
        let base = storage.as_mut_ptr().cast::<u8>();
        // Start one byte in, so the buffer itself is misaligned.
        // SAFETY: 31 bytes from base+1 lie inside `storage`.
        let mut bump = unsafe { Bump::new(base.add(1).cast(), 31) };
        let byte = bump.reserve(1, 1).unwrap();
        assert_eq!(byte, base.wrapping_add(1));
        let word = bump.reserve(8, 8).unwrap();
        assert_eq!(word, base.wrapping_add(8));
        assert_eq!(bump.reserve(17, 1), Err(Erange));
        assert_eq!(bump.reserve(16, 1).unwrap(), base.wrapping_add(16));
        assert_eq!(bump.reserve(1, 1), Err(Erange));
        assert_eq!(bump.reserve(usize::MAX, 1), Err(Erange));
    }

    #[test]
    fn empty_buffer_refuses_everything() {
        // SAFETY: a zero-length buffer is never written.
        let mut bump = unsafe { Bump::new(ptr::null_mut(), 0) };
        assert_eq!(bump.c_str(""), Err(Erange));
        assert_eq!(bump.copy(&[1u8]), Err(Erange));
    }
}
