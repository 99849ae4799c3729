//! COMMAND and its subcommands (COUNT, LIST, INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP):
//! the command table described to clients in Redis 7.0's shapes. redis-cli builds its
//! `help` and inline hints from COMMAND DOCS; client libraries use COMMAND INFO for key
//! positions. Everything is derived from the table, the `DOCS` rows and [`super::meta`].

use super::meta::{self, Begin, FindKeys, KeySpec};
use super::syntax::{self, Arg, ArgType};
use super::{all_commands, eq_ignore_case, Command, Ctx, Doc, FLAG_NAMES, LOADING, STALE};
use crate::protocol::Argv;
use crate::reply::{self, Out};

pub const COMMANDS: &[Command] = &[Command {
    name: "command",
    arity: -1,
    flags: LOADING | STALE | super::SENTINEL,
    keys: (0, 0, 0),
    handler: command,
}];

pub const DOCS: &[Doc] = &[
    Doc {
        name: "command",
        group: "server",
        since: "2.8.13",
        summary: "Describe every command the server knows.",
        syntax: "",
    },
    Doc {
        name: "command|count",
        group: "server",
        since: "2.8.13",
        summary: "How many commands the server knows.",
        syntax: "",
    },
    Doc {
        name: "command|list",
        group: "server",
        since: "7.0.0",
        summary: "The names of the commands, optionally filtered.",
        syntax: "[FILTERBY filterby=<MODULE module-name | ACLCAT category | PATTERN pattern>]",
    },
    Doc {
        name: "command|info",
        group: "server",
        since: "2.8.13",
        summary: "Arity, flags, key positions and ACL categories of commands.",
        syntax: "[command-name [command-name ...]]",
    },
    Doc {
        name: "command|docs",
        group: "server",
        since: "7.0.0",
        summary: "Summary, version and argument tree of commands.",
        syntax: "[command-name [command-name ...]]",
    },
    Doc {
        name: "command|getkeys",
        group: "server",
        since: "2.8.13",
        summary: "The key arguments of a full command line.",
        syntax: "", // Redis 7.0 documents no arguments: `command arg [arg ...]`
    },
    Doc {
        name: "command|getkeysandflags",
        group: "server",
        since: "7.0.0",
        summary: "The key arguments of a full command line, with their access flags.",
        syntax: "", // Redis 7.0 documents no arguments: `command arg [arg ...]`
    },
    Doc { name: "command|help", group: "server", since: "5.0.0", summary: "List the COMMAND subcommands.", syntax: "" },
];

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// Every command, sorted by name (a stable order for replies).
fn sorted_commands() -> Vec<&'static Command> {
    let mut cmds: Vec<&Command> = all_commands().collect();
    cmds.sort_by_key(|c| c.name);
    cmds
}

