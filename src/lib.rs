//! ringkv: a Redis-protocol, in-memory key-value server whose network path runs on io_uring.
//!
//! # Layout
//!
//! Read in this order; each module opens with a header saying what it does and why.
//!
//! - [`ring`] — **the io_uring layer**: ring setup and probes, SQE builders, the one
//!   `io_uring_enter` per loop iteration with its errno decisions, the provided-buffer ring.
//! - [`engine`] — the engines, which only move bytes, and what they share (connection rules,
//!   limits, admission control: maxclients, protected mode). **`engine::uring`** is what
//!   ringkv exists for: per-worker rings, multishot accept/recv into a provided buffer ring,
//!   one send per connection per tick (files by responsibility: `worker` the loop, `accept`,
//!   `reserved`, `drain`, `batching`, `token`, `conn`, `setup`). Beside it `threads` (one OS
//!   thread per connection: the seed program's design) and `epoll` (mio event loops).
//! - [`session`] — one connection's protocol state, shared by every engine: feed it bytes, it
//!   runs complete requests and fills an output buffer; backpressure and close reasons live
//!   here.
//! - [`clients`] — every connection as the rest of the server sees it (CLIENT LIST/KILL) and
//!   the one mechanism for output produced for a connection elsewhere: a mailbox per client
//!   plus a coalesced wake-up of its worker. [`pubsub`] — channels, patterns and PUBLISH on
//!   top of it; [`blocking`] — clients blocked on keys (BLPOP & co.) and CLIENT PAUSE, served
//!   in FIFO order by the connection that pushes.
//! - [`net`] — the Unix/TCP listener and stream types engines, client and load generator
//!   share. [`expire`] — the active expiry cycle.
//! - [`protocol`] — the RESP2 + inline request parser: pure, resumable, zero-copy for
//!   multibulk, Redis's limits and error texts.
//! - [`cmd`] — **the command table** and the command families (`connection`, `server`,
//!   `command`, `config`, `slowlog`, `strings`, `keys`, `hash`, `list`, `set`, `zset` +
//!   `zset_algebra`, `bits`, `sort`, `blocking`, `multi`, `pubsub`, `client`, `scripting`,
//!   `function`, `memory`, `hyperloglog`): arity and auth checked
//!   centrally, one handler per command; inside MULTI commands are queued centrally too.
//!   `DOCS` rows beside each table, from which `cmd::syntax` and `cmd::meta` derive what
//!   COMMAND INFO/DOCS report (`cmd::key_specs`: Redis's key specs where the default is not
//!   enough); `cmd::typed` runs a closure on a key's value of one type
//!   (WRONGTYPE otherwise).
//! - [`hll`] — HyperLogLog on plain bytes, byte-compatible with Redis 7.0 (a HyperLogLog is
//!   a string value): header, dense and sparse encodings, MurmurHash64A, Ertl's estimator;
//!   the PF* commands are `cmd::hyperloglog`.
//! - [`types`] — **the value types** a key can hold (hash, list, set, sorted set), each with
//!   Redis 7.0's compact encoding (listpack / intset) and general one (hash table, skiplist)
//!   past named thresholds, and lazy free of big values on a background thread.
//! - [`exclusive`] — the striped big-reader lock that isolates EXEC and scripts: each command
//!   reads under its worker's stripe, EXEC and scripts write-lock every stripe.
//! - `cmd::script` — Lua scripting (inside the command layer, because scripts run commands):
//!   one Lua 5.1 VM (mlua), the sandbox and `redis` API, Redis's type conversions and error
//!   formats, the bundled libraries (`cjson`, `cmsgpack`, `bit`, `struct`), function
//!   libraries, and the busy-script rules (BUSY, SCRIPT KILL). The commands are
//!   `cmd::scripting` (EVAL, SCRIPT) and `cmd::function` (FUNCTION, FCALL).
//! - [`store`] — **the keyspace**: ahash-partitioned shards, binary keys, values of every
//!   type ([`types::Value`]), millisecond expiry (lazy + active cycle), WATCH registries per
//!   shard.
//! - [`persist`] — **durability**, the files: the append-only file in Redis 7's multi-part
//!   layout (manifest, base, incremental files), its writer (`appendfsync always` as group
//!   commit on the uring rings: replies held until the covering fdatasync; MISCONF on write
//!   failures) and the state INFO persistence and BGREWRITEAOF read. The change journal that
//!   orders every worker's writes under the shard locks is `store::journal` (the design is
//!   in its header); what the AOF records for a command is `cmd::propagate`.
//!   [`durability`] — what drives the whole server: loading the AOF at startup (torn tails),
//!   BGREWRITEAOF from a fork-free point-in-time snapshot (`durability::rewrite`), shutdown.
//!   RDB: the version-10 codec is `persist::rdb` (files, DUMP payloads, RDB-preamble AOF
//!   bases, LZF), SAVE / BGSAVE, the save points and loading `dump.rdb` are
//!   `durability::rdb_save` (the same snapshot, RDB records), saving at shutdown
//!   `durability::shutdown`.
//! - [`reply`] — reply encoding: commands describe each reply once in RESP3 terms (map, set,
//!   double, null, …) and the connection's protocol (`HELLO 2|3`) picks the bytes. A
//!   connection's output (`reply::out`) is owned bytes with references to big stored values
//!   spliced in (GET of a big string shares the store's buffer), sent vectored by every engine.
//!   [`glob`] — Redis glob patterns. [`args`] — the text rules server and CLI share:
//!   `sdssplitargs` (inline requests, typed lines) and `string2ll`.
//! - [`server`] — binding listeners, choosing the engine (falling back from io_uring when the
//!   kernel refuses it), signals and graceful shutdown. [`config`] — the flags and limits;
//!   [`tunables`] — the settings CONFIG SET changes at runtime (atomics). [`slowlog`] — the
//!   shared slow-command log. [`conffile`] — the redis.conf-syntax config file, its
//!   `include`s and CONFIG REWRITE; [`logfile`] — `--logfile` with reopen on SIGHUP.
//!   [`counter`] — the striped statistics counter; [`clock`] — the TSC clock commands are
//!   timed with. [`metrics`] — per-command, latency and error statistics for INFO (striped, summed on
//!   read).
//!   [`alloc`] — the allocator (jemalloc with a byte counter for `used_memory` and
//!   maxmemory), its statistics and MEMORY PURGE. [`evict`] — maxmemory: the OOM check
//!   before write commands and approximated LRU / LFU / random / TTL eviction.
//!   [`shared`] — state every worker shares (store, stats, I/O counters, shutdown).
//! - [`client`] — a small blocking RESP2/RESP3 client used by `ringkv-cli`, tests and benches;
//!   [`cli_help`] — `ringkv-cli`'s local HELP, completion and argument hints;
//!   [`cli_modes`] — its `--stat`, `--latency`, `--bigkeys` / `--memkeys` and `--scan`
//!   loops and their redis-cli output formats;
//!   [`loadgen`] — the load generator the criterion engine benches drive servers with.
//!   [`version`] — the crate version, git commit and build profile `--version` prints.
//!
//! # Thread model
//!
//! ```text
//!                         clients (Unix socket / TCP)
//!                 ┌───────────────┼────────────────┐
//!                 ▼               ▼                ▼
//!  uring:   worker 0 ring     worker 1 ring   ...  worker N-1 ring      (--threads N)
//!           accept+recv+send  recv+send            recv+send
//!           SQEs batched, one io_uring_enter per loop iteration
//!  epoll:   event loop 0      event loop 1    ...  (accept on loop 0, handed round-robin)
//!  threads: accept thread ──► one blocking thread per connection
//!                 │               │                │
//!                 └──── Session: parser → cmd::execute → reply bytes ────┘
//!                                 │
//!                                 ▼
//!                  Store: dbs × shards, each a padded Mutex<table>
//!                  (shard chosen by the key's ahash; active expiry on a timer)
//! ```

pub mod alloc;
pub mod args;
pub mod blocking;
pub mod cli_help;
pub mod cli_modes;
pub mod client;
pub mod clients;
pub mod clock;
pub mod cmd;
pub mod conffile;
pub mod config;
pub mod counter;
pub mod durability;
pub mod engine;
pub mod evict;
pub mod exclusive;
pub mod expire;
pub mod glob;
pub mod hll;
pub mod loadgen;
pub mod logfile;
pub mod metrics;
pub mod net;
pub mod persist;
pub mod protocol;
pub mod pubsub;
pub mod reply;
pub mod ring;
pub mod server;
pub mod session;
pub mod shared;
pub mod slowlog;
pub mod store;
pub mod tunables;
pub mod types;
pub mod version;

#[cfg(test)]
mod layout_tests {
    /// The module map above names every top-level module (so it stays true as the tree grows).
    #[test]
    fn module_map_names_every_module() {
        let text = include_str!("lib.rs");
        let docs: String = text.lines().filter(|l| l.starts_with("//!")).collect();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';')) {
                assert!(docs.contains(&format!("[`{name}`]")), "the module map in lib.rs does not name `{name}`");
            }
        }
    }
}
