//! Helpers shared by the CLI's integration tests (each `tests/*.rs` is its
//! own crate and uses the part it needs, hence `dead_code`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root: shipped scenarios and docs are named from there.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `shakedown ARGS` run from the workspace root, with the caller's
/// `RAYON_NUM_THREADS` removed (outputs must not depend on it).
pub fn shakedown(args: &[&str]) -> Output {
    shakedown_env(args, &[])
}

/// [`shakedown`] with extra environment variables.
pub fn shakedown_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shakedown"));
    c.args(args)
        .current_dir(repo())
        .env_remove("RAYON_NUM_THREADS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

/// A path for a test's outputs, under this test binary's own folder, with
/// anything an earlier run left there removed (and not created: the command
/// under test creates it, or is checked not to).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(env!("CARGO_CRATE_NAME"))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// [`scratch`], created empty.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Standard output then standard error, as one string for messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
