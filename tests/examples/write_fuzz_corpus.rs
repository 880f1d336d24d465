//! Rewrites the fuzzers' seed corpus, `fuzz/corpus/<target>/seed-*`, from the sample messages
//! (`pnrp_tests::samples::corpus`). Inputs the fuzzers found (other names) are kept.
//! `cargo run -p pnrp-tests --example write_fuzz_corpus`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (target, _) in pnrp_tests::samples::corpus::targets() {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("seed-"))
            {
                std::fs::remove_file(path)?;
            }
        }
    }
    let mut written = 0;
    for (target, name, bytes) in pnrp_tests::samples::corpus::all() {
        std::fs::write(corpus.join(target).join(format!("seed-{name}")), bytes)?;
        written += 1;
    }
    println!("wrote {written} seeds under {}", corpus.display());
    Ok(())
}
