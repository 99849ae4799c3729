//! The commands that look at or act on other connections through the client registry
//! ([`crate::clients`]): CLIENT LIST / INFO / KILL, MONITOR, and RESET (which returns this
//! connection to a fresh state). CLIENT's simple subcommands (SETNAME, GETNAME, ID, …) stay
//! with the connection commands, which call into this file for the rest.

use std::sync::Arc;

use super::{eq_ignore_case, parse_i64, Ctx, ERR_SYNTAX};
use crate::clients::{ClientHandle, Snapshot};
use crate::protocol::Argv;
use crate::reply;

/// One CLIENT LIST / CLIENT INFO line (Redis 7.0's fields and order; memory figures ringkv
/// does not track per client are 0). `tot-mem` is what MEMORY STATS counts for the client
/// (`clients.normal`): its unsent replies and its fixed state.
pub fn info_line(h: &ClientHandle, s: &Snapshot, name: Option<&[u8]>, now_ms: u64) -> String {
    let mut flags = String::new();
    if s.sub + s.psub + s.ssub > 0 {
        flags.push('P');
    }
    if s.multi >= 0 {
        flags.push('x');
    }
    if s.monitor {
        flags.push('O');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let name = String::from_utf8_lossy(name.unwrap_or(b""));
    format!(
        "id={} addr={} laddr={} fd={} name={name} age={} idle={} flags={flags} db={} sub={} psub={} ssub={} \
         multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r \
         cmd={} user=default redir=-1 resp={}\n",
        h.id,
        h.addr(),
        h.laddr(),
        h.fd,
        now_ms.saturating_sub(h.created_ms) / 1000,
        now_ms.saturating_sub(s.last_ms) / 1000,
        s.db,
        s.sub,
        s.psub,
        s.ssub,
        s.multi,
        s.pending_out,
        s.pending_out + super::memory::overhead::CLIENT_BASE_BYTES,
        s.cmd,
        s.resp,
    )
}

/// This connection's own line, from its live state (not the published snapshot).
fn own_line(ctx: &Ctx<'_>) -> String {
    let c = &ctx.client;
    let mut s = c.handle.snapshot();
    s.db = c.db;
    s.cmd = "client|info";
    s.last_ms = ctx.now_ms;
    s.resp = if ctx.out.resp3() { 3 } else { 2 };
    (s.sub, s.psub, s.ssub) = (c.subs.channels.len(), c.subs.patterns.len(), c.subs.shard.len());
    s.monitor = c.monitor;
    s.multi = if c.tx.in_multi() { 0 } else { -1 };
    info_line(&c.handle, &s, c.name.as_deref(), ctx.now_ms)
}

/// CLIENT INFO
pub fn client_info(ctx: &mut Ctx<'_>) {
    let line = own_line(ctx);
    reply::verbatim(ctx.out, b"txt", line.as_bytes());
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
pub fn client_list(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let mut ids: Option<Vec<u64>> = None;
    let mut pubsub_only: Option<bool> = None;
    let mut i = 2;
    while i < argv.len() {
        let opt = argv.get(i);
        if eq_ignore_case(opt, "type") && i + 1 < argv.len() {
            let t = argv.get(i + 1);
            pubsub_only = Some(match () {
                _ if eq_ignore_case(t, "normal") => false,
                _ if eq_ignore_case(t, "pubsub") => true,
                _ if eq_ignore_case(t, "master") || eq_ignore_case(t, "replica") || eq_ignore_case(t, "slave") => {
                    return reply::verbatim(ctx.out, b"txt", b"");
                }
                _ => return ctx.error(&format!("ERR Unknown client type '{}'", String::from_utf8_lossy(t))),
            });
            i += 2;
        } else if eq_ignore_case(opt, "id") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for a in argv.iter().skip(i + 1) {
                match parse_i64(a).filter(|&n| n > 0) {
                    Some(n) => list.push(n as u64),
                    None => return ctx.error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            i = argv.len();
        } else {
            return ctx.error(ERR_SYNTAX);
        }
    }
    let mut text = String::new();
    // A killed client is gone for Redis at once (its owner closes it a moment later here).
    for h in ctx.shared.clients.all().into_iter().filter(|h| !h.killed()) {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&h.id)) {
            continue;
        }
        if h.id == ctx.client.id {
            text.push_str(&own_line(ctx).replace("cmd=client|info", "cmd=client|list"));
            continue;
        }
        let s = h.snapshot();
        if pubsub_only.is_some_and(|p| p != (s.sub + s.psub + s.ssub > 0)) {
            continue;
        }
        text.push_str(&info_line(&h, &s, s.name.as_deref(), ctx.now_ms));
    }
    reply::verbatim(ctx.out, b"txt", text.as_bytes());
}

/// A CLIENT KILL filter (Redis 7.0's new form; all given filters must match).
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
    skipme: bool,
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [USER name]
/// [SKIPME yes|no] [TYPE normal|pubsub]
pub fn client_kill(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    if argv.len() == 3 {
        // The old form: one address, `+OK` or an error.
        let addr = argv.get(2);
        let found = ctx.shared.clients.all().into_iter().find(|h| !h.killed() && h.addr().as_bytes() == addr);
        return match found {
            Some(h) => {
                kill(ctx, &h);
                ctx.ok()
            }
            None => ctx.error("ERR No such client"),
        };
    }
    let mut f = KillFilter { skipme: true, ..KillFilter::default() };
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return ctx.error(ERR_SYNTAX);
        }
        let (opt, val) = (argv.get(i), argv.get(i + 1));
        if eq_ignore_case(opt, "id") {
            match parse_i64(val).filter(|&n| n > 0) {
                Some(n) => f.id = Some(n as u64),
                None => return ctx.error("ERR client-id should be greater than 0"),
            }
        } else if eq_ignore_case(opt, "addr") {
            f.addr = Some(val.to_vec());
        } else if eq_ignore_case(opt, "laddr") {
            f.laddr = Some(val.to_vec());
        } else if eq_ignore_case(opt, "user") {
            f.user = Some(val.to_vec());
        } else if eq_ignore_case(opt, "skipme") {
            if eq_ignore_case(val, "yes") {
                f.skipme = true;
            } else if eq_ignore_case(val, "no") {
                f.skipme = false;
            } else {
                return ctx.error(ERR_SYNTAX);
            }
        } else if eq_ignore_case(opt, "type") {
            // Every ringkv client is of type normal (or pubsub); master/replica match none.
        } else {
            return ctx.error(ERR_SYNTAX);
        }
        i += 2;
    }
    let mut killed = 0;
    for h in ctx.shared.clients.all().into_iter().filter(|h| !h.killed()) {
        let matches = f.id.is_none_or(|id| id == h.id)
            && f.addr.as_deref().is_none_or(|a| a == h.addr().as_bytes())
            && f.laddr.as_deref().is_none_or(|a| a == h.laddr().as_bytes())
            && f.user.as_deref().is_none_or(|u| u == b"default")
            && !(f.skipme && h.id == ctx.client.id);
        if matches {
            kill(ctx, &h);
            killed += 1;
        }
    }
    reply::integer(ctx.out, killed);
}

