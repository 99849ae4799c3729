//! `--bigkeys` and `--memkeys`: SCAN the whole database, ask each key's TYPE and size
//! (pipelined per SCAN batch), print a line whenever a type's biggest key so far changes and
//! a summary at the end, in redis-cli 7.0's `findBigKeys` format.
//!
//! Sizes: `--bigkeys` uses STRLEN / LLEN / SCARD / ZCARD / HLEN / XLEN (bytes, items,
//! members, fields, entries); `--memkeys` uses `MEMORY USAGE key [SAMPLES n]` (bytes). When
//! the server has no MEMORY USAGE (ringkv today), `--memkeys` says so in the report and falls
//! back to the `--bigkeys` sizes and units rather than printing made-up byte counts.
//!
//! redis-cli keeps its types in a hash table with a random seed, so its summary lists them in
//! a different order each run; here the order is fixed (string, list, set, zset, hash,
//! stream, then other types as they are met).

use std::io::{self, Write};
use std::time::Duration;

use super::{pipeline, scan, ModeEnd};
use crate::client::{write_repr, Client, Reply};

/// The types redis-cli knows a size command for: name, size command, unit.
const KNOWN_TYPES: [(&str, &str, &str); 6] = [
    ("string", "STRLEN", "bytes"),
    ("list", "LLEN", "items"),
    ("set", "SCARD", "members"),
    ("zset", "ZCARD", "members"),
    ("hash", "HLEN", "fields"),
    ("stream", "XLEN", "entries"),
];
/// Distinct type names tracked; a server inventing more (module types) has the rest skipped,
/// so the report cannot grow without bound.
pub const TYPES_MAX: usize = 64;
/// A progress line every this many sampled keys, as redis-cli.
pub const PROGRESS_EVERY_KEYS: u64 = 1_000_000;
/// With `-i`, the pause comes once every this many SCAN calls (redis-cli's 100).
pub const SLEEP_EVERY_SCANS: u64 = 100;
/// The key name MEMORY USAGE is probed with: a missing key answers nil where the command
/// exists, an error where it does not.
const MEMORY_PROBE_KEY: &[u8] = b"__ringkv_cli_memory_usage_probe__";

/// The report's header, printed before the scan.
pub const HEADER: &str = "\n# Scanning the entire keyspace to find biggest keys as well as\n\
                          # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
                          # per 100 SCAN commands (not usually needed).\n\n";
/// Printed after the header by `--memkeys` when the server has no MEMORY USAGE.
pub const NO_MEMORY_USAGE_NOTE: &str = "# MEMORY USAGE is not supported by this server: sizes below are element\n\
                                        # counts and string lengths (STRLEN/LLEN/SCARD/ZCARD/HLEN/XLEN), as --bigkeys.\n\n";

#[derive(Debug, Clone)]
struct TypeInfo {
    name: String,
    size_cmd: Option<&'static str>,
    unit: &'static str,
    count: u64,
    total: u64,
    biggest: u64,
    /// The biggest key, already quoted as redis-cli prints it.
    biggest_key: Option<String>,
}

/// The running totals and the text they print.
#[derive(Debug, Clone)]
pub struct Report {
    types: Vec<TypeInfo>,
    sampled: u64,
    total_key_len: u64,
    /// Units are all `bytes` (real `--memkeys`), or each type's own.
    bytes_units: bool,
}

impl Report {
    pub fn new(bytes_units: bool) -> Report {
        let types = KNOWN_TYPES
            .iter()
            .map(|&(name, cmd, unit)| TypeInfo {
                name: name.to_string(),
                size_cmd: Some(cmd),
                unit,
                count: 0,
                total: 0,
                biggest: 0,
                biggest_key: None,
            })
            .collect();
        Report { types, sampled: 0, total_key_len: 0, bytes_units }
    }

    /// The index of the type TYPE answered, adding an unknown one (unit `?`, no size
    /// command). `None` for `none` (the key is gone) or past [`TYPES_MAX`].
    pub fn type_index(&mut self, name: &str) -> Option<usize> {
        if name == "none" {
            return None;
        }
        if let Some(i) = self.types.iter().position(|t| t.name == name) {
            return Some(i);
        }
        if self.types.len() >= TYPES_MAX {
            return None;
        }
        let other = TypeInfo {
            name: name.to_string(),
            size_cmd: None,
            unit: "?",
            count: 0,
            total: 0,
            biggest: 0,
            biggest_key: None,
        };
        self.types.push(other);
        Some(self.types.len() - 1)
    }