/// COMMAND [subcommand [arg ...]]
fn command(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() == 1 {
        let cmds = sorted_commands();
        reply::array(ctx.out, cmds.len());
        for c in cmds {
            info_reply(ctx.out, c);
        }
        return;
    }
    let Some(sub) = super::subcommand(ctx, argv, "command") else { return };
    match sub {
        "count" => reply::integer(ctx.out, all_commands().count() as i64),
        "list" => list(ctx, argv),
        "info" => info(ctx, argv),
        "docs" => docs(ctx, argv),
        "getkeys" => getkeys(ctx, argv, false),
        "getkeysandflags" => getkeys(ctx, argv, true),
        _ => super::help_reply(ctx, HELP),
    }
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: commands and
/// subcommands (`config|get`), as Redis lists them.
fn list(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut all: Vec<(&str, Vec<&str>)> = sorted_commands().into_iter().map(|c| (c.name, categories(c))).collect();
    for d in super::all_docs().filter(|d| d.name.contains('|')) {
        all.push((d.name, meta::acl_categories(d.name, d.group, meta::subcommand_flags(d.name))));
    }
    let keep: Vec<&str> = match argv.len() {
        2 => all.into_iter().map(|e| e.0).collect(),
        5 if eq_ignore_case(argv.get(2), "filterby") => {
            let (kind, value) = (argv.get(3), argv.get(4));
            if eq_ignore_case(kind, "module") {
                Vec::new() // ringkv has no modules
            } else if eq_ignore_case(kind, "aclcat") {
                let cat = value.to_ascii_lowercase();
                let has = |cats: &Vec<&str>| cats.iter().any(|k| k.as_bytes()[1..] == cat[..]);
                all.into_iter().filter(|e| has(&e.1)).map(|e| e.0).collect()
            } else if eq_ignore_case(kind, "pattern") {
                all.into_iter().filter(|e| crate::glob::matches(value, e.0.as_bytes(), true)).map(|e| e.0).collect()
            } else {
                return ctx.error(super::ERR_SYNTAX);
            }
        }
        _ => return ctx.error(super::ERR_SYNTAX),
    };
    reply::array(ctx.out, keep.len());
    for name in keep {
        reply::bulk(ctx.out, name.as_bytes());
    }
}

/// COMMAND INFO [name ...]: one entry per name, null for unknown ones.
fn info(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() == 2 {
        let cmds = sorted_commands();
        reply::array(ctx.out, cmds.len());
        for c in cmds {
            info_reply(ctx.out, c);
        }
        return;
    }
    reply::array(ctx.out, argv.len() - 2);
    for name in argv.iter().skip(2) {
        match super::lookup(name) {
            Some(c) => info_reply(ctx.out, c),
            None => reply::null(ctx.out),
        }
    }
}

/// A container (CONFIG, CLIENT, OBJECT...): a command with subcommands. Redis gives it no
/// flags, keys or specs of its own (its subcommands have them); ringkv's row keeps the flags
/// it applies at run time before the subcommand is known, COMMAND INFO prints Redis's.
fn is_container(cmd: &Command) -> bool {
    meta::subcommand_docs(cmd.name).next().is_some()
}

fn categories(cmd: &Command) -> Vec<&'static str> {
    if is_container(cmd) {
        return meta::acl_categories(cmd.name, "", 0);
    }
    let group = meta::doc(cmd.name).map(|d| d.group).unwrap_or("server");
    meta::acl_categories(cmd.name, group, cmd.flags)
}

fn flag_set(out: &mut Out, flags: u32) {
    let names: Vec<&str> = FLAG_NAMES.iter().filter(|(f, _)| flags & f != 0).map(|(_, n)| *n).collect();
    names_set(out, &names);
}

fn names_set(out: &mut Out, names: &[&str]) {
    reply::set(out, names.len());
    for n in names {
        reply::simple(out, n.as_bytes());
    }
}

/// Redis's tips for `name`: a set of bulk strings.
fn tips_reply(out: &mut Out, name: &str) {
    let tips = meta::tips(name);
    reply::set(out, tips.len());
    for t in tips {
        reply::bulk(out, t.as_bytes());
    }
}

/// One command's 10-element COMMAND INFO entry.
fn info_reply(out: &mut Out, cmd: &Command) {
    let container = is_container(cmd);
    let specs = if container { Vec::new() } else { meta::key_specs(cmd) };
    reply::array(out, 10);
    reply::bulk(out, cmd.name.as_bytes());
    reply::integer(out, cmd.arity as i64);
    let movable = meta::NUMKEYS.iter().any(|n| n.name == cmd.name) || specs.iter().any(|s| s.begin == Begin::Unknown);
    let flags = if container {
        meta::CONTAINER_FLAGS.iter().find(|(n, _)| *n == cmd.name).map_or(0, |(_, f)| *f)
    } else {
        cmd.flags | if movable { super::MOVABLE_KEYS } else { 0 }
    };
    flag_set(out, flags);
    let keys = if container { (0, 0, 0) } else { cmd.keys };
    for k in [keys.0, keys.1, keys.2] {
        reply::integer(out, k as i64);
    }
    names_set(out, &categories(cmd));
    tips_reply(out, cmd.name);
    key_specs_reply(out, &specs);
    let subs: Vec<&Doc> = meta::subcommand_docs(cmd.name).collect();
    if subs.is_empty() {
        return reply::set(out, 0);
    }
    reply::array(out, subs.len());
    for d in subs {
        sub_info_reply(out, d);
    }
}

