//! What this build is: the crate version, the git commit it was built from and the cargo
//! profile, recorded by `build.rs`. `ringkv-server --version` prints all three.

/// The crate version (`Cargo.toml`).
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse --short HEAD` at build time, or `unknown` (a tarball, no git).
pub const GIT_COMMIT: &str = env!("RINGKV_GIT_COMMIT");
/// Cargo's build profile: `debug` or `release`.
pub const BUILD_PROFILE: &str = env!("RINGKV_BUILD_PROFILE");
/// The `--version` text after the program name: `0.1.0 (git 1a2b3c4, release)`.
pub const VERSION_LONG: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("RINGKV_GIT_COMMIT"), ", ", env!("RINGKV_BUILD_PROFILE"), ")");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_version_commit_and_profile() {
        assert_eq!(VERSION_LONG, format!("{CRATE_VERSION} (git {GIT_COMMIT}, {BUILD_PROFILE})"));
        assert!(GIT_COMMIT == "unknown" || GIT_COMMIT.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(["debug", "release"].contains(&BUILD_PROFILE));
    }
}
