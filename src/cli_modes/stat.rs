//! `--stat`: one line per interval with keys, memory, clients, blocked clients, requests
//! (with the delta since the previous line) and connections, read from the default `INFO`
//! exactly as redis-cli 7.0's `statMode` reads it (`strstr` on the field name, `strtol` on
//! the value) and laid out in its columns, the header repeated every 20 lines.

use std::io::{self, Write};
use std::time::Duration;

use super::{reply_text, ModeEnd};
use crate::client::{Client, Reply};

/// The two header lines redis-cli prints (trailing spaces included).
pub const HEADER: &str = "------- data ------ --------------------- load -------------------- - child -\n\
                          keys       mem      clients blocked requests            connections          \n";
/// The header is printed again every this many lines, as redis-cli does.
pub const HEADER_EVERY_ROWS: u64 = 20;
/// `db0:keys` .. `db19:keys` are summed: redis-cli looks at the first 20 databases only.
pub const KEYS_DBS: u32 = 20;
/// Default time between lines when `-i` is not given (redis-cli: one second).
pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(1);

/// redis-cli's `getInfoField`: the value after the first occurrence of `field` anywhere in
/// `info` (so `bgsave_in_progress` finds `rdb_bgsave_in_progress:`), up to the line's end.
pub fn info_field<'a>(info: &'a [u8], field: &str) -> Option<&'a [u8]> {
    let at = info.windows(field.len()).position(|w| w == field.as_bytes())?;
    let rest = info.get(at + field.len() + 1..)?;
    let end = rest.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(rest.len());
    Some(&rest[..end])
}

/// C's `strtol(value, NULL, 10)`: optional blanks and sign, then digits; stops at the first
/// other byte (`3,expires=0` is 3); no digits is 0; saturates instead of overflowing.
pub fn strtol(value: &[u8]) -> i64 {
    let mut rest = value;
    while let [b' ' | b'\t', tail @ ..] = rest {
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if let [b'-' | b'+', tail @ ..] = rest {
        rest = tail;
    }
    let mut n: i64 = 0;
    for &c in rest.iter().take_while(|c| c.is_ascii_digit()) {
        let digit = i64::from(c - b'0');
        n = n.saturating_mul(10).saturating_add(digit);
    }
    if negative {
        -n
    } else {
        n
    }
}

/// A numeric INFO field; a missing one counts as 0.
pub fn info_long(info: &[u8], field: &str) -> i64 {
    info_field(info, field).map_or(0, strtol)
}

/// redis-cli's `bytesToHuman`: `512B`, `1.50K`, `2.00M`, … up to `P`, two decimals.
pub fn bytes_to_human(n: i64) -> String {
    const UNITS: [(u32, &str); 5] = [(1, "K"), (2, "M"), (3, "G"), (4, "T"), (5, "P")];
    let sign = if n < 0 { "-" } else { "" };
    let abs = n.unsigned_abs();
    if abs < 1024 {
        return format!("{sign}{abs}B");
    }
    for (power, unit) in UNITS {
        if abs < 1024u64.pow(power + 1) {
            return format!("{sign}{:.2}{unit}", abs as f64 / 1024u64.pow(power) as f64);
        }
    }
    format!("{sign}{abs}B")
}

/// What survives from one line to the next: the line count (for the header) and the
/// previous request total (for the `(+N)` delta).
#[derive(Debug, Default)]
pub struct Stat {
    rows: u64,
    requests: i64,
}

impl Stat {
    /// The text for one INFO reply: the header when due, then the line.
    pub fn row(&mut self, info: &[u8]) -> String {
        let mut out = String::new();
        if self.rows.is_multiple_of(HEADER_EVERY_ROWS) {
            out.push_str(HEADER);
        }
        self.rows += 1;
        let keys: i64 = (0..KEYS_DBS).map(|db| info_long(info, &format!("db{db}:keys"))).sum();
        let requests = info_long(info, "total_commands_processed");
        let delta = if self.requests == 0 { 0 } else { requests - self.requests };
        self.requests = requests;
        out.push_str(&format!("{:<11}", keys));
        out.push_str(&format!("{:<8}", bytes_to_human(info_long(info, "used_memory"))));
        out.push_str(&format!(" {:<8}", info_long(info, "connected_clients")));
        out.push_str(&format!("{:<8}", info_long(info, "blocked_clients")));
        out.push_str(&format!("{:<19}", format!("{requests} (+{delta})")));
        out.push_str(&format!(" {:<12}", info_long(info, "total_connections_received")));
        out.push_str(child_label(info));
        out.push('\n');
        out
    }
}

/// The `child` column: a save, an AOF rewrite or loading in progress.
fn child_label(info: &[u8]) -> &'static str {
    let bits = (info_long(info, "bgsave_in_progress") & 1)
        | (info_long(info, "aof_rewrite_in_progress") & 1) << 1
        | (info_long(info, "loading") & 1) << 2;
    match bits {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    }
}

