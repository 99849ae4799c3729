//! What COMMAND INFO / DOCS / GETKEYS derive from the command table: ACL categories (from
//! the group and the flags, as Redis's `setImplicitACLCategories`), key specs (from the
//! `keys: (first, last, step)` triple, or from [`NUMKEYS`] for commands whose key count is
//! an argument), the flags of subcommands ([`SUBCOMMAND_FLAGS`]), and the keys of a given
//! call. Kept beside the table rather than in it, so families add rows without new fields.

use super::{Command, Doc, ADMIN, BLOCKING, FAST, LOADING, NOSCRIPT, PUBSUB, READONLY, STALE, WRITE};

/// Redis's ACL categories, in the order COMMAND INFO prints them.
const CATEGORY_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// Commands Redis puts in `@dangerous` although they are not `admin`.
const DANGEROUS: &[&str] = &[
    "keys",
    "flushdb",
    "flushall",
    "info",
    "sort",
    "sort_ro",
    "migrate",
    "restore",
    "restore-asking",
    "swapdb",
    "role",
    "lastsave",
    "client",
    "debug",
    "monitor",
    "cluster",
    "replconf",
    "pfselftest",
    "pfdebug",
];

/// Commands of the `server` group Redis puts in `@keyspace` (the `generic` group is in it
/// already): the ones that act on whole databases.
const KEYSPACE: &[&str] = &["dbsize", "flushdb", "flushall", "swapdb"];

