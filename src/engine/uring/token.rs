//! `user_data` tokens: what a completion is about.
//!
//! Every SQE carries a 64-bit token the kernel hands back unchanged in its CQE. The low byte
//! is the token's kind; the other 56 bits are that kind's payload, with a layout of its own
//! (no field means one thing for one kind and another for the next):
//!
//! ```text
//!  kind (tag)                63                 32 31                   8 7        0
//!                           +---------------------+----------------------+----------+
//!  Conn (Recv 2, Send 3,    |     slot (u32)      | generation (24 bit)  |   tag    |
//!        Cancel 4, Close 5) +---------------------+----------------------+----------+
//!  Accept 1, AcceptBackoff  |   listener (u32)    |          0           |   tag    |
//!                       13  +---------------------+----------------------+----------+
//!  HandoffSent 10           |   descriptor (i32)  |          0           |   tag    |
//!                           +---------------------+----------------------+----------+
//!  Wake 6, Tick 7,          |                      0                     |   tag    |
//!  DrainTick 8, Handoff 9,  +--------------------------------------------+----------+
//!  CloseUnowned 11, CancelReserved 12, AofWrite 14, AofFsync 15, AofHold 16
//! ```
//!
//! - `Conn`: `slot` indexes the worker's connection slab; `generation` is the slot's
//!   generation when the SQE was queued. A slot's generation is bumped each time it is freed,
//!   so a completion for a closed-and-reused slot is recognised and dropped (after its
//!   provided buffer, if any, is given back).
//! - `Accept`/`AcceptBackoff`: the index of the listener the accept (or its backoff timer)
//!   belongs to.
//! - `HandoffSent`: the descriptor that was handed to another worker, so a failed hand-off
//!   can be taken over by the sender.
//! - The rest name one operation of the worker and carry nothing ([`WAKE`], [`TICK`], ...).
//!
//! [`Token::decode`] rejects an unknown tag and a payload its kind does not have (bits that
//! must be zero are not): both are bugs, and the caller logs them.

use std::os::fd::RawFd;

/// Generations wrap at 24 bits; a slot would have to be reused 16 million times while one of
/// its completions is outstanding to confuse them, and a slot is never reused while any is.
pub const GEN_MASK: u32 = (1 << 24) - 1;

/// Kind tags (the token's low byte). Zero is no kind, so an all-zero `user_data` is rejected.
mod tag {
    pub const ACCEPT: u8 = 1;
    pub const RECV: u8 = 2;
    pub const SEND: u8 = 3;
    pub const CANCEL: u8 = 4;
    pub const CLOSE: u8 = 5;
    pub const WAKE: u8 = 6;
    pub const TICK: u8 = 7;
    pub const DRAIN_TICK: u8 = 8;
    pub const HANDOFF: u8 = 9;
    pub const HANDOFF_SENT: u8 = 10;
    pub const CLOSE_UNOWNED: u8 = 11;
    pub const CANCEL_RESERVED: u8 = 12;
    pub const ACCEPT_BACKOFF: u8 = 13;
    pub const AOF_WRITE: u8 = 14;
    pub const AOF_FSYNC: u8 = 15;
    pub const AOF_HOLD: u8 = 16;
}

/// Bits 8..32: the generation of a connection token, zero in every other kind.
const MID_MASK: u64 = 0xffff_ff00;

/// Which of a connection's operations completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnOp {
    /// Receive (multishot with buffer select, or single-shot in basic mode).
    Recv,
    /// Send from the connection's in-flight buffer.
    Send,
    /// AsyncCancel issued for one of the connection's ops (counted like any op).
    Cancel,
    /// Close of the connection's descriptor through the ring.
    Close,
}

impl ConnOp {
    const fn tag(self) -> u8 {
        match self {
            ConnOp::Recv => tag::RECV,
            ConnOp::Send => tag::SEND,
            ConnOp::Cancel => tag::CANCEL,
            ConnOp::Close => tag::CLOSE,
        }
    }
}

/// A decoded `user_data`: what a completion is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// An op of the connection in `slot`, queued at generation `gen` (24 bits).
    Conn { slot: u32, gen: u32, op: ConnOp },
    /// The (multishot) accept on listener `listener`.
    Accept { listener: u32 },
    /// The timer after which listener `listener`, whose accept failed with EMFILE & co., is
    /// re-armed.
    AcceptBackoff { listener: u32 },
    /// Our MSG_RING handing `fd` to another worker completed.
    HandoffSent { fd: RawFd },
    /// The read on the worker's eventfd (shutdown wake).
    Wake,
    /// The worker's periodic timer (active expiry on worker 0, idle-client sweep).
    Tick,
    /// The timer that keeps the loop turning while draining at shutdown.
    DrainTick,
    /// An accepted descriptor arriving from the acceptor worker (MSG_RING); result = fd.
    Handoff,
    /// Close of a descriptor that never became a connection (refused, or accepted while
    /// shutting down).
    CloseUnowned,
    /// AsyncCancel of a reserved op (accepts, timers): result only logged.
    CancelReserved,
    /// The write of pending AOF bytes (`appendfsync always`, see `persist::aof`).
    AofWrite,
    /// The fdatasync linked after it.
    AofFsync,
    /// The timer that ends a hold of the next AOF flush (group commit, see
    /// `Worker::aof_step`).
    AofHold,
}