/// A subcommand's entry: arity from its syntax, flags from [`meta::SUBCOMMAND_FLAGS`], keys
/// from [`super::key_specs::KEY_SPECS`].
fn sub_info_reply(out: &mut Out, d: &Doc) {
    let flags = meta::subcommand_flags(d.name);
    let specs = meta::listed_specs(d.name).unwrap_or_default();
    reply::array(out, 10);
    reply::bulk(out, d.name.as_bytes());
    reply::integer(out, meta::subcommand_arity(d) as i64);
    flag_set(out, flags);
    let keys = meta::legacy_keys(specs);
    for k in [keys.0, keys.1, keys.2] {
        reply::integer(out, k as i64);
    }
    names_set(out, &meta::acl_categories(d.name, d.group, flags));
    tips_reply(out, d.name);
    key_specs_reply(out, specs);
    reply::set(out, 0); // subcommands
}

fn key_specs_reply(out: &mut Out, specs: &[KeySpec]) {
    reply::set(out, specs.len());
    for spec in specs {
        reply::map(out, 3 + usize::from(!spec.notes.is_empty()));
        if !spec.notes.is_empty() {
            reply::bulk(out, b"notes");
            reply::bulk(out, spec.notes.as_bytes());
        }
        reply::bulk(out, b"flags");
        names_set(out, spec.flags);
        reply::bulk(out, b"begin_search");
        reply::map(out, 2);
        reply::bulk(out, b"type");
        match spec.begin {
            Begin::Index(index) => {
                reply::bulk(out, b"index");
                reply::bulk(out, b"spec");
                reply::map(out, 1);
                reply::bulk(out, b"index");
                reply::integer(out, index as i64);
            }
            Begin::Unknown => {
                reply::bulk(out, b"unknown");
                reply::bulk(out, b"spec");
                reply::map(out, 0);
            }
        }
        reply::bulk(out, b"find_keys");
        reply::map(out, 2);
        reply::bulk(out, b"type");
        let fields: Vec<(&[u8], i32)> = match spec.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                reply::bulk(out, b"range");
                vec![(b"lastkey", lastkey), (b"keystep", keystep), (b"limit", limit)]
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                reply::bulk(out, b"keynum");
                vec![(b"keynumidx", keynumidx), (b"firstkey", firstkey), (b"keystep", keystep)]
            }
            FindKeys::Unknown => {
                reply::bulk(out, b"unknown");
                Vec::new()
            }
        };
        reply::bulk(out, b"spec");
        reply::map(out, fields.len());
        for (k, v) in fields {
            reply::bulk(out, k);
            reply::integer(out, v as i64);
        }
    }
}

/// COMMAND DOCS [name ...]: a map of name → doc map; unknown names are left out.
fn docs(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let found: Vec<&Command> =
        if argv.len() == 2 { sorted_commands() } else { argv.iter().skip(2).filter_map(super::lookup).collect() };
    let rows: Vec<&Doc> = found.iter().filter_map(|c| meta::doc(c.name)).collect();
    reply::map(ctx.out, rows.len());
    for d in rows {
        reply::bulk(ctx.out, d.name.as_bytes());
        doc_reply(ctx.out, d);
    }
}

