//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
//! PUBLISH SPUBLISH PUBSUB. The registry and delivery are in [`crate::pubsub`]; this file
//! keeps each client's own subscriptions (for counts, UNSUBSCRIBE without arguments, and
//! cleanup when the connection goes) and writes Redis's replies: one
//! `[subscribe, channel, count]` per channel, as a push in RESP3 and an array in RESP2.

use std::collections::HashSet;

use super::{eq_ignore_case, Command, Ctx, Doc, ERR_SYNTAX};
use super::{FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, STALE};
use crate::protocol::Argv;
use crate::pubsub::{Kind, PubSub};
use crate::reply;
use crate::tunables::ClientClass;

pub const DOCS: &[Doc] = &[
    Doc {
        name: "subscribe",
        group: "pubsub",
        since: "2.0.0",
        summary: "Listens for messages published to channels.",
        syntax: "channel [channel ...]",
    },
    Doc {
        name: "unsubscribe",
        group: "pubsub",
        since: "2.0.0",
        summary: "Stops listening to messages posted to channels.",
        syntax: "[channel [channel ...]]",
    },
    Doc {
        name: "psubscribe",
        group: "pubsub",
        since: "2.0.0",
        summary: "Listens for messages published to channels that match patterns.",
        syntax: "pattern=<pattern> [pattern=<pattern> ...]",
    },
    Doc {
        name: "punsubscribe",
        group: "pubsub",
        since: "2.0.0",
        summary: "Stops listening to messages published to channels that match patterns.",
        syntax: "[pattern [pattern ...]]",
    },
    Doc {
        name: "ssubscribe",
        group: "pubsub",
        since: "7.0.0",
        summary: "Listens for messages published to shard channels.",
        syntax: "shardchannel [shardchannel ...]",
    },
    Doc {
        name: "sunsubscribe",
        group: "pubsub",
        since: "7.0.0",
        summary: "Stops listening to messages posted to shard channels.",
        syntax: "[shardchannel [shardchannel ...]]",
    },
    Doc {
        name: "publish",
        group: "pubsub",
        since: "2.0.0",
        summary: "Posts a message to a channel; returns how many clients received it.",
        syntax: "channel message",
    },
    Doc {
        name: "spublish",
        group: "pubsub",
        since: "7.0.0",
        summary: "Posts a message to a shard channel.",
        syntax: "shardchannel message",
    },
    Doc {
        name: "pubsub",
        group: "pubsub",
        since: "2.8.0",
        summary: "Introspects the pub/sub state: active channels, subscriber and pattern counts.",
        syntax: "",
    },
    Doc {
        name: "pubsub|channels",
        group: "pubsub",
        since: "2.8.0",
        summary: "The active channels, optionally those matching a pattern.",
        syntax: "[pattern]",
    },
    Doc {
        name: "pubsub|numpat",
        group: "pubsub",
        since: "2.8.0",
        summary: "How many unique patterns clients are subscribed to.",
        syntax: "",
    },
    Doc {
        name: "pubsub|numsub",
        group: "pubsub",
        since: "2.8.0",
        summary: "How many clients are subscribed to each channel.",
        syntax: "[channel [channel ...]]",
    },
    Doc {
        name: "pubsub|shardchannels",
        group: "pubsub",
        since: "7.0.0",
        summary: "The active shard channels, optionally those matching a pattern.",
        syntax: "[pattern]",
    },
    Doc {
        name: "pubsub|shardnumsub",
        group: "pubsub",
        since: "7.0.0",
        summary: "How many clients are subscribed to each shard channel.",
        syntax: "[shardchannel [shardchannel ...]]",
    },
    Doc { name: "pubsub|help", group: "pubsub", since: "6.2.0", summary: "List the PUBSUB subcommands.", syntax: "" },
];

/// Flags as Redis 7.0's.
const SUBSCRIBING: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE;

