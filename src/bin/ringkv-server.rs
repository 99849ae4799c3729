//! `ringkv-server`: parse flags, set up logging, run the server.
//!
//! Logs go to standard error, filtered by `RUST_LOG` (default `info`), in colour only when
//! standard error is a terminal and `NO_COLOR` is unset or empty. A startup or fatal error is
//! printed once, as `ringkv-server: <error>`, and the exit status is 1.

use std::ffi::OsString;
use std::io::IsTerminal;

use clap::Parser;

fn main() {
    let config = match ringkv::config::Config::try_parse() {
        Ok(config) => config,
        Err(e) => {
            // Flag errors exit 1 like every other startup error; --help and --version exit 0.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let colour = log_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    if let Err(e) = ringkv::server::run(config) {
        eprintln!("ringkv-server: {e:#}");
        std::process::exit(1);
    }
}

/// Colour (ANSI escapes) only on a terminal, and never when `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
fn log_colour(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(log_colour(true, None));
        assert!(log_colour(true, Some(OsString::new())));
        assert!(!log_colour(true, Some(OsString::from("1"))));
        assert!(!log_colour(false, None));
        assert!(!log_colour(false, Some(OsString::from("1"))));
    }
}
