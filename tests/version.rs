//! `ringkv-server --version` names the crate version, the git commit the binary was built
//! from (or `unknown` outside a git checkout) and the build profile, and exits 0.

use std::process::Command;

/// The output is `ringkv-server <version> (git <commit>, <profile>)` and each part is right.
#[test]
fn version_has_crate_version_commit_and_profile() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkv-server")).arg("--version").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.trim_end();
    let rest = line.strip_prefix("ringkv-server ").unwrap_or_else(|| panic!("no program name: {line:?}"));
    let (version, rest) = rest.split_once(" (git ").unwrap_or_else(|| panic!("no commit: {line:?}"));
    let (commit, rest) = rest.split_once(", ").unwrap_or_else(|| panic!("no profile: {line:?}"));
    let profile = rest.strip_suffix(')').unwrap_or_else(|| panic!("no closing parenthesis: {line:?}"));

    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{line}");
    // Tests build with the test profile, which inherits dev ("debug"); `--release` gives "release".
    assert!(["debug", "release"].contains(&profile), "{line}");
    assert_eq!(profile == "release", !cfg!(debug_assertions), "{line}");

    // Built from the top of a git checkout (CI clones are): the commit is its HEAD, unless
    // RINGKV_GIT_COMMIT overrode it (as the Dockerfile does).
    if std::env::var_os("RINGKV_GIT_COMMIT").is_some() {
        return;
    }
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap();
    let git = Command::new("git")
        .arg("-C")
        .arg(&manifest_dir)
        .args(["rev-parse", "--show-toplevel", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if let Some((top, head)) = git.as_deref().and_then(|s| s.trim().split_once('\n')) {
        if std::path::Path::new(top).canonicalize().ok().as_deref() == Some(manifest_dir.as_path()) {
            assert_eq!(commit, head, "{line}");
        }
    }
}
