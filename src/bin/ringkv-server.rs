//! `ringkv-server [/path/to/ringkv.conf] [--flags]`: read the config file and flags, set up
//! logging, run the server.
//!
//! Logs go to standard error, or to `--logfile` (reopened on SIGHUP), filtered by `RUST_LOG`
//! when set, else by `--loglevel`; in colour only when they go to a terminal and `NO_COLOR`
//! is unset or empty. A startup or fatal error is printed once, as `ringkv-server: <error>`
//! (a config-file error as Redis's `*** FATAL CONFIG FILE ERROR ***` block), and the exit
//! status is 1.

use std::ffi::OsString;
use std::io::IsTerminal;

use ringkv::conffile::{self, LoadError};
use ringkv::logfile::LogFile;

/// jemalloc with the byte counter INFO's `used_memory` and maxmemory read.
#[global_allocator]
static GLOBAL: ringkv::alloc::Counting = ringkv::alloc::Counting;

fn main() {
    ringkv::alloc::install();
    let config = match conffile::load(std::env::args_os().collect()) {
        Ok(config) => config,
        Err(LoadError::Flags(e)) => {
            // Flag errors exit 1 like every other startup error; --help and --version exit 0.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
        Err(LoadError::File(e)) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| config.loglevel.filter().into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.logfile.as_os_str().is_empty() {
        let colour = log_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
        builder.with_writer(std::io::stderr).with_ansi(colour).init();
    } else {
        let log = match LogFile::open(&config.logfile) {
            Ok(log) => log,
            Err(e) => {
                eprintln!("ringkv-server: can't open the log file {}: {e}", config.logfile.display());
                std::process::exit(1);
            }
        };
        ringkv::logfile::install(log.clone());
        builder.with_writer(move || log.writer()).with_ansi(false).init();
    }
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