pub const COMMANDS: &[Command] = &[
    Command { name: "subscribe", arity: -2, flags: SUBSCRIBING, keys: (0, 0, 0), handler: subscribe },
    Command { name: "unsubscribe", arity: -1, flags: SUBSCRIBING, keys: (0, 0, 0), handler: unsubscribe },
    Command { name: "psubscribe", arity: -2, flags: SUBSCRIBING, keys: (0, 0, 0), handler: psubscribe },
    Command { name: "punsubscribe", arity: -1, flags: SUBSCRIBING, keys: (0, 0, 0), handler: punsubscribe },
    Command { name: "ssubscribe", arity: -2, flags: SUBSCRIBING, keys: (1, -1, 1), handler: ssubscribe },
    Command { name: "sunsubscribe", arity: -1, flags: SUBSCRIBING, keys: (1, -1, 1), handler: sunsubscribe },
    Command { name: "publish", arity: 3, flags: PUBLISHING, keys: (0, 0, 0), handler: publish },
    Command { name: "spublish", arity: 3, flags: PUBLISHING, keys: (1, 1, 1), handler: spublish },
    Command { name: "pubsub", arity: -2, flags: 0, keys: (0, 0, 0), handler: pubsub },
];

/// Commands a RESP2 client may send while subscribed (Redis's rule).
pub const ALLOWED_WHILE_SUBSCRIBED: &[&str] =
    &["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset"];

/// One client's subscriptions.
#[derive(Default, Debug)]
pub struct Subscriptions {
    pub channels: HashSet<Box<[u8]>, ahash::RandomState>,
    pub patterns: HashSet<Box<[u8]>, ahash::RandomState>,
    pub shard: HashSet<Box<[u8]>, ahash::RandomState>,
}

impl Subscriptions {
    /// Channels + patterns: the count SUBSCRIBE/PSUBSCRIBE replies carry.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Subscribed to anything (RESP2 "subscribed mode").
    pub fn any(&self) -> bool {
        self.count() + self.shard.len() > 0
    }

    /// Leave everything (connection closed, RESET).
    pub fn clear(&mut self, registry: &PubSub, id: u64) {
        for c in self.channels.drain() {
            registry.unsubscribe(Kind::Channel, &c, id);
        }
        for c in self.shard.drain() {
            registry.unsubscribe(Kind::Shard, &c, id);
        }
        for p in self.patterns.drain() {
            registry.punsubscribe(&p, id);
        }
    }
}

/// Which set a command works on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Channels,
    Patterns,
    Shard,
}

impl Target {
    fn names(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Target::Channels => (b"subscribe", b"unsubscribe"),
            Target::Patterns => (b"psubscribe", b"punsubscribe"),
            Target::Shard => (b"ssubscribe", b"sunsubscribe"),
        }
    }
}

fn set_of<'c>(ctx: &'c mut Ctx<'_>, t: Target) -> &'c mut HashSet<Box<[u8]>, ahash::RandomState> {
    match t {
        Target::Channels => &mut ctx.client.subs.channels,
        Target::Patterns => &mut ctx.client.subs.patterns,
        Target::Shard => &mut ctx.client.subs.shard,
    }
}

/// The count a (un)subscribe reply carries: shard channels are counted apart.
fn count_for(ctx: &Ctx<'_>, t: Target) -> usize {
    if t == Target::Shard {
        ctx.client.subs.shard.len()
    } else {
        ctx.client.subs.count()
    }
}

fn confirm(ctx: &mut Ctx<'_>, kind: &[u8], name: Option<&[u8]>, count: usize) {
    reply::push(ctx.out, 3);
    reply::bulk(ctx.out, kind);
    reply::opt_bulk(ctx.out, name);
    reply::integer(ctx.out, count as i64);
}

fn do_subscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>, t: Target) {
    ctx.client.handle.enable_remote_output();
    let proto = ctx.out.proto;
    for name in argv.iter().skip(1) {
        if set_of(ctx, t).insert(name.into()) {
            let (handle, registry) = (&ctx.client.handle, &ctx.shared.pubsub);
            match t {
                Target::Channels => registry.subscribe(Kind::Channel, name, handle, proto),
                Target::Shard => registry.subscribe(Kind::Shard, name, handle, proto),
                Target::Patterns => registry.psubscribe(name, handle, proto),
            }
        }
        let count = count_for(ctx, t);
        confirm(ctx, t.names().0, Some(name), count);
    }
}

