//! Connection commands: PING, ECHO, QUIT/EXIT, SELECT, AUTH, HELLO, CLIENT.

use super::{eq_ignore_case, parse_i64, Command, Ctx, ERR_DB_INDEX, ERR_NOT_INTEGER, ERR_SYNTAX, NO_AUTH};
use super::{ADMIN, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, SENTINEL, STALE};
use crate::protocol::Argv;
use crate::reply;

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc {
        name: "ping",
        group: "connection",
        since: "1.0.0",
        summary: "Check the connection: PONG, or the message back.",
        syntax: "[message]",
    },
    super::Doc {
        name: "echo",
        group: "connection",
        since: "1.0.0",
        summary: "Return the message sent.",
        syntax: "message",
    },
    super::Doc {
        name: "quit",
        group: "connection",
        since: "1.0.0",
        summary: "Close the connection after the reply.",
        syntax: "",
    },
    super::Doc {
        name: "exit",
        group: "connection",
        since: "1.0.0",
        summary: "Same as QUIT (the seed program's name).",
        syntax: "",
    },
    super::Doc {
        name: "select",
        group: "connection",
        since: "1.0.0",
        summary: "Switch this connection to another database.",
        syntax: "index",
    },
    super::Doc {
        name: "auth",
        group: "connection",
        since: "1.0.0",
        summary: "Authenticate this connection.",
        syntax: "[username] password",
    },
    super::Doc {
        name: "hello",
        group: "connection",
        since: "6.0.0",
        summary: "Handshake: pick the protocol, authenticate, name the client.",
        syntax: "arguments=[protover username_password=[AUTH username password] [SETNAME clientname]]",
    },
    super::Doc {
        name: "client",
        group: "connection",
        since: "2.4.0",
        summary: "Inspect and change this connection's client settings.",
        syntax: "",
    },
    super::Doc {
        name: "client|setname",
        group: "connection",
        since: "2.6.9",
        summary: "Name this connection.",
        syntax: "connection-name",
    },
    super::Doc {
        name: "client|getname",
        group: "connection",
        since: "2.6.9",
        summary: "This connection's name, or null.",
        syntax: "",
    },
    super::Doc {
        name: "client|id",
        group: "connection",
        since: "5.0.0",
        summary: "This connection's unique id.",
        syntax: "",
    },
    super::Doc {
        name: "client|info",
        group: "connection",
        since: "6.2.0",
        summary: "One line describing this connection.",
        syntax: "",
    },
    super::Doc {
        name: "client|setinfo",
        group: "connection",
        since: "7.2.0",
        summary: "Record the client library's name or version (ignored).",
        syntax: "<LIB-NAME libname | LIB-VER libver>",
    },
    super::Doc {
        name: "client|list",
        group: "connection",
        since: "2.4.0",
        summary: "One line per connected client: address, age, idle time, db, subscriptions, last command.",
        syntax: "[TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID id=<client-id:integer [client-id:integer ...]>]",
    },
    super::Doc {
        name: "client|kill",
        group: "connection",
        since: "2.4.0",
        summary: "Close the clients that match an address or a set of filters.",
        syntax: "<ip:port | [ID client-id] [ADDR ip:port] [LADDR ip:port] [USER username] [SKIPME <YES | NO>]>",
    },
    super::Doc {
        name: "client|help",
        group: "connection",
        since: "5.0.0",
        summary: "Show helpful text about the different subcommands.",
        syntax: "",
    },
    super::Doc {
        name: "client|unblock",
        group: "connection",
        since: "5.0.0",
        summary: "End another client's wait in a blocking command, with a timeout or an error.",
        syntax: "client-id:integer [TIMEOUT | ERROR]",
    },
    super::Doc {
        name: "client|pause",
        group: "connection",
        since: "2.9.50",
        summary: "Make every client's commands (or only writes) wait for a number of milliseconds.",
        syntax: "timeout mode=[WRITE | ALL]",
    },
    super::Doc {
        name: "client|unpause",
        group: "connection",
        since: "6.2.0",
        summary: "End a CLIENT PAUSE early; waiting commands run.",
        syntax: "",
    },
    super::Doc {
        name: "client|reply",
        group: "connection",
        since: "3.2.0",
        summary: "Turn this connection's replies off, back on, or skip the next one.",
        syntax: "<ON | OFF | SKIP>",
    },
    super::Doc {
        name: "client|no-evict",
        group: "connection",
        since: "7.0.0",
        summary: "Exclude this connection from client eviction (accepted; ringkv evicts no clients).",
        syntax: "enabled=<ON | OFF>",
    },
    super::Doc {
        name: "monitor",
        group: "server",
        since: "1.0.0",
        summary: "Stream every command the server runs, from every connection, to this connection.",
        syntax: "",
    },
    super::Doc {
        name: "reset",
        group: "connection",
        since: "6.2.0",
        summary:
            "Return this connection to its initial state: no transaction, subscriptions, name or monitor; RESP2; db 0.",
        syntax: "",
    },
];