/// Flags of subcommands (`"parent|sub"`): the command table has one row per command, so the
/// subcommands' own flags live here. A subcommand not listed has none.
pub const SUBCOMMAND_FLAGS: &[(&str, u32)] = &[
    ("command|count", LOADING | STALE),
    ("command|list", LOADING | STALE),
    ("command|info", LOADING | STALE),
    ("command|docs", LOADING | STALE),
    ("command|getkeys", LOADING | STALE),
    ("command|getkeysandflags", LOADING | STALE),
    ("command|help", LOADING | STALE),
    ("config|get", ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|set", ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|resetstat", ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|rewrite", ADMIN | NOSCRIPT | LOADING | STALE),
    ("config|help", LOADING | STALE),
    ("slowlog|get", ADMIN | LOADING | STALE),
    ("slowlog|len", ADMIN | LOADING | STALE),
    ("slowlog|reset", ADMIN | LOADING | STALE),
    ("slowlog|help", LOADING | STALE),
    ("client|setname", NOSCRIPT | LOADING | STALE),
    ("client|getname", NOSCRIPT | LOADING | STALE),
    ("client|id", NOSCRIPT | LOADING | STALE),
    ("client|info", NOSCRIPT | LOADING | STALE),
    ("client|setinfo", NOSCRIPT | LOADING | STALE),
    ("client|list", ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|latest", ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|history", ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|reset", ADMIN | NOSCRIPT | LOADING | STALE),
    ("latency|help", LOADING | STALE),
    ("latency|doctor", ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|unblock", ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|help", LOADING | STALE),
    ("client|pause", ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|unpause", ADMIN | NOSCRIPT | LOADING | STALE),
    ("client|reply", NOSCRIPT | LOADING | STALE),
    ("client|no-evict", ADMIN | NOSCRIPT | LOADING | STALE),
    ("object|encoding", READONLY),
    ("object|refcount", READONLY),
    ("object|idletime", READONLY),
    ("object|freq", READONLY),
    ("object|help", LOADING | STALE),
    ("client|kill", ADMIN | NOSCRIPT | LOADING | STALE),
    ("pubsub|channels", PUBSUB | LOADING | STALE),
    ("pubsub|numpat", PUBSUB | LOADING | STALE),
    ("pubsub|numsub", PUBSUB | LOADING | STALE),
    ("pubsub|shardchannels", PUBSUB | LOADING | STALE),
    ("pubsub|shardnumsub", PUBSUB | LOADING | STALE),
    ("pubsub|help", LOADING | STALE),
    ("memory|usage", READONLY),
    ("memory|stats", 0),
    ("memory|purge", 0),
    ("memory|malloc-stats", 0),
    ("memory|doctor", 0),
    ("memory|help", LOADING | STALE),
];

/// How to find the keys of a command whose key count is an argument (`numkeys`): the key
/// specs as Redis's `begin_search index` + `find_keys keynum` (index of the numkeys argument
/// counted from `begin`, first key after it, step), plus any fixed key before them (e.g.
/// the destination of ZUNIONSTORE). Commands not listed use the `keys` triple.
pub struct NumKeys {
    pub name: &'static str,
    /// Position of a fixed key before the counted ones (0 = none).
    pub fixed_key: i32,
    /// Where the search begins (the numkeys argument's position).
    pub begin: i32,
    pub keynumidx: i32,
    pub firstkey: i32,
    pub step: i32,
}

pub const NUMKEYS: &[NumKeys] = &[
    NumKeys { name: "eval", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "evalsha", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "eval_ro", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "evalsha_ro", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "fcall", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "fcall_ro", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zunion", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zinter", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zdiff", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zintercard", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "sintercard", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "lmpop", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zmpop", fixed_key: 0, begin: 1, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "blmpop", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "bzmpop", fixed_key: 0, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zunionstore", fixed_key: 1, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zinterstore", fixed_key: 1, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
    NumKeys { name: "zdiffstore", fixed_key: 1, begin: 2, keynumidx: 0, firstkey: 1, step: 1 },
];

/// Key-spec flags Redis gives some commands that the read/write default gets wrong.
const KEY_SPEC_FLAGS: &[(&str, &[&str])] = &[
    ("del", &["RM", "delete"]),
    ("unlink", &["RM", "delete"]),
    ("getdel", &["RW", "access", "delete"]),
    ("mset", &["OW", "update"]),
    ("msetnx", &["OW", "insert"]),
    ("set", &["RW", "access", "update", "variable_flags"]),
    ("setex", &["OW", "update"]),
    ("psetex", &["OW", "update"]),
    ("setnx", &["OW", "insert"]),
    ("touch", &["RO"]),
    ("exists", &["RO"]),
    ("type", &["RO"]),
    ("ttl", &["RO", "access"]),
    ("pfadd", &["RW", "insert"]),
    ("pfcount", &["RW", "access"]),
    ("pfdebug", &["RW", "access"]),
];

/// Commands whose first key is written and whose other keys (to the last argument) are only
/// read, with the flags of each part: Redis gives them two key specs.
const DEST_THEN_SOURCES: &[(&str, &[&str], &[&str])] = &[("pfmerge", &["RW", "access", "insert"], &["RO", "access"])];

/// One key spec, as COMMAND INFO prints it.
pub struct KeySpec {
    pub flags: &'static [&'static str],
    /// `begin_search index`.
    pub begin_index: i32,
    pub find: FindKeys,
}

pub enum FindKeys {
    Range { lastkey: i32, keystep: i32, limit: i32 },
    Keynum { keynumidx: i32, firstkey: i32, keystep: i32 },
}

/// The flags of `name` (a command row's, or a subcommand's from [`SUBCOMMAND_FLAGS`]).
pub fn subcommand_flags(name: &str) -> u32 {
    SUBCOMMAND_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap_or(0)
}

/// The ACL categories of a command: its group's category plus those implied by its flags.
pub fn acl_categories(name: &str, group: &str, flags: u32) -> Vec<&'static str> {
    let mut cats: Vec<&'static str> = Vec::new();
    let by_group = match group {
        "generic" => Some("@keyspace"),
        "string" => Some("@string"),
        "list" => Some("@list"),
        "hash" => Some("@hash"),
        "set" => Some("@set"),
        "sorted-set" => Some("@sortedset"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "geo" => Some("@geo"),
        "stream" => Some("@stream"),
        "pubsub" => Some("@pubsub"),
        "connection" => Some("@connection"),
        "transactions" => Some("@transaction"),
        "scripting" => Some("@scripting"),
        _ => None,
    };
    cats.extend(by_group);
    if KEYSPACE.contains(&name) {
        cats.push("@keyspace");
    }
    let implied = [
        (WRITE, "@write"),
        (READONLY, "@read"),
        (ADMIN, "@admin"),
        (ADMIN, "@dangerous"),
        (PUBSUB, "@pubsub"),
        (FAST, "@fast"),
        (BLOCKING, "@blocking"),
    ];
    cats.extend(implied.iter().filter(|(f, _)| flags & f != 0).map(|(_, c)| *c));
    if flags & FAST == 0 {
        cats.push("@slow");
    }
    if DANGEROUS.contains(&name) {
        cats.push("@dangerous");
    }
    let mut ordered: Vec<&'static str> = CATEGORY_ORDER.iter().copied().filter(|c| cats.contains(c)).collect();
    ordered.dedup();
    ordered
}

/// The key specs of a command.
pub fn key_specs(cmd: &Command) -> Vec<KeySpec> {
    let flags = KEY_SPEC_FLAGS
        .iter()
        .find(|(n, _)| *n == cmd.name)
        .map(|(_, f)| *f)
        .unwrap_or(if cmd.flags & WRITE != 0 { &["RW", "access", "update"] } else { &["RO", "access"] });
    if let Some(nk) = NUMKEYS.iter().find(|n| n.name == cmd.name) {
        let mut specs = Vec::new();
        if nk.fixed_key > 0 {
            let find = FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 };
            specs.push(KeySpec { flags: &["OW", "update"], begin_index: nk.fixed_key, find });
        }
        let find = FindKeys::Keynum { keynumidx: nk.keynumidx, firstkey: nk.firstkey, keystep: nk.step };
        specs.push(KeySpec { flags: &["RO", "access"], begin_index: nk.begin, find });
        return specs;
    }
    let (first, last, step) = cmd.keys;
    if first <= 0 {
        return Vec::new();
    }
    if let Some((_, dest, sources)) = DEST_THEN_SOURCES.iter().find(|(n, _, _)| *n == cmd.name) {
        let one = FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 };
        let rest = FindKeys::Range { lastkey: last, keystep: step, limit: 0 };
        return vec![
            KeySpec { flags: dest, begin_index: first, find: one },
            KeySpec { flags: sources, begin_index: first + 1, find: rest },
        ];
    }
    let lastkey = if last < 0 { last } else { last - first };
    vec![KeySpec { flags, begin_index: first, find: FindKeys::Range { lastkey, keystep: step, limit: 0 } }]
}

/// The positions of the keys in a call `args` (`args[0]` is the command name), with the flags
/// of the spec that found each; out-of-range specs yield no keys.
pub fn keys_of(
    cmd: &Command,
    argc: usize,
    numkeys_arg: impl Fn(usize) -> Option<i64>,
) -> Vec<(usize, &'static [&'static str])> {
    let mut out = Vec::new();
    let argc = argc as i64;
    for spec in key_specs(cmd) {
        let begin = spec.begin_index as i64;
        if begin >= argc {
            continue;
        }
        let (first, last, step) = match spec.find {
            FindKeys::Range { lastkey, keystep, .. } => {
                let last = if lastkey < 0 { argc + lastkey as i64 } else { begin + lastkey as i64 };
                (begin, last.min(argc - 1), keystep.max(1) as i64)
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                let Some(n) = numkeys_arg((begin + keynumidx as i64) as usize) else { continue };
                let first = begin + firstkey as i64;
                let n = n.clamp(0, argc);
                (first, (first + (n - 1) * keystep as i64).min(argc - 1), keystep.max(1) as i64)
            }
        };
        let mut i = first;
        while i <= last {
            out.push((i as usize, spec.flags));
            i += step;
        }
    }
    out
}

