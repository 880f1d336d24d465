//! P2P IDs and PNRP IDs per [MS-PNRP] §1.3.1.2 and §3.1.4.4.1.
//!
//! ```text
//! ClassifierHash = SHA-1(Classifier as UTF-16LE, no NUL)
//! P2P ID         = first 16 bytes of SHA-1(ClassifierHash | BinaryAuthority | ClassifierHash | "PNRP")
//! PNRP ID        = P2P ID (high 128 bits) | Service Location (low 128 bits)
//! ```
//!
//! IDs are big-endian numbers: byte 0 is the most significant, so the derived ordering on the bytes
//! is the numeric ordering. Distance is circular: the namespace wraps at 2^256.

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::name::PeerName;

/// The "Goo" constant hashed last into every P2P ID: ASCII `PNRP`.
const GOO: &[u8; 4] = b"PNRP";

/// SHA-1 of a classifier as the spec hashes it: UTF-16LE code units, no terminating NUL.
pub fn classifier_hash(classifier: &str) -> [u8; 20] {
    let mut hasher = Sha1::new();
    for unit in classifier.encode_utf16() {
        hasher.update(unit.to_le_bytes());
    }
    hasher.finalize().into()
}

/// The 128-bit hash of a peer name, shared by every registration of that name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct P2pId(pub [u8; 16]);

impl P2pId {
    /// Hashes a peer name into its P2P ID.
    pub fn of(name: &PeerName) -> Self {
        let classifier = classifier_hash(name.classifier());
        let mut hasher = Sha1::new();
        hasher.update(classifier);
        hasher.update(name.authority().binary());
        hasher.update(classifier);
        hasher.update(GOO);
        let digest: [u8; 20] = hasher.finalize().into();
        let mut id = [0; 16];
        id.copy_from_slice(&digest[..16]);
        P2pId(id)
    }
}

/// The 128-bit suffix that makes one registration of a name unique (§1.3.1.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct ServiceLocation(pub [u8; 16]);

/// A 256-bit PNRP ID: P2P ID followed by service location. Ordered as the big-endian number
/// it is (the bytes' lexicographic order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PnrpId(pub [u8; 32]);

// By 64-bit limbs rather than byte by byte: IDs are compared and subtracted in every cache
// query, and this is several times faster than a call to memcmp or a loop over bytes.
impl Ord for PnrpId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs().cmp(&other.limbs())
    }
}

impl PartialOrd for PnrpId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PnrpId {
    /// Joins a P2P ID and a service location.
    pub fn new(p2p: P2pId, location: ServiceLocation) -> Self {
        let mut id = [0; 32];
        id[..16].copy_from_slice(&p2p.0);
        id[16..].copy_from_slice(&location.0);
        PnrpId(id)
    }

    /// The high 128 bits.
    pub fn p2p_id(&self) -> P2pId {
        let mut id = [0; 16];
        id.copy_from_slice(&self.0[..16]);
        P2pId(id)
    }

    /// The low 128 bits.
    pub fn service_location(&self) -> ServiceLocation {
        let mut location = [0; 16];
        location.copy_from_slice(&self.0[16..]);
        ServiceLocation(location)
    }

    /// `self - other` modulo 2^256.
    pub fn wrapping_sub(&self, other: &PnrpId) -> PnrpId {
        self.limb_by_limb(other, u64::overflowing_sub)
    }

    /// `self + other` modulo 2^256.
    pub fn wrapping_add(&self, other: &PnrpId) -> PnrpId {
        self.limb_by_limb(other, u64::overflowing_add)
    }

    /// `step` (an overflowing add or subtract) limb by limb from the least significant, the
    /// carry or borrow passed on, the last one dropped (modulo 2^256).
    #[inline]
    fn limb_by_limb(&self, other: &PnrpId, step: fn(u64, u64) -> (u64, bool)) -> PnrpId {
        let (left, right) = (self.limbs(), other.limbs());
        let mut out = [0u64; 4];
        let mut carry = false;
        for index in (0..4).rev() {
            let (value, over) = step(left[index], right[index]);
            let (value, over_again) = step(value, u64::from(carry));
            out[index] = value;
            carry = over || over_again;
        }
        PnrpId::from_limbs(out)
    }

    /// The ID as four big-endian 64-bit limbs, the most significant first.
    #[inline]
    fn limbs(&self) -> [u64; 4] {
        let mut limbs = [0; 4];
        for (limb, bytes) in limbs.iter_mut().zip(self.0.chunks_exact(8)) {
            *limb = u64::from_be_bytes(bytes.try_into().expect("chunks of 8"));
        }
        limbs
    }