    /// The command giving a key's size for type `index`, if it has one.
    pub fn size_cmd(&self, index: usize) -> Option<&'static str> {
        self.types.get(index).and_then(|t| t.size_cmd)
    }

    fn unit(&self, t: &TypeInfo) -> &'static str {
        if self.bytes_units {
            "bytes"
        } else {
            t.unit
        }
    }

    /// Counts one key; returns the progress lines it causes (a new biggest key, every
    /// [`PROGRESS_EVERY_KEYS`] keys). `pct` is the share of DBSIZE sampled before its batch.
    pub fn add(&mut self, key: &[u8], index: usize, size: u64, pct: f64) -> String {
        let mut text = String::new();
        let Some(t) = self.types.get(index) else {
            return text;
        };
        let unit = self.unit(t);
        let t = &mut self.types[index];
        t.total = t.total.saturating_add(size);
        t.count += 1;
        self.total_key_len += key.len() as u64;
        self.sampled += 1;
        if t.biggest < size {
            let mut quoted = Vec::new();
            write_repr(&mut quoted, key);
            let quoted = String::from_utf8_lossy(&quoted).into_owned();
            text.push_str(&format!("[{pct:05.2}%] Biggest {:<6} found so far '{quoted}' with {size} {unit}\n", t.name));
            t.biggest_key = Some(quoted);
            t.biggest = size;
        }
        if self.sampled.is_multiple_of(PROGRESS_EVERY_KEYS) {
            text.push_str(&format!("[{pct:05.2}%] Sampled {} keys so far\n", self.sampled));
        }
        text
    }

    /// The closing summary, from `-------- summary -------` on.
    pub fn summary(&self) -> String {
        let avg = |total: u64, n: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
        let mut text = String::from("\n-------- summary -------\n\n");
        text.push_str(&format!("Sampled {} keys in the keyspace!\n", self.sampled));
        text.push_str(&format!(
            "Total key length in bytes is {} (avg len {:.2})\n\n",
            self.total_key_len,
            avg(self.total_key_len, self.sampled)
        ));
        for t in &self.types {
            if let Some(key) = &t.biggest_key {
                text.push_str(&format!("Biggest {:>6} found '{key}' has {} {}\n", t.name, t.biggest, self.unit(t)));
            }
        }
        text.push('\n');
        for t in &self.types {
            let share = if self.sampled == 0 { 0.0 } else { 100.0 * t.count as f64 / self.sampled as f64 };
            text.push_str(&format!(
                "{} {}s with {} {} ({share:05.2}% of keys, avg size {:.2})\n",
                t.count,
                t.name,
                t.total,
                self.unit(t),
                avg(t.total, t.count)
            ));
        }
        text
    }
}

/// What `--bigkeys` / `--memkeys` were asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    pub memkeys: bool,
    /// `--memkeys-samples N`: `MEMORY USAGE key SAMPLES N`.
    pub memkeys_samples: Option<u64>,
    pub pattern: Option<&'a [u8]>,
    pub interval: Option<Duration>,
}