pub const COMMANDS: &[Command] = &[
    Command { name: "ping", arity: -1, flags: FAST | SENTINEL, keys: (0, 0, 0), handler: ping },
    Command { name: "echo", arity: 2, flags: FAST | LOADING | STALE, keys: (0, 0, 0), handler: echo },
    Command {
        name: "quit",
        arity: -1,
        flags: ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        keys: (0, 0, 0),
        handler: quit,
    },
    Command {
        name: "exit",
        arity: -1,
        flags: ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        keys: (0, 0, 0),
        handler: quit,
    },
    Command { name: "select", arity: 2, flags: LOADING | STALE | FAST, keys: (0, 0, 0), handler: select },
    Command {
        name: "auth",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: auth,
    },
    Command {
        name: "hello",
        arity: -1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SENTINEL | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: hello,
    },
    Command { name: "client", arity: -2, flags: 0, keys: (0, 0, 0), handler: client },
    Command {
        name: "monitor",
        arity: 1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        keys: (0, 0, 0),
        handler: super::client::monitor,
    },
    Command {
        name: "reset",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: (0, 0, 0),
        handler: super::client::reset,
    },
];

const ERR_WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// PING [message]
fn ping(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if ctx.client.subs.any() && !ctx.out.resp3() && argv.len() <= 2 {
        // RESP2 subscribed mode: a PING answers in the shape of a message.
        reply::array(ctx.out, 2);
        reply::bulk(ctx.out, b"pong");
        return reply::bulk(ctx.out, if argv.len() == 2 { argv.get(1) } else { b"" });
    }
    match argv.len() {
        1 => reply::simple(ctx.out, b"PONG"),
        2 => reply::bulk(ctx.out, argv.get(1)),
        _ => super::wrong_arity(ctx, "ping"),
    }
}

/// ECHO message
fn echo(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    reply::bulk(ctx.out, argv.get(1));
}

/// QUIT (EXIT is the seed program's name for it): reply OK, then close.
fn quit(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    ctx.ok();
    ctx.client.close_after_reply = true;
}

/// SELECT index
fn select(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    match parse_i64(argv.get(1)) {
        None => ctx.error(ERR_NOT_INTEGER),
        // Redis reads the index as a C int first.
        Some(db) if i32::try_from(db).is_err() => {
            ctx.error("ERR value is out of range, value must between -2147483648 and 2147483647")
        }
        Some(db) if db < 0 || db as u64 >= ctx.shared.store.databases() as u64 => ctx.error(ERR_DB_INDEX),
        Some(db) => {
            ctx.client.db = db as usize;
            ctx.ok();
        }
    }
}