/// The Doc row of `name` (`"get"`, `"config|set"`).
pub fn doc(name: &str) -> Option<&'static Doc> {
    super::all_docs().find(|d| d.name == name)
}

/// The subcommand rows of `parent`, in table order.
pub fn subcommand_docs(parent: &str) -> impl Iterator<Item = &'static Doc> + '_ {
    super::all_docs().filter(move |d| d.name.split_once('|').is_some_and(|(p, _)| p == parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_redis() {
        assert_eq!(acl_categories("get", "string", READONLY | FAST), ["@read", "@string", "@fast"]);
        assert_eq!(acl_categories("set", "string", WRITE), ["@write", "@string", "@slow"]);
        assert_eq!(acl_categories("config|get", "server", ADMIN), ["@admin", "@slow", "@dangerous"]);
        assert_eq!(acl_categories("keys", "generic", READONLY), ["@keyspace", "@read", "@slow", "@dangerous"]);
        assert_eq!(acl_categories("swapdb", "server", WRITE | FAST), ["@keyspace", "@write", "@fast", "@dangerous"]);
        assert_eq!(acl_categories("config", "server", 0), ["@slow"]);
    }

    #[test]
    fn keys_from_triple_and_numkeys() {
        let mset = super::super::lookup(b"mset").unwrap();
        let keys: Vec<usize> = keys_of(mset, 5, |_| None).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, [1, 3]);
        let fake = Command { name: "zunionstore", arity: -4, flags: WRITE, keys: (1, 1, 1), handler: |_, _| {} };
        let keys: Vec<usize> = keys_of(&fake, 6, |i| (i == 2).then_some(3)).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, [1, 3, 4, 5]);
        let huge: Vec<usize> = keys_of(&fake, 4, |_| Some(i64::MAX)).into_iter().map(|k| k.0).collect();
        assert_eq!(huge, [1, 3], "a numkeys past the end is clamped");
    }
}
