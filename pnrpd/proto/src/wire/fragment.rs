//! Reassembly of AUTHORITY fragments into an AUTHORITY_BUFFER (§3.1.5.6), with bounded memory.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::messages::{Authority, FRAGMENT_LEN, MAX_AUTHORITY_BUFFER};

/// Default for [`Reassembly::new`]'s concurrent reassemblies.
pub const DEFAULT_MAX_REASSEMBLIES: usize = 16;
/// Default for [`Reassembly::new`]'s byte budget: four maximum-size buffers.
pub const DEFAULT_MAX_REASSEMBLY_BYTES: usize = 4 * MAX_AUTHORITY_BUFFER;

/// Why a fragment was dropped. The partial buffer it belonged to is dropped with it where §3.1.5.6
/// says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// The fragment's Size differs from the one the reassembly started with.
    #[error("fragment Size {found} differs from the reassembly's {expected}")]
    SizeMismatch {
        /// Size of the reassembly.
        expected: u16,
        /// Size in this fragment.
        found: u16,
    },
    /// A repeated fragment with different bytes.
    #[error("fragment at offset {offset} repeats with different contents")]
    ConflictingDuplicate {
        /// Its offset.
        offset: u16,
    },
    /// The buffer is larger than the whole byte budget.
    #[error("a {size}-byte buffer exceeds the reassembly budget")]
    TooLarge {
        /// Its Size.
        size: u16,
    },
}

#[derive(Debug)]
struct Entry {
    size: u16,
    buffer: Vec<u8>,
    /// One bit per 1188-byte fragment; 0x91E4 bytes is 32 fragments, so a u32 covers any Size.
    received: u32,
    created: u64,
}

impl Entry {
    fn complete_mask(size: u16) -> u32 {
        let fragments = usize::from(size).div_ceil(FRAGMENT_LEN);
        if fragments >= 32 {
            u32::MAX
        } else {
            (1u32 << fragments) - 1
        }
    }
}

/// Collects AUTHORITY fragments keyed by (sender, Acked Message ID) and yields each whole
/// AUTHORITY_BUFFER once. All fragments of one buffer share the header's Message ID too (§3.2.5.10),
/// so this key is as selective as §3.1.5.6's (Message ID, address, port).
///
/// Bounds: at most `max_reassemblies` partial buffers and `max_bytes` of them in all. A new buffer
/// that does not fit evicts the oldest partial ones: fragments should reach here only after their
/// Acked Message ID matched a pending INQUIRE or LOOKUP, so the newest are the live ones. Callers
/// should [`Reassembly::remove`] a buffer when its request times out.
#[derive(Debug)]
pub struct Reassembly {
    entries: HashMap<(SocketAddr, u32), Entry>,
    max_reassemblies: usize,
    max_bytes: usize,
    used_bytes: usize,
    next_sequence: u64,
}

impl Default for Reassembly {
    fn default() -> Self {
        Reassembly::new(DEFAULT_MAX_REASSEMBLIES, DEFAULT_MAX_REASSEMBLY_BYTES)
    }
}

impl Reassembly {
    /// An empty set with the given bounds (each at least 1, and the byte budget at least one
    /// fragment).
    pub fn new(max_reassemblies: usize, max_bytes: usize) -> Self {
        Reassembly {
            entries: HashMap::new(),
            max_reassemblies: max_reassemblies.max(1),
            max_bytes: max_bytes.max(FRAGMENT_LEN),
            used_bytes: 0,
            next_sequence: 0,
        }
    }

    /// Partial buffers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held by partial buffers.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Forgets a partial buffer.
    pub fn remove(&mut self, from: SocketAddr, acked_message_id: u32) {
        if let Some(entry) = self.entries.remove(&(from, acked_message_id)) {
            self.used_bytes = self.used_bytes.saturating_sub(entry.buffer.len());
        }
    }

