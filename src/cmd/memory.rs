//! MEMORY: USAGE (an estimate of one key's bytes), STATS (Redis 7.0's fields, from the
//! overhead model in [`overhead`]), PURGE (jemalloc returns unused dirty pages now),
//! MALLOC-STATS, DOCTOR (Redis's checks on the same model), HELP.
//!
//! USAGE estimates from sizes, as Redis's `objectComputeSize` does: the entry (slab slot,
//! its hash and table slot), its block (key, header and a short string exactly, see
//! `store::entry`), and what the block points to: a long string's buffer exactly; a
//! collection's element count times a per-element cost of its encoding (Redis samples
//! `SAMPLES` elements; ringkv's collections do not expose their element sizes yet, so the
//! option is validated as Redis does and the per-element cost is a fixed estimate).

use super::{eq_ignore_case, parse_i64, subcommand, Command, Ctx, Doc, ERR_NOT_INTEGER, ERR_SYNTAX};
use crate::protocol::Argv;
use crate::reply;
use crate::store::Entry;
use crate::types::ValueRef;

pub mod overhead;

use overhead::Overhead;

/// Bytes a key costs in its shard beside the entry: its 32-bit hash and its table slot
/// (a `u32` index and a control byte, rounded up).
const ENTRY_SIDE_BYTES: usize = 4 + 8;
/// Per-element estimates for collections: a compact encoding (listpack / intset) ...
const COMPACT_ELEMENT_BYTES: usize = 12;
/// ... and a general one (hash table / skiplist / linked list: node, pointers, element).
const GENERAL_ELEMENT_BYTES: usize = 64;

pub const COMMANDS: &[Command] = &[Command { name: "memory", arity: -2, flags: 0, keys: (0, 0, 0), handler: memory }];

pub const DOCS: &[Doc] = &[
    Doc { name: "memory", group: "server", since: "4.0.0", summary: "Memory introspection and control.", syntax: "" },
    Doc {
        name: "memory|usage",
        group: "server",
        since: "4.0.0",
        summary: "Estimate the bytes a key and its value take.",
        syntax: "key [SAMPLES count]",
    },
    Doc {
        name: "memory|stats",
        group: "server",
        since: "4.0.0",
        summary: "Report the server's memory use, as a map.",
        syntax: "",
    },
    Doc {
        name: "memory|purge",
        group: "server",
        since: "4.0.0",
        summary: "Ask the allocator to give unused pages back to the OS.",
        syntax: "",
    },
    Doc {
        name: "memory|malloc-stats",
        group: "server",
        since: "4.0.0",
        summary: "The allocator's own statistics report.",
        syntax: "",
    },
    Doc { name: "memory|doctor", group: "server", since: "4.0.0", summary: "Advice about memory use.", syntax: "" },
    Doc { name: "memory|help", group: "server", since: "4.0.0", summary: "List the MEMORY subcommands.", syntax: "" },
];

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// MEMORY <subcommand> [...]
fn memory(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let Some(sub) = subcommand(ctx, argv, "memory") else {
        return;
    };
    match sub {
        "usage" => usage(ctx, argv),
        "stats" => stats(ctx),
        "purge" => {
            crate::alloc::purge();
            ctx.ok();
        }
        "malloc-stats" => malloc_stats(ctx),
        "doctor" => doctor(ctx),
        _ => super::help_reply(ctx, HELP),
    }
}

/// MEMORY USAGE key [SAMPLES count]
fn usage(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut j = 3;
    while j < argv.len() {
        if eq_ignore_case(argv.get(j), "samples") && j + 1 < argv.len() {
            match parse_i64(argv.get(j + 1)) {
                None => return ctx.error(ERR_NOT_INTEGER),
                Some(n) if n < 0 => return ctx.error(ERR_SYNTAX),
                Some(_) => j += 2,
            }
        } else {
            return ctx.error(ERR_SYNTAX);
        }
    }
    let bytes = ctx.shared.store.with_key(ctx.db(), argv.get(2), ctx.now_ms, |k| k.peek().map(entry_bytes));
    match bytes {
        Some(n) => reply::integer(ctx.out, n as i64),
        None => reply::null(ctx.out),
    }
}

/// The estimated bytes of one key (see the module docs).
pub fn entry_bytes(e: &Entry) -> usize {
    let value = match e.value() {
        ValueRef::Str(_) => e.str_heap_bytes(),
        other => {
            let per = match other.encoding() {
                "listpack" | "intset" | "ziplist" => COMPACT_ELEMENT_BYTES,
                _ => GENERAL_ELEMENT_BYTES,
            };
            other.len().saturating_mul(per)
        }
    };
    std::mem::size_of::<Entry>() + ENTRY_SIDE_BYTES + e.block_bytes() + value
}