/// Kill `h`: another connection is closed by its owner; this one after the reply.
fn kill(ctx: &mut Ctx<'_>, h: &Arc<ClientHandle>) {
    if h.id == ctx.client.id {
        ctx.client.close_after_reply = true;
    } else {
        ctx.shared.clients.kill(h);
    }
}

/// MONITOR: from now on this connection receives every command the server runs.
pub fn monitor(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    if ctx.client.tx.in_multi() {
        return ctx.error("ERR MONITOR isn't allowed in this context");
    }
    ctx.client.handle.enable_remote_output();
    ctx.shared.clients.set_monitor(&ctx.client.handle, true);
    ctx.client.monitor = true;
    ctx.ok();
}

/// RESET: leave MULTI, WATCH, pub/sub and MONITOR, back to RESP2, db 0, no name, and (with a
/// password) not authenticated; replies `+RESET`.
pub fn reset(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    let shared = ctx.shared;
    let c = &mut *ctx.client;
    c.tx.reset();
    c.subs.clear(&shared.pubsub, c.id);
    if c.monitor {
        shared.clients.set_monitor(&c.handle, false);
        c.monitor = false;
    }
    c.db = 0;
    c.name = None;
    c.handle.publish(|s| s.name = None);
    c.authenticated = shared.config.password().is_none();
    ctx.out.proto = reply::Proto::Resp2;
    reply::simple(ctx.out, b"RESET");
}
