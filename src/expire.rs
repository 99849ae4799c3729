//! Active expiry: the periodic cycle that samples keys with a deadline and deletes the expired
//! ones (Redis's `activeExpireCycle`), so keys nobody reads again still go away. The uring
//! engine runs [`expire_tick`] from worker 0's timer; the other engines run it on a thread of
//! its own ([`with_expiry_thread`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::shared::Shared;

/// How often active expiry runs, and how long one cycle may take (Redis: 10 Hz, 25% of it).
pub const EXPIRE_CYCLE_INTERVAL: Duration = Duration::from_millis(100);
pub const EXPIRE_CYCLE_BUDGET: Duration = Duration::from_millis(25);
/// Longest an active expiry slice holds its read side of the isolation lock: the most an EXEC
/// waits for expiry.
pub const EXPIRE_SLICE_BUDGET: Duration = Duration::from_millis(1);

/// Run active expiry once (engines without their own timer call this from a thread).
///
/// Deleting keys is a modification an EXEC must not see half-way, so expiry holds a read
/// side of the isolation lock ([`crate::exclusive`]), in slices of [`EXPIRE_SLICE_BUDGET`]
/// so an EXEC waits for at most one slice; while an EXEC or script holds (or waits for) the
/// exclusive side the cycle is skipped, never waited for. Each slice resumes where the previous stopped; a
/// slice that ends before its budget has walked every shard, and the cycle stops.
pub fn expire_tick(shared: &Shared) {
    if shared.blocking.paused() {
        return; // the dataset stays still while clients are paused, as in Redis
    }
    let started = Instant::now();
    let (mut removed, mut sampled, mut capped) = (0, 0, false);
    loop {
        let slice_started = Instant::now();
        // Never wait for the lock: the uring engine runs this on a worker, which must keep
        // serving its connections while a script holds the exclusive side (BUSY, SCRIPT
        // KILL). Busy now: the cycle resumes at the next tick (lazy expiry still applies).
        let Some(read) = shared.isolation.try_read(crate::exclusive::BACKGROUND_STRIPE) else { break };
        let cycle = shared.store.active_expire_cycle_counted(crate::store::now_ms(), EXPIRE_SLICE_BUDGET);
        (removed, sampled) = (removed + cycle.removed, sampled + cycle.sampled);
        drop(read);
        if slice_started.elapsed() < EXPIRE_SLICE_BUDGET {
            break;
        }
        if started.elapsed() >= EXPIRE_CYCLE_BUDGET {
            capped = true;
            break;
        }
    }
    let st = &shared.stats;
    if removed > 0 {
        st.expired_keys.fetch_add(removed as u64, Relaxed);
    }
    st.expire_cycle_us.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
    st.expire_time_cap_reached.fetch_add(u64::from(capped), Relaxed);
    if sampled > 0 {
        // Redis's estimate: 5% of this cycle's share, 95% of the previous estimate. One
        // thread runs the cycles, so a load and a store suffice.
        let current = removed as f64 / sampled as f64;
        let before = f64::from_bits(st.expired_stale_perc.load(Relaxed));
        st.expired_stale_perc
            .store((current * STALE_NEW_WEIGHT + before * (1.0 - STALE_NEW_WEIGHT)).to_bits(), Relaxed);
    }
}

/// Weight of the newest cycle in the `expired_stale_perc` estimate (Redis's 0.05).
const STALE_NEW_WEIGHT: f64 = 0.05;

/// A thread that runs [`expire_tick`] every [`EXPIRE_CYCLE_INTERVAL`] until shutdown.
pub fn spawn_expiry_thread(shared: &Arc<Shared>) -> std::thread::JoinHandle<()> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("ringkv-expire".into())
        .spawn(move || {
            while !shared.shutting_down() {
                std::thread::sleep(EXPIRE_CYCLE_INTERVAL);
                expire_tick(&shared);
            }
        })
        .expect("spawn expiry thread")
}

/// Run `serve` with the active-expiry thread beside it (for engines without their own timer).
pub fn with_expiry_thread(shared: &Arc<Shared>, serve: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let expiry = spawn_expiry_thread(shared);
    let r = serve();
    shared.begin_shutdown();
    let _ = expiry.join();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use clap::Parser as _;

    #[test]
    fn active_expiry_skips_an_exclusive_section() {
        // While an EXEC holds the exclusive side, an expiry tick on another thread returns at
        // once (it never waits: uring runs it on a worker) and deletes nothing; once the
        // section ends, ticks delete.
        let shared = Arc::new(Shared::new(Config::parse_from(["ringkv-server"])));
        let now = crate::store::now_ms();
        for i in 0..100 {
            let key = format!("k{i}").into_bytes();
            shared.store.with_key(0, &key, now, |k| k.set(b"v".to_vec(), Some(now + 1)));
        }
        std::thread::sleep(Duration::from_millis(5));
        let exclusive = shared.isolation.exclusive();
        let tick = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || expire_tick(&shared)
        });
        tick.join().expect("the expiry tick returns while the section runs");
        assert_eq!(shared.store.db_len(0), 100, "expiry ran inside the exclusive section");
        drop(exclusive);
        // A loaded machine may stretch one tick past its budget: allow a few more.
        for _ in 0..100 {
            if shared.store.db_len(0) == 0 {
                break;
            }
            expire_tick(&shared);
        }
        assert_eq!(shared.store.db_len(0), 0);
    }
}
