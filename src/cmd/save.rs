//! SAVE, BGSAVE [SCHEDULE] and LASTSAVE (Redis 7.0's `rdb.c` commands). The snapshot itself
//! is written by `durability::rdb_save`, reached through `persist::save::Saves::run` (the
//! command layer sits below durability).

use super::{eq_ignore_case, Command, Ctx, ADMIN, ERR_SYNTAX, FAST, NOSCRIPT};
use super::{LOADING, NO_ASYNC_LOADING, NO_MULTI, STALE};
use crate::persist::save::{ERR_BGSAVE_IN_PROGRESS, ERR_REWRITE_RUNNING};
use crate::protocol::Argv;
use crate::reply;

/// Documentation of this family's commands (see [`super::Doc`]).
pub const DOCS: &[super::Doc] = &[
    super::Doc {
        name: "save",
        group: "server",
        since: "1.0.0",
        summary: "Write the RDB snapshot file now and reply when it is on disk.",
        syntax: "",
    },
    super::Doc {
        name: "bgsave",
        group: "server",
        since: "1.0.0",
        summary: "Write the RDB snapshot file in the background, from a point-in-time snapshot.",
        syntax: "[SCHEDULE]",
    },
    super::Doc {
        name: "lastsave",
        group: "server",
        since: "1.0.0",
        summary: "Unix time of the last successful save.",
        syntax: "",
    },
];

pub const COMMANDS: &[Command] = &[
    Command {
        name: "save",
        arity: 1,
        flags: ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        keys: (0, 0, 0),
        handler: save,
    },
    Command { name: "bgsave", arity: -1, flags: ADMIN | NOSCRIPT | NO_ASYNC_LOADING, keys: (0, 0, 0), handler: bgsave },
    Command { name: "lastsave", arity: 1, flags: FAST | LOADING | STALE, keys: (0, 0, 0), handler: lastsave },
];

/// SAVE
fn save(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    if ctx.shared.persist.saves.bg_in_progress() {
        return ctx.error(ERR_BGSAVE_IN_PROGRESS);
    }
    ctx.shared.persist.saves.count_save();
    match ctx.shared.persist.saves.run(crate::persist::save::Kind::Save) {
        Ok(()) => ctx.ok(),
        Err(e) => ctx.error(&e),
    }
}

/// BGSAVE [SCHEDULE]
fn bgsave(ctx: &mut Ctx<'_>, argv: Argv<'_>) {
    let schedule = match argv.len() {
        1 => false,
        2 if eq_ignore_case(argv.get(1), "schedule") => true,
        _ => return ctx.error(ERR_SYNTAX),
    };
    let persist = &ctx.shared.persist;
    if persist.saves.bg_in_progress() {
        return ctx.error(ERR_BGSAVE_IN_PROGRESS);
    }
    let rewriting = persist.rewrite.in_progress();
    if rewriting && !schedule {
        return ctx.error(ERR_REWRITE_RUNNING);
    }
    match persist.saves.run(crate::persist::save::Kind::Bgsave) {
        Ok(()) if rewriting => reply::simple(ctx.out, b"Background saving scheduled"),
        Ok(()) => reply::simple(ctx.out, b"Background saving started"),
        Err(e) => ctx.error(&e),
    }
}

/// LASTSAVE
fn lastsave(ctx: &mut Ctx<'_>, _argv: Argv<'_>) {
    reply::integer(ctx.out, ctx.shared.persist.last_save_unix() as i64);
}
