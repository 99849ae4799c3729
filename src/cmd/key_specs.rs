//! Redis 7.0's key specs where ringkv's default is not enough. By default a command has one
//! spec from its `keys: (first, last, step)` triple (or [`super::meta::NUMKEYS`]) flagged
//! `RW access update` when it writes, `RO access` otherwise; [`KEY_SPEC_FLAGS`] gives that one
//! spec other flags, [`KEY_SPECS`] replaces it outright (several specs, notes, `unknown`
//! positions, subcommands). COMMAND INFO prints these and COMMAND GETKEYS(ANDFLAGS) follows
//! them. Copied from `COMMAND INFO` of redis-server 7.0.15 (`scripts/command-info-diff` shows
//! any difference; `tests/command_info.rs` fails on one). Kept out of the family files: one
//! concern, and families add rows without new fields.

/// Where the search for keys begins (Redis's `begin_search`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// Known only to the command (SORT's STORE may come anywhere).
    Unknown,
}

/// How keys are found from where the search begins (Redis's `find_keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` relative to the beginning (negative: from the end), every `keystep`-th.
    Range { lastkey: i32, keystep: i32, limit: i32 },
    /// The key count is argument `keynumidx` (from the beginning), keys from `firstkey`.
    Keynum { keynumidx: i32, firstkey: i32, keystep: i32 },
    /// Known only to the command (SORT's BY/GET patterns).
    Unknown,
}

/// One key spec, as COMMAND INFO prints it.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// Redis's note on the spec (empty: none).
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: FindKeys,
}

impl KeySpec {
    const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = notes;
        self
    }

    /// A spec flagged `not_key` names no key (SPUBLISH's shard channel): GETKEYS skips it.
    pub fn is_key(&self) -> bool {
        !self.flags.contains(&"not_key")
    }
}

/// A range spec beginning at argument `index`.
pub const fn range(flags: &'static [&'static str], index: i32, lastkey: i32, keystep: i32, limit: i32) -> KeySpec {
    KeySpec { notes: "", flags, begin: Begin::Index(index), find: FindKeys::Range { lastkey, keystep, limit } }
}

/// A keynum spec beginning at argument `index`.
pub const fn keynum(
    flags: &'static [&'static str],
    index: i32,
    keynumidx: i32,
    firstkey: i32,
    keystep: i32,
) -> KeySpec {
    KeySpec { notes: "", flags, begin: Begin::Index(index), find: FindKeys::Keynum { keynumidx, firstkey, keystep } }
}

const fn unknown(flags: &'static [&'static str]) -> KeySpec {
    KeySpec { notes: "", flags, begin: Begin::Unknown, find: FindKeys::Unknown }
}

/// Flags of the one default spec, where the read/write default is not Redis's.
pub const KEY_SPEC_FLAGS: &[(&str, &[&str])] = &[
    ("append", &["RW", "insert"]),
    ("blpop", &["RW", "access", "delete"]),
    ("brpop", &["RW", "access", "delete"]),
    ("bzpopmax", &["RW", "access", "delete"]),
    ("bzpopmin", &["RW", "access", "delete"]),
    ("del", &["RM", "delete"]),
    ("exists", &["RO"]),
    ("expire", &["RW", "update"]),
    ("expireat", &["RW", "update"]),
    ("getdel", &["RW", "access", "delete"]),
    ("hdel", &["RW", "delete"]),
    ("hexists", &["RO"]),
    ("hlen", &["RO"]),
    ("hmset", &["RW", "update"]),
    ("hset", &["RW", "update"]),
    ("hsetnx", &["RW", "insert"]),
    ("hstrlen", &["RO"]),
    ("linsert", &["RW", "insert"]),
    ("llen", &["RO"]),
    ("lpop", &["RW", "access", "delete"]),
    ("lpush", &["RW", "insert"]),
    ("lpushx", &["RW", "insert"]),
    ("lrem", &["RW", "delete"]),
    ("lset", &["RW", "update"]),
    ("ltrim", &["RW", "delete"]),
    ("mset", &["OW", "update"]),
    ("msetnx", &["OW", "insert"]),
    ("persist", &["RW", "update"]),
    ("pexpire", &["RW", "update"]),
    ("pexpireat", &["RW", "update"]),
    ("pfadd", &["RW", "insert"]),
    ("pfdebug", &["RW", "access"]),
    ("psetex", &["OW", "update"]),
    ("restore", &["OW", "update"]),
    ("rpop", &["RW", "access", "delete"]),
    ("rpush", &["RW", "insert"]),
    ("rpushx", &["RW", "insert"]),
    ("sadd", &["RW", "insert"]),
    ("scard", &["RO"]),
    ("setex", &["OW", "update"]),
    ("setnx", &["OW", "insert"]),
    ("setrange", &["RW", "update"]),
    ("sismember", &["RO"]),
    ("spop", &["RW", "access", "delete"]),
    ("spublish", &["not_key"]),
    ("srem", &["RW", "delete"]),
    ("ssubscribe", &["not_key"]),
    ("strlen", &["RO"]),
    ("sunsubscribe", &["not_key"]),
    ("touch", &["RO"]),
    ("ttl", &["RO", "access"]),
    ("type", &["RO"]),
    ("unlink", &["RM", "delete"]),
    ("watch", &["RO"]),
    ("zadd", &["RW", "update"]),
    ("zcard", &["RO"]),
    ("zpopmax", &["RW", "access", "delete"]),
    ("zpopmin", &["RW", "access", "delete"]),
    ("zrem", &["RW", "delete"]),
    ("zremrangebylex", &["RW", "delete"]),
    ("zremrangebyrank", &["RW", "delete"]),
    ("zremrangebyscore", &["RW", "delete"]),
];

