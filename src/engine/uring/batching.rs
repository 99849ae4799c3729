//! The batching heuristic: how many completions the next `io_uring_enter` waits for.
//!
//! A worker that handled several requests in its last batch, one or two per recv, is busy
//! with many clients each waiting for a reply: it waits (for at most `--uring-batch-wait-us`,
//! see [`crate::ring::Ring::enter`]) for a batch as large as the last one plus the sends it
//! just queued (those complete at once), so one wakeup and one syscall serve many requests.
//! Otherwise it waits for one completion, adding no latency to a lone client, and pipelining
//! clients (many requests per recv) are not waited for either: each completion already
//! carries many requests, and waiting would only idle the worker while they wait for replies
//! (see docs/syscalls.md).

use super::CQE_BATCH_MAX;

/// Above this many requests per recv completion (on average over a batch) clients are
/// pipelining, and the worker does not wait for a batch to gather.
pub const PIPELINED_REQUESTS_PER_RECV: u64 = 2;

/// What the last batch brought, counted between two enters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batching {
    /// Sends queued since the last enter.
    sends_queued: u32,
    /// Recv completions with data in the last batch.
    recvs_with_data: u32,
    /// Requests those recvs carried.
    requests: u64,
}

impl Batching {
    /// A send was queued (`queued`) or found nothing to start.
    #[inline]
    pub fn send_queued(&mut self, queued: bool) {
        self.sends_queued += u32::from(queued);
    }

    /// A recv completion brought data that ran `requests` requests.
    #[inline]
    pub fn recv_with_data(&mut self, requests: u64) {
        self.recvs_with_data += 1;
        self.requests += requests;
    }

    /// Completions the next enter waits for: a batch when busy and not pipelined, else 1.
    #[inline]
    pub fn want(&self) -> u32 {
        let unpipelined = self.requests <= PIPELINED_REQUESTS_PER_RECV * u64::from(self.recvs_with_data);
        if self.recvs_with_data >= 2 && unpipelined {
            self.sends_queued.saturating_add(self.recvs_with_data).min(CQE_BATCH_MAX as u32)
        } else {
            1
        }
    }

    /// The enter happened: start counting the next batch.
    #[inline]
    pub fn entered(&mut self) {
        *self = Batching::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(sends: u32, recvs: &[u64]) -> Batching {
        let mut b = Batching::default();
        for _ in 0..sends {
            b.send_queued(true);
        }
        b.send_queued(false);
        for &requests in recvs {
            b.recv_with_data(requests);
        }
        b
    }

    #[test]
    fn a_quiet_worker_waits_for_one_completion() {
        assert_eq!(Batching::default().want(), 1);
        assert_eq!(batch(5, &[]).want(), 1, "sends alone are no batch");
        assert_eq!(batch(1, &[1]).want(), 1, "one recv is a lone client");
    }

    #[test]
    fn a_busy_worker_waits_for_a_batch_as_large_plus_its_sends() {
        assert_eq!(batch(0, &[1, 1]).want(), 2);
        assert_eq!(batch(3, &[1, 1, 1]).want(), 6);
        assert_eq!(batch(4, &[2, 2, 2, 2]).want(), 8, "two requests per recv is still not pipelining");
    }

    #[test]
    fn pipelining_clients_are_not_waited_for() {
        assert_eq!(batch(2, &[2, 3]).want(), 1, "5 requests over 2 recvs passes 2 per recv");
        assert_eq!(batch(50, &[16; 50]).want(), 1);
        assert_eq!(batch(2, &[0, 4]).want(), 4, "the average counts, not one recv");
    }

    #[test]
    fn the_wait_is_bounded_by_the_reap_batch() {
        assert_eq!(batch(CQE_BATCH_MAX as u32, &[1; 10]).want(), CQE_BATCH_MAX as u32);
        let mut b = batch(0, &[1, 1]);
        b.sends_queued = u32::MAX;
        assert_eq!(b.want(), CQE_BATCH_MAX as u32, "saturates, never wraps");
    }

    #[test]
    fn entering_starts_a_new_count() {
        let mut b = batch(3, &[1, 1, 1]);
        b.entered();
        assert_eq!(b, Batching::default());
        assert_eq!(b.want(), 1);
    }
}
