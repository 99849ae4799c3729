//! Build script: records what `ringkv-server --version` prints besides the crate version.
//!
//! - `RINGKV_GIT_COMMIT`: `git rev-parse --short HEAD` of the checkout being built, or
//!   `unknown` when there is none (a crates.io or release tarball, no `git` installed, or a
//!   source tree that is not the top of its own repository — e.g. `cargo package`'s copy
//!   under `target/`, which would otherwise report the enclosing checkout's commit).
//!   A non-empty `RINGKV_GIT_COMMIT` in the build's environment wins (the Dockerfile passes
//!   the commit that way, since its build context has no `.git`).
//! - `RINGKV_BUILD_PROFILE`: cargo's `PROFILE` (`debug` or `release`).
//!
//! The commit is re-read when HEAD moves (the files named below), not on every source edit.
//!
//! It also compiles `src/cmd/long_double.c`: INCRBYFLOAT's arithmetic in C's `long double`,
//! which Rust cannot express (see `src/cmd/long_double.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/cmd/long_double.c");
    cc::Build::new().file("src/cmd/long_double.c").warnings(true).compile("ringkv_long_double");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=RINGKV_GIT_COMMIT");
    let commit = commit_from_env().or_else(|| git_commit(&manifest_dir)).unwrap_or_else(|| "unknown".to_string());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=RINGKV_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=RINGKV_BUILD_PROFILE={profile}");
}

/// `RINGKV_GIT_COMMIT` from the environment, when it is set to a commit id (hex digits).
fn commit_from_env() -> Option<String> {
    let commit = std::env::var("RINGKV_GIT_COMMIT").ok()?;
    let commit = commit.trim();
    if commit.is_empty() {
        return None;
    }
    if !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        println!("cargo:warning=RINGKV_GIT_COMMIT={commit:?} is not a commit id; ignored");
        return None;
    }
    Some(commit.to_string())
}

/// Runs `git args...` in `dir`; its trimmed standard output if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The short commit of the repository whose top is `dir`, telling cargo to rerun this script
/// when HEAD, the branch it points to or the packed refs change.
fn git_commit(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // logs/HEAD (the reflog) grows on every commit and checkout, even when the branch lives
    // only in packed-refs and its loose ref file does not exist yet.
    let mut watched = vec!["HEAD".to_string(), "logs/HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in &watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", name]) {
            // Relative paths are relative to `dir`; cargo wants them relative to the manifest.
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let commit = git(dir, &["rev-parse", "--short", "HEAD"])?;
    commit.bytes().all(|b| b.is_ascii_hexdigit()).then_some(commit)
}
