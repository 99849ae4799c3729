//! `--latency` and `--latency-history`: PING every 10 ms and report min/max/avg round trip
//! in whole milliseconds, as redis-cli 7.0's `latencyMode`. In its standard (TTY) format the
//! line is redrawn in place forever; in raw format (stdout not a terminal, or `--raw`) it
//! samples for one interval (default 1 s, `-i`), prints `min max avg samples` and exits.
//! `--latency-history` starts a new range every interval (default 15 s), ending each with
//! ` -- N.NN seconds range`.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::ModeEnd;
use crate::client::Client;

/// Time between two PINGs (redis-cli's `LATENCY_SAMPLE_RATE`).
pub const SAMPLE_PAUSE: Duration = Duration::from_millis(10);
/// Length of a `--latency-history` range when `-i` is not given.
pub const HISTORY_INTERVAL_DEFAULT: Duration = Duration::from_secs(15);
/// How long raw-format `--latency` samples when `-i` is not given.
pub const RAW_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// Clears the terminal line before the standard format redraws it.
pub const CLEAR_LINE: &str = "\x1b[0G\x1b[2K";

/// Round trips of one range, in milliseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Samples {
    pub min: u64,
    pub max: u64,
    pub total: u64,
    pub count: u64,
}

impl Samples {
    pub fn add(&mut self, ms: u64) {
        if self.count == 0 {
            self.min = ms;
            self.max = ms;
        }
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
        self.total = self.total.saturating_add(ms);
        self.count += 1;
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        }
    }

    /// redis-cli's `latencyModePrint`: the standard format has no newline (the line is
    /// redrawn), the raw one does.
    pub fn line(&self, tty: bool) -> String {
        if tty {
            format!("min: {}, max: {}, avg: {:.2} ({} samples)", self.min, self.max, self.avg(), self.count)
        } else {
            format!("{} {} {:.2} {}\n", self.min, self.max, self.avg(), self.count)
        }
    }
}

/// The line that closes a `--latency-history` range.
pub fn range_line(elapsed: Duration) -> String {
    format!(" -- {:.2} seconds range\n", elapsed.as_secs_f64())
}

/// Runs the mode until it ends by itself (raw `--latency`) or the process is interrupted.
/// `interval` is `-i` when given. Whatever PING returns (even an error) is a sample.
pub fn run(
    client: &mut Client,
    out: &mut dyn Write,
    tty: bool,
    history: bool,
    interval: Option<Duration>,
) -> io::Result<ModeEnd> {
    let history_interval = interval.unwrap_or(HISTORY_INTERVAL_DEFAULT);
    let raw_interval = interval.unwrap_or(RAW_INTERVAL_DEFAULT);
    let mut samples = Samples::default();
    let mut range_start = Instant::now();
    loop {
        let start = Instant::now();
        client.command(&[b"PING"])?;
        samples.add(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
        if tty {
            write!(out, "{CLEAR_LINE}{}", samples.line(true))?;
        } else if history {
            out.write_all(samples.line(false).as_bytes())?;
        } else if range_start.elapsed() > raw_interval {
            out.write_all(samples.line(false).as_bytes())?;
            out.flush()?;
            return Ok(ModeEnd::Ok);
        }
        if history && range_start.elapsed() > history_interval {
            out.write_all(range_line(range_start.elapsed()).as_bytes())?;
            range_start = Instant::now();
            samples = Samples::default();
        }
        out.flush()?;
        std::thread::sleep(SAMPLE_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_redis_cli() {
        // Formats from redis-cli 7.0.15: `min: 0, max: 11, avg: 0.19 (129 samples)` on a
        // terminal, `0 1 0.06 99` raw.
        let mut s = Samples::default();
        for ms in [3, 0, 11, 1] {
            s.add(ms);
        }
        assert_eq!(s, Samples { min: 0, max: 11, total: 15, count: 4 });
        assert_eq!(s.line(true), "min: 0, max: 11, avg: 3.75 (4 samples)");
        assert_eq!(s.line(false), "0 11 3.75 4\n");
        assert_eq!(Samples::default().line(false), "0 0 0.00 0\n");
        let mut one = Samples::default();
        one.add(5);
        assert_eq!(one.line(true), "min: 5, max: 5, avg: 5.00 (1 samples)");
        assert_eq!(range_line(Duration::from_millis(15004)), " -- 15.00 seconds range\n");
    }
}