/// Runs the scan and prints the report.
pub fn run(client: &mut Client, out: &mut dyn Write, opts: Options<'_>) -> io::Result<ModeEnd> {
    let total_keys = match client.command(&[b"DBSIZE"])? {
        Reply::Integer(n) => n.max(0) as u64,
        _ => {
            eprintln!("Couldn't determine DBSIZE!");
            return Ok(ModeEnd::Failed);
        }
    };
    out.write_all(HEADER.as_bytes())?;
    let memory_usage = opts.memkeys && has_memory_usage(client)?;
    if opts.memkeys && !memory_usage {
        out.write_all(NO_MEMORY_USAGE_NOTE.as_bytes())?;
    }
    let mut report = Report::new(memory_usage);
    let samples = opts.memkeys_samples.map(|n| n.to_string());
    let (mut cursor, mut scans) = (0u64, 0u64);
    loop {
        let (next, keys) = match scan::step(client, cursor, opts.pattern)? {
            Ok(step) => step,
            Err(message) => {
                eprintln!("{message}");
                return Ok(ModeEnd::Failed);
            }
        };
        scans += 1;
        let pct = if total_keys == 0 { 0.0 } else { 100.0 * report.sampled as f64 / total_keys as f64 };
        let Some(types) = key_types(client, &mut report, &keys)? else {
            return Ok(ModeEnd::Failed);
        };
        let sizes = key_sizes(client, &report, &keys, &types, memory_usage, samples.as_deref())?;
        let mut text = String::new();
        for ((key, index), size) in keys.iter().zip(&types).zip(sizes) {
            if let Some(index) = *index {
                text.push_str(&report.add(key, index, size, pct));
            }
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if let Some(interval) = opts.interval.filter(|_| scans % SLEEP_EVERY_SCANS == 0) {
            std::thread::sleep(interval);
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    out.write_all(report.summary().as_bytes())?;
    out.flush()?;
    Ok(ModeEnd::Ok)
}

/// Whether the server answers `MEMORY USAGE` (nil or a number) rather than an error.
fn has_memory_usage(client: &mut Client) -> io::Result<bool> {
    Ok(!matches!(client.command(&[b"MEMORY", b"USAGE", MEMORY_PROBE_KEY])?, Reply::Error(_)))
}

/// TYPE of every key, pipelined. `None`: an error was printed (redis-cli exits 1).
fn key_types(client: &mut Client, report: &mut Report, keys: &[Vec<u8>]) -> io::Result<Option<Vec<Option<usize>>>> {
    let cmds: Vec<Vec<&[u8]>> = keys.iter().map(|k| vec![&b"TYPE"[..], k]).collect();
    let mut types = Vec::with_capacity(keys.len());
    for (key, reply) in keys.iter().zip(pipeline(client, &cmds)?) {
        match reply {
            Reply::Status(name) => types.push(report.type_index(&String::from_utf8_lossy(&name))),
            Reply::Error(e) => {
                eprintln!("TYPE returned an error: {}", String::from_utf8_lossy(&e));
                return Ok(None);
            }
            other => {
                eprintln!("Invalid reply type ({other:?}) for TYPE on key '{}'!", String::from_utf8_lossy(key));
                return Ok(None);
            }
        }
    }
    Ok(Some(types))
}

/// Each key's size, pipelined; 0 for keys without a size command, gone, or whose size
/// command failed (with redis-cli's warning on standard error).
fn key_sizes(
    client: &mut Client,
    report: &Report,
    keys: &[Vec<u8>],
    types: &[Option<usize>],
    memory_usage: bool,
    samples: Option<&str>,
) -> io::Result<Vec<u64>> {
    let mut cmds: Vec<Vec<&[u8]>> = Vec::new();
    let mut asked = Vec::with_capacity(keys.len());
    for (key, index) in keys.iter().zip(types) {
        let cmd: Option<Vec<&[u8]>> = match (*index, memory_usage) {
            (Some(_), true) => Some(match samples {
                Some(n) => vec![b"MEMORY", b"USAGE", key, b"SAMPLES", n.as_bytes()],
                None => vec![b"MEMORY", b"USAGE", key],
            }),
            (Some(i), false) => report.size_cmd(i).map(|c| vec![c.as_bytes(), key]),
            (None, _) => None,
        };
        asked.push(cmd.is_some());
        cmds.extend(cmd);
    }
    let mut replies = pipeline(client, &cmds)?.into_iter().zip(&cmds);
    let mut sizes = Vec::with_capacity(keys.len());
    for was_asked in asked {
        let size = match was_asked.then(|| replies.next()).flatten() {
            Some((Reply::Integer(n), _)) => n.max(0) as u64,
            Some((Reply::Error(_), cmd)) => {
                let name = if memory_usage { "MEMORY USAGE" } else { &*String::from_utf8_lossy(cmd[0]) };
                let key = String::from_utf8_lossy(cmd[if memory_usage { 2 } else { 1 }]);
                eprintln!("Warning:  {name} on '{key}' failed (may have changed type)");
                0
            }
            _ => 0,
        };
        sizes.push(size);
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(report: &mut Report, keys: &[(&str, &str, u64)]) -> String {
        let mut text = String::new();
        for &(key, ty, size) in keys {
            let index = report.type_index(ty).unwrap();
            text.push_str(&report.add(key.as_bytes(), index, size, 0.0));
        }
        text
    }

    #[test]
    fn bigkeys_report_matches_redis_cli() {
        // The keys redis-cli 7.0.15 --bigkeys was run on by hand; lines compared with its
        // output (its type order varies from run to run, ours is fixed).
        let mut report = Report::new(false);
        let keys = [("st", "set", 2), ("s2", "string", 21), ("l1", "list", 3), ("x", "stream", 1)];
        let progress = feed(&mut report, &keys);
        let more = feed(&mut report, &[("z", "zset", 1), ("h1", "hash", 2), ("s1", "string", 5)]);
        assert_eq!(
            progress,
            "[00.00%] Biggest set    found so far '\"st\"' with 2 members\n\
             [00.00%] Biggest string found so far '\"s2\"' with 21 bytes\n\
             [00.00%] Biggest list   found so far '\"l1\"' with 3 items\n\
             [00.00%] Biggest stream found so far '\"x\"' with 1 entries\n"
        );
        assert_eq!(more.lines().count(), 2, "s1 is not bigger than s2: {more}");
        assert_eq!(
            report.summary(),
            "\n-------- summary -------\n\n\
             Sampled 7 keys in the keyspace!\n\
             Total key length in bytes is 12 (avg len 1.71)\n\n\
             Biggest string found '\"s2\"' has 21 bytes\n\
             Biggest   list found '\"l1\"' has 3 items\n\
             Biggest    set found '\"st\"' has 2 members\n\
             Biggest   zset found '\"z\"' has 1 members\n\
             Biggest   hash found '\"h1\"' has 2 fields\n\
             Biggest stream found '\"x\"' has 1 entries\n\n\
             2 strings with 26 bytes (28.57% of keys, avg size 13.00)\n\
             1 lists with 3 items (14.29% of keys, avg size 3.00)\n\
             1 sets with 2 members (14.29% of keys, avg size 2.00)\n\
             1 zsets with 1 members (14.29% of keys, avg size 1.00)\n\
             1 hashs with 2 fields (14.29% of keys, avg size 2.00)\n\
             1 streams with 1 entries (14.29% of keys, avg size 1.00)\n"
        );
    }

    #[test]
    fn empty_keyspace_and_memkeys_units() {
        let empty = Report::new(true).summary();
        assert!(empty.starts_with("\n-------- summary -------\n\nSampled 0 keys in the keyspace!\nTotal key length in bytes is 0 (avg len 0.00)\n\n\n0 strings with 0 bytes (00.00% of keys, avg size 0.00)\n0 lists with 0 bytes"), "{empty}");
        let mut report = Report::new(true);
        let text = feed(&mut report, &[("only", "list", 144)]);
        assert_eq!(text, "[00.00%] Biggest list   found so far '\"only\"' with 144 bytes\n");
        assert!(report.summary().contains("1 lists with 144 bytes (100.00% of keys, avg size 144.00)\n"));
    }

    #[test]
    fn other_types_none_and_zero_sizes() {
        let mut report = Report::new(false);
        assert_eq!(report.type_index("none"), None);
        let module = report.type_index("MyType-AZ").unwrap();
        assert_eq!(report.size_cmd(module), None);
        // A size of 0 is counted but never the biggest (redis-cli compares with `<`).
        assert_eq!(report.add(b"m", module, 0, 50.0), "");
        assert!(report.summary().contains("1 MyType-AZs with 0 ? (100.00% of keys, avg size 0.00)\n"));
        for n in 0..TYPES_MAX {
            report.type_index(&format!("t{n}"));
        }
        assert_eq!(report.type_index("one-too-many"), None);
        let text = report.add(b"k\x01", 0, 7, 42.5);
        assert_eq!(text, "[42.50%] Biggest string found so far '\"k\\x01\"' with 7 bytes\n");
    }
}
