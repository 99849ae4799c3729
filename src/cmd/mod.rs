//! The command layer: one table of every command (name, arity, flags, handler), central
//! arity and auth checks, and the helpers commands share (argument parsing, Redis's exact
//! error texts). Each command family lives in its own file and exports a `COMMANDS` slice;
//! this module merges them into one lookup table at first use.
//!
//! A handler gets a [`Ctx`] (shared server state, this client's state, its output buffer and
//! the time of the request) and the request's [`Argv`]; it writes exactly one reply.

use std::sync::OnceLock;

use crate::protocol::Argv;
use crate::reply;
use crate::shared::Shared;

pub mod bits;
pub mod connection;
pub mod hash;
pub mod keys;
pub mod list;
pub mod server;
pub mod set;
pub mod sort;
pub mod strings;
pub mod typed;
pub mod zset;
pub mod zset_algebra;
pub mod zset_range;

/// The command may run before AUTH (AUTH, HELLO, QUIT).
pub const NO_AUTH: u16 = 1 << 0;
/// The command writes to the keyspace.
pub const WRITE: u16 = 1 << 1;
/// The command only reads.
pub const READONLY: u16 = 1 << 2;
/// Longest command name looked up (longer names cannot be commands).
const COMMAND_NAME_MAX: usize = 32;

/// A command handler. It must write exactly one reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, Argv<'_>);

/// One row of the command table.
pub struct Command {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: `n` = exactly n arguments including the name, `-n` = at least n.
    pub arity: i32,
    pub flags: u16,
    /// Position of the first key, last key (negative: from the end) and step, as COMMAND
    /// reports them (0 = no keys).
    pub keys: (i32, i32, i32),
    pub handler: Handler,
}

/// A command's documentation, for `COMMAND DOCS`, redis-cli's `help` and its argument hints.
/// Each command family exports a `DOCS` slice beside its `COMMANDS`, one row per command
/// (subcommands as `"parent|sub"`).
pub struct Doc {
    /// Lower-case name, as in the command table.
    pub name: &'static str,
    /// Redis's group: `string`, `generic`, `connection`, `server`, `list`, `hash`, `set`,
    /// `sorted-set`, `bitmap`, `pubsub`, `transactions`, `scripting`.
    pub group: &'static str,
    /// The Redis version that introduced the command, e.g. `"1.0.0"`.
    pub since: &'static str,
    /// One line, in our own words.
    pub summary: &'static str,
    /// The arguments after the name in Redis's documentation notation, e.g.
    /// `"key value [NX | XX] [GET] [EX seconds | PX milliseconds]"`.
    pub syntax: &'static str,
}

/// Per-connection state commands can see and change.
#[derive(Debug)]
pub struct ClientState {
    pub id: u64,
    /// Selected database.
    pub db: usize,
    /// True when no password is configured or AUTH succeeded.
    pub authenticated: bool,
    pub name: Option<Box<[u8]>>,
    /// QUIT: write the reply, then close.
    pub close_after_reply: bool,
}

impl ClientState {
    pub fn new(shared: &Shared) -> Self {
        ClientState {
            id: shared.next_client_id(),
            db: 0,
            authenticated: shared.config.password().is_none(),
            name: None,
            close_after_reply: false,
        }
    }
}

/// What a command runs with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut ClientState,
    pub out: &'a mut reply::Out,
    /// Wall-clock time of this request in Unix ms (one reading per request).
    pub now_ms: u64,
}

impl Ctx<'_> {
    /// The selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }
    pub fn error(&mut self, msg: &str) {
        reply::error(self.out, msg);
    }
    pub fn ok(&mut self) {
        reply::ok(self.out);
    }
    /// A push made `key` of `db` a non-empty list or sorted set: the one place blocked
    /// BLPOP/BZPOPMIN/... clients will be woken from (Redis's `signalKeyAsReady`). Every
    /// command that may make a list or zset non-empty calls it after the change, with the
    /// shard already unlocked. A no-op until blocking commands exist.
    pub fn key_ready(&mut self, db: usize, key: &[u8]) {
        let _ = (db, key);
    }
}

/// Name → command. ahash: the lookup runs once per request.
type Table = ahash::HashMap<&'static [u8], &'static Command>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = Table::default();
        let families = [
            connection::COMMANDS,
            server::COMMANDS,
            strings::COMMANDS,
            keys::COMMANDS,
            hash::COMMANDS,
            list::COMMANDS,
            set::COMMANDS,
            zset::COMMANDS,
            zset_algebra::COMMANDS,
            bits::COMMANDS,
            sort::COMMANDS,
        ];
        for family in families {
            for cmd in family {
                let old = map.insert(cmd.name.as_bytes(), cmd);
                assert!(old.is_none(), "command {} defined twice", cmd.name);
            }
        }
        map
    })
}

