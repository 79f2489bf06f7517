//! Replays the fuzz corpus and every saved crash on stable Rust: each file under
//! `tests/fuzz/corpus/<target>/` and `tests/fuzz/regressions/<target>/` goes through the same
//! target function the libFuzzer harness calls (`tests/fuzz/targets.rs`), so a finding, once
//! saved, stays fixed in `make test` without nightly or cargo-fuzz.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Runs every input of `kind` (`corpus` or `regressions`); returns how many ran and which
/// failed, with the failure message.
fn replay(kind: &str) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failed = Vec::new();
    for (name, run) in targets::TARGETS {
        for path in inputs(&fuzz_dir().join(kind).join(name)) {
            let data = fs::read(&path).unwrap();
            ran += 1;
            if let Err(e) = panic::catch_unwind(|| run(&data)) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{}: {msg}", path.display()));
            }
        }
    }
    (ran, failed)
}

#[test]
fn every_target_has_a_seeded_corpus_and_a_harness() {
    for (name, _) in targets::TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "no corpus for fuzz target {name}");
        let harness = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = fs::read_to_string(&harness).unwrap_or_default();
        assert!(
            text.contains(&format!("targets::{name}(")),
            "{} does not call targets::{name}",
            harness.display()
        );
    }
    // No corpus or regression directory for a target that is not replayed.
    for kind in ["corpus", "regressions"] {
        for e in fs::read_dir(fuzz_dir().join(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(
                targets::TARGETS.iter().any(|(t, _)| *t == n),
                "{kind}/{n} belongs to no target"
            );
        }
    }
}

#[test]
fn corpus_replays_clean() {
    let (ran, failed) = replay("corpus");
    assert!(ran >= targets::TARGETS.len(), "only {ran} corpus inputs");
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn regressions_replay_clean() {
    let (_, failed) = replay("regressions");
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
