//! `ringkv-cli`'s special modes, each a loop of plain commands whose output follows
//! redis-cli 7.0 byte for byte: [`stat`] (`--stat`, a line per interval from INFO),
//! [`latency`] (`--latency`, `--latency-history`: PING round trips), [`bigkeys`]
//! (`--bigkeys`, `--memkeys`: a SCAN of the keyspace with per-type sizes) and [`scan`]
//! (`--scan [--pattern p]`).
//!
//! Why here and not in the binary: the formatting is pure (numbers in, text out), so it is
//! unit-tested beside the code against what redis-cli printed, while the loops that feed it
//! only talk to a [`crate::client::Client`] and write to any `io::Write`.

pub mod bigkeys;
pub mod latency;
pub mod scan;
pub mod stat;

use std::io;

use crate::client::{Client, Reply};

/// How a mode ended when it did not fail on I/O: `Ok` exits 0, `Failed` exits 1 (the
/// message has been printed), as redis-cli's `exit(1)` on a server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeEnd {
    Ok,
    Failed,
}

/// Sends `cmds` in one batch and reads one reply per command.
pub fn pipeline(client: &mut Client, cmds: &[Vec<&[u8]>]) -> io::Result<Vec<Reply>> {
    for cmd in cmds {
        client.send(cmd)?;
    }
    client.flush()?;
    cmds.iter().map(|_| client.read_reply()).collect()
}

/// The text of a bulk, status or verbatim reply (INFO's is a bulk in RESP2, verbatim in
/// RESP3); `None` for any other reply.
pub fn reply_text(reply: &Reply) -> Option<&[u8]> {
    match reply {
        Reply::Bulk(Some(b)) | Reply::Status(b) | Reply::Verbatim(_, b) => Some(b),
        _ => None,
    }
}
