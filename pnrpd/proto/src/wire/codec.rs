//! The bounded reader, the writer, and length-bounded lists.
//!
//! [`Reader`] is the only code that touches untrusted bytes. Every read goes through
//! [`Reader::bytes`], which checks the length against what remains with checked arithmetic before
//! slicing with `get`, so no read can panic; every count is turned into a byte length and checked
//! the same way before anything is allocated.

use core::ops::Deref;

use super::error::{BoundsError, WireError, WireErrorKind};

/// A cursor over untrusted bytes. `base` is the offset of `bytes[0]` in the outermost buffer, used
/// for error offsets and for the 4-byte FieldID alignment (§2.2), which is measured from there.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            base: 0,
        }
    }

    /// Offset of the next byte in the outermost buffer.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub(crate) fn error(&self, kind: WireErrorKind) -> WireError {
        WireError {
            offset: self.offset(),
            kind,
        }
    }

    pub(crate) fn error_at(offset: usize, kind: WireErrorKind) -> WireError {
        WireError { offset, kind }
    }

    /// The next `n` bytes, or `Truncated` without moving.
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end));
        match slice {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(self.error(WireErrorKind::Truncated {
                field,
                needed: n,
                remaining: self.remaining(),
            })),
        }
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], WireError> {
        let at = self.offset();
        let slice = self.bytes(N, field)?;
        <[u8; N]>::try_from(slice).map_err(|_| {
            Self::error_at(
                at,
                WireErrorKind::Truncated {
                    field,
                    needed: N,
                    remaining: slice.len(),
                },
            )
        })
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16_be(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u16_le(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32_be(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64_le(&mut self, field: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A reader over the next `n` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader<'a>, WireError> {
        let base = self.offset();
        let bytes = self.bytes(n, field)?;
        Ok(Reader {
            bytes,
            pos: 0,
            base,
        })
    }

    /// Everything not yet read, without consuming it.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }

    /// Reads a little-endian total-length prefix (CPA, EXTENDED_PAYLOAD) and checks that it
    /// covers exactly what is left of the enclosing field, itself included; returns all of it.
    pub(crate) fn whole_le_length(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let whole = self.rest();
        let at = self.offset();
        let length = self.u16_le(field)?;
        if usize::from(length) != whole.len() {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field,
                    rule: "must equal the enclosing field's Length - 4",
                },
            ));
        }
        Ok(whole)
    }

    /// Skips the 0–3 padding bytes before the next FieldID (ignored on receipt, §2.2). Padding the
    /// buffer ends inside is tolerated: Wireshark notes senders omit it after a final field.
    pub(crate) fn align(&mut self) {
        let pad = (4 - self.offset() % 4) % 4;
        self.pos = self.pos.saturating_add(pad.min(self.remaining()));
    }

    /// The FieldID of the next field, after alignment, if at least two bytes remain.
    pub(crate) fn peek_field(&mut self) -> Option<u16> {
        self.align();
        let bytes = self.bytes.get(self.pos..self.pos.checked_add(2)?)?;
        Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
    }

    /// Reads a `FieldID | Length` pair (after alignment) and returns a reader over the field's
    /// `Length - 4` remaining bytes.
    pub(crate) fn field(&mut self, id: u16, field: &'static str) -> Result<Reader<'a>, WireError> {
        self.align();
        let at = self.offset();
        let found = self.u16_be(field)?;
        if found != id {
            return Err(Self::error_at(
                at,
                WireErrorKind::UnexpectedField {
                    field,
                    expected: id,
                    found,
                },
            ));
        }
        let length = self.u16_be(field)?;
        let Some(body) = usize::from(length).checked_sub(4) else {
            return Err(Self::error_at(
                at,
                WireErrorKind::BadValue {
                    field,
                    found: length.into(),
                    rule: "a field Length includes its 4-byte FieldID and Length",
                },
            ));
        };
        self.sub(body, field)
    }

    /// Like [`Reader::field`] for fields whose Length the spec fixes.
    pub(crate) fn fixed_field(
        &mut self,
        id: u16,
        length: u16,
        field: &'static str,
        rule: &'static str,
    ) -> Result<Reader<'a>, WireError> {
        let at = self.offset() + (4 - self.offset() % 4) % 4;
        let body = self.field(id, field)?;
        if body.remaining() + 4 != usize::from(length) {
            return Err(Self::error_at(
                at,
                WireErrorKind::BadValue {
                    field,
                    found: (body.remaining() + 4) as u64,
                    rule,
                },
            ));
        }
        Ok(body)
    }

    /// Requires that everything was read, allowing up to 3 trailing alignment bytes (senders
    /// differ on padding after a final field, e.g. Wireshark's note on AUTHORITY's flags).
    pub(crate) fn finish(mut self) -> Result<(), WireError> {
        self.align();
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(WireErrorKind::TrailingBytes { count })),
        }
    }

    /// Requires that everything was read, with no padding allowed.
    pub(crate) fn finish_exact(self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(self.error(WireErrorKind::TrailingBytes { count })),
        }
    }
}

