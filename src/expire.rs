//! Active expiry: the periodic cycle that samples keys with a deadline and deletes the expired
//! ones (Redis's `activeExpireCycle`), so keys nobody reads again still go away. The uring
//! engine runs [`expire_tick`] from worker 0's timer; the other engines run it on a thread of
//! its own ([`with_expiry_thread`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use crate::shared::Shared;

/// How often active expiry runs, and how long one cycle may take (Redis: 10 Hz, 25% of it).
pub const EXPIRE_CYCLE_INTERVAL: Duration = Duration::from_millis(100);
pub const EXPIRE_CYCLE_BUDGET: Duration = Duration::from_millis(25);

/// Run active expiry once (engines without their own timer call this from a thread).
pub fn expire_tick(shared: &Shared) {
    let removed = shared.store.active_expire_cycle(crate::store::now_ms(), EXPIRE_CYCLE_BUDGET);
    if removed > 0 {
        shared.stats.expired_keys.fetch_add(removed as u64, Relaxed);
    }
}

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