/// Check `user`/`pass` against `requirepass` (flag or CONFIG SET) (only the `default` user exists).
/// Returns the error to send, if any.
fn check_password(ctx: &Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> Result<(), &'static str> {
    let Some(expected) = ctx.shared.tunables.password() else {
        if user.is_none() {
            return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        return if user == Some(&b"default"[..]) { Ok(()) } else { Err(ERR_WRONGPASS) };
    };
    if user.is_some_and(|u| u != b"default") || !constant_time_eq(pass, &expected) {
        return Err(ERR_WRONGPASS);
    }
    Ok(())
}

/// Compare without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let (user, pass) = match argv.len() {
        2 => (None, argv.get(1)),
        3 => (Some(argv.get(1)), argv.get(2)),
        _ => return ctx.error(ERR_SYNTAX),
    };
    match check_password(ctx, user, pass) {
        Ok(()) => {
            ctx.client.authenticated = true;
            ctx.ok();
        }
        Err(e) => ctx.error(e),
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
///
/// Switches the connection to RESP2 or RESP3 and replies with a map describing the server.
/// Options are checked first and AUTH / SETNAME applied only after, as Redis 7.2 does (7.0
/// applies each option as it parses it): a request with a bad option authenticates nobody,
/// names nobody and keeps the protocol. The replies themselves are 7.0's.
fn hello(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let proto = if argv.len() >= 2 {
        match parse_i64(argv.get(1)) {
            None => return ctx.error("ERR Protocol version is not an integer or out of range"),
            Some(2) => reply::Proto::Resp2,
            Some(3) => reply::Proto::Resp3,
            Some(_) => return ctx.error("NOPROTO unsupported protocol version"),
        }
    } else {
        ctx.out.proto
    };
    let (credentials, setname) = match parse_hello_options(argv) {
        Ok(options) => options,
        Err(e) => return ctx.error(&e),
    };
    if let Some((user, pass)) = credentials {
        if let Err(e) = check_password(ctx, Some(user), pass) {
            return ctx.error(e);
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return ctx.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        ctx.client.name = (!name.is_empty()).then(|| name.into());
    }
    // The reply is already in the new protocol, as in Redis.
    ctx.out.proto = proto;
    let id = ctx.client.id as i64;
    let out = &mut *ctx.out;
    reply::map(out, 7);
    reply::bulk(out, b"server");
    reply::bulk(out, b"redis");
    reply::bulk(out, b"version");
    reply::bulk(out, super::server::REDIS_COMPAT_VERSION.as_bytes());
    reply::bulk(out, b"proto");
    reply::integer(out, if proto == reply::Proto::Resp3 { 3 } else { 2 });
    reply::bulk(out, b"id");
    reply::integer(out, id);
    reply::bulk(out, b"mode");
    reply::bulk(out, b"standalone");
    reply::bulk(out, b"role");
    reply::bulk(out, b"master");
    reply::bulk(out, b"modules");
    reply::array(out, 0);
}

/// HELLO's options: the credentials of `AUTH username password`, the name of `SETNAME`.
type HelloOptions<'a> = (Option<(&'a [u8], &'a [u8])>, Option<&'a [u8]>);

/// HELLO's `AUTH username password` and `SETNAME name` options (from `argv[2]` on), checked
/// before anything is applied. Returns them, or the error to reply.
fn parse_hello_options(argv: Argv<'_>) -> Result<HelloOptions<'_>, String> {
    let mut i = 2;
    let mut credentials = None;
    let mut setname = None;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ignore_case(argv.get(i), "auth") && more >= 2 {
            credentials = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 3;
        } else if eq_ignore_case(argv.get(i), "setname") && more >= 1 {
            let name = argv.get(i + 1);
            if !valid_client_name(name) {
                return Err(ERR_CLIENT_NAME.to_string());
            }
            setname = Some(name);
            i += 2;
        } else {
            let opt = String::from_utf8_lossy(argv.get(i));
            return Err(format!("ERR Syntax error in HELLO option '{opt}'"));
        }
    }
    Ok((credentials, setname))
}

const ERR_CLIENT_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

/// Redis allows names of printable ASCII without spaces.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// CLIENT SETNAME name | GETNAME | ID | SETINFO attr value | INFO
fn client(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    if eq_ignore_case(sub, "setname") && argv.len() == 3 {
        let name = argv.get(2);
        if !valid_client_name(name) {
            return ctx.error(ERR_CLIENT_NAME);
        }
        ctx.client.name = (!name.is_empty()).then(|| name.into());
        let published = ctx.client.name.clone();
        ctx.client.handle.publish(|s| s.name = published);
        ctx.ok();
    } else if eq_ignore_case(sub, "getname") && argv.len() == 2 {
        let name = ctx.client.name.as_deref();
        reply::opt_bulk(ctx.out, name);
    } else if eq_ignore_case(sub, "id") && argv.len() == 2 {
        reply::integer(ctx.out, ctx.client.id as i64);
    } else if eq_ignore_case(sub, "setinfo") && argv.len() == 4 {
        // Client libraries announce their name/version; ringkv accepts and ignores it.
        ctx.ok();
    } else if eq_ignore_case(sub, "help") && argv.len() == 2 {
        super::help_reply(ctx, CLIENT_HELP);
    } else if eq_ignore_case(sub, "info") && argv.len() == 2 {
        super::client::client_info(ctx);
    } else if eq_ignore_case(sub, "list") {
        super::client::client_list(ctx, argv);
    } else if eq_ignore_case(sub, "kill") && argv.len() >= 3 {
        super::client::client_kill(ctx, argv);
    } else if eq_ignore_case(sub, "reply") && argv.len() == 3 {
        let mode = argv.get(2);
        ctx.client.reply_mode = match () {
            _ if eq_ignore_case(mode, "on") => super::ReplyMode::On,
            _ if eq_ignore_case(mode, "off") => super::ReplyMode::Off,
            _ if eq_ignore_case(mode, "skip") => super::ReplyMode::Skip,
            _ => return ctx.error(ERR_SYNTAX),
        };
        ctx.ok(); // dropped by the session unless the mode is ON
    } else if eq_ignore_case(sub, "no-evict") && argv.len() == 3 {
        let on = argv.get(2);
        ctx.client.no_evict = match () {
            _ if eq_ignore_case(on, "on") => true,
            _ if eq_ignore_case(on, "off") => false,
            _ => return ctx.error(ERR_SYNTAX),
        };
        ctx.ok();
    } else if eq_ignore_case(sub, "unblock") && (3..=4).contains(&argv.len()) {
        client_unblock(ctx, argv);
    } else if eq_ignore_case(sub, "pause") && (3..=4).contains(&argv.len()) {
        client_pause(ctx, argv);
    } else if eq_ignore_case(sub, "unpause") && argv.len() == 2 {
        ctx.shared.blocking.unpause(&ctx.shared.clients);
        ctx.ok();
    } else if ["tracking", "trackinginfo", "caching", "getredir"].iter().any(|k| eq_ignore_case(sub, k)) {
        let name = String::from_utf8_lossy(sub).to_ascii_uppercase();
        ctx.error(&format!("ERR CLIENT {name} is not supported by ringkv yet"));
    } else {
        // Redis 7.0's arity of each subcommand: fewer arguments (or another count for a fixed
        // arity) fail its command table; more than a variadic one takes fail CLIENT itself.
        let known = [
            ("setname", 3),
            ("getname", 2),
            ("id", 2),
            ("setinfo", 4),
            ("info", 2),
            ("kill", -3),
            ("reply", 3),
            ("no-evict", 3),
            ("unblock", -3),
            ("pause", -3),
            ("unpause", 2),
            ("help", 2),
        ];
        let name = String::from_utf8_lossy(sub).into_owned();
        let argc = argv.len() as i32;
        if let Some((_, arity)) = known.iter().find(|(k, _)| eq_ignore_case(sub, k)) {
            if (*arity > 0 && argc != *arity) || argc < -arity {
                ctx.error(&format!("ERR wrong number of arguments for 'client|{}' command", name.to_ascii_lowercase()));
            } else {
                let name = &name[..name.len().min(128)];
                ctx.error(&format!(
                    "ERR unknown subcommand or wrong number of arguments for '{name}'. Try CLIENT HELP."
                ));
            }
        } else {
            ctx.error(&format!("ERR unknown subcommand '{name}'. Try CLIENT HELP."));
        }
    }
}

/// CLIENT HELP (Redis 7.0's text, for the subcommands ringkv has).
const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Print this help.",
];

