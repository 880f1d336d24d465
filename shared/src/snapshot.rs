//! The snapshot of this machine's own registrations that `pnrpd` keeps next to its socket, so that
//! the NSS module can answer a local name without a round trip to the daemon (the way nscd's
//! clients read its shared cache). This file owns the format only: encoding, and a parser that
//! checks every length before it trusts one. Where the file lives is [`path_for`]; who may own it
//! is the module's business (`nss_pnrp/src/snapshot.rs`); writing it is the daemon's.
//!
//! Only this machine's registrations go in it, never answers from the cloud: the file is
//! world-readable, and what other users resolved is none of its readers' business.
//!
//! Layout, little-endian:
//!
//! ```text
//! magic "PNRPSNAP" (8) | version u16 | reserved u16 = 0 | entries u32 | total length u32
//! then per entry: name length u16 | name (UTF-8 peer name, `authority.classifier`)
//!                 | addresses u8 | per address: IPv6 (16) | scope id u32
//! ```
//!
//! The total length is the file's: a snapshot cut short or with bytes after its last entry is
//! refused, as is one of another version, one over [`MAX_SNAPSHOT_LEN`], or one with more entries
//! or addresses than a daemon may publish.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use crate::ipc::{MAX_ADDRESSES, MAX_REGISTRATIONS};
use crate::name::PeerName;
use crate::registration::ScopedAddr;

/// The first bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"PNRPSNAP";

/// The version this code writes and reads; any other is refused.
pub const VERSION: u16 = 1;

/// Bytes before the first entry.
pub const HEADER_LEN: usize = 20;

/// Most bytes of an entry's name: 40 hex digits, a dot and 149 UTF-16 code units of up to 4
/// UTF-8 bytes each (2 per unit for a surrogate pair, at most 3 for one unit).
pub const MAX_NAME_BYTES: usize = 41 + 149 * 3;

/// Bytes of one address: the IPv6 address and its scope id.
const ADDRESS_LEN: usize = 20;

/// Most bytes a snapshot may have: [`MAX_REGISTRATIONS`] names with [`MAX_ADDRESSES`] addresses
/// each fit with room to spare. Readers refuse anything larger before reading it.
pub const MAX_SNAPSHOT_LEN: usize = 512 * 1024;

/// The file extension of a snapshot: the daemon at `/run/pnrp/pnrpd.sock` writes
/// `/run/pnrp/pnrpd.names`.
pub const EXTENSION: &str = "names";

/// The snapshot of the daemon at its default socket ([`crate::ipc::DEFAULT_SOCKET_PATH`]):
/// [`path_for`] of it.
pub const DEFAULT_PATH: &str = "/run/pnrp/pnrpd.names";

/// Where the daemon listening at `socket` keeps its snapshot: beside the socket, with the
/// extension [`EXTENSION`] (so daemons sharing a directory keep theirs apart).
pub fn path_for(socket: &Path) -> PathBuf {
    socket.with_extension(EXTENSION)
}

/// Why bytes are not a snapshot. Readers ignore the snapshot on any of these and ask the daemon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Shorter than its header, or than what its lengths announce.
    #[error("snapshot cut short")]
    Truncated,
    /// Over [`MAX_SNAPSHOT_LEN`].
    #[error("snapshot of {0} bytes is over the {MAX_SNAPSHOT_LEN}-byte limit")]
    TooLarge(usize),
    /// Not starting with [`MAGIC`].
    #[error("not a pnrp snapshot")]
    BadMagic,
    /// Of a version this code does not read.
    #[error("snapshot version {0} is not supported (this side reads {VERSION})")]
    UnsupportedVersion(u16),
    /// The header's total length is not the number of bytes.
    #[error("snapshot says {announced} bytes but has {actual}")]
    LengthMismatch {
        /// What the header says.
        announced: usize,
        /// What there is.
        actual: usize,
    },
    /// A field is out of its bounds (reserved bits, counts, a name's length or encoding).
    #[error("malformed snapshot: {0}")]
    Malformed(&'static str),
}