fn do_unsubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>, t: Target) {
    let names: Vec<Box<[u8]>> = if argv.len() > 1 {
        argv.iter().skip(1).map(Box::from).collect()
    } else {
        set_of(ctx, t).iter().cloned().collect()
    };
    if names.is_empty() {
        let count = count_for(ctx, t);
        return confirm(ctx, t.names().1, None, count);
    }
    let id = ctx.client.id;
    for name in &names {
        if set_of(ctx, t).remove(name) {
            let registry = &ctx.shared.pubsub;
            match t {
                Target::Channels => registry.unsubscribe(Kind::Channel, name, id),
                Target::Shard => registry.unsubscribe(Kind::Shard, name, id),
                Target::Patterns => registry.punsubscribe(name, id),
            }
        }
        let count = count_for(ctx, t);
        confirm(ctx, t.names().1, Some(name), count);
    }
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_subscribe(ctx, argv, Target::Channels);
}
/// UNSUBSCRIBE [channel [channel ...]]
fn unsubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_unsubscribe(ctx, argv, Target::Channels);
}
/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_subscribe(ctx, argv, Target::Patterns);
}
/// PUNSUBSCRIBE [pattern [pattern ...]]
fn punsubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_unsubscribe(ctx, argv, Target::Patterns);
}
/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_subscribe(ctx, argv, Target::Shard);
}
/// SUNSUBSCRIBE [shardchannel [shardchannel ...]]
fn sunsubscribe(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_unsubscribe(ctx, argv, Target::Shard);
}

fn do_publish(ctx: &mut Ctx<'_>, argv: Argv<'_>, kind: Kind) {
    let shared = ctx.shared;
    let limit = shared.tunables.output_limit(ClientClass::Pubsub);
    let n = shared.pubsub.publish(&shared.clients, kind, argv.get(1), argv.get(2), limit, ctx.now_ms);
    reply::integer(ctx.out, n as i64);
}