    #[inline]
    fn from_limbs(limbs: [u64; 4]) -> PnrpId {
        let mut bytes = [0; 32];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(limbs) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        PnrpId(bytes)
    }

    /// Circular distance: the shorter way round the 2^256 ring.
    pub fn distance(&self, other: &PnrpId) -> PnrpId {
        let forward = other.wrapping_sub(self);
        let backward = self.wrapping_sub(other);
        forward.min(backward)
    }

    /// Whether `self` is closer to `target` than `other` is (ties broken by the smaller ID).
    pub fn is_closer_to(&self, target: &PnrpId, other: &PnrpId) -> bool {
        (self.distance(target), *self) < (other.distance(target), *other)
    }
}

macro_rules! hex_debug {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }
    )*};
}
hex_debug!(P2pId, ServiceLocation, PnrpId);

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn id_from_u64(low: u64) -> PnrpId {
        let mut id = [0; 32];
        id[24..].copy_from_slice(&low.to_be_bytes());
        PnrpId(id)
    }

    /// Vectors computed with Python's hashlib from the formula in docs/PROTOCOL.md; see there.
    #[test]
    fn p2p_id_vectors() {
        let vectors = [
            (
                "0.myapp",
                "7d1988ee5b39113333b758591f7ccaf1bcb11d94",
                "6fb2595f71141af8d6bf66afd3591dbe",
            ),
            (
                "0.",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "f16650999d995aca3e323e4008a7f4bd",
            ),
            (
                "0.My.App.café",
                "a45130a214e0bc502f2b9c4dd4b88aeb39432adb",
                "65601619f8dbe5ad0c285db60342ffa7",
            ),
            (
                "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a.printer",
                "550b2e5cc86dfc4c9359413e63f63c6f1322399a",
                "32da681d24e32940356d2bcce2b73022",
            ),
            (
                "0.😀",
                "bd4b6549a78e142a44eb9a0a512f83a787e96967",
                "e83584ed9e4cb55ddb1dd90384031a52",
            ),
        ];
        for (name, classifier, p2p) in vectors {
            let name: PeerName = name.parse().unwrap();
            assert_eq!(
                hex(&classifier_hash(name.classifier())),
                classifier,
                "{name}"
            );
            assert_eq!(hex(&P2pId::of(&name).0), p2p, "{name}");
        }
    }

    #[test]
    fn limb_arithmetic_and_order_match_the_bytes() {
        // Byte by byte, the obvious way: what the limbs must agree with.
        fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
            let mut out = [0; 32];
            let mut borrow = 0i16;
            for index in (0..32).rev() {
                let digit = i16::from(a[index]) - i16::from(b[index]) - borrow;
                borrow = i16::from(digit < 0);
                out[index] = digit.rem_euclid(256) as u8;
            }
            out
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            let mut id = [0; 32];
            for byte in &mut id {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Runs of equal bytes and the extremes, where carries and ties happen.
                *byte = match state % 5 {
                    0 => 0,
                    1 => 0xff,
                    _ => (state >> 32) as u8,
                };
            }
            PnrpId(id)
        };
        for _ in 0..10_000 {
            let (a, b) = (next(), next());
            assert_eq!(a.cmp(&b), a.0.cmp(&b.0));
            assert_eq!(a.wrapping_sub(&b).0, sub(&a.0, &b.0));
            assert_eq!(a.wrapping_sub(&b).wrapping_add(&b), a);
            assert_eq!(a.cmp(&a), Ordering::Equal);
        }
    }

    #[test]
    fn distance_is_circular_and_symmetric() {
        let zero = PnrpId([0; 32]);
        let max = PnrpId([0xff; 32]);
        assert_eq!(zero.distance(&max), id_from_u64(1));
        assert_eq!(max.distance(&zero), id_from_u64(1));
        let a = id_from_u64(10);
        let b = id_from_u64(3);
        assert_eq!(a.distance(&b), id_from_u64(7));
        assert_eq!(a.wrapping_sub(&b).wrapping_add(&b), a);
        assert!(b.is_closer_to(&zero, &a));
        assert!(max.is_closer_to(&zero, &a));
    }

    #[test]
    fn pnrp_id_splits_back() {
        let name: PeerName = "0.myapp".parse().unwrap();
        let p2p = P2pId::of(&name);
        let location = ServiceLocation([7; 16]);
        let id = PnrpId::new(p2p, location);
        assert_eq!(id.p2p_id(), p2p);
        assert_eq!(id.service_location(), location);
        assert_ne!(P2pId::of(&"0.MyApp".parse().unwrap()), p2p);
    }
}