/// Commands and subcommands (`"parent|sub"`) whose specs are not the default one.
pub const KEY_SPECS: &[(&str, &[KeySpec])] = &[
    ("bitfield", &[range(&["RW", "access", "update", "variable_flags"], 1, 0, 1, 0).notes("This command allows both access and modification of the key")]),
    ("bitop", &[range(&["OW", "update"], 2, 0, 1, 0), range(&["RO", "access"], 3, -1, 1, 0)]),
    ("blmove", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["RW", "insert"], 2, 0, 1, 0)]),
    ("blmpop", &[keynum(&["RW", "access", "delete"], 2, 0, 1, 1)]),
    ("brpoplpush", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["RW", "insert"], 2, 0, 1, 0)]),
    ("bzmpop", &[keynum(&["RW", "access", "delete"], 2, 0, 1, 1)]),
    ("copy", &[range(&["RO", "access"], 1, 0, 1, 0), range(&["OW", "update"], 2, 0, 1, 0)]),
    ("eval", &[keynum(&["RW", "access", "update"], 2, 0, 1, 1).notes("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE")]),
    ("eval_ro", &[keynum(&["RO", "access"], 2, 0, 1, 1).notes("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS")]),
    ("evalsha", &[keynum(&["RW", "access", "update"], 2, 0, 1, 1)]),
    ("fcall", &[keynum(&["RW", "access", "update"], 2, 0, 1, 1).notes("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE")]),
    ("fcall_ro", &[keynum(&["RO", "access"], 2, 0, 1, 1).notes("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS")]),
    ("getex", &[range(&["RW", "access", "update"], 1, 0, 1, 0).notes("RW and UPDATE because it changes the TTL")]),
    ("lmove", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["RW", "insert"], 2, 0, 1, 0)]),
    ("lmpop", &[keynum(&["RW", "access", "delete"], 1, 0, 1, 1)]),
    ("memory|usage", &[range(&["RO"], 2, 0, 1, 0)]),
    ("object|encoding", &[range(&["RO"], 2, 0, 1, 0)]),
    ("object|freq", &[range(&["RO"], 2, 0, 1, 0)]),
    ("object|idletime", &[range(&["RO"], 2, 0, 1, 0)]),
    ("object|refcount", &[range(&["RO"], 2, 0, 1, 0)]),
    ("pfcount", &[range(&["RW", "access"], 1, -1, 1, 0).notes("RW because it may change the internal representation of the key, and propagate to replicas")]),
    ("pfmerge", &[range(&["RW", "access", "insert"], 1, 0, 1, 0), range(&["RO", "access"], 2, -1, 1, 0)]),
    ("rename", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["OW", "update"], 2, 0, 1, 0)]),
    ("renamenx", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["OW", "insert"], 2, 0, 1, 0)]),
    ("rpoplpush", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["RW", "insert"], 2, 0, 1, 0)]),
    ("sdiffstore", &[range(&["OW", "update"], 1, 0, 1, 0), range(&["RO", "access"], 2, -1, 1, 0)]),
    ("set", &[range(&["RW", "access", "update", "variable_flags"], 1, 0, 1, 0).notes("RW and ACCESS due to the optional `GET` argument")]),
    ("sinterstore", &[range(&["RW", "update"], 1, 0, 1, 0), range(&["RO", "access"], 2, -1, 1, 0)]),
    ("smove", &[range(&["RW", "access", "delete"], 1, 0, 1, 0), range(&["RW", "insert"], 2, 0, 1, 0)]),
    ("sort", &[range(&["RO", "access"], 1, 0, 1, 0), unknown(&["RO", "access"]).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), unknown(&["OW", "update"]).notes("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array")]),
    ("sort_ro", &[range(&["RO", "access"], 1, 0, 1, 0), unknown(&["RO", "access"]).notes("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort")]),
    ("sunionstore", &[range(&["OW", "update"], 1, 0, 1, 0), range(&["RO", "access"], 2, -1, 1, 0)]),
    ("zmpop", &[keynum(&["RW", "access", "delete"], 1, 0, 1, 1)]),
    ("zrangestore", &[range(&["OW", "update"], 1, 0, 1, 0), range(&["RO", "access"], 2, 0, 1, 0)]),
];