/// MEMORY STATS: Redis 7.0's fields, in its order, from the overhead model.
fn stats(ctx: &mut Ctx<'_>) {
    let o = Overhead::now(ctx.shared);
    let int = |out: &mut crate::reply::Out, name: &str, v: i64| {
        reply::bulk(out, name.as_bytes());
        reply::integer(out, v);
    };
    let double = |out: &mut crate::reply::Out, name: &str, v: f64| {
        reply::bulk(out, name.as_bytes());
        reply::double(out, v);
    };
    reply::map(ctx.out, STATS_FIELDS + o.dbs.len());
    let out = &mut *ctx.out;
    int(out, "peak.allocated", o.peak as i64);
    int(out, "total.allocated", o.used as i64);
    int(out, "startup.allocated", o.startup as i64);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", o.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", o.aof_buffer as i64);
    int(out, "lua.caches", o.scripts.scripts as i64);
    int(out, "functions.caches", o.scripts.functions_bytes as i64);
    for &(db, main) in &o.dbs {
        reply::bulk(out, format!("db.{db}").as_bytes());
        reply::map(out, 3);
        int(out, "overhead.hashtable.main", main as i64);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.total as i64);
    int(out, "keys.count", o.keys as i64);
    int(out, "keys.bytes-per-key", o.bytes_per_key() as i64);
    int(out, "dataset.bytes", o.dataset as i64);
    double(out, "dataset.percentage", o.dataset_percent());
    double(out, "peak.percentage", o.peak_percent());
    int(out, "allocator.allocated", o.allocator.allocated as i64);
    int(out, "allocator.active", o.allocator.active as i64);
    int(out, "allocator.resident", o.allocator.resident as i64);
    for (name, (ratio, bytes)) in [
        ("allocator-fragmentation", o.allocator_frag()),
        ("allocator-rss", o.allocator_rss()),
        ("rss-overhead", o.rss_overhead()),
    ] {
        double(out, &format!("{name}.ratio"), ratio);
        int(out, &format!("{name}.bytes"), bytes);
    }
    let (frag, frag_bytes) = o.total_frag();
    double(out, "fragmentation", frag);
    int(out, "fragmentation.bytes", frag_bytes);
}

/// MEMORY STATS's fields besides one per database with keys.
const STATS_FIELDS: usize = 27;

/// MEMORY MALLOC-STATS: jemalloc's `malloc_stats_print` text.
fn malloc_stats(ctx: &mut Ctx<'_>) {
    let mut text = Vec::new();
    let options = tikv_jemalloc_ctl::stats_print::Options::default();
    if tikv_jemalloc_ctl::stats_print::stats_print(&mut text, options).is_err() {
        text = b"Stats not supported for the current allocator".to_vec();
    }
    reply::verbatim(ctx.out, b"txt", &text);
}

/// MEMORY DOCTOR: Redis 7.0's checks and texts on the overhead model (its replica check
/// never fires: ringkv has no replicas).
fn doctor(ctx: &mut Ctx<'_>) {
    let report = Overhead::now(ctx.shared).doctor();
    reply::verbatim(ctx.out, b"txt", report.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{run_for_test, ClientState};
    use crate::config::Config;
    use crate::shared::Shared;

    #[test]
    fn usage_counts_key_and_value_and_checks_samples() {
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        run_for_test(&s, &mut c, &[b"SET", b"k", &[b'v'; 1000]]);
        let out = run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE", b"k"]);
        let n: usize = std::str::from_utf8(&out[1..out.len() - 2]).unwrap().parse().unwrap();
        assert!((1001..1200).contains(&n), "{n}");
        assert_eq!(run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE", b"nokey"]), b"$-1\r\n");
        assert_eq!(run_for_test(&s, &mut c, &[b"memory", b"usage", b"k", b"SAMPLES", b"0"]), out);
        assert_eq!(run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE", b"k", b"SAMPLES", b"-1"]), b"-ERR syntax error\r\n");
        assert_eq!(run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE", b"k", b"SAMPLES"]), b"-ERR syntax error\r\n");
        assert_eq!(
            run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE", b"k", b"SAMPLES", b"x"]),
            format!("-{ERR_NOT_INTEGER}\r\n").as_bytes()
        );
        assert_eq!(
            run_for_test(&s, &mut c, &[b"MEMORY", b"USAGE"]),
            b"-ERR wrong number of arguments for 'memory|usage' command\r\n"
        );
    }

    #[test]
    fn stats_purge_doctor_help() {
        let s = Shared::new(Config::defaults());
        let mut c = ClientState::new(&s);
        let stats = String::from_utf8(run_for_test(&s, &mut c, &[b"MEMORY", b"STATS"])).unwrap();
        assert!(stats.starts_with("*54\r\n$14\r\npeak.allocated\r\n:"), "{stats}");
        assert!(stats.contains("$10\r\nkeys.count\r\n:0\r\n"), "{stats}");
        assert!(stats.contains("$19\r\nallocator-rss.ratio\r\n"), "{stats}");
        run_for_test(&s, &mut c, &[b"SET", b"k", b"v"]);
        let stats = String::from_utf8(run_for_test(&s, &mut c, &[b"MEMORY", b"STATS"])).unwrap();
        assert!(stats.starts_with("*56\r\n"), "{stats}");
        assert!(stats.contains("$4\r\ndb.0\r\n*6\r\n$23\r\noverhead.hashtable.main\r\n:"), "{stats}");
        assert_eq!(run_for_test(&s, &mut c, &[b"MEMORY", b"PURGE"]), b"+OK\r\n");
        assert!(run_for_test(&s, &mut c, &[b"MEMORY", b"DOCTOR"]).starts_with(b"$"));
        assert!(run_for_test(&s, &mut c, &[b"MEMORY", b"HELP"]).starts_with(b"*14\r\n"));
        assert_eq!(
            run_for_test(&s, &mut c, &[b"MEMORY", b"NOPE"]),
            b"-ERR unknown subcommand 'NOPE'. Try MEMORY HELP.\r\n"
        );
    }
}
