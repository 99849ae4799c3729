//! Blocking pops across workers, on every engine: a client blocked on keys is woken by a push
//! from any connection, waiters of one key are served in the order they blocked, timeouts
//! fire, CLIENT UNBLOCK ends a wait, and a waiter that disconnects leaves nothing behind.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{eventually, read_line, resp, roundtrip, Engine, Server};

engine_tests!(
    many_consumers_get_every_item_exactly_once,
    waiters_of_a_key_are_served_in_the_order_they_blocked,
    timeouts_fire_and_disconnected_waiters_leave_nothing,
    client_unblock_ends_a_wait,
    blmove_and_bzpopmin_wake_across_workers,
    blmove_to_the_same_list_is_woken_by_a_push,
    a_cycle_of_blmoves_is_served_without_deadlock,
    client_pause_write_holds_writes_until_unpause,
    client_pause_ends_by_itself,
);

/// `blocked_clients` from INFO clients.
fn blocked_clients(server: &Server) -> usize {
    let mut c = server.unix();
    c.write_all(&resp(&[b"INFO", b"clients"])).unwrap();
    let head = read_line(&mut c);
    let len: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
    let body = String::from_utf8(common::read_n(&mut c, len + 2)).unwrap();
    common::info_field(&body, "blocked_clients").unwrap().parse().unwrap()
}

/// Read a two-element array of bulks (BLPOP's reply), or None for a null array.
fn read_pair(s: &mut UnixStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let head = read_line(s);
    if head == b"*-1" {
        return None;
    }
    assert_eq!(head, b"*2", "{:?}", String::from_utf8_lossy(&head));
    let mut bulk = || {
        let len: usize = std::str::from_utf8(&read_line(s)[1..]).unwrap().parse().unwrap();
        let v = common::read_n(s, len + 2);
        v[..len].to_vec()
    };
    Some((bulk(), bulk()))
}

/// 50 consumers BLPOP on 5 keys (connections spread over both workers) while 4 producers on
/// other connections push 10,000 items: every item is delivered exactly once.
fn many_consumers_get_every_item_exactly_once(engine: Engine) {
    const CONSUMERS: usize = 50;
    const KEYS: usize = 5;
    const PRODUCERS: usize = 4;
    const ITEMS: usize = 10_000;
    let server = Server::start(engine, &[]);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let mut s = server.unix();
            let key = format!("q{}", i % KEYS);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    s.write_all(&resp(&[b"BLPOP", key.as_bytes(), b"10"])).unwrap();
                    match read_pair(&mut s) {
                        Some((_, item)) if item == b"stop" => return got,
                        Some((_, item)) => got.push(item),
                        None => panic!("consumer timed out waiting"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut s = server.unix();
            std::thread::spawn(move || {
                for i in (p..ITEMS).step_by(PRODUCERS) {
                    let key = format!("q{}", i % KEYS);
                    s.write_all(&resp(&[b"RPUSH", key.as_bytes(), i.to_string().as_bytes()])).unwrap();
                    assert!(read_line(&mut s).starts_with(b":"));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut c = server.unix();
    for k in 0..KEYS {
        for _ in 0..CONSUMERS / KEYS {
            let key = format!("q{k}");
            c.write_all(&resp(&[b"RPUSH", key.as_bytes(), b"stop"])).unwrap();
            read_line(&mut c);
        }
    }
    let mut seen = HashSet::new();
    for h in consumers {
        for item in h.join().unwrap() {
            assert!(seen.insert(item.clone()), "item {} delivered twice", String::from_utf8_lossy(&item));
        }
    }
    assert_eq!(seen.len(), ITEMS, "every item delivered");
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 0));
}

/// Block one client at a time (each seen blocked before the next), then push three items at
/// once: the first to block gets the first item, and so on.
fn waiters_of_a_key_are_served_in_the_order_they_blocked(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut s = server.unix();
        s.write_all(&resp(&[b"BRPOP", b"other", b"fifo", b"0"])).unwrap();
        assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == i + 1));
        waiters.push(s);
    }
    let mut p = server.unix();
    roundtrip(&mut p, &resp(&[b"LPUSH", b"fifo", b"1", b"2", b"3"]), b":3\r\n");
    for (i, w) in waiters.iter_mut().enumerate() {
        let expected = (i + 1).to_string().into_bytes();
        assert_eq!(read_pair(w), Some((b"fifo".to_vec(), expected)));
    }
}

/// A timeout answers null (the connection stays usable); a waiter that disconnects is
/// removed and does not swallow a later push.
fn timeouts_fire_and_disconnected_waiters_leave_nothing(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = server.unix();
    s.write_all(&resp(&[b"BLPOP", b"nothing", b"0.2"])).unwrap();
    assert_eq!(read_pair(&mut s), None);
    // Redis 7.0 times BLMOVE out with a null array, as every blocked list command.
    roundtrip(&mut s, &resp(&[b"BLMOVE", b"nothing", b"x", b"LEFT", b"LEFT", b"0.1"]), b"*-1\r\n");
    roundtrip(&mut s, &resp(&[b"PING"]), b"+PONG\r\n");
    {
        let mut gone = server.unix();
        gone.write_all(&resp(&[b"BLPOP", b"k", b"0"])).unwrap();
        assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1));
    }
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 0), "disconnected waiter removed");
    roundtrip(&mut s, &resp(&[b"RPUSH", b"k", b"v"]), b":1\r\n");
    roundtrip(&mut s, &resp(&[b"LLEN", b"k"]), b":1\r\n");
}

