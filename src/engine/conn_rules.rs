//! The per-connection rules every engine follows: given what is known about a connection
//! (output pending or flushed, input held back by backpressure, the peer's EOF, the server
//! draining, a close requested), what happens next. One pure function, [`next_step`], tested
//! once over every combination; the engines differ only in how they carry a step out
//! (blocking write, non-blocking write + WRITABLE interest, a Send SQE).
//!
//! The rules, in order:
//! 1. A failed or killed connection (I/O error, idle timeout, forced close at shutdown) is
//!    closed at once; its output is dropped.
//! 2. Output is sent whenever a write can be started: replies already produced are always
//!    delivered before any other close, so a client may `shutdown(SHUT_WR)` after writing a
//!    pipeline and still read every reply, as with Redis.
//! 3. A close the session asked for (QUIT, protocol error, query buffer limit) or the server
//!    draining closes the connection once everything is flushed; nothing new runs meanwhile.
//! 4. Requests held back by backpressure run again once output is under the pause limit.
//! 5. After the peer's EOF, the connection closes once nothing is held and all is flushed
//!    (an incomplete request at EOF is discarded).
//! 6. Over the output pause limit nothing is read; otherwise the engine reads more.

use crate::session::Session;
use crate::shared::Shared;

/// What an engine knows about one connection when it decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Replies produced and not yet handed to the kernel.
    pub unsent: bool,
    /// A write can be started now (threads: always; epoll: the socket did not say it is
    /// full; uring: no send in flight).
    pub can_send: bool,
    /// Every produced byte has been written: nothing unsent, nothing in flight.
    pub flushed: bool,
    /// Pending output is at or over `--client-output-pause` (backpressure).
    pub paused: bool,
    /// Complete requests are buffered that backpressure kept from running.
    pub held: bool,
    /// The peer shut down its sending side (read returned 0).
    pub peer_eof: bool,
    /// The server is shutting down.
    pub draining: bool,
    /// The session wants the connection closed once its output is sent.
    pub close_requested: bool,
    /// The connection failed or was killed: close now, output dropped.
    pub killed: bool,
}

/// What to do next with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Close the connection (output, if any is left, is dropped only when it was killed).
    Close,
    /// Start writing pending output.
    Send,
    /// Run the requests backpressure held back.
    Resume,
    /// Read more input (uring: keep a recv armed).
    Read,
    /// Nothing until an event: write room, a send's completion, or input. No reading.
    Wait,
}

/// The facts the session knows. `extra_unsent`: output the engine took from `session.out`
/// and has not handed to the kernel yet (a short write's rest). The engine fills in the rest
/// (`can_send`, `flushed`, `peer_eof`, `draining`, `killed`).
pub fn session_facts(session: &Session, shared: &Shared, extra_unsent: bool) -> Facts {
    Facts {
        unsent: extra_unsent || session.sendable_len(shared) > 0,
        paused: session.output_paused(shared),
        held: session.has_held_input(),
        close_requested: session.close_reason().is_some(),
        ..Facts::default()
    }
}

/// The one decision (rules in the module header). Engines call it in a loop, carrying out
/// each step, until it says [`Step::Read`] or [`Step::Wait`] (or [`Step::Close`]).
pub fn next_step(f: Facts) -> Step {
    if f.killed {
        return Step::Close;
    }
    if f.unsent && f.can_send {
        return Step::Send;
    }
    if f.close_requested || f.draining {
        return if f.flushed { Step::Close } else { Step::Wait };
    }
    if f.held {
        return if f.paused { Step::Wait } else { Step::Resume };
    }
    if f.peer_eof {
        return if f.flushed { Step::Close } else { Step::Wait };
    }
    if f.paused {
        return Step::Wait;
    }
    Step::Read
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the nine facts.
    fn all_facts() -> impl Iterator<Item = Facts> {
        (0u32..1 << 9).map(|bits| {
            let b = |i: u32| bits & (1 << i) != 0;
            Facts {
                unsent: b(0),
                can_send: b(1),
                flushed: b(2),
                paused: b(3),
                held: b(4),
                peer_eof: b(5),
                draining: b(6),
                close_requested: b(7),
                killed: b(8),
            }
        })
    }

    #[test]
    fn table_of_representative_rows() {
        // (facts, expected): the rows an engine meets most, written out.
        let base = Facts { can_send: true, flushed: true, ..Facts::default() };
        let rows = [
            (base, Step::Read),
            (Facts { unsent: true, flushed: false, ..base }, Step::Send),
            (Facts { unsent: true, flushed: false, can_send: false, ..base }, Step::Read),
            (Facts { unsent: true, flushed: false, can_send: false, paused: true, ..base }, Step::Wait),
            (Facts { held: true, ..base }, Step::Resume),
            (Facts { held: true, paused: true, flushed: false, can_send: false, ..base }, Step::Wait),
            (Facts { peer_eof: true, ..base }, Step::Close),
            (Facts { peer_eof: true, held: true, ..base }, Step::Resume),
            (Facts { peer_eof: true, unsent: true, flushed: false, ..base }, Step::Send),
            (Facts { peer_eof: true, flushed: false, can_send: false, ..base }, Step::Wait),
            (Facts { close_requested: true, ..base }, Step::Close),
            (Facts { close_requested: true, unsent: true, flushed: false, ..base }, Step::Send),
            (Facts { close_requested: true, held: true, ..base }, Step::Close),
            (Facts { draining: true, held: true, flushed: false, can_send: false, ..base }, Step::Wait),
            (Facts { draining: true, ..base }, Step::Close),
            (Facts { killed: true, unsent: true, flushed: false, ..base }, Step::Close),
        ];
        for (facts, want) in rows {
            assert_eq!(next_step(facts), want, "{facts:?}");
        }
    }

    #[test]
    fn invariants_hold_for_every_combination() {
        for f in all_facts() {
            let step = next_step(f);
            if step == Step::Close && !f.flushed {
                assert!(f.killed, "only a killed connection closes with output not flushed: {f:?}");
            }
            if f.killed {
                assert_eq!(step, Step::Close, "{f:?}");
                continue;
            }
            if step == Step::Close {
                assert!(f.flushed, "replies are delivered before any other close: {f:?}");
                assert!(f.peer_eof || f.draining || f.close_requested, "no reason to close: {f:?}");
            }
            if f.unsent && f.can_send {
                assert_eq!(step, Step::Send, "output goes out whenever it can: {f:?}");
            }
            if step == Step::Read {
                assert!(!f.paused && !f.peer_eof && !f.draining && !f.close_requested && !f.held, "{f:?}");
            }
            if step == Step::Resume {
                assert!(f.held && !f.paused && !f.draining && !f.close_requested, "{f:?}");
            }
            let sending = f.unsent && f.can_send;
            let may_run = !f.paused && !f.draining && !f.close_requested;
            if f.peer_eof && f.held && may_run && !sending {
                assert_eq!(step, Step::Resume, "held requests still run after EOF: {f:?}");
            }
        }
    }
}