/// Every command, for COMMAND / COMMAND COUNT.
pub fn all_commands() -> impl Iterator<Item = &'static Command> {
    table().values().copied()
}

/// Find a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > COMMAND_NAME_MAX {
        return None;
    }
    let mut lower = [0u8; COMMAND_NAME_MAX];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().get(&lower[..name.len()]).copied()
}

/// Run one request: look the command up, check arity and auth centrally, call the handler.
pub fn execute(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    debug_assert!(!argv.is_empty());
    let shared = ctx.shared;
    shared.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(cmd) = lookup(argv.get(0)) else {
        unknown_command(ctx, argv);
        return;
    };
    let argc = argv.len() as i32;
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        wrong_arity(ctx, cmd.name);
        return;
    }
    if !ctx.client.authenticated && cmd.flags & NO_AUTH == 0 {
        ctx.error("NOAUTH Authentication required.");
        return;
    }
    (cmd.handler)(ctx, argv);
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` (Redis's exact format,
/// including the 128-byte caps and the trailing space).
fn unknown_command(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut args = String::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let shown = &arg[..arg.len().min(room)];
        args.push('\'');
        args.push_str(&String::from_utf8_lossy(shown));
        args.push_str("' ");
    }
    let name = argv.get(0);
    let name = String::from_utf8_lossy(&name[..name.len().min(128)]);
    ctx.error(&format!("ERR unknown command '{name}', with args beginning with: {args}"));
}

/// `ERR wrong number of arguments for 'get' command`
pub fn wrong_arity(ctx: &mut Ctx<'_>, name: &str) {
    ctx.error(&format!("ERR wrong number of arguments for '{name}' command"));
}

/// Redis's shared error texts.
pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const ERR_NO_SUCH_KEY: &str = "ERR no such key";
pub const ERR_DB_INDEX: &str = "ERR DB index is out of range";
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const ERR_STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Parse a signed 64-bit integer exactly as Redis's `string2ll` does: optional `-`, digits,
/// no leading zeros (except "0"), no `+`, no spaces, no overflow.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Parse a float like Redis's `string2ld`/`strtold` use in INCRBYFLOAT: decimal or exponent
/// notation, `inf`/`-inf` accepted here (the caller rejects non-finite results), no spaces,
/// not NaN.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5120 || b[0].is_ascii_whitespace() || b[b.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let lower = s.to_ascii_lowercase();
    let v: f64 = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            s.parse().ok()?
        }
    };
    (!v.is_nan()).then_some(v)
}

/// Format a float as Redis replies with it for INCRBYFLOAT (`%.17Lg`, trailing zeros
/// trimmed): the shortest text that round-trips, never exponent notation for the usual range.
pub fn format_f64(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i128)
    } else {
        let s = format!("{v}");
        if s.contains('e') {
            format!("{v:.17}").trim_end_matches('0').to_string()
        } else {
            s
        }
    }
}

/// Case-insensitive ASCII comparison of an argument with an option name.
pub fn eq_ignore_case(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

/// Test support: run one command against `shared` as `client` and return the raw reply bytes.
#[cfg(test)]
pub fn run_for_test(shared: &Shared, client: &mut ClientState, args: &[&[u8]]) -> Vec<u8> {
    run_for_test_in(shared, client, reply::Proto::Resp2, args)
}

/// Test support: as [`run_for_test`], with the replies encoded in `proto`.
#[cfg(test)]
pub fn run_for_test_in(shared: &Shared, client: &mut ClientState, proto: reply::Proto, args: &[&[u8]]) -> Vec<u8> {
    let mut base = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        ranges.push(base.len()..base.len() + a.len());
        base.extend_from_slice(a);
    }
    let mut out = reply::Out::with_proto(proto);
    let mut ctx = Ctx { shared, client, out: &mut out, now_ms: crate::store::now_ms() };
    execute(&mut ctx, Argv::from_parts(&base, &ranges));
    out.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_follows_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_i64(b"1a"), None);
    }

    #[test]
    fn parse_f64_rejects_nan_and_spaces() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn format_f64_like_redis() {
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(5000.0), "5000");
        assert_eq!(format_f64(-0.1), "-0.1");
    }

    #[test]
    fn every_command_has_a_sane_row() {
        for cmd in all_commands() {
            assert_eq!(cmd.name, cmd.name.to_ascii_lowercase());
            assert!(cmd.arity != 0, "{}", cmd.name);
            assert!(lookup(cmd.name.to_ascii_uppercase().as_bytes()).is_some());
        }
    }
}
