//! Reading `pnrpd`'s snapshot of this machine's own registrations (`pnrp_shared::snapshot`), so
//! that a local name is answered without a round trip to the daemon.
//!
//! Paranoid, because the file is read inside every program that resolves a `.pnrp.net` name:
//! - opened `O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK` (no symlink is followed; a FIFO planted
//!   there cannot block the open), then `fstat`ed: it must be a regular file, owned by the owner
//!   of the daemon's socket, writable by no one but its owner, and at most
//!   [`MAX_SNAPSHOT_LEN`] bytes;
//! - read whole into memory that is allocated fallibly, and parsed with every length checked;
//! - any doubt (absent, untrusted, changed while read, malformed, another version) is `None`, and
//!   the caller asks the daemon as if there were no snapshot.
//!
//! Nothing is kept between calls: each lookup opens, reads and closes the file (open, fstat, stat
//! of the socket, read, close: 5 system calls),
//! so there is no state to go stale or to share across `fork`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use pnrp_shared::snapshot::{Snapshot, HEADER_LEN, MAX_SNAPSHOT_LEN};
use pnrp_shared::ScopedAddr;

/// The addresses the snapshot at `path` holds for the peer name printed as `name`, if the file is
/// trustworthy (see the module's comment) for the daemon listening at `socket` and names it.
pub(crate) fn lookup(path: &Path, socket: &Path, name: &str) -> Option<Vec<ScopedAddr>> {
    let bytes = read_trusted(path, socket)?;
    let snapshot = Snapshot::parse(&bytes).ok()?;
    Some(snapshot.get(name)?.addresses().collect())
}

/// What `fstat` says about the snapshot, and `stat` about the socket, that trust depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The snapshot's `st_mode`.
    pub mode: libc::mode_t,
    /// The snapshot's owner.
    pub uid: libc::uid_t,
    /// The snapshot's size.
    pub size: i64,
    /// The owner of the daemon's socket: the daemon's user.
    pub socket_uid: libc::uid_t,
}

/// Whether a file with these facts may be believed: a regular file, of the daemon's user,
/// writable by no one else (no group or other write bit), of a size a snapshot can have.
pub(crate) fn trusted(facts: Facts) -> bool {
    facts.mode & libc::S_IFMT == libc::S_IFREG
        && facts.uid == facts.socket_uid
        && facts.mode & (libc::S_IWGRP | libc::S_IWOTH) == 0
        && facts.size >= HEADER_LEN as i64
        && facts.size <= MAX_SNAPSHOT_LEN as i64
}

/// The file's bytes, if it is trusted and read whole.
fn read_trusted(path: &Path, socket: &Path) -> Option<Vec<u8>> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let socket = CString::new(socket.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is NUL-terminated. O_NONBLOCK: opening a FIFO for reading would otherwise
    // wait for a writer; on a regular file it changes nothing.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened and nothing else owns it; dropping closes it on every path.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    let snapshot = stat(|stat| {
        // SAFETY: `stat` is valid for writes of a `struct stat`.
        unsafe { libc::fstat(file.as_raw_fd(), stat) }
    })?;
    let socket = stat(|stat| {
        // SAFETY: `socket` is NUL-terminated and `stat` valid for writes.
        unsafe { libc::stat(socket.as_ptr(), stat) }
    })?;
    let facts = Facts {
        mode: snapshot.st_mode,
        uid: snapshot.st_uid,
        size: snapshot.st_size,
        socket_uid: socket.st_uid,
    };
    if !trusted(facts) {
        return None;
    }
    let size = snapshot.st_size as usize;
    // Fallible allocation: running out of memory must not abort the program we are loaded in.
    // One byte more than the size, so that a file that grew after fstat is noticed.
    let mut bytes: Vec<u8> = Vec::new();
    bytes.try_reserve_exact(size + 1).ok()?;
    bytes.resize(size + 1, 0);
    // Asking for one byte more than the size: a regular file returns the size at once, and
    // more only if it grew. A short read is followed up; there is no read to see EOF.
    let mut filled = 0;
    while filled < size {
        // SAFETY: the range is inside `bytes`, valid for writes.
        let read = unsafe {
            libc::read(
                file.as_raw_fd(),
                bytes[filled..].as_mut_ptr().cast(),
                bytes.len() - filled,
            )
        };
        match read {
            0 => break,
            read if read > 0 => filled += read as usize,
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return None,
        }
    }
    // The daemon replaces the file by rename and never writes it in place: a different size
    // means someone did, and the bytes are not believed.
    if filled != size {
        return None;
    }
    bytes.truncate(size);
    Some(bytes)
}

/// Runs a stat-like call; `None` if it fails.
fn stat(call: impl FnOnce(*mut libc::stat) -> libc::c_int) -> Option<libc::stat> {
    // SAFETY: `struct stat` is plain data, for which all zeroes is valid.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    (call(&mut stat) == 0).then_some(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: Facts = Facts {
        mode: libc::S_IFREG | 0o644,
        uid: 107,
        size: 64,
        socket_uid: 107,
    };

    /// [`GOOD`] with another mode (file type and permissions).
    fn with_mode(mode: libc::mode_t) -> Facts {
        Facts { mode, ..GOOD }
    }

    #[test]
    fn only_the_daemons_own_unshared_regular_file_is_trusted() {
        assert!(trusted(GOOD));
        assert!(trusted(with_mode(libc::S_IFREG | 0o600)));
        let refused = [
            ("another user's", Facts { uid: 1000, ..GOOD }),
            (
                "root's, for a daemon that is not root",
                Facts { uid: 0, ..GOOD },
            ),
            ("group-writable", with_mode(libc::S_IFREG | 0o664)),
            ("world-writable", with_mode(libc::S_IFREG | 0o646)),
            ("a FIFO", with_mode(libc::S_IFIFO | 0o644)),
            ("a directory", with_mode(libc::S_IFDIR | 0o755)),
            ("a device", with_mode(libc::S_IFCHR | 0o644)),
            (
                "shorter than a header",
                Facts {
                    size: HEADER_LEN as i64 - 1,
                    ..GOOD
                },
            ),
            (
                "oversized",
                Facts {
                    size: MAX_SNAPSHOT_LEN as i64 + 1,
                    ..GOOD
                },
            ),
        ];
        for (what, facts) in refused {
            assert!(!trusted(facts), "{what} snapshot was trusted");
        }
    }
}
