//! FILETIME, the time format of the CPA's and EXTENDED_PAYLOAD's Not After (§2.2.3.1, §2.2.3.3):
//! 100 ns intervals since 1601-01-01 UTC, and its conversion from and to Unix seconds.
//!
//! Sans-IO: the wire module reads no clock; callers convert their `now` with these.

/// FILETIME of 1970-01-01T00:00:00Z: 100 ns intervals since 1601-01-01.
pub const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;
/// FILETIME ticks per second.
pub const FILETIME_TICKS_PER_SECOND: u64 = 10_000_000;

/// Unix seconds → FILETIME (saturating).
pub fn filetime_from_unix(seconds: u64) -> u64 {
    seconds
        .saturating_mul(FILETIME_TICKS_PER_SECOND)
        .saturating_add(FILETIME_UNIX_EPOCH)
}

/// FILETIME → Unix seconds (0 for times before 1970).
pub fn unix_from_filetime(filetime: u64) -> u64 {
    filetime.saturating_sub(FILETIME_UNIX_EPOCH) / FILETIME_TICKS_PER_SECOND
}
