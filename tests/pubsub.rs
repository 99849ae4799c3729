//! Pub/sub, MONITOR and CLIENT KILL across workers, on every engine: output one connection
//! produces for another reaches it promptly wherever that connection is served.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{eventually, read_line, resp, roundtrip, Engine, Server};

engine_tests!(
    messages_reach_every_subscriber_once_in_publish_order,
    pattern_and_shard_subscriptions,
    resp2_subscribed_mode_refuses_other_commands,
    subscriber_that_never_reads_is_disconnected_at_the_limit,
    client_kill_closes_a_connection_on_another_worker,
    monitor_sees_commands_from_every_connection,
);

/// Read one RESP2 array of bulk strings (a pub/sub message), returning its elements.
fn read_message(s: &mut UnixStream) -> Vec<Vec<u8>> {
    let head = read_line(s);
    assert_eq!(head[0], b'*', "{:?}", String::from_utf8_lossy(&head));
    let n: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
    (0..n)
        .map(|_| {
            let line = read_line(s);
            match line[0] {
                b':' => line[1..].to_vec(),
                b'$' => {
                    let len: usize = std::str::from_utf8(&line[1..]).unwrap().parse().unwrap();
                    let mut body = vec![0u8; len + 2];
                    s.read_exact(&mut body).unwrap();
                    body.truncate(len);
                    body
                }
                _ => panic!("unexpected {:?}", String::from_utf8_lossy(&line)),
            }
        })
        .collect()
}

fn subscribe(server: &Server, channels: &[&str]) -> UnixStream {
    let mut s = server.unix();
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(channels.iter().map(|c| c.as_bytes()));
    s.write_all(&resp(&args)).unwrap();
    for (i, c) in channels.iter().enumerate() {
        let m = read_message(&mut s);
        assert_eq!(m, [b"subscribe".to_vec(), c.as_bytes().to_vec(), (i + 1).to_string().into_bytes()]);
    }
    s
}

