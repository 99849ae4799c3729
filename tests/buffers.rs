//! Buffers are given back, on every engine: after 100 clients hang up in the middle of
//! 16 MiB replies, the server's resident memory returns to within 64 MiB of what it was
//! before, within a few seconds (no pool keeps a dead connection's big send buffer, and the
//! allocator returns freed pages to the OS).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{eventually, resp, Engine, Server};

/// Size of the value every client asks for.
const VALUE_BYTES: usize = 16 << 20;
/// Clients, in waves of [`WAVE`] connected at once.
const CLIENTS: usize = 100;
const WAVE: usize = 10;
/// How far above the baseline RSS may stay once the clients are gone.
const RSS_SLACK_BYTES: u64 = 64 << 20;
/// How long the server has to give the memory back.
const SETTLE: Duration = Duration::from_secs(10);

fn rss_returns_after_clients_hang_up_mid_reply(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = server.unix();
    c.write_all(&resp(&[b"SET", b"big", &vec![b'x'; VALUE_BYTES]])).unwrap();
    assert_eq!(common::read_line(&mut c), b"+OK");
    std::thread::sleep(Duration::from_millis(500));
    let baseline = server.rss_bytes();
    let mut peak = baseline;
    for _ in 0..CLIENTS / WAVE {
        let mut wave: Vec<_> = (0..WAVE).map(|_| server.unix()).collect();
        for s in &mut wave {
            s.write_all(&resp(&[b"GET", b"big"])).unwrap();
        }
        for s in &mut wave {
            let mut head = [0u8; 4096];
            s.read_exact(&mut head).unwrap();
            assert_eq!(&head[..10], b"$16777216\r");
        }
        peak = peak.max(server.rss_bytes());
        drop(wave); // hang up with most of each reply unsent
    }
    let settled = eventually(SETTLE, || server.rss_bytes() <= baseline + RSS_SLACK_BYTES);
    let now = server.rss_bytes();
    assert!(settled, "RSS {now} stayed over baseline {baseline} + 64 MiB (peak {peak})");
    // The server still serves.
    c.write_all(&resp(&[b"STRLEN", b"big"])).unwrap();
    assert_eq!(common::read_line(&mut c), b":16777216");
}

engine_tests!(rss_returns_after_clients_hang_up_mid_reply);
