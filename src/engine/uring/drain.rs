//! A worker's shutdown state machine.
//!
//! ```text
//!   Running ──(shutdown wake / shutting_down)──► Draining { deadline, forced: false }
//!                                                   │  no accepting, no reading; replies
//!                                                   │  flushed, connections closed as the
//!                                                   │  connection rules say
//!                                                   ├──(deadline passed)──► forced: true
//!                                                   │  (every connection killed, once)
//!                                                   ▼
//!            (peers quiet, accepts stopped, no hand-off in flight, no connection)
//!                                                   ▼
//!                                               Finishing ──(no reserved op, no connection)──► loop ends
//!                                                   cancel the worker's own ops (wake, tick, drain tick)
//! ```
//!
//! [`Lifecycle`] only decides; the worker does what each transition asks (cancel accepts,
//! touch or kill connections, cancel timers). It is pure, so its transitions are tested here.

use std::time::Instant;

use crate::engine::limits::SHUTDOWN_FLUSH_TIMEOUT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    /// Shutdown: not accepting, not reading; flushing replies, closing connections.
    Draining {
        /// When replies still unsent stop being waited for.
        deadline: Instant,
        /// The deadline passed and every connection was told to close without flushing.
        forced: bool,
    },
    /// Every connection is gone; cancelling the worker's own ops and waiting for them.
    Finishing,
}

/// What must all hold before a draining worker finishes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet {
    /// No acceptor may still hand us a descriptor (checked before an enter that waited).
    pub peers_quiet: bool,
    /// Our own accepts are stopped and no hand-off of ours is in flight.
    pub acceptor_done: bool,
    /// Connections still in the slab.
    pub connections: usize,
}

/// Where the worker is between serving and exiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    state: State,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle { state: State::Running }
    }
}

impl Lifecycle {
    pub fn state(&self) -> State {
        self.state
    }

    #[inline]
    pub fn running(&self) -> bool {
        self.state == State::Running
    }

    #[inline]
    pub fn draining(&self) -> bool {
        matches!(self.state, State::Draining { .. })
    }

    #[inline]
    pub fn finishing(&self) -> bool {
        self.state == State::Finishing
    }

    /// Running → Draining, with the flush deadline [`SHUTDOWN_FLUSH_TIMEOUT`] from `now`.
    /// False (nothing to do) when already past Running.
    pub fn begin_drain(&mut self, now: Instant) -> bool {
        if self.state != State::Running {
            return false;
        }
        self.state = State::Draining { deadline: now + SHUTDOWN_FLUSH_TIMEOUT, forced: false };
        true
    }

    /// Draining and the flush deadline has passed: true once, when the worker must close
    /// every connection without flushing.
    pub fn flush_deadline_passed(&mut self, now: Instant) -> bool {
        match self.state {
            State::Draining { deadline, forced: false } if now >= deadline => {
                self.state = State::Draining { deadline, forced: true };
                true
            }
            _ => false,
        }
    }

    /// Draining → Finishing once everything in `quiet` holds. True when it moved: the worker
    /// then cancels its own ops.
    pub fn finish(&mut self, quiet: Quiet) -> bool {
        if !self.draining() || !quiet.peers_quiet || !quiet.acceptor_done || quiet.connections > 0 {
            return false;
        }
        self.state = State::Finishing;
        true
    }

    /// The loop may end: finishing, with no reserved op in flight and no connection left.
    #[inline]
    pub fn done(&self, reserved_inflight: u32, connections: usize) -> bool {
        self.state == State::Finishing && reserved_inflight == 0 && connections == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Quiet = Quiet { peers_quiet: true, acceptor_done: true, connections: 0 };

    #[test]
    fn running_drains_once_with_a_deadline() {
        let now = Instant::now();
        let mut life = Lifecycle::default();
        assert!(life.running());
        assert!(!life.done(0, 0), "a running worker never ends");
        assert!(life.begin_drain(now));
        assert_eq!(life.state(), State::Draining { deadline: now + SHUTDOWN_FLUSH_TIMEOUT, forced: false });
        assert!(!life.begin_drain(now + SHUTDOWN_FLUSH_TIMEOUT), "a second wake changes nothing");
        assert_eq!(life.state(), State::Draining { deadline: now + SHUTDOWN_FLUSH_TIMEOUT, forced: false });
    }

    #[test]
    fn the_flush_deadline_forces_closes_once() {
        let now = Instant::now();
        let mut life = Lifecycle::default();
        assert!(!life.flush_deadline_passed(now + SHUTDOWN_FLUSH_TIMEOUT), "not while running");
        life.begin_drain(now);
        assert!(!life.flush_deadline_passed(now));
        assert!(!life.flush_deadline_passed(now + SHUTDOWN_FLUSH_TIMEOUT / 2));
        assert!(life.flush_deadline_passed(now + SHUTDOWN_FLUSH_TIMEOUT));
        assert!(life.draining(), "forcing closes does not finish");
        assert!(!life.flush_deadline_passed(now + SHUTDOWN_FLUSH_TIMEOUT * 2), "only once");
    }

    #[test]
    fn finishing_needs_every_condition() {
        let mut life = Lifecycle::default();
        assert!(!life.finish(QUIET), "not from Running");
        life.begin_drain(Instant::now());
        for not_yet in [
            Quiet { peers_quiet: false, ..QUIET },
            Quiet { acceptor_done: false, ..QUIET },
            Quiet { connections: 1, ..QUIET },
        ] {
            assert!(!life.finish(not_yet), "{not_yet:?}");
            assert!(life.draining());
        }
        assert!(life.finish(QUIET));
        assert!(life.finishing());
        assert!(!life.finish(QUIET), "only once");
        assert!(!life.begin_drain(Instant::now()), "never back to draining");
        assert!(!life.flush_deadline_passed(Instant::now() + SHUTDOWN_FLUSH_TIMEOUT * 2));
    }

    #[test]
    fn the_loop_ends_only_when_finished_and_empty() {
        let mut life = Lifecycle::default();
        life.begin_drain(Instant::now());
        assert!(!life.done(0, 0), "draining");
        life.finish(QUIET);
        assert!(!life.done(1, 0), "a reserved op in flight");
        assert!(!life.done(0, 1), "a connection still closing");
        assert!(life.done(0, 0));
    }
}
