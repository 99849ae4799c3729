//! Loading an AOF directory at startup: the base, then every incremental file, replayed as
//! commands through the ordinary command layer by a client of no connection, with expiry off
//! (as Redis's loading: a key whose deadline passed is kept until loading ends, so commands
//! that follow in the file see what the writer saw; the DELs for keys that expired are in the
//! file).
//!
//! A file is read in chunks of [`LOAD_CHUNK_BYTES`] through the same resumable parser the
//! connections use. The last file may end in the middle of a command, or inside a MULTI
//! without its EXEC (a crash while writing): with `--aof-load-truncated yes` the file is cut
//! back to its last complete command (before the unterminated MULTI) with a warning, as Redis
//! does; otherwise, or in any other file, loading fails. Bytes that are not a command
//! (corruption) fail loading, naming the file and the offset.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context};

use crate::cmd::{self, ClientState, Ctx};
use crate::protocol::{Args, Limits, Parsed, Parser};
use crate::reply::Out;
use crate::shared::Shared;

use crate::persist::manifest::Manifest;

/// Bytes read from a file at a time.
pub const LOAD_CHUNK_BYTES: usize = 1 << 20;

/// What loading found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Commands replayed.
    pub commands: u64,
    /// Bytes dropped from the end of the last file (a torn tail).
    pub truncated_bytes: u64,
}

/// How one file ended.
enum End {
    /// At a command boundary, outside MULTI.
    Clean,
    /// Cut short: the bytes from this offset on are not a whole command (or an unterminated
    /// MULTI starts there).
    Torn { valid_up_to: u64, in_multi: bool },
}

/// Replay every file of `manifest` in `dir` into the store.
pub fn load(shared: &Shared, dir: &Path, manifest: &Manifest, truncated_ok: bool) -> anyhow::Result<Loaded> {
    let files: Vec<_> = manifest.base.iter().chain(&manifest.incrs).collect();
    let mut loaded = Loaded::default();
    let _clock = crate::store::FrozenClock::start();
    for (i, entry) in files.iter().enumerate() {
        let path = dir.join(&entry.name);
        let last = i + 1 == files.len();
        if entry.name.ends_with(".rdb") {
            // An RDB-preamble base (`aof-use-rdb-preamble yes`): a whole RDB image.
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let (keys, _expired) = super::rdb_save::load_bytes(shared, &bytes)
                .map_err(|e| anyhow!("Bad file format reading the append only file {}: {e}", entry.name))?;
            tracing::info!(keys, "Loaded the RDB-preamble base {}", entry.name);
            continue;
        }
        let (commands, end) = replay_file(shared, &path)?;
        loaded.commands += commands;
        if let End::Torn { valid_up_to, in_multi } = end {
            let len = std::fs::metadata(&path)?.len();
            if !last || !truncated_ok {
                bail!(
                    "Unexpected end of file reading the append only file {} at offset {valid_up_to}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                    entry.name
                );
            }
            if in_multi {
                tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {}", entry.name);
            }
            tracing::warn!("!!! Warning: short read while loading the AOF file {}!!!", entry.name);
            tracing::warn!(
                "AOF {} loaded anyway because aof-load-truncated is enabled (cut from {len} to {valid_up_to} bytes)",
                entry.name
            );
            let f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.set_len(valid_up_to).with_context(|| format!("truncating {}", path.display()))?;
            f.sync_all()?;
            loaded.truncated_bytes += len - valid_up_to;
        }
    }
    Ok(loaded)
}

/// Replay one file. Returns the commands run and how the file ended.
fn replay_file(shared: &Shared, path: &Path) -> anyhow::Result<(u64, End)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut client = ClientState::new(shared);
    let (mut parser, mut args, limits) = (Parser::new(), Args::new(), Limits::new(u64::MAX));
    let mut buf: Vec<u8> = Vec::new();
    // `buf[0]` is at file offset `base`; `pos` is the next unparsed byte in `buf`.
    let (mut base, mut pos, mut commands) = (0u64, 0usize, 0u64);
    let mut valid_before_multi = 0u64;
    let mut eof = false;
    loop {
        if eof {
            break;
        }
        if buf.get(pos).is_some_and(|&b| b != b'*') {
            // Every record of an AOF is a multibulk command (Redis: `buf[0] != '*'` is a
            // format error); the parser would take other bytes as an inline command.
            bail!(
                "Bad file format reading the append only file {name} at offset {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                base + pos as u64
            );
        }
        match parser.parse(&buf[pos..], &limits, &mut args) {
            Ok(Parsed::Complete { consumed }) => {
                let offset = base + pos as u64;
                if !args.is_empty() {
                    let argv = args.argv(&buf[pos..]);
                    let starts_multi = cmd::eq_ignore_case(argv.get(0), "multi");
                    if starts_multi && !client.tx.in_multi() {
                        valid_before_multi = offset;
                    }
                    run(shared, &mut client, argv)
                        .map_err(|e| anyhow!("{e} reading the append only file {name} at offset {offset}"))?;
                    commands += 1;
                }
                pos += consumed;
            }
            Ok(Parsed::Incomplete) => {
                if pos > 0 {
                    buf.drain(..pos);
                    base += pos as u64;
                    pos = 0;
                }
                let mut chunk = vec![0u8; LOAD_CHUNK_BYTES];
                let n = file.read(&mut chunk).with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    eof = true;
                    continue;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(_) => {
                bail!(
                    "Bad file format reading the append only file {name} at offset {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                    base + pos as u64
                );
            }
        }
    }
    let end_offset = base + pos as u64;
    let rest = buf.len() - pos;
    if client.tx.in_multi() {
        return Ok((commands, End::Torn { valid_up_to: valid_before_multi, in_multi: true }));
    }
    if rest > 0 {
        return Ok((commands, End::Torn { valid_up_to: end_offset, in_multi: false }));
    }
    Ok((commands, End::Clean))
}

/// Run one command given as arguments (the function libraries of an RDB file).
pub fn run_encoded(shared: &Shared, client: &mut ClientState, args: &[&[u8]]) -> Result<(), String> {
    let bytes = crate::store::journal::encode(args);
    let mut parsed = Args::new();
    match Parser::new().parse(&bytes, &Limits::new(u64::MAX), &mut parsed) {
        Ok(Parsed::Complete { .. }) => run(shared, client, parsed.argv(&bytes)),
        _ => Err("unparsable command".into()),
    }
}

/// Run one command of the file. Unknown commands stop loading, as in Redis; a command that
/// replies with an error (WRONGTYPE and the like) does not.
fn run(shared: &Shared, client: &mut ClientState, argv: crate::protocol::Argv<'_>) -> Result<(), String> {
    let mut out = Out::new();
    let mut ctx = Ctx { shared, client, out: &mut out, now_ms: 0 };
    let ran = cmd::execute(&mut ctx, argv);
    cmd::timing::close(shared, client);
    match ran {
        Some(_) => Ok(()),
        None => Err(format!("Unknown command '{}'", String::from_utf8_lossy(argv.get(0)))),
    }
}
