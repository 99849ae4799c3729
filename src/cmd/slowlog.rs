//! SLOWLOG GET / LEN / RESET / HELP, and [`record`], which [`super::execute`] calls for a
//! command at or over `slowlog-log-slower-than` (the log itself is [`crate::slowlog`]).

use super::{eq_ignore_case, Command, Ctx, Doc};
use crate::protocol::Argv;
use crate::reply;
use crate::slowlog::{trim_argv, Entry};

pub const COMMANDS: &[Command] = &[Command { name: "slowlog", arity: -2, flags: 0, keys: (0, 0, 0), handler: slowlog }];

pub const DOCS: &[Doc] = &[
    Doc {
        name: "slowlog",
        group: "server",
        since: "2.2.12",
        summary: "Inspect or clear the log of slow commands.",
        syntax: "",
    },
    Doc {
        name: "slowlog|get",
        group: "server",
        since: "2.2.12",
        summary: "The newest slow-log entries (10 unless a count is given, -1 for all).",
        syntax: "[count]",
    },
    Doc {
        name: "slowlog|len",
        group: "server",
        since: "2.2.12",
        summary: "How many entries the slow log holds.",
        syntax: "",
    },
    Doc { name: "slowlog|reset", group: "server", since: "2.2.12", summary: "Empty the slow log.", syntax: "" },
    Doc { name: "slowlog|help", group: "server", since: "6.2.0", summary: "List the SLOWLOG subcommands.", syntax: "" },
];

/// Entries SLOWLOG GET returns without a count (Redis's default).
const GET_COUNT_DEFAULT: usize = 10;

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// SLOWLOG subcommand [arg]
fn slowlog(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(sub) = super::subcommand(ctx, argv, "slowlog") else { return };
    match sub {
        "get" => get(ctx, argv),
        "len" => reply::integer(ctx.out, ctx.shared.slowlog.len() as i64),
        "reset" => {
            ctx.shared.slowlog.reset();
            ctx.ok();
        }
        _ => super::help_reply(ctx, HELP),
    }
}

/// SLOWLOG GET [count]: newest first; -1 = all.
fn get(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let count = match argv.len() {
        2 => GET_COUNT_DEFAULT,
        _ => match super::parse_i64(argv.get(2)) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return ctx.error("ERR count should be greater than or equal to -1"),
        },
    };
    let entries = ctx.shared.slowlog.newest(count);
    let out = &mut *ctx.out;
    reply::array(out, entries.len());
    for e in entries {
        reply::array(out, 6);
        reply::integer(out, e.id as i64);
        reply::integer(out, e.time_s);
        reply::integer(out, e.duration_us as i64);
        reply::array(out, e.argv.len());
        for a in &e.argv {
            reply::bulk(out, a);
        }
        reply::bulk(out, &e.peer);
        reply::bulk(out, &e.name);
    }
}

/// Arguments Redis shows as `(redacted)` in the slow log: passwords.
fn redacted(argv: Argv<'_>, j: usize) -> bool {
    let name = argv.get(0);
    if eq_ignore_case(name, "auth") {
        return j >= 1;
    }
    if eq_ignore_case(name, "hello") {
        // HELLO protover AUTH user pass ...: the two words after AUTH.
        return (2..j).any(|k| eq_ignore_case(argv.get(k), "auth") && (j == k + 1 || j == k + 2));
    }
    if eq_ignore_case(name, "config") && argv.len() > 2 && eq_ignore_case(argv.get(1), "set") {
        return j >= 3 && j % 2 == 1 && eq_ignore_case(argv.get(j - 1), "requirepass");
    }
    false
}