/// One name of the snapshot with the addresses it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The peer name as text, `authority.classifier` (as [`PeerName`] prints it).
    pub name: &'a str,
    /// The addresses, `ADDRESS_LEN` bytes each (checked whole by [`Snapshot::parse`]).
    addresses: &'a [u8],
}

impl Entry<'_> {
    /// The addresses, in the order the daemon published them.
    pub fn addresses(&self) -> impl Iterator<Item = ScopedAddr> + '_ {
        self.addresses.chunks_exact(ADDRESS_LEN).map(|chunk| {
            let mut ip = [0; 16];
            ip.copy_from_slice(&chunk[..16]);
            let mut scope = [0; 4];
            scope.copy_from_slice(&chunk[16..]);
            ScopedAddr {
                ip: Ipv6Addr::from(ip),
                scope_id: u32::from_le_bytes(scope),
            }
        })
    }
}

/// A parsed snapshot: borrowed from its bytes, every length already checked.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Snapshot<'a> {
    /// Checks `bytes` whole (magic, version, total length, every entry's lengths and bounds) and
    /// only then returns the entries.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, SnapshotError> {
        let count = check_header(bytes)?;
        let mut entries = Vec::new();
        entries
            .try_reserve_exact(count)
            .map_err(|_| SnapshotError::Malformed("no memory for the entries"))?;
        check_entries(bytes, count, |entry| entries.push(entry))?;
        Ok(Snapshot { entries })
    }

    /// The entry of the peer name printed as `name` in `bytes`, checked whole as
    /// [`Snapshot::parse`] checks them, without allocating: what a reader that looks up one name
    /// per call needs.
    pub fn find(bytes: &'a [u8], name: &str) -> Result<Option<Entry<'a>>, SnapshotError> {
        let count = check_header(bytes)?;
        let mut found = None;
        check_entries(bytes, count, |entry| {
            if found.is_none() && entry.name == name {
                found = Some(entry);
            }
        })?;
        Ok(found)
    }

    /// The entries, in the order written (the daemon writes them in name order).
    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    /// The entry of the peer name printed as `name`, if this machine publishes it.
    pub fn get(&self, name: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|entry| entry.name == name)
    }
}

/// Checks the header of `bytes` (size, magic, version, reserved field, total length, count) and
/// returns the number of entries it announces.
fn check_header(bytes: &[u8]) -> Result<usize, SnapshotError> {
    if bytes.len() > MAX_SNAPSHOT_LEN {
        return Err(SnapshotError::TooLarge(bytes.len()));
    }
    let mut reader = Reader(bytes);
    let magic = reader.take(MAGIC.len())?;
    if magic != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let version = reader.u16()?;
    if version != VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    if reader.u16()? != 0 {
        return Err(SnapshotError::Malformed("reserved bits set"));
    }
    let count = reader.u32()? as usize;
    let announced = reader.u32()? as usize;
    if announced != bytes.len() {
        return Err(SnapshotError::LengthMismatch {
            announced,
            actual: bytes.len(),
        });
    }
    if count > MAX_REGISTRATIONS {
        return Err(SnapshotError::Malformed(
            "more names than a daemon publishes",
        ));
    }
    Ok(count)
}

/// Checks the `count` entries after the header of `bytes`, each handed to `visit` once checked,
/// and that nothing follows the last.
fn check_entries<'a>(
    bytes: &'a [u8],
    count: usize,
    mut visit: impl FnMut(Entry<'a>),
) -> Result<(), SnapshotError> {
    let mut reader = Reader(&bytes[HEADER_LEN..]);
    for _ in 0..count {
        let length = usize::from(reader.u16()?);
        if length == 0 || length > MAX_NAME_BYTES {
            return Err(SnapshotError::Malformed("name length out of bounds"));
        }
        let name = std::str::from_utf8(reader.take(length)?)
            .map_err(|_| SnapshotError::Malformed("name is not UTF-8"))?;
        let addresses = usize::from(reader.u8()?);
        if addresses == 0 || addresses > MAX_ADDRESSES {
            return Err(SnapshotError::Malformed("address count out of bounds"));
        }
        let addresses = reader.take(addresses * ADDRESS_LEN)?;
        visit(Entry { name, addresses });
    }
    if !reader.0.is_empty() {
        return Err(SnapshotError::Malformed("bytes after the last entry"));
    }
    Ok(())
}