/// CLIENT PAUSE timeout [WRITE | ALL]: commands of every client (or only writes) wait
/// `timeout` milliseconds, or until CLIENT UNPAUSE.
fn client_pause(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let timeout_ms = match parse_i64(argv.get(2)) {
        None => return ctx.error("ERR timeout is not an integer or out of range"),
        Some(t) if t < 0 => return ctx.error("ERR timeout is negative"),
        Some(t) => t as u64,
    };
    let all = match argv.len() {
        3 => true,
        _ if eq_ignore_case(argv.get(3), "all") => true,
        _ if eq_ignore_case(argv.get(3), "write") => false,
        _ => return ctx.error(ERR_SYNTAX),
    };
    ctx.shared.blocking.pause(&ctx.shared.clients, ctx.now_ms.saturating_add(timeout_ms), all);
    ctx.ok();
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
fn client_unblock(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    // Redis checks the reason before the id.
    let error = match argv.len() {
        3 => false,
        _ if eq_ignore_case(argv.get(3), "timeout") => false,
        _ if eq_ignore_case(argv.get(3), "error") => true,
        _ => return ctx.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(id) = parse_i64(argv.get(2)) else {
        return ctx.error(ERR_NOT_INTEGER);
    };
    let unblocked = id > 0 && ctx.shared.blocking.unblock(&ctx.shared.clients, id as u64, error);
    reply::integer(ctx.out, i64::from(unblocked));
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;
    use clap::Parser;

    fn shared_with_password() -> Shared {
        Shared::new(Config::parse_from(["ringkv-server", "--requirepass", "pw"]))
    }

    fn run(shared: &Shared, client: &mut ClientState, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(run_for_test(shared, client, &args)).unwrap()
    }

    const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
    const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

    #[test]
    fn subcommand_arity_and_argument_order_match_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let mut r = |args: &[&str]| run(&shared, &mut c, args);
        assert_eq!(r(&["CLIENT", "NO-EVICT"]), "-ERR wrong number of arguments for 'client|no-evict' command\r\n");
        assert_eq!(r(&["CLIENT", "REPLY"]), "-ERR wrong number of arguments for 'client|reply' command\r\n");
        assert_eq!(r(&["CLIENT", "UNPAUSE", "1"]), "-ERR wrong number of arguments for 'client|unpause' command\r\n");
        assert_eq!(r(&["CLIENT", "UNBLOCK"]), "-ERR wrong number of arguments for 'client|unblock' command\r\n");
        assert_eq!(
            r(&["CLIENT", "UNBLOCK", "b", "b", "TIMEOUT"]),
            "-ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.\r\n"
        );
        assert_eq!(r(&["CLIENT", "UNBLOCK", "x", "y"]), "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n");
        assert_eq!(r(&["CLIENT", "NOPE"]), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n");
        assert_eq!(
            r(&["SELECT", "9223372036854775807"]),
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
        );
        assert_eq!(r(&["SELECT", "-1"]), "-ERR DB index is out of range\r\n");
    }

    #[test]
    fn before_auth_only_auth_hello_and_quit_run() {
        // Every command but AUTH, HELLO and QUIT gets NOAUTH; unknown commands and wrong
        // arity are reported first, as in Redis (the command table is checked before auth).
        let shared = shared_with_password();
        let mut c = ClientState::new(&shared);
        for cmd in [&["PING"][..], &["GET", "k"], &["SET", "k", "v"], &["INFO"], &["SELECT", "1"], &["CLIENT", "ID"]] {
            assert_eq!(run(&shared, &mut c, cmd), NOAUTH, "{cmd:?}");
        }
        assert_eq!(run(&shared, &mut c, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
        assert!(run(&shared, &mut c, &["NOPE"]).starts_with("-ERR unknown command 'NOPE'"));
        assert_eq!(run(&shared, &mut c, &["AUTH", "bad"]), WRONGPASS);
        assert_eq!(run(&shared, &mut c, &["AUTH", "other", "pw"]), WRONGPASS);
        assert_eq!(run(&shared, &mut c, &["AUTH", "a", "b", "c"]), "-ERR syntax error\r\n");
        assert!(run(&shared, &mut c, &["HELLO", "2"]).starts_with("-NOAUTH HELLO must be called"));
        assert!(!c.authenticated);
        assert_eq!(run(&shared, &mut c, &["QUIT"]), "+OK\r\n");
        assert!(c.close_after_reply);
        let mut c = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut c, &["AUTH", "pw"]), "+OK\r\n");
        assert_eq!(run(&shared, &mut c, &["PING"]), "+PONG\r\n");
        let mut c = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut c, &["AUTH", "default", "pw"]), "+OK\r\n");
        assert!(c.authenticated);
    }

    #[test]
    fn hello_auth_authenticates_only_a_valid_request() {
        // HELLO 2 AUTH default pw authenticates; a wrong password, a bad option or a bad name
        // in the same request leaves the client unauthenticated (Redis checks options first).
        let shared = shared_with_password();
        let mut c = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut c, &["HELLO", "2", "AUTH", "default", "nope"]), WRONGPASS);
        let bad = run(&shared, &mut c, &["HELLO", "2", "AUTH", "default", "pw", "BOGUS"]);
        assert_eq!(bad, "-ERR Syntax error in HELLO option 'BOGUS'\r\n");
        let bad = run(&shared, &mut c, &["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "a b"]);
        assert_eq!(bad, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
        assert!(!c.authenticated);
        assert_eq!(run(&shared, &mut c, &["GET", "k"]), NOAUTH);
        let ok = run(&shared, &mut c, &["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "me"]);
        assert!(ok.starts_with("*14\r\n$6\r\nserver\r\n"), "{ok}");
        assert!(c.authenticated);
        assert_eq!(c.name.as_deref(), Some(&b"me"[..]));
        assert_eq!(run(&shared, &mut c, &["GET", "k"]), "$-1\r\n");
    }

    #[test]
    fn auth_without_a_configured_password() {
        // Redis's texts when no password is set: AUTH pw is an error, AUTH default x is fine.
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        assert!(c.authenticated);
        assert!(run(&shared, &mut c, &["AUTH", "x"]).starts_with("-ERR AUTH <password> called without any password"));
        assert_eq!(run(&shared, &mut c, &["AUTH", "default", "x"]), "+OK\r\n");
        assert_eq!(run(&shared, &mut c, &["AUTH", "bob", "x"]), WRONGPASS);
    }
}