impl Token {
    /// A token for connection slot `slot` at generation `gen` (wrapped to 24 bits).
    #[inline]
    pub const fn conn(slot: u32, gen: u32, op: ConnOp) -> Token {
        Token::Conn { slot, gen: gen & GEN_MASK, op }
    }

    #[inline]
    pub const fn encode(self) -> u64 {
        let (tag, high, mid): (u8, u32, u32) = match self {
            Token::Conn { slot, gen, op } => (op.tag(), slot, gen & GEN_MASK),
            Token::Accept { listener } => (tag::ACCEPT, listener, 0),
            Token::AcceptBackoff { listener } => (tag::ACCEPT_BACKOFF, listener, 0),
            Token::HandoffSent { fd } => (tag::HANDOFF_SENT, fd as u32, 0),
            Token::Wake => (tag::WAKE, 0, 0),
            Token::Tick => (tag::TICK, 0, 0),
            Token::DrainTick => (tag::DRAIN_TICK, 0, 0),
            Token::Handoff => (tag::HANDOFF, 0, 0),
            Token::CloseUnowned => (tag::CLOSE_UNOWNED, 0, 0),
            Token::CancelReserved => (tag::CANCEL_RESERVED, 0, 0),
            Token::AofWrite => (tag::AOF_WRITE, 0, 0),
            Token::AofFsync => (tag::AOF_FSYNC, 0, 0),
            Token::AofHold => (tag::AOF_HOLD, 0, 0),
        };
        ((high as u64) << 32) | ((mid as u64) << 8) | tag as u64
    }

    /// `None` for a value no SQE of ours carries: an unknown tag, or payload bits its kind
    /// does not have (a bug; the caller logs it).
    #[inline]
    pub fn decode(user_data: u64) -> Option<Token> {
        let high = (user_data >> 32) as u32;
        let mid = user_data & MID_MASK;
        let conn = |op| Some(Token::Conn { slot: high, gen: (mid >> 8) as u32, op });
        let plain = |t| if mid == 0 && high == 0 { Some(t) } else { None };
        match user_data as u8 {
            tag::RECV => conn(ConnOp::Recv),
            tag::SEND => conn(ConnOp::Send),
            tag::CANCEL => conn(ConnOp::Cancel),
            tag::CLOSE => conn(ConnOp::Close),
            tag::ACCEPT if mid == 0 => Some(Token::Accept { listener: high }),
            tag::ACCEPT_BACKOFF if mid == 0 => Some(Token::AcceptBackoff { listener: high }),
            tag::HANDOFF_SENT if mid == 0 => Some(Token::HandoffSent { fd: high as RawFd }),
            tag::WAKE => plain(Token::Wake),
            tag::TICK => plain(Token::Tick),
            tag::DRAIN_TICK => plain(Token::DrainTick),
            tag::HANDOFF => plain(Token::Handoff),
            tag::CLOSE_UNOWNED => plain(Token::CloseUnowned),
            tag::CANCEL_RESERVED => plain(Token::CancelReserved),
            tag::AOF_WRITE => plain(Token::AofWrite),
            tag::AOF_FSYNC => plain(Token::AofFsync),
            tag::AOF_HOLD => plain(Token::AofHold),
            _ => None,
        }
    }
}

/// The shutdown eventfd read.
pub const WAKE: u64 = Token::Wake.encode();
/// The periodic timer.
pub const TICK: u64 = Token::Tick.encode();
/// The drain timer (shutdown only).
pub const DRAIN_TICK: u64 = Token::DrainTick.encode();
/// What an incoming hand-off CQE carries (set by the sender in the MSG_RING SQE).
pub const HANDOFF: u64 = Token::Handoff.encode();
/// A close of a descriptor that is not a connection.
pub const CLOSE_UNOWNED: u64 = Token::CloseUnowned.encode();
/// Completion of an AsyncCancel aimed at a reserved op.
pub const CANCEL_RESERVED: u64 = Token::CancelReserved.encode();

/// The accept on listener `index`.
pub const fn accept(index: usize) -> u64 {
    Token::Accept { listener: index as u32 }.encode()
}

/// The backoff timer of listener `index`.
pub const fn accept_backoff(index: usize) -> u64 {
    Token::AcceptBackoff { listener: index as u32 }.encode()
}

