//! Reading `pnrpd`'s snapshot of this machine's own registrations (`pnrp_shared::snapshot`), so
//! that a local name is answered without a round trip to the daemon.
//!
//! Paranoid, because the file is read inside every program that resolves a `.pnrp.net` name:
//! - `lstat`ed first, and believed only if it is a regular file (not a symlink), owned by the
//!   owner of the daemon's socket (`stat` of the socket on every lookup), writable by no one but
//!   its owner, and of at most [`MAX_SNAPSHOT_LEN`] bytes;
//! - read with `O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK` (a FIFO planted there cannot block the
//!   open), the same checks made again by `fstat` on what was opened, whole at the size `fstat`
//!   gave, into memory mapped fallibly, and checked with every length before use;
//! - any doubt (absent, untrusted, changed while read, malformed, another version) is `None`, and
//!   the caller asks the daemon as if there were no snapshot.
//!
//! The bytes read are kept between calls, in one private anonymous mapping (read-only once
//! filled), keyed by the path and by what `lstat` says of the file: device, inode, size, mode,
//! owner, modification and change times. The daemon never writes the file in place: it renames
//! a new one over it, with a modification time it makes differ from every earlier snapshot's
//! (`pnrpd/src/daemon/view.rs`), so a new file is a new key even when the file system reuses
//! the inode within a clock tick, and a rewrite in place changes the change time. A lookup whose
//! key matches costs two system calls (`lstat` of the snapshot, `stat` of the socket); any other
//! reads the file again (open, fstat, read, close, and the mapping's mmap, mprotect, munmap).
//!
//! Safe across `fork` and threads: the kept bytes are only touched under a lock that is never
//! waited for (`try_lock`). A thread that finds it taken (another thread is looking up, or the
//! process forked while one was) reads the file as if nothing were kept. The mapping is plain
//! anonymous memory: a child inherits a copy, and nothing in it can go stale unnoticed, since
//! the key is checked on every lookup. No heap memory is held, so a program that unloads the
//! module (glibc's `__libc_freeres` under valgrind) leaks nothing.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Mutex, TryLockError};

use pnrp_shared::snapshot::{Snapshot, HEADER_LEN, MAX_SNAPSHOT_LEN};
use pnrp_shared::ScopedAddr;

/// The addresses the snapshot at `path` holds for the peer name printed as `name`, if the file is
/// trustworthy (see the module's comment) for the daemon listening at `socket` and names it.
pub(crate) fn lookup(path: &Path, socket: &Path, name: &str) -> Option<Vec<ScopedAddr>> {
    let path_bytes = path.as_os_str().as_bytes();
    let c_path = CPath::new(path_bytes)?;
    let c_socket = CPath::new(socket.as_os_str().as_bytes())?;
    let now = stat(|stat| {
        // SAFETY: `c_path` is NUL-terminated and `stat` valid for writes. lstat: a symlink is
        // refused (not a regular file), as the open's O_NOFOLLOW refuses it.
        unsafe { libc::lstat(c_path.as_ptr(), stat) }
    })?;
    let socket = stat(|stat| {
        // SAFETY: `c_socket` is NUL-terminated and `stat` valid for writes.
        unsafe { libc::stat(c_socket.as_ptr(), stat) }
    })?;
    let socket_uid = socket.st_uid;
    if !trusted(Facts::of(&now, socket_uid)) {
        return None;
    }
    let key = Key::of(&now);
    let kept = match CACHE.try_lock() {
        Ok(guard) => Some(guard),
        // A panic while the lock was held left no half-made state: entries are replaced whole.
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let Some(mut kept) = kept else {
        // Someone holds the lock (another thread, or one that was running when we forked).
        let read = read_trusted(&c_path, path_bytes, socket_uid)?;
        return addresses_of(read.snapshot(), name);
    };
    if let Some(cached) = kept
        .as_ref()
        .filter(|cached| cached.matches(path_bytes, &key))
    {
        return addresses_of(cached.snapshot(), name);
    }
    let read = read_trusted(&c_path, path_bytes, socket_uid)?;
    let found = Snapshot::find(read.snapshot(), name);
    let answer = match &found {
        Ok(Some(entry)) => Some(entry.addresses().collect()),
        _ => None,
    };
    // Kept only if it is valid (a bad one is read again next time, and refused again) and is
    // the file the path named when this lookup began.
    if found.is_ok() && read.key == key {
        read.protect();
        *kept = Some(read);
    }
    answer
}

/// The addresses of `name` in `bytes`, if they are a valid snapshot that holds it.
fn addresses_of(bytes: &[u8], name: &str) -> Option<Vec<ScopedAddr>> {
    let entry = Snapshot::find(bytes, name).ok()??;
    Some(entry.addresses().collect())
}

/// The snapshot kept between lookups.
static CACHE: Mutex<Option<Mapped>> = Mutex::new(None);

/// What `lstat` (or `fstat`) says of a snapshot that a rewrite or a replacement would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    device: u64,
    inode: u64,
    size: i64,
    mode: u32,
    owner: u32,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Key {
    fn of(stat: &libc::stat) -> Self {
        Key {
            device: stat.st_dev,
            inode: stat.st_ino,
            size: stat.st_size,
            mode: stat.st_mode,
            owner: stat.st_uid,
            modified: (stat.st_mtime, stat.st_mtime_nsec),
            changed: (stat.st_ctime, stat.st_ctime_nsec),
        }
    }
}

/// A snapshot's path and bytes in a private anonymous mapping of their own: `path | bytes`.
#[derive(Debug)]
struct Mapped {
    key: Key,
    region: *mut u8,
    region_len: usize,
    path_len: usize,
    len: usize,
}

// SAFETY: the mapping is owned by the value alone (no other pointer to it outlives a call), and
// only read once filled; moving it to another thread moves that ownership.
unsafe impl Send for Mapped {}

impl Mapped {
    /// A mapping for `path` and `len` bytes of snapshot, plus one byte to notice growth.
    fn new(key: Key, path: &[u8], len: usize) -> Option<Self> {
        let region_len = path.len().checked_add(len)?.checked_add(1)?;
        // SAFETY: a new private anonymous mapping; no address hint, nothing else is touched.
        let region = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                region_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if region == libc::MAP_FAILED {
            return None;
        }
        let mapped = Mapped {
            key,
            region: region.cast(),
            region_len,
            path_len: path.len(),
            len,
        };
        // SAFETY: the region is writable for `region_len` bytes, of which the path's come first.
        unsafe { std::ptr::copy_nonoverlapping(path.as_ptr(), mapped.region, path.len()) };
        Some(mapped)
    }

    fn path(&self) -> &[u8] {
        // SAFETY: the first `path_len` bytes of the region hold the path.
        unsafe { std::slice::from_raw_parts(self.region, self.path_len) }
    }

    fn snapshot(&self) -> &[u8] {
        // SAFETY: `len` bytes after the path are the snapshot, filled before any reader sees it.
        unsafe { std::slice::from_raw_parts(self.region.add(self.path_len), self.len) }
    }

    /// The room the file is read into: the snapshot's bytes and the one more.
    fn room(&mut self) -> &mut [u8] {
        // SAFETY: the region is writable (not yet protected) past the path, to its end.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.region.add(self.path_len),
                self.region_len - self.path_len,
            )
        }
    }

    fn matches(&self, path: &[u8], key: &Key) -> bool {
        self.key == *key && self.path() == path
    }

    /// Read-only from now on: a stray write elsewhere in the program cannot change what we
    /// believe.
    fn protect(&self) {
        // SAFETY: the region is ours; failing leaves it writable, which changes nothing here.
        unsafe { libc::mprotect(self.region.cast(), self.region_len, libc::PROT_READ) };
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `new` and no reference to it outlives `self`.
        unsafe { libc::munmap(self.region.cast(), self.region_len) };
    }
}

