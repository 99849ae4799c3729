//! Replies that reference stored values (issue 10, item 1), on every engine: a big string is
//! sent from the store's refcounted buffer instead of a copy per reader. Checks that a value
//! appended to, overwritten and deleted while slow readers receive it reaches each reader
//! intact (as it was when that reader asked); that pipelines mixing small and big replies
//! arrive in order and byte-exact in RESP2, RESP3, inside MULTI/EXEC and with `appendfsync
//! always`; and that K slow readers of one big value do not cost K copies of it.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{bulk, pattern, read_line, read_n, resp, Engine, Server};

/// Bigger than the reference threshold (16 KiB) and than what socket buffers absorb, so
/// replies are still in the server while the value changes.
const BIG_BYTES: usize = 4 << 20;

/// Send `GET key` and read the bulk header: once it arrives, the server has built the reply.
fn start_get(s: &mut UnixStream, key: &[u8], len: usize) {
    s.write_all(&resp(&[b"GET", key])).unwrap();
    assert_eq!(read_line(s), format!("${len}").into_bytes());
}

/// Read `want` (+ CRLF) slowly, in small pieces with pauses, and compare.
fn finish_slowly(s: &mut UnixStream, want: &[u8], who: &str) {
    let mut got = Vec::with_capacity(want.len() + 2);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut reads = 0u32;
    while got.len() < want.len() + 2 {
        let room = (want.len() + 2 - got.len()).min(chunk.len());
        let n = s.read(&mut chunk[..room]).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(n > 0, "{who}: connection closed after {} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
        reads += 1;
        if reads.is_multiple_of(4) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(got[..want.len()] == *want, "{who}: value bytes differ");
    assert_eq!(&got[want.len()..], b"\r\n", "{who}");
}

fn slow_readers_keep_the_value_they_asked_for(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut w = server.unix();
    let v1 = pattern(BIG_BYTES, 1);
    common::roundtrip(&mut w, &resp(&[b"SET", b"big", &v1]), b"+OK\r\n");
    // Reader 1 gets v1; APPEND then changes the value it is being sent from.
    let mut r1 = server.unix();
    start_get(&mut r1, b"big", v1.len());
    let v2 = [&v1[..], b"tail"].concat();
    common::roundtrip(&mut w, &resp(&[b"APPEND", b"big", b"tail"]), format!(":{}\r\n", v2.len()).as_bytes());
    // Reader 2 gets v2; SETRANGE in the middle, then a SET overwrites it.
    let mut r2 = server.unix();
    start_get(&mut r2, b"big", v2.len());
    common::roundtrip(&mut w, &resp(&[b"SETRANGE", b"big", b"1000", b"XYZ"]), format!(":{}\r\n", v2.len()).as_bytes());
    let mut v3 = v2.clone();
    v3[1000..1003].copy_from_slice(b"XYZ");
    let mut r3 = server.unix();
    start_get(&mut r3, b"big", v3.len());
    let v4 = pattern(BIG_BYTES + 7, 4);
    common::roundtrip(&mut w, &resp(&[b"SET", b"big", &v4]), b"+OK\r\n");
    // Readers 4 and 5 get v4, which is then deleted.
    let mut r4 = server.unix();
    start_get(&mut r4, b"big", v4.len());
    let mut r5 = server.unix();
    start_get(&mut r5, b"big", v4.len());
    common::roundtrip(&mut w, &resp(&[b"DEL", b"big"]), b":1\r\n");
    common::roundtrip(&mut w, &resp(&[b"GET", b"big"]), b"$-1\r\n");
    std::thread::scope(|s| {
        for (mut r, want, who) in [(r1, &v1, "r1"), (r2, &v2, "r2"), (r3, &v3, "r3"), (r4, &v4, "r4"), (r5, &v4, "r5")]
        {
            s.spawn(move || finish_slowly(&mut r, want, who));
        }
    });
}

/// The requests of a pipeline and the exact bytes they answer (`resp3`: the null form).
fn mixed_pipeline(resp3: bool) -> (Vec<u8>, Vec<u8>) {
    let null: &[u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
    // Around the reference threshold (16 KiB) and the inline limit (4 KiB), and far above.
    let values: Vec<Vec<u8>> = [3, 4096, 4097, 16383, 16384, 16385, 100_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(n, i as u8))
        .collect();
    let (mut req, mut want) = (Vec::new(), Vec::new());
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        req.extend(resp(&[b"SET", key.as_bytes(), v]));
        want.extend_from_slice(b"+OK\r\n");
    }
    for (i, v) in values.iter().enumerate().rev() {
        let key = format!("k{i}");
        req.extend(resp(&[b"GET", key.as_bytes()]));
        req.extend(resp(&[b"PING"]));
        req.extend(resp(&[b"GET", b"missing"]));
        want.extend(bulk(v));
        want.extend_from_slice(b"+PONG\r\n");
        want.extend_from_slice(null);
    }
    req.extend(resp(&[b"MGET", b"k7", b"k0", b"missing", b"k5"]));
    want.extend_from_slice(b"*4\r\n");
    want.extend([bulk(&values[7]), bulk(&values[0]), null.to_vec(), bulk(&values[5])].concat());
    req.extend(resp(&[b"GETEX", b"k6", b"PX", b"100000"]));
    want.extend(bulk(&values[6]));
    req.extend(resp(&[b"SET", b"k6", b"small", b"GET"]));
    want.extend(bulk(&values[6]));
    req.extend(resp(&[b"GETSET", b"k5", b"x"]));
    want.extend(bulk(&values[5]));
    req.extend(resp(&[b"GETDEL", b"k7"]));
    want.extend(bulk(&values[7]));
    req.extend(resp(&[b"GET", b"k7"]));
    want.extend_from_slice(null);
    // Inside MULTI/EXEC: the same replies, in an array.
    req.extend([resp(&[b"MULTI"]), resp(&[b"GET", b"k4"]), resp(&[b"GET", b"k0"]), resp(&[b"GET", b"k3"])].concat());
    req.extend(resp(&[b"EXEC"]));
    want.extend_from_slice(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n");
    want.extend([bulk(&values[4]), bulk(&values[0]), bulk(&values[3])].concat());
    req.extend(resp(&[b"ECHO", b"end"]));
    want.extend(bulk(b"end"));
    (req, want)
}

/// Send the whole pipeline at once (from a thread, so neither side blocks on a full socket)
/// and compare everything that comes back, byte for byte.
fn check_pipeline(c: &mut UnixStream, req: &[u8], want: &[u8], what: &str) {
    let mut writer = c.try_clone().unwrap();
    let req = req.to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&req).unwrap());
    let got = read_n(c, want.len());
    sender.join().unwrap();
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {at} of {}", want.len());
    }
    common::roundtrip(c, b"PING\r\n", b"+PONG\r\n");
}