/// Runs `--stat`: INFO, a line, sleep `interval`; forever, or `rows` lines when given
/// (a ringkv extension: redis-cli ignores `-r` here). A server error prints `ERROR: ...`.
pub fn run(client: &mut Client, out: &mut dyn Write, interval: Duration, rows: Option<u64>) -> io::Result<ModeEnd> {
    let mut stat = Stat::default();
    let mut printed = 0u64;
    while rows.is_none_or(|n| printed < n) {
        let reply = client.command(&[b"INFO"])?;
        let Some(info) = reply_text(&reply) else {
            let text = match &reply {
                Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
                other => format!("unexpected reply {other:?}"),
            };
            writeln!(out, "ERROR: {text}")?;
            return Ok(ModeEnd::Failed);
        };
        out.write_all(stat.row(info).as_bytes())?;
        out.flush()?;
        printed += 1;
        if rows.is_none_or(|n| printed < n) {
            std::thread::sleep(interval);
        }
    }
    Ok(ModeEnd::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An INFO excerpt shaped like Redis 7.0's (fields that contain others' names included).
    fn info(requests: u64) -> String {
        format!(
            "# Clients\r\nconnected_clients:1\r\nblocked_clients:0\r\n# Memory\r\nused_memory:1468006\r\n\
             # Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\naof_rewrite_in_progress:0\r\n\
             # Stats\r\ntotal_connections_received:27\r\ntotal_commands_processed:{requests}\r\n\
             # Keyspace\r\ndb0:keys=7,expires=0,avg_ttl=0\r\ndb1:keys=3,expires=1,avg_ttl=5\r\n"
        )
    }

    #[test]
    fn rows_match_redis_cli_columns() {
        // Captured from redis-cli 7.0.15 --stat against redis-server 7.0.15 (10 keys, 1.40M).
        let mut stat = Stat::default();
        let first = stat.row(info(465).as_bytes());
        assert_eq!(first, format!("{HEADER}10         1.40M    1       0       465 (+0)            27          \n"));
        let second = stat.row(info(467).as_bytes());
        assert_eq!(second, "10         1.40M    1       0       467 (+2)            27          \n");
    }

    #[test]
    fn header_repeats_every_20_rows() {
        let mut stat = Stat::default();
        let headers = (0..41).filter(|_| stat.row(info(1).as_bytes()).starts_with(HEADER)).count();
        assert_eq!(headers, 3);
    }

    #[test]
    fn child_column_and_missing_fields() {
        let mut stat = Stat::default();
        let row = stat.row(b"rdb_bgsave_in_progress:1\r\naof_rewrite_in_progress:1\r\n");
        assert!(row.ends_with("0 (+0)              0           SAVE+AOF\n"), "{row:?}");
        assert!(Stat::default().row(b"loading:1\r\n").ends_with("LOAD\n"));
    }

    #[test]
    fn info_field_and_strtol_follow_c() {
        assert_eq!(info_field(b"a:1\r\nrdb_bgsave_in_progress:7\r\n", "bgsave_in_progress"), Some(&b"7"[..]));
        assert_eq!(info_field(b"x:1", "nope"), None);
        assert_eq!(info_field(b"end", "end"), None);
        assert_eq!(strtol(b"3,expires=0"), 3);
        assert_eq!(strtol(b" -42x"), -42);
        assert_eq!(strtol(b"abc"), 0);
        assert_eq!(strtol(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn bytes_to_human_units() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1536), "1.50K");
        assert_eq!(bytes_to_human(1468006), "1.40M");
        assert_eq!(bytes_to_human(3 << 30), "3.00G");
        assert_eq!(bytes_to_human(5 << 40), "5.00T");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
        assert_eq!(bytes_to_human(3 << 50), "3.00P");
        assert_eq!(bytes_to_human(i64::MAX), "9223372036854775807B");
        assert_eq!(bytes_to_human(i64::MIN), "-9223372036854775808B");
    }
}