/// 3 publishers x 4 subscribers (connections spread over both workers): every subscriber gets
/// every message exactly once, and each publisher's messages in the order it published them;
/// PUBLISH returns the number of receivers.
fn messages_reach_every_subscriber_once_in_publish_order(engine: Engine) {
    const PUBLISHERS: usize = 3;
    const MESSAGES: usize = 200;
    let server = Server::start(engine, &[]);
    let mut subs: Vec<UnixStream> = (0..4).map(|_| subscribe(&server, &["news"])).collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut s = server.unix();
            std::thread::spawn(move || {
                for i in 0..MESSAGES {
                    let msg = format!("{p}:{i}");
                    roundtrip(&mut s, &resp(&[b"PUBLISH", b"news", msg.as_bytes()]), b":4\r\n");
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    for s in &mut subs {
        let mut next = [0usize; PUBLISHERS];
        for _ in 0..PUBLISHERS * MESSAGES {
            let m = read_message(s);
            assert_eq!(m[0], b"message");
            assert_eq!(m[1], b"news");
            let text = String::from_utf8(m[2].clone()).unwrap();
            let (p, i) = text.split_once(':').unwrap();
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[p], "publisher {p}'s messages in order, none twice or lost");
            next[p] += 1;
        }
        assert_eq!(next, [MESSAGES; PUBLISHERS]);
    }
    let mut c = server.unix();
    roundtrip(&mut c, &resp(&[b"PUBSUB", b"NUMSUB", b"news"]), b"*2\r\n$4\r\nnews\r\n:4\r\n");
    drop(subs);
    assert!(eventually(Duration::from_secs(10), || {
        c.write_all(&resp(&[b"PUBLISH", b"news", b"x"])).unwrap();
        read_line(&mut c) == b":0"
    }));
}

/// PSUBSCRIBE gets pmessage for matching channels; SSUBSCRIBE gets smessage from SPUBLISH.
fn pattern_and_shard_subscriptions(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut p = server.unix();
    p.write_all(&resp(&[b"PSUBSCRIBE", b"user.*"])).unwrap();
    assert_eq!(read_message(&mut p), [b"psubscribe".to_vec(), b"user.*".to_vec(), b"1".to_vec()]);
    let mut sh = server.unix();
    sh.write_all(&resp(&[b"SSUBSCRIBE", b"orders"])).unwrap();
    assert_eq!(read_message(&mut sh), [b"ssubscribe".to_vec(), b"orders".to_vec(), b"1".to_vec()]);
    let mut c = server.unix();
    roundtrip(&mut c, &resp(&[b"PUBLISH", b"user.42", b"hi"]), b":1\r\n");
    roundtrip(&mut c, &resp(&[b"SPUBLISH", b"orders", b"o1"]), b":1\r\n");
    roundtrip(&mut c, &resp(&[b"PUBSUB", b"NUMPAT"]), b":1\r\n");
    assert_eq!(read_message(&mut p), [b"pmessage".to_vec(), b"user.*".to_vec(), b"user.42".to_vec(), b"hi".to_vec()]);
    assert_eq!(read_message(&mut sh), [b"smessage".to_vec(), b"orders".to_vec(), b"o1".to_vec()]);
}

/// A RESP2 subscriber may only (un)subscribe, PING, QUIT or RESET; RESET leaves pub/sub.
fn resp2_subscribed_mode_refuses_other_commands(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut s = subscribe(&server, &["a"]);
    roundtrip(
        &mut s,
        &resp(&[b"GET", b"k"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    roundtrip(&mut s, &resp(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    roundtrip(&mut s, &resp(&[b"RESET"]), b"+RESET\r\n");
    roundtrip(&mut s, &resp(&[b"GET", b"k"]), b"$-1\r\n");
}

/// Resident memory allowed after the flood (baseline plus slack for a loaded test machine).
const RSS_AFTER_FLOOD_MAX: u64 = 128 * 1024 * 1024;

/// A subscriber that never reads is cut off when its pending output passes the pub/sub
/// hard limit, counted in INFO; the publisher keeps going and the server stays up.
fn subscriber_that_never_reads_is_disconnected_at_the_limit(engine: Engine) {
    let server = Server::start(engine, &[]);
    let _idle = subscribe(&server, &["flood"]);
    let mut p = server.unix();
    let payload = vec![b'x'; 64 * 1024];
    // 32 MiB hard limit: 1000 x 64 KiB is twice that (bounded loop).
    for _ in 0..1000 {
        p.write_all(&resp(&[b"PUBLISH", b"flood", &payload])).unwrap();
        if read_line(&mut p) == b":0" {
            break;
        }
    }
    // The subscriber's worker closes it (asynchronously): then nobody receives.
    let dropped = eventually(Duration::from_secs(10), || {
        p.write_all(&resp(&[b"PUBLISH", b"flood", b"x"])).unwrap();
        read_line(&mut p) == b":0"
    });
    assert!(dropped, "the subscriber was never disconnected");
    p.write_all(&resp(&[b"INFO", b"stats"])).unwrap();
    let head = read_line(&mut p);
    let len: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
    let info = String::from_utf8(common::read_n(&mut p, len + 2)).unwrap();
    assert!(info.contains("client_output_buffer_limit_disconnections:1"), "{info}");
    // 64 MiB were published to a client that read nothing: the server kept at most about the
    // 32 MiB limit of it, and gives it back once the subscriber is gone.
    let bounded = eventually(Duration::from_secs(10), || server.rss_bytes() < RSS_AFTER_FLOOD_MAX);
    assert!(bounded, "RSS {} bytes after the subscriber was cut off", server.rss_bytes());
}

/// CLIENT KILL ID closes a connection served by another worker; the old `CLIENT KILL addr`
/// form and CLIENT LIST see it too.
fn client_kill_closes_a_connection_on_another_worker(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut victims: Vec<UnixStream> = (0..3).map(|_| server.unix()).collect();
    let mut ids = Vec::new();
    for v in &mut victims {
        v.write_all(&resp(&[b"CLIENT", b"ID"])).unwrap();
        let line = read_line(v);
        ids.push(String::from_utf8(line[1..].to_vec()).unwrap());
    }
    let mut admin = server.unix();
    admin.write_all(&resp(&[b"CLIENT", b"LIST"])).unwrap();
    let head = read_line(&mut admin);
    let len: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
    let list = String::from_utf8(common::read_n(&mut admin, len + 2)).unwrap();
    for id in &ids {
        assert!(list.contains(&format!("id={id} ")), "{list}");
    }
    for (v, id) in victims.iter_mut().zip(&ids) {
        roundtrip(&mut admin, &resp(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()]), b":1\r\n");
        let mut buf = [0u8; 16];
        assert_eq!(v.read(&mut buf).unwrap_or(0), 0, "killed connection is closed");
    }
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"KILL", b"ID", ids[0].as_bytes()]), b":0\r\n");
    roundtrip(&mut admin, &resp(&[b"CLIENT", b"KILL", b"nosuch:1"]), b"-ERR No such client\r\n");
}

/// MONITOR streams every command from every connection, each connection's in order.
fn monitor_sees_commands_from_every_connection(engine: Engine) {
    let server = Server::start(engine, &[]);
    let mut m = server.unix();
    roundtrip(&mut m, &resp(&[b"MONITOR"]), b"+OK\r\n");
    let mut clients: Vec<UnixStream> = (0..4).map(|_| server.unix()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for j in 0..3 {
            let key = format!("k{i}");
            let val = format!("v{j}");
            roundtrip(c, &resp(&[b"SET", key.as_bytes(), val.as_bytes()]), b"+OK\r\n");
        }
    }
    let mut seen = vec![Vec::new(); 4];
    for _ in 0..12 {
        let line = String::from_utf8(read_line(&mut m)).unwrap();
        assert!(line.starts_with('+') && line.contains("] \"SET\" \"k"), "{line}");
        let key = line.split('"').nth(3).unwrap();
        let val = line.split('"').nth(5).unwrap().to_string();
        seen[key[1..].parse::<usize>().unwrap()].push(val);
    }
    for s in seen {
        assert_eq!(s, ["v0", "v1", "v2"]);
    }
}