fn pipelines_mix_small_and_big_replies_in_order(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut c = server.unix();
    let (req, want) = mixed_pipeline(false);
    check_pipeline(&mut c, &req, &want, "RESP2");
    c.write_all(&[resp(&[b"HELLO", b"3"]), resp(&[b"PING"])].concat()).unwrap();
    assert!(read_line(&mut c).starts_with(b"%"));
    // Skip the rest of HELLO's map, up to the PING's reply.
    assert!((0..64).any(|_| read_line(&mut c) == b"+PONG"), "HELLO 3 then PING");
    common::roundtrip(&mut c, &resp(&[b"FLUSHALL"]), b"+OK\r\n");
    let (req, want) = mixed_pipeline(true);
    check_pipeline(&mut c, &req, &want, "RESP3");
}

fn always_fsync_sends_big_replies_in_order(engine: Engine) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let server = Server::start(engine, &["--appendonly", "yes", "--appendfsync", "always", "--dir", dir]);
    let mut c = server.unix();
    let (req, want) = mixed_pipeline(false);
    check_pipeline(&mut c, &req, &want, "appendfsync always");
}

/// Readers of one value at once, and its size.
const READERS: usize = 16;
const PEAK_VALUE_BYTES: usize = 32 << 20;

fn slow_readers_share_one_copy(engine: Engine) {
    let server = Server::start(engine, &[]);
    let value = pattern(PEAK_VALUE_BYTES, 9);
    let mut c = server.unix();
    common::roundtrip(&mut c, &resp(&[b"SET", b"big", &value]), b"+OK\r\n");
    common::roundtrip(&mut c, &resp(&[b"STRLEN", b"big"]), format!(":{PEAK_VALUE_BYTES}\r\n").as_bytes());
    std::thread::sleep(Duration::from_millis(500));
    let baseline = server.rss_bytes();
    let mut readers: Vec<UnixStream> = (0..READERS).map(|_| server.unix()).collect();
    for r in &mut readers {
        start_get(r, b"big", PEAK_VALUE_BYTES);
    }
    // Every reply now exists in the server; with a copy per reply that is READERS × 32 MiB.
    let mut peak = server.rss_bytes();
    std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                let value = &value;
                s.spawn(move || finish_slowly(&mut r, value, &format!("reader {i}")))
            })
            .collect();
        while handles.iter().any(|h| !h.is_finished()) {
            peak = peak.max(server.rss_bytes());
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let bound = baseline + 4 * PEAK_VALUE_BYTES as u64;
    assert!(
        peak < bound,
        "peak RSS {peak} with {READERS} readers of a 32 MiB value: over baseline {baseline} + 4 × 32 MiB"
    );
}

engine_tests!(
    slow_readers_keep_the_value_they_asked_for,
    pipelines_mix_small_and_big_replies_in_order,
    always_fsync_sends_big_replies_in_order,
    slow_readers_share_one_copy,
);
