//! What COMMAND INFO / DOCS / GETKEYS derive from the command table: ACL categories (from
//! the group and the flags, as Redis's `setImplicitACLCategories`, plus [`EXTRA_CATEGORIES`]),
//! key specs (from the `keys: (first, last, step)` triple, or from [`NUMKEYS`] for commands
//! whose key count is an argument, unless [`super::key_specs`] lists them), the flags of
//! subcommands ([`SUBCOMMAND_FLAGS`]), Redis's tips ([`TIPS`]), and the keys of a given call.
//! Kept beside the table rather than in it, so families add rows without new fields.

pub use super::key_specs::{Begin, FindKeys, KeySpec};
use super::key_specs::{KEY_SPECS, KEY_SPEC_FLAGS};
use super::{
    Command, Doc, ADMIN, ALLOW_BUSY, BLOCKING, DENYOOM, FAST, LOADING, NOSCRIPT, PUBSUB, READONLY, STALE, WRITE,
};

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
    "debug",
    "monitor",
    "cluster",
    "replconf",
    "pfselftest",
    "pfdebug",
];

/// Categories Redis gives a command besides its group's and those its flags imply (the
/// `acl_categories` of its JSON file); COMMAND's subcommands are all `@connection` too.
const EXTRA_CATEGORIES: &[(&str, &[&str])] = &[
    ("command", &["@connection"]),
    ("lastsave", &["@admin"]),
    ("role", &["@admin"]),
    ("sort", &["@set", "@sortedset", "@list"]),
    ("sort_ro", &["@set", "@sortedset", "@list"]),
];

/// Commands of the `generic` group Redis does not put in `@keyspace` (they act on values).
const NOT_KEYSPACE: &[&str] = &["sort", "sort_ro"];