/// What `fstat` or `lstat` says about the snapshot, and `stat` about the socket, that trust
/// depends on.
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

impl Facts {
    fn of(snapshot: &libc::stat, socket_uid: libc::uid_t) -> Self {
        Facts {
            mode: snapshot.st_mode,
            uid: snapshot.st_uid,
            size: snapshot.st_size,
            socket_uid,
        }
    }
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

/// The file's bytes, if what was opened is trusted (checked again on the descriptor: the path
/// may have been replaced since `lstat`) and read whole, with the key of what was read.
fn read_trusted(path: &CPath, path_bytes: &[u8], socket_uid: libc::uid_t) -> Option<Mapped> {
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
    let opened = stat(|stat| {
        // SAFETY: `stat` is valid for writes of a `struct stat`.
        unsafe { libc::fstat(file.as_raw_fd(), stat) }
    })?;
    if !trusted(Facts::of(&opened, socket_uid)) {
        return None;
    }
    let size = opened.st_size as usize;
    // A mapping, not the heap: running out of memory must not abort the program we are loaded
    // in, and what is kept must not show as a leak when the module is unloaded.
    let mut mapped = Mapped::new(Key::of(&opened), path_bytes, size)?;
    let room = mapped.room();
    // Asking for one byte more than the size: a regular file returns the size at once, and
    // more only if it grew. A short read is followed up; there is no read to see EOF.
    let mut filled = 0;
    while filled < size {
        // SAFETY: the range is inside `room`, valid for writes.
        let read = unsafe {
            libc::read(
                file.as_raw_fd(),
                room[filled..].as_mut_ptr().cast(),
                room.len() - filled,
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
    (filled == size).then_some(mapped)
}

/// A path NUL-terminated for the system calls: on the stack when it is short (as the usual
/// ones are), else on the heap.
// The large variant is the point: no allocation for the usual paths.
#[allow(clippy::large_enum_variant)]
enum CPath {
    Short([u8; CPath::SHORT]),
    Long(CString),
}

impl CPath {
    const SHORT: usize = 256;

    /// `None` if `path` has a NUL byte in it.
    fn new(path: &[u8]) -> Option<Self> {
        if path.len() >= Self::SHORT {
            return CString::new(path).ok().map(CPath::Long);
        }
        if path.contains(&0) {
            return None;
        }
        let mut short = [0; Self::SHORT];
        short[..path.len()].copy_from_slice(path);
        Some(CPath::Short(short))
    }

    fn as_ptr(&self) -> *const libc::c_char {
        match self {
            CPath::Short(short) => short.as_ptr().cast(),
            CPath::Long(long) => long.as_ptr(),
        }
    }
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
            ("a symlink", with_mode(libc::S_IFLNK | 0o777)),
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
