//! The fuzz targets' entry points for what this crate alone decodes from outside the process
//! (feature `fuzzing`): `fuzz/fuzz_targets/` calls them, and `tests/tests/fuzz_corpus.rs` replays
//! their corpus on stable. Each decodes its input and asserts what must hold for any input; a
//! panic is a bug. The protocol crate's targets are in `pnrp_proto::fuzzing`.

use crate::snapshot::{self, Snapshot, MAX_SNAPSHOT_LEN};

/// A target: its name (its directory under `fuzz/corpus/`) and entry point.
pub type EntryPoint = fn(&[u8]);

/// This crate's targets.
pub const TARGETS: &[(&str, EntryPoint)] = &[("snapshot", snapshot)];

/// The local-names snapshot (`snapshot.rs`), as the NSS module reads it: a snapshot that parses
/// is canonical (re-encodes to its exact bytes), within every bound, and each of its names is
/// found by lookup with the addresses stored for it.
pub fn snapshot(data: &[u8]) {
    // The module's reader (find) and parse agree on every input: both refuse it, or both
    // accept it and find the same entries.
    let Ok(parsed) = Snapshot::parse(data) else {
        assert!(
            Snapshot::find(data, "0.a").is_err(),
            "find accepted what parse refused"
        );
        return;
    };
    assert_eq!(
        Snapshot::find(data, "0.a").expect("find refused what parse accepted"),
        parsed.get("0.a").cloned()
    );
    assert!(data.len() <= MAX_SNAPSHOT_LEN);
    assert_eq!(
        snapshot::reencode(&parsed),
        data,
        "a snapshot that parses is canonical"
    );
    for entry in parsed.entries() {
        let found = parsed.get(entry.name).expect("every name is found");
        assert_eq!(Snapshot::find(data, entry.name), Ok(Some(found.clone())));
        assert_eq!(found.name, entry.name);
        let count = entry.addresses().count();
        assert!((1..=crate::ipc::MAX_ADDRESSES).contains(&count));
    }
}
