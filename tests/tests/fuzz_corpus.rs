//! The fuzz targets' inputs on the stable toolchain: every file in `fuzz/corpus/<target>/` (the
//! seed corpus) and `fuzz/regressions/<target>/` (every crash the fuzzers found, kept once fixed)
//! replayed through the target's entry point in `pnrp_proto::fuzzing` (or `pnrp_shared::fuzzing`
//! for `snapshot`); and the seed corpus
//! itself, which must be what the sample messages make (`pnrp_tests::samples::corpus`;
//! `cargo run -p pnrp-tests --example write_fuzz_corpus` rewrites it). See fuzz/README.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use pnrp_proto::fuzzing::{decode_cpa, decode_extended_payload, last_valid_instant, EntryPoint};
use pnrp_proto::wire::{AuthorityBuffer, CpaCheck, Packet};
use pnrp_shared::{ipc, snapshot};
use pnrp_tests::samples::corpus::{self, seeds, targets};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files in `dir`, sorted; fails if it is empty.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

/// The subdirectories of `dir` by name; each must be a known target, so a misnamed directory
/// cannot silently go untested.
fn target_dirs(dir: &Path) -> BTreeSet<String> {
    let names: BTreeSet<String> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        assert!(
            targets().iter().any(|(target, _)| target == name),
            "{}/{name} is not a fuzz target",
            dir.display()
        );
    }
    names
}

fn replay(dir: &Path, run: EntryPoint) -> usize {
    let files = files(dir);
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} fails its target", file.display());
    }
    files.len()
}

#[test]
fn every_seed_passes_its_target() {
    let corpus = fuzz_dir().join("corpus");
    let present = target_dirs(&corpus);
    for (target, run) in targets() {
        assert!(
            present.contains(target),
            "fuzz/corpus/{target} is missing: every target needs a seed corpus"
        );
        let count = replay(&corpus.join(target), run);
        println!("{target}: {count} seeds");
    }
}

#[test]
fn every_fixed_crash_stays_fixed() {
    let regressions = fuzz_dir().join("regressions");
    let present = target_dirs(&regressions);
    assert!(
        !present.is_empty(),
        "fuzz/regressions holds no target directories"
    );
    for (target, run) in targets() {
        if present.contains(target) {
            let count = replay(&regressions.join(target), run);
            println!("{target}: {count} regressions");
        }
    }
}

#[test]
fn seeds_are_valid_and_pass() {
    for (target, run) in targets() {
        for (name, data) in seeds(target) {
            run(&data);
            let valid = match target {
                "wire_decode" => {
                    Packet::decode(&data).is_ok() || AuthorityBuffer::decode(&data).is_ok()
                }
                "cpa" => {
                    let end = usize::from(u16::from_le_bytes([data[0], data[1]]));
                    let cpa = decode_cpa(&data[..end]).unwrap();
                    let payload =
                        (end < data.len()).then(|| decode_extended_payload(&data[end..]).unwrap());
                    let fields = cpa.fields();
                    let check = CpaCheck {
                        pnrp_id: Some(cpa.pnrp_id()),
                        nonce: Some(fields.nonce),
                        revoke: fields.revoke,
                        extended_payload: payload.as_ref(),
                    };
                    cpa.validate(last_valid_instant(&cpa, payload.as_ref()), &check)
                        .is_ok()
                }
                "ipc_decode" => {
                    ipc::decode_frame::<ipc::Request>(&data).is_ok()
                        || ipc::decode_frame::<ipc::Response>(&data).is_ok()
                }
                "snapshot" => snapshot::Snapshot::parse(&data).is_ok(),
                _ => true,
            };
            assert!(valid, "{target}/{name}");
        }
    }
}

/// Rewrites `fuzz/corpus/<target>/seed-*`.
/// The committed seeds are exactly what the samples make (else: rewrite them with
/// `cargo run -p pnrp-tests --example write_fuzz_corpus`).
#[test]
fn the_committed_seeds_are_the_samples() {
    let corpus = fuzz_dir().join("corpus");
    for (target, name, bytes) in corpus::all() {
        let path = corpus.join(target).join(format!("seed-{name}"));
        let committed = fs::read(&path).unwrap_or_else(|error| {
            panic!(
                "{}: {error}; run `cargo run -p pnrp-tests --example write_fuzz_corpus`",
                path.display()
            )
        });
        assert!(
            committed == bytes,
            "{} differs from its sample; run `cargo run -p pnrp-tests --example write_fuzz_corpus`",
            path.display()
        );
    }
}