/// PUBLISH channel message
fn publish(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_publish(ctx, argv, Kind::Channel);
}
/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    do_publish(ctx, argv, Kind::Shard);
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS [pattern] |
/// SHARDNUMSUB [shardchannel ...] | HELP
fn pubsub(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let sub = argv.get(1);
    let registry = &ctx.shared.pubsub;
    let n = argv.len();
    let kind = if eq_ignore_case(sub, "shardchannels") || eq_ignore_case(sub, "shardnumsub") {
        Kind::Shard
    } else {
        Kind::Channel
    };
    if (eq_ignore_case(sub, "channels") || eq_ignore_case(sub, "shardchannels")) && n <= 3 {
        let pattern = (n == 3).then(|| argv.get(2));
        let list = registry.channels(kind, pattern);
        reply::array(ctx.out, list.len());
        for c in &list {
            reply::bulk(ctx.out, c);
        }
    } else if eq_ignore_case(sub, "numsub") || eq_ignore_case(sub, "shardnumsub") {
        // A flat array even in RESP3, as Redis replies (clients parse it pairwise).
        reply::array(ctx.out, 2 * (n - 2));
        for c in argv.iter().skip(2) {
            reply::bulk(ctx.out, c);
            reply::integer(ctx.out, registry.numsub(kind, c) as i64);
        }
    } else if eq_ignore_case(sub, "numpat") && n == 2 {
        reply::integer(ctx.out, registry.numpat() as i64);
    } else if eq_ignore_case(sub, "help") && n == 2 {
        reply::array(ctx.out, PUBSUB_HELP.len());
        for line in PUBSUB_HELP {
            reply::simple(ctx.out, line.as_bytes());
        }
    } else if ["channels", "shardchannels"].iter().any(|k| eq_ignore_case(sub, k)) {
        // Arity -2 lets more arguments through the table; PUBSUB itself rejects them.
        let name = String::from_utf8_lossy(&sub[..sub.len().min(128)]);
        ctx.error(&format!("ERR unknown subcommand or wrong number of arguments for '{name}'. Try PUBSUB HELP."));
    } else if ["numpat", "help"].iter().any(|k| eq_ignore_case(sub, k)) {
        let name = String::from_utf8_lossy(sub).to_ascii_lowercase();
        ctx.error(&format!("ERR wrong number of arguments for 'pubsub|{name}' command"));
    } else if sub.is_empty() {
        ctx.error(ERR_SYNTAX);
    } else {
        let name = String::from_utf8_lossy(sub);
        ctx.error(&format!("ERR unknown subcommand '{name}'. Try PUBSUB HELP."));
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::{run_for_test, run_for_test_in, ClientState};
    use crate::config::Config;
    use crate::reply::Proto;
    use crate::shared::Shared;
    use clap::Parser;

    fn run(shared: &Shared, c: &mut ClientState, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8(run_for_test(shared, c, &args)).unwrap()
    }

    #[test]
    fn extra_arguments_and_config_errors_match_redis() {
        // Found by scripts/redis-diff; replies captured from redis-server 7.0.15.
        let shared = Shared::new(Config::parse_from(["ringkv-server"]));
        let mut c = ClientState::new(&shared);
        assert_eq!(
            run(&shared, &mut c, &["PUBSUB", "SHARDCHANNELS", "a", "b"]),
            "-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.\r\n"
        );
        assert_eq!(
            run(&shared, &mut c, &["PUBSUB", "NUMPAT", "x"]),
            "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n"
        );
        assert_eq!(
            run(&shared, &mut c, &["CONFIG", "SET", "maxmemory-policy", "x"]),
            "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the \
             following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, \
             allkeys-random, noeviction\r\n"
        );
    }

    #[test]
    fn subscribe_replies_and_counts() {
        let shared = Shared::new(Config::parse_from(["ringkv-server"]));
        let mut c = ClientState::new(&shared);
        assert_eq!(
            run(&shared, &mut c, &["SUBSCRIBE", "a", "b", "a"]),
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(run(&shared, &mut c, &["PSUBSCRIBE", "x*"]), "*3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:3\r\n");
        assert_eq!(run(&shared, &mut c, &["SSUBSCRIBE", "s"]), "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n");
        let mut other = ClientState::new(&shared);
        assert_eq!(run(&shared, &mut other, &["PUBLISH", "a", "m"]), ":1\r\n");
        assert_eq!(run(&shared, &mut other, &["PUBLISH", "xy", "m"]), ":1\r\n");
        assert_eq!(run(&shared, &mut other, &["SPUBLISH", "s", "m"]), ":1\r\n");
        assert_eq!(
            run(&shared, &mut other, &["PUBSUB", "NUMSUB", "a", "zz"]),
            "*4\r\n$1\r\na\r\n:1\r\n$2\r\nzz\r\n:0\r\n"
        );
        assert_eq!(run(&shared, &mut other, &["PUBSUB", "NUMPAT"]), ":1\r\n");
        assert_eq!(run(&shared, &mut other, &["PUBSUB", "SHARDCHANNELS"]), "*1\r\n$1\r\ns\r\n");
        assert_eq!(
            c.handle.take_mail(),
            b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n*4\r\n$8\r\npmessage\r\n$2\r\nx*\r\n$2\r\nxy\r\n$1\r\nm\r\n*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n"
        );
        let unsub = run(&shared, &mut c, &["UNSUBSCRIBE"]);
        assert!(unsub.contains("$11\r\nunsubscribe\r\n$1\r\na\r\n") && unsub.ends_with(":1\r\n"), "{unsub}");
        assert_eq!(run(&shared, &mut c, &["UNSUBSCRIBE"]), "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n");
        drop(c);
        assert_eq!(run(&shared, &mut other, &["PUBLISH", "xy", "m"]), ":0\r\n", "a closed client leaves the registry");
        assert_eq!(run(&shared, &mut other, &["PUBSUB", "NUMPAT"]), ":0\r\n");
    }

    #[test]
    fn resp2_subscribed_mode_allows_only_some_commands() {
        let shared = Shared::new(Config::parse_from(["ringkv-server"]));
        let mut c = ClientState::new(&shared);
        run(&shared, &mut c, &["SUBSCRIBE", "a"]);
        assert_eq!(
            run(&shared, &mut c, &["GET", "k"]),
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
        );
        assert_eq!(run(&shared, &mut c, &["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert_eq!(run(&shared, &mut c, &["PING", "hi"]), "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
        // RESP3 clients may run anything while subscribed, and get pushes.
        let get = run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"GET", b"k"]);
        assert_eq!(get, b"_\r\n");
        let sub = run_for_test_in(&shared, &mut c, Proto::Resp3, &[b"SUBSCRIBE", b"b"]);
        assert_eq!(sub, b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    }
}