/// Writes big-endian fields and pads FieldIDs to 4-byte boundaries.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }
    pub(crate) fn u16_be(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }
    pub(crate) fn u16_le(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u32_be(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }
    pub(crate) fn u32_le(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn u64_le(&mut self, value: u64) {
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Zero padding up to the next multiple of 4.
    pub(crate) fn align(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// Writes `FieldID | Length | body` at the next 4-byte boundary, Length covering all three.
    pub(crate) fn field(&mut self, id: u16, body: impl FnOnce(&mut Writer)) {
        self.align();
        let start = self.buf.len();
        self.u16_be(id);
        self.u16_be(0);
        body(self);
        let length = self.buf.len() - start;
        // Every body is bounded by its type far below 64 KiB; saturating keeps this panic-free.
        debug_assert!(length <= usize::from(u16::MAX));
        let length = u16::try_from(length).unwrap_or(u16::MAX).to_be_bytes();
        if let Some(slot) = self.buf.get_mut(start + 2..start + 4) {
            slot.copy_from_slice(&length);
        }
    }
}

/// Saturating `usize` → `u16` for lengths the types bound below 64 KiB.
pub(crate) fn len16(len: usize) -> u16 {
    debug_assert!(len <= usize::from(u16::MAX));
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// A list whose length is always within `MIN..=MAX`, so encoding it never has to fail or clip.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoundedVec<T, const MIN: usize, const MAX: usize>(Vec<T>);

impl<T, const MIN: usize, const MAX: usize> BoundedVec<T, MIN, MAX> {
    /// Accepts `items` if there are `MIN..=MAX` of them.
    pub fn new(items: Vec<T>) -> Result<Self, BoundsError> {
        if (MIN..=MAX).contains(&items.len()) {
            Ok(BoundedVec(items))
        } else {
            Err(BoundsError {
                len: items.len(),
                min: MIN,
                max: MAX,
            })
        }
    }

    /// Keeps the first `MAX` of `items`; `None` if there are fewer than `MIN`.
    pub fn truncating(mut items: Vec<T>) -> Option<Self> {
        items.truncate(MAX);
        (items.len() >= MIN).then_some(BoundedVec(items))
    }

    /// The items.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> BoundedVec<T, 0, MAX> {
    /// No items.
    pub fn empty() -> Self {
        BoundedVec(Vec::new())
    }
}

impl<T, const MIN: usize, const MAX: usize> Deref for BoundedVec<T, MIN, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T, const MIN: usize, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MIN, MAX> {
    type Error = BoundsError;
    fn try_from(items: Vec<T>) -> Result<Self, BoundsError> {
        Self::new(items)
    }
}

impl<T: core::fmt::Debug, const MIN: usize, const MAX: usize> core::fmt::Debug
    for BoundedVec<T, MIN, MAX>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

/// Reads an array field (§2.2.2.2's layout, shared by every list in the spec):
/// `FieldID | Length | NumEntries | ArrayLength | ElementFieldType | EntryLength | entries`, checking
/// `Length == 12 + n·e` and `ArrayLength == 8 + n·e` before any entry is read, so the caller's
/// `Vec::with_capacity(n)` is bounded by bytes actually present.
pub(crate) fn read_array<'a>(
    r: &mut Reader<'a>,
    id: u16,
    field: &'static str,
    element_type: u16,
    entry_length: u16,
    min: u16,
    max: u16,
) -> Result<(Reader<'a>, usize), WireError> {
    let mut body = r.field(id, field)?;
    let field_length = body.remaining() + 4;
    let at = body.offset();
    let count = body.u16_be(field)?;
    let array_length = body.u16_be(field)?;
    let element = body.u16_be(field)?;
    let entry = body.u16_be(field)?;
    if element != element_type {
        return Err(Reader::error_at(
            at + 4,
            WireErrorKind::BadValue {
                field,
                found: element.into(),
                rule: "wrong ElementFieldType for this array",
            },
        ));
    }
    if entry != entry_length {
        return Err(Reader::error_at(
            at + 6,
            WireErrorKind::BadValue {
                field,
                found: entry.into(),
                rule: "wrong EntryLength for this array",
            },
        ));
    }
    if !(min..=max).contains(&count) {
        return Err(Reader::error_at(
            at,
            WireErrorKind::CountOutOfRange {
                field,
                found: count.into(),
                min: min.into(),
                max: max.into(),
            },
        ));
    }
    let entries = usize::from(count) * usize::from(entry_length);
    if usize::from(array_length) != entries + 8 {
        return Err(Reader::error_at(
            at + 2,
            WireErrorKind::Inconsistent {
                field,
                rule: "ArrayLength must be 8 + NumEntries × EntryLength",
            },
        ));
    }
    if field_length != entries + 12 {
        return Err(Reader::error_at(
            at.saturating_sub(2),
            WireErrorKind::Inconsistent {
                field,
                rule: "Length must be 12 + NumEntries × EntryLength",
            },
        ));
    }
    Ok((body, usize::from(count)))
}

/// Writes an array field (see [`read_array`]).
pub(crate) fn write_array<T>(
    w: &mut Writer,
    id: u16,
    element_type: u16,
    entry_length: u16,
    items: &[T],
    mut write: impl FnMut(&mut Writer, &T),
) {
    w.field(id, |w| {
        let count = len16(items.len());
        w.u16_be(count);
        w.u16_be(len16(8 + items.len() * usize::from(entry_length)));
        w.u16_be(element_type);
        w.u16_be(entry_length);
        for item in items {
            write(w, item);
        }
    });
}
