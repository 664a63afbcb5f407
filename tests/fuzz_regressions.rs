//! Smoke of the fuzz targets in the normal test suite: every seed under `tests/fuzz/corpus/` and
//! every input that once crashed a target (`tests/fuzz/regressions/`) goes through the same
//! entry function the fuzzer calls (`scimd::fuzzing`). A panic there fails the test and names
//! the file.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("filter", scimd::fuzzing::filter),
    ("path", scimd::fuzzing::path),
    ("patch", scimd::fuzzing::patch),
    ("json_body", scimd::fuzzing::json_body),
    ("config", scimd::fuzzing::config),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz")
}

/// The regular files in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs every input of `kind` (corpus or regressions) through its target; returns how many ran
/// per target and the failures.
fn run_all(kind: &str) -> (Vec<(&'static str, usize)>, Vec<String>) {
    let mut counts = Vec::new();
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let files = inputs(&fuzz_dir().join(kind).join(name));
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
        counts.push((name, files.len()));
    }
    (counts, failures)
}

#[test]
fn every_seed_runs_through_its_target_without_panicking() {
    let (counts, failures) = run_all("corpus");
    assert!(failures.is_empty(), "seeds that panic: {failures:#?}");
    // An empty or misnamed corpus directory would make this test pass vacuously.
    for (name, n) in counts {
        assert!(
            n >= 5,
            "tests/fuzz/corpus/{name} has {n} seeds; expected at least 5"
        );
    }
}

#[test]
fn every_past_crash_stays_fixed() {
    let (_, failures) = run_all("regressions");
    assert!(
        failures.is_empty(),
        "past crashes that panic again: {failures:#?}"
    );
}

#[test]
fn every_target_directory_belongs_to_a_target() {
    // A regression saved under a misspelt target name would silently never run.
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "tests/fuzz/{kind}/{name} matches no fuzz target"
            );
        }
    }
}
