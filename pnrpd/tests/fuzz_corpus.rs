//! Replays the fuzz targets' committed inputs on the stable toolchain: every file in
//! `fuzz/corpus/<target>/` (the seed corpus) and `fuzz/regressions/<target>/` (every crash the
//! fuzzers found, kept once fixed) through the target's entry point in `pnrpd::fuzzing`.
//! See fuzz/README.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use pnrpd::fuzzing::{EntryPoint, TARGETS};

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
            TARGETS.iter().any(|(target, _)| target == name),
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
    for (target, run) in TARGETS {
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
    for (target, run) in TARGETS {
        if present.contains(target) {
            let count = replay(&regressions.join(target), run);
            println!("{target}: {count} regressions");
        }
    }
}
