//! Why bytes are not a PNRP message, and where.

use core::fmt;

/// A decoding failure: what is wrong and the byte offset where it was found.
///
/// Offsets count from the start of the buffer handed to the decoder: the UDP payload for
/// [`Packet::decode`](super::Packet::decode), the reassembled buffer for
/// [`AuthorityBuffer::decode`](super::AuthorityBuffer::decode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct WireError {
    /// Byte offset of the offending field.
    pub offset: usize,
    /// What is wrong there.
    pub kind: WireErrorKind,
}

/// The kinds of [`WireError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireErrorKind {
    /// The buffer ends inside `field`.
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A FieldID other than the one the message layout requires at this point.
    UnexpectedField {
        field: &'static str,
        expected: u16,
        found: u16,
    },
    /// A value the spec forbids: a wrong fixed Length, version, identifier, element type…
    BadValue {
        field: &'static str,
        found: u64,
        rule: &'static str,
    },
    /// A count outside the range the spec allows.
    CountOutOfRange {
        field: &'static str,
        found: u64,
        min: u64,
        max: u64,
    },
    /// Two fields that must agree (Length vs. NumEntries × EntryLength, flags vs. contents…) don't.
    Inconsistent {
        field: &'static str,
        rule: &'static str,
    },
    /// Text that is not valid in the encoding its field declares.
    BadText { field: &'static str },
    /// Bytes left over after the last field.
    TrailingBytes { count: usize },
}

impl fmt::Display for WireErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireErrorKind::Truncated {
                field,
                needed,
                remaining,
            } => write!(
                f,
                "{field} needs {needed} bytes but only {remaining} remain"
            ),
            WireErrorKind::UnexpectedField {
                field,
                expected,
                found,
            } => write!(
                f,
                "expected FieldID {expected:#06x} ({field}), found {found:#06x}"
            ),
            WireErrorKind::BadValue { field, found, rule } => {
                write!(f, "{field} is {found:#x}; {rule}")
            }
            WireErrorKind::CountOutOfRange {
                field,
                found,
                min,
                max,
            } => write!(f, "{field} is {found}; must be {min}..={max}"),
            WireErrorKind::Inconsistent { field, rule } => write!(f, "{field}: {rule}"),
            WireErrorKind::BadText { field } => write!(f, "{field} is not valid text"),
            WireErrorKind::TrailingBytes { count } => {
                write!(f, "{count} bytes follow the last field")
            }
        }
    }
}

/// A list too short or too long for its [`BoundedVec`](super::BoundedVec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} items; must be {min}..={max}")]
pub struct BoundsError {
    /// Items offered.
    pub len: usize,
    /// Fewest allowed.
    pub min: usize,
    /// Most allowed.
    pub max: usize,
}
