//! `user_data` tokens: what a completion is about.
//!
//! Every SQE carries a 64-bit token the kernel hands back unchanged in its CQE:
//!
//! ```text
//!  63                              32 31                       8 7        0
//! +----------------------------------+--------------------------+----------+
//! |            slot (u32)            |     generation (24 bit)  | op (u8)  |
//! +----------------------------------+--------------------------+----------+
//! ```
//!
//! - `slot` indexes the worker's connection slab; [`SLOT_RESERVED`] marks tokens that belong
//!   to no connection (accepts, the shutdown eventfd, timers, fd hand-offs).
//! - `generation` is the slot's generation when the SQE was queued. A slot's generation is
//!   bumped each time it is freed, so a completion for a closed-and-reused slot is recognised
//!   and dropped (after its provided buffer, if any, is given back). For reserved tokens the
//!   field carries a small argument instead (the listener index of an accept).
//! - `op` says which operation completed ([`Op`]); an unknown value is a bug and is logged.
//!
//! For [`Op::HandoffSent`] the slot field carries the descriptor that was handed off, so a
//! failed hand-off can be taken over by the sender.

/// Slot value of tokens that belong to no connection.
pub const SLOT_RESERVED: u32 = u32::MAX;
/// Generations wrap at 24 bits; a slot would have to be reused 16 million times while one of
/// its completions is outstanding to confuse them, and a slot is never reused while any is.
pub const GEN_MASK: u32 = (1 << 24) - 1;

/// The operation a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// (Multishot) accept on listener `arg`.
    Accept = 1,
    /// Receive on a connection (multishot with buffer select, or single-shot in basic mode).
    Recv = 2,
    /// Send from a connection's in-flight buffer.
    Send = 3,
    /// AsyncCancel issued for a connection's op (its own completion is counted like any op).
    Cancel = 4,
    /// Close of a connection's descriptor through the ring.
    Close = 5,
    /// Read on the worker's shutdown eventfd.
    Wake = 6,
    /// The worker's periodic timer (active expiry on worker 0, idle-client sweep).
    Tick = 7,
    /// A timer that keeps the loop turning while draining at shutdown.
    DrainTick = 8,
    /// An accepted descriptor arriving from the acceptor worker (MSG_RING); result = fd.
    Handoff = 9,
    /// Our MSG_RING to another worker completed; slot field = the fd that was sent.
    HandoffSent = 10,
    /// Close of a descriptor that never became a connection (refused, or accepted while
    /// shutting down).
    CloseUnowned = 11,
    /// AsyncCancel of a reserved op (accepts, timers) — result only logged.
    CancelReserved = 12,
    /// Timer after which a listener whose accept failed with EMFILE & co. is re-armed.
    AcceptBackoff = 13,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Cancel,
            5 => Op::Close,
            6 => Op::Wake,
            7 => Op::Tick,
            8 => Op::DrainTick,
            9 => Op::Handoff,
            10 => Op::HandoffSent,
            11 => Op::CloseUnowned,
            12 => Op::CancelReserved,
            13 => Op::AcceptBackoff,
            _ => return None,
        })
    }
}

/// A decoded `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub slot: u32,
    /// Generation (connection tokens) or small argument (reserved tokens), 24 bits.
    pub gen: u32,
    pub op: Op,
}

impl Token {
    /// A token for connection slot `slot` at generation `gen`.
    pub const fn conn(slot: u32, gen: u32, op: Op) -> Token {
        Token { slot, gen: gen & GEN_MASK, op }
    }

    /// A token that belongs to no connection, with a small argument.
    pub const fn reserved(op: Op, arg: u32) -> Token {
        Token { slot: SLOT_RESERVED, gen: arg & GEN_MASK, op }
    }

    pub const fn encode(self) -> u64 {
        ((self.slot as u64) << 32) | (((self.gen & GEN_MASK) as u64) << 8) | self.op as u64
    }

    /// `None` for a value no SQE of ours carries (a bug; the caller logs it).
    pub fn decode(user_data: u64) -> Option<Token> {
        let op = Op::from_u8((user_data & 0xff) as u8)?;
        Some(Token { slot: (user_data >> 32) as u32, gen: ((user_data >> 8) as u32) & GEN_MASK, op })
    }

    pub fn is_reserved(self) -> bool {
        self.slot == SLOT_RESERVED
    }
}

/// The shutdown eventfd read.
pub const WAKE: u64 = Token::reserved(Op::Wake, 0).encode();
/// The periodic timer.
pub const TICK: u64 = Token::reserved(Op::Tick, 0).encode();
/// The drain timer (shutdown only).
pub const DRAIN_TICK: u64 = Token::reserved(Op::DrainTick, 0).encode();
/// What an incoming hand-off CQE carries (set by the sender in the MSG_RING SQE).
pub const HANDOFF: u64 = Token::reserved(Op::Handoff, 0).encode();
/// A close of a descriptor that is not a connection.
pub const CLOSE_UNOWNED: u64 = Token::reserved(Op::CloseUnowned, 0).encode();
/// Completion of an AsyncCancel aimed at a reserved op.
pub const CANCEL_RESERVED: u64 = Token::reserved(Op::CancelReserved, 0).encode();

/// The accept on listener `index`.
pub const fn accept(index: usize) -> u64 {
    Token::reserved(Op::Accept, index as u32).encode()
}

/// The backoff timer of listener `index`.
pub const fn accept_backoff(index: usize) -> u64 {
    Token::reserved(Op::AcceptBackoff, index as u32).encode()
}

/// The sender-side completion of handing `fd` to another worker.
pub fn handoff_sent(fd: i32) -> u64 {
    Token { slot: fd as u32, gen: 0, op: Op::HandoffSent }.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for op in [
            Op::Accept,
            Op::Recv,
            Op::Send,
            Op::Cancel,
            Op::Close,
            Op::Wake,
            Op::Tick,
            Op::DrainTick,
            Op::Handoff,
            Op::HandoffSent,
            Op::CloseUnowned,
            Op::CancelReserved,
            Op::AcceptBackoff,
        ] {
            for (slot, gen) in [(0, 0), (1, 1), (12345, GEN_MASK), (SLOT_RESERVED - 1, 77), (SLOT_RESERVED, 3)] {
                let t = Token::conn(slot, gen, op);
                assert_eq!(Token::decode(t.encode()), Some(t));
            }
        }
    }

    #[test]
    fn generation_wraps_within_its_field() {
        let t = Token::conn(5, GEN_MASK + 2, Op::Recv);
        assert_eq!(t.gen, 1);
        assert_eq!(Token::decode(t.encode()).map(|t| t.slot), Some(5));
    }

    #[test]
    fn reserved_values_are_distinct_and_unknown_ops_rejected() {
        let all =
            [WAKE, TICK, DRAIN_TICK, HANDOFF, CLOSE_UNOWNED, CANCEL_RESERVED, accept(0), accept(1), accept_backoff(0)];
        for (i, a) in all.iter().enumerate() {
            assert!(Token::decode(*a).is_some_and(|t| t.is_reserved()));
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(0xff), None);
        assert_eq!(Token::decode(handoff_sent(42)).map(|t| (t.slot, t.op)), Some((42, Op::HandoffSent)));
    }
}