/// Add the command just run to the slow log (it took `duration_us`, at or over the
/// threshold). Called only then, so the cost here does not matter on the fast path.
pub fn record(ctx: &Ctx<'_>, argv: Argv<'_>, duration_us: u64) {
    let shared = ctx.shared;
    let argv_kept = trim_argv(argv.len(), |j| if redacted(argv, j) { b"(redacted)" } else { argv.get(j) });
    let peer = ctx.client.handle.addr();
    let entry = Entry {
        id: 0,
        time_s: (ctx.now_ms / 1000) as i64,
        duration_us,
        argv: argv_kept,
        peer: peer.as_bytes().into(),
        name: ctx.client.name.clone().unwrap_or_default(),
    };
    shared.slowlog.push(entry, shared.tunables.slowlog_max_len());
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    fn run(s: &Shared, c: &mut ClientState, args: &[&[u8]]) -> String {
        String::from_utf8_lossy(&run_for_test(s, c, args)).into_owned()
    }

    #[test]
    fn threshold_zero_logs_everything_newest_first() {
        // With a threshold of 0 every command is logged (SLOWLOG GET itself too, after it
        // replies); -1 logs nothing; max-len keeps the newest.
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        c.name = Some(b"me".as_slice().into());
        s.tunables.set_slowlog_log_slower_than_us(0);
        run(&s, &mut c, &[b"SET", b"k", b"v"]);
        run(&s, &mut c, &[b"AUTH", b"secret"]);
        let got = run(&s, &mut c, &[b"SLOWLOG", b"GET", b"2"]);
        assert!(got.starts_with("*2\r\n*6\r\n:1\r\n:"), "{got}");
        assert!(got.contains("*2\r\n$4\r\nAUTH\r\n$10\r\n(redacted)\r\n"), "{got}");
        assert!(
            // A client on no connection has no address (the integration tests check real ones).
            got.contains("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$0\r\n\r\n$2\r\nme\r\n"),
            "{got}"
        );
        assert_eq!(run(&s, &mut c, &[b"SLOWLOG", b"LEN"]), ":3\r\n");
        s.tunables.set_slowlog_log_slower_than_us(-1);
        assert_eq!(run(&s, &mut c, &[b"SLOWLOG", b"RESET"]), "+OK\r\n");
        run(&s, &mut c, &[b"GET", b"k"]);
        assert_eq!(run(&s, &mut c, &[b"SLOWLOG", b"LEN"]), ":0\r\n");
        assert_eq!(run(&s, &mut c, &[b"SLOWLOG", b"GET"]), "*0\r\n");
    }

    #[test]
    fn get_count_and_errors() {
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        s.tunables.set_slowlog_log_slower_than_us(0);
        s.tunables.set_slowlog_max_len(3);
        for _ in 0..5 {
            run(&s, &mut c, &[b"PING"]);
        }
        assert_eq!(run(&s, &mut c, &[b"SLOWLOG", b"LEN"]), ":3\r\n");
        assert!(run(&s, &mut c, &[b"SLOWLOG", b"GET", b"-1"]).starts_with("*3\r\n*6\r\n:5\r\n"));
        assert!(run(&s, &mut c, &[b"SLOWLOG", b"GET", b"1"]).starts_with("*1\r\n*6\r\n:"));
        for bad in [&b"-2"[..], b"x"] {
            assert_eq!(
                run(&s, &mut c, &[b"SLOWLOG", b"GET", bad]),
                "-ERR count should be greater than or equal to -1\r\n"
            );
        }
        assert_eq!(
            run(&s, &mut c, &[b"SLOWLOG", b"LEN", b"x"]),
            "-ERR wrong number of arguments for 'slowlog|len' command\r\n"
        );
        assert!(run(&s, &mut c, &[b"SLOWLOG", b"HELP"]).starts_with("*12\r\n+SLOWLOG <subcommand>"));
    }

    #[test]
    fn config_set_requirepass_is_redacted() {
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        s.tunables.set_slowlog_log_slower_than_us(0);
        run(&s, &mut c, &[b"CONFIG", b"SET", b"timeout", b"0", b"requirepass", b"pw"]);
        let got = run(&s, &mut c, &[b"SLOWLOG", b"GET", b"1"]);
        assert!(got.contains("$7\r\ntimeout\r\n$1\r\n0\r\n$11\r\nrequirepass\r\n$10\r\n(redacted)\r\n"), "{got}");
    }
}