    /// Adds a fragment from `from`; returns the whole buffer when this completes it (at once for
    /// an unfragmented one). Repeated identical fragments are ignored.
    pub fn insert(
        &mut self,
        from: SocketAddr,
        fragment: &Authority,
    ) -> Result<Option<Vec<u8>>, ReassemblyError> {
        if fragment.is_whole() {
            return Ok(Some(fragment.fragment().to_vec()));
        }
        let key = (from, fragment.acked_message_id());
        let size = fragment.size();
        match self.entries.get(&key).map(|entry| entry.size) {
            Some(expected) if expected != size => {
                self.remove(from, fragment.acked_message_id());
                return Err(ReassemblyError::SizeMismatch {
                    expected,
                    found: size,
                });
            }
            Some(_) => {}
            None => {
                self.make_room(usize::from(size))?;
                self.entries.insert(
                    key,
                    Entry {
                        size,
                        buffer: vec![0; usize::from(size)],
                        received: 0,
                        created: self.next_sequence,
                    },
                );
                self.next_sequence += 1;
                self.used_bytes += usize::from(size);
            }
        }
        // Authority's invariants put the fragment inside the buffer at a multiple of 1188.
        let offset = usize::from(fragment.offset());
        let bit = 1u32 << ((offset / FRAGMENT_LEN) % 32);
        let end = offset + fragment.fragment().len();
        let Some(entry) = self.entries.get_mut(&key) else {
            return Ok(None);
        };
        let Some(slot) = entry.buffer.get_mut(offset..end) else {
            return Ok(None);
        };
        if entry.received & bit != 0 {
            let conflicting = slot != fragment.fragment();
            if conflicting {
                self.remove(from, fragment.acked_message_id());
                return Err(ReassemblyError::ConflictingDuplicate {
                    offset: fragment.offset(),
                });
            }
            return Ok(None);
        }
        slot.copy_from_slice(fragment.fragment());
        entry.received |= bit;
        if entry.received == Entry::complete_mask(entry.size) {
            if let Some(entry) = self.entries.remove(&key) {
                self.used_bytes = self.used_bytes.saturating_sub(entry.buffer.len());
                return Ok(Some(entry.buffer));
            }
        }
        Ok(None)
    }

    /// Asserts the bookkeeping the bounds rely on: the counts stay within their limits,
    /// `used_bytes` is the sum of the partial buffers, each buffer is its Size long and has only
    /// bits for fragments inside it. For the fuzz target (`crate::fuzzing`), its only caller.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn assert_invariants(&self) {
        assert!(
            self.entries.len() <= self.max_reassemblies,
            "too many partial buffers"
        );
        assert!(self.used_bytes <= self.max_bytes, "over the byte budget");
        let sum: usize = self.entries.values().map(|entry| entry.buffer.len()).sum();
        assert_eq!(
            self.used_bytes, sum,
            "used_bytes disagrees with the buffers"
        );
        for entry in self.entries.values() {
            assert_eq!(entry.buffer.len(), usize::from(entry.size));
            assert!(entry.buffer.len() <= MAX_AUTHORITY_BUFFER);
            let complete = Entry::complete_mask(entry.size);
            assert_eq!(entry.received & !complete, 0, "a fragment bit past the end");
            assert_ne!(entry.received, complete, "a complete buffer was kept");
            assert!(entry.created < self.next_sequence);
        }
    }

    /// Evicts oldest partial buffers until one more of `size` bytes fits.
    fn make_room(&mut self, size: usize) -> Result<(), ReassemblyError> {
        if size > self.max_bytes {
            return Err(ReassemblyError::TooLarge {
                size: u16::try_from(size).unwrap_or(u16::MAX),
            });
        }
        while self.entries.len() >= self.max_reassemblies || self.used_bytes + size > self.max_bytes
        {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.created)
                .map(|(key, _)| *key)
            else {
                break;
            };
            self.remove(oldest.0, oldest.1);
        }
        Ok(())
    }
}