fn doc_reply(out: &mut Out, d: &Doc) {
    let args = syntax::parse_doc(d).unwrap_or_default();
    let subs: Vec<&Doc> = if d.name.contains('|') { Vec::new() } else { meta::subcommand_docs(d.name).collect() };
    reply::map(out, 3 + usize::from(!args.is_empty()) + usize::from(!subs.is_empty()));
    for (k, v) in [("summary", d.summary), ("since", d.since), ("group", d.group)] {
        reply::bulk(out, k.as_bytes());
        reply::bulk(out, v.as_bytes());
    }
    if !args.is_empty() {
        reply::bulk(out, b"arguments");
        // Key arguments take the key specs in order (RENAME: key 0, newkey 1); the rest of
        // the keys belong to the last spec.
        let specs = match d.name.contains('|') {
            true => meta::listed_specs(d.name).map_or(0, <[KeySpec]>::len),
            false => super::lookup(d.name.as_bytes()).map_or(0, |c| meta::key_specs(c).len()),
        };
        args_reply(out, &args, &mut KeyIndex { next: 0, last: specs.saturating_sub(1) as i64 });
    }
    if !subs.is_empty() {
        reply::bulk(out, b"subcommands");
        reply::map(out, subs.len());
        for s in subs {
            reply::bulk(out, s.name.as_bytes());
            doc_reply(out, s);
        }
    }
}

/// The `key_spec_index` of the next key argument of COMMAND DOCS, at most `last`.
struct KeyIndex {
    next: i64,
    last: i64,
}

/// The argument list of COMMAND DOCS; key arguments are numbered by `key_index`.
fn args_reply(out: &mut Out, args: &[Arg], key_index: &mut KeyIndex) {
    reply::array(out, args.len());
    for a in args {
        let flags = a.flags();
        let nested = matches!(a.kind, ArgType::Oneof | ArgType::Block);
        let is_key = a.kind == ArgType::Key;
        let n = 2 + usize::from(is_key) + usize::from(a.token.is_some()) + usize::from(!flags.is_empty());
        reply::map(out, n + usize::from(nested));
        reply::bulk(out, b"name");
        reply::bulk(out, a.name.as_bytes());
        reply::bulk(out, b"type");
        reply::bulk(out, a.kind.name().as_bytes());
        if is_key {
            reply::bulk(out, b"key_spec_index");
            reply::integer(out, key_index.next.min(key_index.last));
            key_index.next += 1;
        }
        if let Some(t) = &a.token {
            reply::bulk(out, b"token");
            reply::bulk(out, t.as_bytes());
        }
        if !flags.is_empty() {
            reply::bulk(out, b"flags");
            reply::set(out, flags.len());
            for f in flags {
                reply::simple(out, f.as_bytes());
            }
        }
        if nested {
            reply::bulk(out, b"arguments");
            args_reply(out, &a.args, key_index);
        }
    }
}