/// Redis's command tips (`request_policy`, `response_policy`, `nondeterministic_output`...),
/// in its order. Cluster clients read them; ringkv has no cluster, so they are for show.
pub const TIPS: &[(&str, &[&str])] = &[
    ("client|info", &["nondeterministic_output"]),
    ("client|list", &["nondeterministic_output"]),
    ("command", &["nondeterministic_output_order"]),
    ("command|docs", &["nondeterministic_output_order"]),
    ("command|info", &["nondeterministic_output_order"]),
    ("command|list", &["nondeterministic_output_order"]),
    ("config|set", &["request_policy:all_nodes", "response_policy:all_succeeded"]),
    ("dbsize", &["request_policy:all_shards", "response_policy:agg_sum"]),
    ("del", &["request_policy:multi_shard", "response_policy:agg_sum"]),
    ("dump", &["nondeterministic_output"]),
    ("exists", &["request_policy:multi_shard", "response_policy:agg_sum"]),
    ("flushall", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("flushdb", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("function|delete", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("function|flush", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("function|kill", &["request_policy:all_shards", "response_policy:one_succeeded"]),
    ("function|list", &["nondeterministic_output_order"]),
    ("function|load", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("function|restore", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("function|stats", &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    ("hgetall", &["nondeterministic_output_order"]),
    ("hkeys", &["nondeterministic_output_order"]),
    ("hrandfield", &["nondeterministic_output"]),
    ("hscan", &["nondeterministic_output"]),
    ("hvals", &["nondeterministic_output_order"]),
    ("info", &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    ("keys", &["request_policy:all_shards", "nondeterministic_output_order"]),
    ("lastsave", &["nondeterministic_output"]),
    ("latency|doctor", &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"]),
    ("latency|history", &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"]),
    ("latency|latest", &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"]),
    ("latency|reset", &["request_policy:all_nodes", "response_policy:all_succeeded"]),
    ("memory|doctor", &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    ("memory|malloc-stats", &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    ("memory|purge", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("memory|stats", &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    ("mget", &["request_policy:multi_shard"]),
    ("mset", &["request_policy:multi_shard", "response_policy:all_succeeded"]),
    ("msetnx", &["request_policy:multi_shard", "response_policy:agg_min"]),
    ("object|encoding", &["nondeterministic_output"]),
    ("object|freq", &["nondeterministic_output"]),
    ("object|idletime", &["nondeterministic_output"]),
    ("object|refcount", &["nondeterministic_output"]),
    ("ping", &["request_policy:all_shards", "response_policy:all_succeeded"]),
    ("pttl", &["nondeterministic_output"]),
    ("randomkey", &["request_policy:all_shards", "nondeterministic_output"]),
    ("scan", &["nondeterministic_output", "request_policy:special"]),
    ("script|exists", &["request_policy:all_shards", "response_policy:agg_logical_and"]),
    ("script|flush", &["request_policy:all_nodes", "response_policy:all_succeeded"]),
    ("script|kill", &["request_policy:all_shards", "response_policy:one_succeeded"]),
    ("script|load", &["request_policy:all_nodes", "response_policy:all_succeeded"]),
    ("sdiff", &["nondeterministic_output_order"]),
    ("sinter", &["nondeterministic_output_order"]),
    ("slowlog|get", &["request_policy:all_nodes", "nondeterministic_output"]),
    ("slowlog|len", &["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"]),
    ("slowlog|reset", &["request_policy:all_nodes", "response_policy:all_succeeded"]),
    ("smembers", &["nondeterministic_output_order"]),
    ("spop", &["nondeterministic_output"]),
    ("srandmember", &["nondeterministic_output"]),
    ("sscan", &["nondeterministic_output"]),
    ("sunion", &["nondeterministic_output_order"]),
    ("time", &["nondeterministic_output"]),
    ("touch", &["request_policy:multi_shard", "response_policy:agg_sum"]),
    ("ttl", &["nondeterministic_output"]),
    ("unlink", &["request_policy:multi_shard", "response_policy:agg_sum"]),
    ("zrandmember", &["nondeterministic_output"]),
    ("zscan", &["nondeterministic_output"]),
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
    ("function|delete", WRITE | NOSCRIPT),
    ("function|dump", NOSCRIPT),
    ("function|flush", WRITE | NOSCRIPT),
    ("function|help", LOADING | STALE),
    ("function|kill", NOSCRIPT | ALLOW_BUSY),
    ("function|list", NOSCRIPT),
    ("function|load", WRITE | DENYOOM | NOSCRIPT),
    ("function|restore", WRITE | DENYOOM | NOSCRIPT),
    ("function|stats", NOSCRIPT | ALLOW_BUSY),
    ("script|exists", NOSCRIPT),
    ("script|flush", NOSCRIPT),
    ("script|help", LOADING | STALE),
    ("script|kill", NOSCRIPT | ALLOW_BUSY),
    ("script|load", NOSCRIPT | STALE),
];

/// The flags COMMAND INFO prints for a container (a command with subcommands): Redis gives
/// most none (their subcommands carry them); one not listed prints none.
pub const CONTAINER_FLAGS: &[(&str, u32)] = &[("command", LOADING | STALE)];

/// Arities of subcommands whose syntax row cannot give Redis's: CLIENT KILL's old form
/// `ip:port` and its filters are alternatives, yet one of them is required; COMMAND GETKEYS
/// documents no arguments in Redis 7.0 (so its row has none) but needs a command and one.
pub const SUBCOMMAND_ARITY: &[(&str, i32)] =
    &[("client|kill", -3), ("command|getkeys", -4), ("command|getkeysandflags", -4)];

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

/// A subcommand's arity (checked before it runs, printed by COMMAND INFO): from its syntax,
/// or [`SUBCOMMAND_ARITY`] where the syntax's optional arguments hide Redis's minimum.
pub fn subcommand_arity(d: &Doc) -> i32 {
    if let Some((_, a)) = SUBCOMMAND_ARITY.iter().find(|(n, _)| *n == d.name) {
        return *a;
    }
    super::syntax::parse_doc(d).map(|args| super::syntax::arity(2, &args)).unwrap_or(-2)
}

/// The flags of `name` (a command row's, or a subcommand's from [`SUBCOMMAND_FLAGS`]).
pub fn subcommand_flags(name: &str) -> u32 {
    SUBCOMMAND_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap_or(0)
}

/// The ACL categories of a command: its group's category plus those implied by its flags
/// and [`EXTRA_CATEGORIES`]. A container (CONFIG, CLIENT...) passes no group and no flags:
/// Redis gives it only what its JSON lists, its subcommands carry the rest.
pub fn acl_categories(name: &str, group: &str, flags: u32) -> Vec<&'static str> {
    let mut cats: Vec<&'static str> = Vec::new();
    let by_group = match group {
        "generic" if !NOT_KEYSPACE.contains(&name) => Some("@keyspace"),
        "string" => Some("@string"),
        "list" => Some("@list"),
        "hash" => Some("@hash"),
        "set" => Some("@set"),
        "sorted-set" => Some("@sortedset"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "geo" => Some("@geo"),
        "stream" => Some("@stream"),
        "connection" => Some("@connection"),
        "transactions" => Some("@transaction"),
        "scripting" => Some("@scripting"),
        // `pubsub`: from the `pubsub` flag only (PUBSUB HELP has none, so no @pubsub).
        _ => None,
    };
    cats.extend(by_group);
    if KEYSPACE.contains(&name) {
        cats.push("@keyspace");
    }
    let parent = name.split('|').next().unwrap_or(name);
    let extra = EXTRA_CATEGORIES.iter().find(|(n, _)| *n == name || (*n == "command" && parent == "command"));
    cats.extend(extra.map(|(_, c)| *c).unwrap_or_default());
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
    if group == "scripting" {
        // Redis keeps scripts out of @read even when read-only (EVAL_RO, FCALL_RO).
        cats.retain(|c| *c != "@read");
    }
    let mut ordered: Vec<&'static str> = CATEGORY_ORDER.iter().copied().filter(|c| cats.contains(c)).collect();
    ordered.dedup();
    ordered
}

/// Redis's tips for `name` (a command or `"parent|sub"`).
pub fn tips(name: &str) -> &'static [&'static str] {
    TIPS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap_or_default()
}

/// The key specs [`super::key_specs::KEY_SPECS`] lists for `name` (subcommands included).
pub fn listed_specs(name: &str) -> Option<&'static [KeySpec]> {
    KEY_SPECS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The key specs of a command.
pub fn key_specs(cmd: &Command) -> Vec<KeySpec> {
    if let Some(specs) = listed_specs(cmd.name) {
        return specs.to_vec();
    }
    let flags = KEY_SPEC_FLAGS
        .iter()
        .find(|(n, _)| *n == cmd.name)
        .map(|(_, f)| *f)
        .unwrap_or(if cmd.flags & WRITE != 0 { &["RW", "access", "update"] } else { &["RO", "access"] });
    if let Some(nk) = NUMKEYS.iter().find(|n| n.name == cmd.name) {
        let mut specs = Vec::new();
        if nk.fixed_key > 0 {
            specs.push(super::key_specs::range(&["OW", "update"], nk.fixed_key, 0, 1, 0));
        }
        specs.push(super::key_specs::keynum(&["RO", "access"], nk.begin, nk.keynumidx, nk.firstkey, nk.step));
        return specs;
    }
    let (first, last, step) = cmd.keys;
    if first <= 0 {
        return Vec::new();
    }
    let lastkey = if last < 0 { last } else { last - first };
    vec![super::key_specs::range(flags, first, lastkey, step, 0)]
}

/// The `(first, last, step)` COMMAND INFO prints for a subcommand: from its first range spec
/// (OBJECT ENCODING, MEMORY USAGE: `2, 2, 1`), `(0, 0, 0)` without one.
pub fn legacy_keys(specs: &[KeySpec]) -> (i32, i32, i32) {
    for spec in specs {
        if let (Begin::Index(i), FindKeys::Range { lastkey, keystep, .. }) = (spec.begin, spec.find) {
            return (i, if lastkey < 0 { lastkey } else { i + lastkey }, keystep);
        }
    }
    (0, 0, 0)
}

/// The positions of the keys in a call `args` (`args[0]` is the command name), with the flags
/// of the spec that found each; out-of-range specs, `unknown` ones and `not_key` ones yield
/// no keys.
pub fn keys_of(
    specs: &[KeySpec],
    argc: usize,
    numkeys_arg: impl Fn(usize) -> Option<i64>,
) -> Vec<(usize, &'static [&'static str])> {
    let mut out = Vec::new();
    let argc = argc as i64;
    for spec in specs.iter().filter(|s| s.is_key()) {
        let Begin::Index(begin) = spec.begin else { continue };
        let begin = begin as i64;
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
            FindKeys::Unknown => continue,
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
        let keys: Vec<usize> = keys_of(&key_specs(mset), 5, |_| None).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, [1, 3]);
        let fake = Command { name: "zunionstore", arity: -4, flags: WRITE, keys: (1, 1, 1), handler: |_, _| {} };
        let keys: Vec<usize> =
            keys_of(&key_specs(&fake), 6, |i| (i == 2).then_some(3)).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, [1, 3, 4, 5]);
        let huge: Vec<usize> = keys_of(&key_specs(&fake), 4, |_| Some(i64::MAX)).into_iter().map(|k| k.0).collect();
        assert_eq!(huge, [1, 3], "a numkeys past the end is clamped");
    }
}