/// CLIENT UNBLOCK from another connection ends a wait with a null (TIMEOUT) or an error.
fn client_unblock_ends_a_wait(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut w = server.unix();
    w.write_all(&resp(&[b"CLIENT", b"ID"])).unwrap();
    let id = String::from_utf8(read_line(&mut w)[1..].to_vec()).unwrap();
    let mut admin = server.unix();
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]), b":0\r\n");
    w.write_all(&resp(&[b"BLPOP", b"k", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1));
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]), b":1\r\n");
    assert_eq!(read_pair(&mut w), None);
    w.write_all(&resp(&[b"BLPOP", b"k", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1));
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"UNBLOCK", id.as_bytes(), b"ERROR"]), b":1\r\n");
    assert_eq!(read_line(&mut w), b"-UNBLOCKED client unblocked via CLIENT UNBLOCK");
}

/// BLMOVE and BZPOPMIN blocked on one worker are woken by pushes from others; the moved
/// element lands in the destination, and a waiter on that destination is woken in turn.
fn blmove_and_bzpopmin_wake_across_workers(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut mover = server.unix();
    mover.write_all(&resp(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"])).unwrap();
    let mut downstream = server.unix();
    downstream.write_all(&resp(&[b"BLPOP", b"dst", b"0"])).unwrap();
    let mut z = server.unix();
    z.write_all(&resp(&[b"BZPOPMIN", b"zs", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 3));
    let mut p = server.unix();
    roundtrip(&mut p, &resp(&[b"RPUSH", b"src", b"e"]), b":1\r\n");
    roundtrip(&mut p, &resp(&[b"ZADD", b"zs", b"2.5", b"m"]), b":1\r\n");
    let mut buf = [0u8; 7];
    mover.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"$1\r\ne\r\n");
    assert_eq!(read_pair(&mut downstream), Some((b"dst".to_vec(), b"e".to_vec())));
    let mut zreply = [0u8; 28];
    z.read_exact(&mut zreply).unwrap();
    assert_eq!(&zreply, b"*3\r\n$2\r\nzs\r\n$1\r\nm\r\n$3\r\n2.5\r\n");
}

/// CLIENT PAUSE WRITE: reads go on, a write waits (counted in blocked_clients) and has not
/// run; CLIENT UNPAUSE (not a write) runs at once and releases it.
fn client_pause_write_holds_writes_until_unpause(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"PAUSE", b"100000", b"WRITE"]), b"+OK\r\n");
    let mut writer = server.unix();
    writer.write_all(&resp(&[b"SET", b"x", b"1"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1));
    let mut reader = server.unix();
    roundtrip(&mut reader, &resp(&[b"GET", b"x"]), b"$-1\r\n");
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"UNPAUSE"]), b"+OK\r\n");
    assert_eq!(read_line(&mut writer), b"+OK");
    roundtrip(&mut reader, &resp(&[b"GET", b"x"]), b"$1\r\n1\r\n");
    roundtrip(&mut writer, &resp(&[b"INCR", b"n"]), b":1\r\n");
}

/// CLIENT PAUSE ALL holds every command (even PING) until the pause runs out.
fn client_pause_ends_by_itself(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut admin = server.unix();
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"PAUSE", b"300"]), b"+OK\r\n");
    let mut c = server.unix();
    c.write_all(&resp(&[b"PING"])).unwrap();
    c.write_all(&resp(&[b"SET", b"y", b"2"])).unwrap();
    assert_eq!(read_line(&mut c), b"+PONG");
    assert_eq!(read_line(&mut c), b"+OK");
    roundtrip(&mut admin, &resp(&[b"GET", b"y"]), b"$1\r\n2\r\n");
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"PAUSE", b"abc"]), b"-ERR timeout is not an integer or out of range\r\n");
}

/// BLMOVE with the same list as source and destination, blocked, then woken by a push: the
/// element rotates back into the list (it used to deadlock the pushing worker).
fn blmove_to_the_same_list_is_woken_by_a_push(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut w = server.unix();
    w.write_all(&resp(&[b"BLMOVE", b"ring", b"ring", b"LEFT", b"RIGHT", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1), "the mover blocks first");
    let mut other = server.unix();
    other.write_all(&resp(&[b"BLPOP", b"ring", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 2));
    let mut p = server.unix();
    roundtrip(&mut p, &resp(&[b"RPUSH", b"ring", b"x"]), b":1\r\n");
    assert_eq!(read_line(&mut w), b"$1");
    assert_eq!(read_line(&mut w), b"x");
    // The element is back in the list, so the BLPOP waiter behind the mover gets it.
    assert_eq!(read_pair(&mut other), Some((b"ring".to_vec(), b"x".to_vec())));
    roundtrip(&mut p, &resp(&[b"LLEN", b"ring"]), b":0\r\n");
}

/// Two BLMOVEs in a cycle (a → b and b → a): one push to `a` serves the first, whose move
/// makes `b` ready and serves the second, which moves the element back to `a`.
fn a_cycle_of_blmoves_is_served_without_deadlock(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut ab = server.unix();
    ab.write_all(&resp(&[b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 1));
    let mut ba = server.unix();
    ba.write_all(&resp(&[b"BLMOVE", b"b", b"a", b"LEFT", b"LEFT", b"0"])).unwrap();
    assert!(eventually(Duration::from_secs(5), || blocked_clients(&server) == 2));
    let mut p = server.unix();
    roundtrip(&mut p, &resp(&[b"RPUSH", b"a", b"x"]), b":1\r\n");
    for w in [&mut ab, &mut ba] {
        assert_eq!(read_line(w), b"$1");
        assert_eq!(read_line(w), b"x");
    }
    roundtrip(&mut p, &resp(&[b"LRANGE", b"a", b"0", b"-1"]), b"*1\r\n$1\r\nx\r\n");
    roundtrip(&mut p, &resp(&[b"EXISTS", b"b"]), b":0\r\n");
}