/// The snapshot of `names`, each with the addresses it resolves to here. Names without an
/// address are left out (the daemon decides what they resolve to); more than [`MAX_ADDRESSES`]
/// addresses or [`MAX_REGISTRATIONS`] names cannot come from a daemon and are cut there.
pub fn encode<'n>(names: impl IntoIterator<Item = (&'n PeerName, &'n [ScopedAddr])>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut count: u32 = 0;
    for (name, addresses) in names {
        if addresses.is_empty() || count as usize == MAX_REGISTRATIONS {
            continue;
        }
        let text = name.to_string();
        debug_assert!(!text.is_empty() && text.len() <= MAX_NAME_BYTES);
        let addresses = &addresses[..addresses.len().min(MAX_ADDRESSES)];
        body.extend_from_slice(&(text.len() as u16).to_le_bytes());
        body.extend_from_slice(text.as_bytes());
        body.push(addresses.len() as u8);
        for address in addresses {
            body.extend_from_slice(&address.ip.octets());
            body.extend_from_slice(&address.scope_id.to_le_bytes());
        }
        count += 1;
    }
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// Re-encodes a parsed snapshot as [`encode`] would (for the fuzz target's round trip: a snapshot
/// that parses is canonical, so this gives back its bytes).
pub fn reencode(snapshot: &Snapshot<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&(snapshot.entries.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    for entry in &snapshot.entries {
        bytes.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        bytes.extend_from_slice(entry.name.as_bytes());
        bytes.push((entry.addresses.len() / ADDRESS_LEN) as u8);
        bytes.extend_from_slice(entry.addresses);
    }
    let total = (bytes.len() as u32).to_le_bytes();
    bytes[16..HEADER_LEN].copy_from_slice(&total);
    bytes
}

/// A cursor that refuses to read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], SnapshotError> {
        if length > self.0.len() {
            return Err(SnapshotError::Truncated);
        }
        let (taken, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> PeerName {
        text.parse().unwrap()
    }

    fn address(text: &str, scope_id: u32) -> ScopedAddr {
        ScopedAddr {
            ip: text.parse().unwrap(),
            scope_id,
        }
    }

    fn sample() -> Vec<u8> {
        let (web, printer, bare) = (name("0.web"), name("0.printer.café"), name("0.bare"));
        let web_addresses = [address("fd00::1", 0), address("fe80::1", 3)];
        let printer_addresses = [address("::ffff:192.0.2.7", 0)];
        encode([
            (&web, &web_addresses[..]),
            (&bare, &[][..]),
            (&printer, &printer_addresses[..]),
        ])
    }

    #[test]
    fn names_round_trip_with_their_addresses_and_scopes() {
        let bytes = sample();
        let snapshot = Snapshot::parse(&bytes).unwrap();
        assert_eq!(
            snapshot.entries().len(),
            2,
            "a name without address is left out"
        );
        let web: Vec<ScopedAddr> = snapshot.get("0.web").unwrap().addresses().collect();
        assert_eq!(web, [address("fd00::1", 0), address("fe80::1", 3)]);
        let printer: Vec<ScopedAddr> = snapshot
            .get("0.printer.café")
            .unwrap()
            .addresses()
            .collect();
        assert_eq!(printer, [address("::ffff:192.0.2.7", 0)]);
        assert!(snapshot.get("0.bare").is_none());
        assert!(
            snapshot.get("0.Web").is_none(),
            "classifiers are case-sensitive"
        );
        assert_eq!(reencode(&snapshot), bytes);
        assert_eq!(
            Snapshot::find(&bytes, "0.web").unwrap().as_ref(),
            snapshot.get("0.web")
        );
        assert_eq!(Snapshot::find(&bytes, "0.bare").unwrap(), None);
        let empty = encode([]);
        assert_eq!(empty.len(), HEADER_LEN);
        assert!(Snapshot::parse(&empty).unwrap().entries().is_empty());
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        let bytes = sample();
        for length in 0..bytes.len() {
            assert!(
                Snapshot::parse(&bytes[..length]).is_err(),
                "cut at {length}"
            );
            assert!(
                Snapshot::find(&bytes[..length], "0.web").is_err(),
                "cut at {length}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Snapshot::parse(&longer),
            Err(SnapshotError::LengthMismatch { .. })
        ));
        // The same extra byte, announced in the header, is still not an entry.
        let total = (longer.len() as u32).to_le_bytes();
        longer[16..20].copy_from_slice(&total);
        assert!(matches!(
            Snapshot::parse(&longer),
            Err(SnapshotError::Truncated | SnapshotError::Malformed(_))
        ));
    }

    #[test]
    fn other_versions_magics_and_bounds_are_refused() {
        let bytes = sample();
        let mut other = bytes.clone();
        other[8] = 2;
        assert_eq!(
            Snapshot::parse(&other).unwrap_err(),
            SnapshotError::UnsupportedVersion(2)
        );
        let mut other = bytes.clone();
        other[0] = b'X';
        assert_eq!(
            Snapshot::parse(&other).unwrap_err(),
            SnapshotError::BadMagic
        );
        let mut other = bytes.clone();
        other[10] = 1;
        assert!(matches!(
            Snapshot::parse(&other),
            Err(SnapshotError::Malformed(_))
        ));
        let mut other = bytes.clone();
        other[12..16].copy_from_slice(&(MAX_REGISTRATIONS as u32 + 1).to_le_bytes());
        assert!(matches!(
            Snapshot::parse(&other),
            Err(SnapshotError::Malformed(_))
        ));
        let huge = vec![0; MAX_SNAPSHOT_LEN + 1];
        assert_eq!(
            Snapshot::parse(&huge).unwrap_err(),
            SnapshotError::TooLarge(MAX_SNAPSHOT_LEN + 1)
        );
        // A name length of zero, and one past the limit.
        let mut other = bytes.clone();
        other[20..22].copy_from_slice(&0u16.to_le_bytes());
        assert!(Snapshot::parse(&other).is_err());
        let mut other = bytes;
        other[20..22].copy_from_slice(&(MAX_NAME_BYTES as u16 + 1).to_le_bytes());
        assert!(Snapshot::parse(&other).is_err());
    }

    #[test]
    fn the_longest_names_and_the_fullest_daemon_fit() {
        let classifier: String = "€".repeat(149);
        let longest = name(&format!("{}.{classifier}", "a".repeat(40)));
        assert_eq!(longest.to_string().len(), MAX_NAME_BYTES);
        let addresses = vec![address("fd00::1", 0); MAX_ADDRESSES];
        let names: Vec<PeerName> = (0..MAX_REGISTRATIONS)
            .map(|index| name(&format!("{}.{index:03}{}", "a".repeat(40), "€".repeat(146))))
            .collect();
        let bytes = encode(names.iter().map(|name| (name, &addresses[..])));
        assert!(bytes.len() <= MAX_SNAPSHOT_LEN, "{} bytes", bytes.len());
        let snapshot = Snapshot::parse(&bytes).unwrap();
        assert_eq!(snapshot.entries().len(), MAX_REGISTRATIONS);
        assert_eq!(
            snapshot.entries()[7].addresses().count(),
            MAX_ADDRESSES,
            "every address kept"
        );
        let one = encode([(&longest, &addresses[..1])]);
        assert_eq!(
            Snapshot::parse(&one).unwrap().entries()[0].name,
            longest.to_string()
        );
    }

    #[test]
    fn the_path_is_beside_the_socket() {
        assert_eq!(
            path_for(Path::new("/run/pnrp/pnrpd.sock")),
            Path::new("/run/pnrp/pnrpd.names")
        );
        assert_eq!(
            path_for(Path::new("/tmp/w/h1.sock")),
            Path::new("/tmp/w/h1.names")
        );
        assert_eq!(path_for(Path::new("sock")), Path::new("sock.names"));
        assert_eq!(
            path_for(Path::new(crate::ipc::DEFAULT_SOCKET_PATH)),
            Path::new(DEFAULT_PATH)
        );
    }
}