/// The sender-side completion of handing `fd` to another worker.
pub const fn handoff_sent(fd: RawFd) -> u64 {
    Token::HandoffSent { fd }.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [ConnOp; 4] = [ConnOp::Recv, ConnOp::Send, ConnOp::Cancel, ConnOp::Close];

    /// One of every kind, with edge values in each payload.
    fn every_variant() -> Vec<Token> {
        let mut all = Vec::new();
        for op in OPS {
            for (slot, gen) in [(0, 0), (1, 1), (12345, GEN_MASK), (u32::MAX - 1, 77), (u32::MAX, GEN_MASK)] {
                all.push(Token::conn(slot, gen, op));
            }
        }
        for listener in [0, 1, 255, u32::MAX] {
            all.push(Token::Accept { listener });
            all.push(Token::AcceptBackoff { listener });
        }
        for fd in [0, 1, 42, i32::MAX, -1, i32::MIN] {
            all.push(Token::HandoffSent { fd });
        }
        all.extend([
            Token::Wake,
            Token::Tick,
            Token::DrainTick,
            Token::Handoff,
            Token::CloseUnowned,
            Token::CancelReserved,
            Token::AofWrite,
            Token::AofFsync,
            Token::AofHold,
        ]);
        all
    }

    #[test]
    fn every_variant_round_trips() {
        for t in every_variant() {
            assert_eq!(Token::decode(t.encode()), Some(t), "{t:?} = {:#x}", t.encode());
        }
    }

    #[test]
    fn encodings_are_distinct() {
        let all = every_variant();
        let mut seen = std::collections::HashSet::new();
        for t in &all {
            assert!(seen.insert(t.encode()), "{t:?} collides");
        }
    }

    #[test]
    fn the_low_byte_is_the_kind() {
        let tags: Vec<u8> = [
            Token::Accept { listener: 7 },
            Token::conn(9, 3, ConnOp::Recv),
            Token::conn(9, 3, ConnOp::Send),
            Token::conn(9, 3, ConnOp::Cancel),
            Token::conn(9, 3, ConnOp::Close),
            Token::Wake,
            Token::Tick,
            Token::DrainTick,
            Token::Handoff,
            Token::HandoffSent { fd: 5 },
            Token::CloseUnowned,
            Token::CancelReserved,
            Token::AcceptBackoff { listener: 7 },
        ]
        .iter()
        .map(|t| t.encode() as u8)
        .collect();
        assert_eq!(tags, (1..=13).collect::<Vec<u8>>());
        assert_eq!(Token::conn(0x0102_0304, 0x05_0607, ConnOp::Send).encode(), 0x0102_0304_0506_0703);
        assert_eq!(Token::Accept { listener: 2 }.encode(), 0x0000_0002_0000_0001);
        assert_eq!(Token::HandoffSent { fd: -1 }.encode(), 0xffff_ffff_0000_000a);
    }

    #[test]
    fn generation_wraps_within_its_field() {
        let t = Token::conn(5, GEN_MASK + 2, ConnOp::Recv);
        assert_eq!(t, Token::Conn { slot: 5, gen: 1, op: ConnOp::Recv });
        assert_eq!(Token::decode(t.encode()), Some(t));
    }

    #[test]
    fn unknown_tags_are_rejected() {
        for tag in (0..=u8::MAX).filter(|t| !(1..=16).contains(t)) {
            assert_eq!(Token::decode(u64::from(tag)), None, "tag {tag}");
            assert_eq!(Token::decode(0xffff_ffff_ffff_ff00 | u64::from(tag)), None, "tag {tag}");
        }
    }

    #[test]
    fn payload_a_kind_does_not_have_is_rejected() {
        for plain in [WAKE, TICK, DRAIN_TICK, HANDOFF, CLOSE_UNOWNED, CANCEL_RESERVED] {
            assert!(Token::decode(plain).is_some());
            assert_eq!(Token::decode(plain | 1 << 8), None, "{plain:#x} with a generation");
            assert_eq!(Token::decode(plain | 1 << 32), None, "{plain:#x} with a slot");
            assert_eq!(Token::decode(plain | 1 << 63), None, "{plain:#x} with the top bit");
        }
        for keyed in [accept(3), accept_backoff(3), handoff_sent(3)] {
            assert!(Token::decode(keyed).is_some());
            assert_eq!(Token::decode(keyed | 1 << 8), None, "{keyed:#x} with a generation");
            assert_eq!(Token::decode(keyed | 1 << 31), None, "{keyed:#x} with a generation");
        }
    }

    #[test]
    fn named_values_decode_to_their_kind() {
        assert_eq!(Token::decode(WAKE), Some(Token::Wake));
        assert_eq!(Token::decode(TICK), Some(Token::Tick));
        assert_eq!(Token::decode(DRAIN_TICK), Some(Token::DrainTick));
        assert_eq!(Token::decode(HANDOFF), Some(Token::Handoff));
        assert_eq!(Token::decode(CLOSE_UNOWNED), Some(Token::CloseUnowned));
        assert_eq!(Token::decode(CANCEL_RESERVED), Some(Token::CancelReserved));
        assert_eq!(Token::decode(accept(1)), Some(Token::Accept { listener: 1 }));
        assert_eq!(Token::decode(accept_backoff(0)), Some(Token::AcceptBackoff { listener: 0 }));
        assert_eq!(Token::decode(handoff_sent(42)), Some(Token::HandoffSent { fd: 42 }));
    }
}