/// COMMAND GETKEYS | GETKEYSANDFLAGS command [arg ...]: the keys as the key specs find
/// them (a container's from its subcommand's, as OBJECT ENCODING key).
fn getkeys(ctx: &mut Ctx<'_>, argv: Argv<'_>, with_flags: bool) {
    let Some(cmd) = super::lookup(argv.get(2)) else {
        return ctx.error("ERR Invalid command specified");
    };
    let argc = argv.len() - 2;
    let sub = (argc >= 2 && is_container(cmd)).then(|| {
        let name = format!("{}|{}", cmd.name, String::from_utf8_lossy(argv.get(3)).to_ascii_lowercase());
        meta::listed_specs(&name).unwrap_or_default().to_vec()
    });
    let specs = sub.unwrap_or_else(|| meta::key_specs(cmd));
    if !specs.iter().any(KeySpec::is_key) {
        return ctx.error("ERR The command has no key arguments");
    }
    if (cmd.arity > 0 && cmd.arity as usize != argc) || (argc as i32) < -cmd.arity {
        return ctx.error("ERR Invalid number of arguments specified for command");
    }
    let keys = meta::keys_of(&specs, argc, |i| super::parse_i64(argv.get(i + 2)));
    if keys.is_empty() {
        return ctx.error("ERR Invalid arguments specified for command");
    }
    reply::array(ctx.out, keys.len());
    for (pos, flags) in keys {
        let key = argv.get(pos + 2);
        if !with_flags {
            reply::bulk(ctx.out, key);
            continue;
        }
        reply::array(ctx.out, 2);
        reply::bulk(ctx.out, key);
        reply::set(ctx.out, flags.len());
        for f in flags {
            reply::simple(ctx.out, f.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, run_for_test_in, ClientState};
    use crate::config::Config;
    use crate::reply::Proto;
    use crate::shared::Shared;

    fn run(args: &[&str]) -> String {
        run_in(Proto::Resp2, args)
    }

    fn run_in(proto: Proto, args: &[&str]) -> String {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(run_for_test_in(&shared, &mut c, proto, &args)).unwrap()
    }

    #[test]
    fn info_get_matches_redis_7_0_bytes() {
        // Captured from redis-server 7.0.15: COMMAND INFO get, RESP2 and RESP3.
        let want2 = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
        assert_eq!(run(&["COMMAND", "INFO", "get"]), want2);
        let want3 = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n";
        assert_eq!(run_in(Proto::Resp3, &["COMMAND", "INFO", "get"]), want3);
        // An unknown name is a null (`addReplyNull`): `$-1` in RESP2, `_` in RESP3.
        assert_eq!(run(&["COMMAND", "INFO", "nope"]), "*1\r\n$-1\r\n");
        assert_eq!(run_in(Proto::Resp3, &["COMMAND", "INFO", "nope"]), "*1\r\n_\r\n");
    }

    #[test]
    fn info_sort_has_redis_key_specs_with_notes_and_unknown_positions() {
        // Captured from redis-server 7.0.15 (HELLO 3, COMMAND INFO sort).
        let want = "*1\r\n*10\r\n$4\r\nsort\r\n:-2\r\n~3\r\n+write\r\n+denyoom\r\n+movablekeys\r\n:1\r\n:1\r\n:1\r\n~6\r\n+@write\r\n+@set\r\n+@sortedset\r\n+@list\r\n+@slow\r\n+@dangerous\r\n~0\r\n~3\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n%4\r\n$5\r\nnotes\r\n$120\r\nFor the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$7\r\nunknown\r\n$4\r\nspec\r\n%0\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$7\r\nunknown\r\n$4\r\nspec\r\n%0\r\n%4\r\n$5\r\nnotes\r\n$116\r\nFor the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array\r\n$5\r\nflags\r\n~2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$7\r\nunknown\r\n$4\r\nspec\r\n%0\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$7\r\nunknown\r\n$4\r\nspec\r\n%0\r\n~0\r\n";
        assert_eq!(run_in(Proto::Resp3, &["COMMAND", "INFO", "sort"]), want);
    }

    #[test]
    fn getkeys_follows_specs_of_subcommands_and_skips_not_keys() {
        // As redis-server 7.0.15: OBJECT's key is found through OBJECT ENCODING's spec; a
        // shard channel is not a key; RENAME's two specs.
        assert_eq!(run(&["COMMAND", "GETKEYS", "object", "encoding", "foo"]), "*1\r\n$3\r\nfoo\r\n");
        assert_eq!(run(&["COMMAND", "GETKEYS", "ssubscribe", "a", "b"]), "-ERR The command has no key arguments\r\n");
        assert_eq!(
            run(&["COMMAND", "GETKEYSANDFLAGS", "rename", "a", "b"]),
            "*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n+OW\r\n+update\r\n"
        );
    }

    #[test]
    fn info_config_lists_subcommands() {
        // Redis 7.0: config|get is `-3`, flags admin noscript loading stale, categories
        // @admin @slow @dangerous; the container has no flags and only @slow.
        let got = run(&["COMMAND", "INFO", "config"]);
        assert!(
            got.starts_with(
                "*1\r\n*10\r\n$6\r\nconfig\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*"
            ),
            "{got}"
        );
        let get = "*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n";
        assert!(got.contains(get), "{got}");
        assert!(got.contains("$10\r\nconfig|set\r\n:-4\r\n"), "{got}");
    }

    #[test]
    fn docs_mset_has_redis_structure() {
        // Redis 7.0's COMMAND DOCS mset (RESP3) with its summary replaced by ours and its
        // `complexity` field (ringkv keeps none) left out.
        let got = run_in(Proto::Resp3, &["COMMAND", "DOCS", "mset"]);
        let summary = crate::cmd::meta::doc("mset").unwrap().summary;
        let want = format!("%1\r\n$4\r\nmset\r\n%4\r\n$7\r\nsummary\r\n${}\r\n{summary}\r\n$5\r\nsince\r\n$5\r\n1.0.1\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$9\r\narguments\r\n*1\r\n%4\r\n$4\r\nname\r\n$9\r\nkey_value\r\n$4\r\ntype\r\n$5\r\nblock\r\n$5\r\nflags\r\n~1\r\n+multiple\r\n$9\r\narguments\r\n*2\r\n%3\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n%2\r\n$4\r\nname\r\n$5\r\nvalue\r\n$4\r\ntype\r\n$6\r\nstring\r\n", summary.len());
        assert_eq!(got, want);
        assert_eq!(run(&["COMMAND", "DOCS", "nope"]), "*0\r\n");
    }

    #[test]
    fn docs_of_a_container_nest_its_subcommands() {
        let got = run(&["COMMAND", "DOCS", "slowlog"]);
        assert!(got.contains("$11\r\nsubcommands\r\n*8\r\n$11\r\nslowlog|get\r\n"), "{got}");
        assert!(
            got.contains(
                "$4\r\nname\r\n$5\r\ncount\r\n$4\r\ntype\r\n$7\r\ninteger\r\n$5\r\nflags\r\n*1\r\n+optional\r\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn getkeys_and_errors() {
        assert_eq!(run(&["COMMAND", "GETKEYS", "set", "a", "b"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(run(&["COMMAND", "GETKEYS", "mset", "a", "b", "c", "d"]), "*2\r\n$1\r\na\r\n$1\r\nc\r\n");
        assert_eq!(
            run(&["COMMAND", "GETKEYSANDFLAGS", "mset", "a", "b"]),
            "*1\r\n*2\r\n$1\r\na\r\n*2\r\n+OW\r\n+update\r\n"
        );
        assert_eq!(run(&["COMMAND", "GETKEYS", "foo", "x"]), "-ERR Invalid command specified\r\n");
        assert_eq!(run(&["COMMAND", "GETKEYS", "ping", "x"]), "-ERR The command has no key arguments\r\n");
        assert_eq!(
            run(&["COMMAND", "GETKEYS", "get", "a", "b"]),
            "-ERR Invalid number of arguments specified for command\r\n"
        );
        assert_eq!(
            run(&["COMMAND", "GETKEYS", "get"]),
            "-ERR wrong number of arguments for 'command|getkeys' command\r\n"
        );
    }

    #[test]
    fn count_list_help_and_errors() {
        let shared = Shared::new(Config::defaults());
        let mut c = ClientState::new(&shared);
        let n = crate::cmd::all_commands().count();
        assert_eq!(run_for_test(&shared, &mut c, &[b"COMMAND", b"COUNT"]), format!(":{n}\r\n").into_bytes());
        assert_eq!(run(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "getr*"]), "*1\r\n$8\r\ngetrange\r\n");
        assert_eq!(run(&["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]), "*0\r\n");
        let admin = run(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "ADMIN"]);
        assert!(admin.contains("$8\r\nshutdown\r\n") && !admin.contains("$3\r\nget\r\n"), "{admin}");
        assert_eq!(run(&["COMMAND", "LIST", "FILTERBY", "PATTERN"]), "-ERR syntax error\r\n");
        assert_eq!(run(&["COMMAND", "LIST", "FOO", "a", "b"]), "-ERR syntax error\r\n");
        assert_eq!(run(&["COMMAND", "nope"]), "-ERR unknown subcommand 'nope'. Try COMMAND HELP.\r\n");
        assert_eq!(run(&["COMMAND", "COUNT", "x"]), "-ERR wrong number of arguments for 'command|count' command\r\n");
        assert!(run(&["COMMAND", "HELP"])
            .starts_with("*21\r\n+COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
    }
}
