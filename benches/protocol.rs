//! The request path without any I/O: how fast the RESP parser gets through bytes, and how
//! fast a `Session` (parser + command table + store + reply encoding) gets through requests.
//!
//! - `parse`: [`Parser::parse`] over 1000 pipelined GET or SET frames in one buffer (16-byte
//!   keys, 32-byte values), and over one `SET` with a 1 MiB value, either in one buffer or
//!   arriving in 16 KiB reads (the parser resumes on each read without rescanning). Bytes/s.
//!   The parser never reads a bulk body, it only compares lengths, so the 1 MiB numbers say
//!   that a request's parse cost does not grow with its value (the one-buffer case is O(1), the
//!   16 KiB-read case O(reads)); they are not a memory bandwidth.
//! - `session`: [`Session::feed`] with 1000 pipelined GETs (keys preloaded) or SETs, the exact
//!   call every engine makes per read, replies included. Requests/s.
//!
//! Run: `cargo bench --bench protocol`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringkv::client::encode_command;
use ringkv::config::Config;
use ringkv::loadgen::{key, value, VALUE_BYTES_DEFAULT};
use ringkv::protocol::{Args, Limits, Parsed, Parser};
use ringkv::session::Session;
use ringkv::shared::Shared;

/// Requests per pipelined buffer.
const PIPELINE: usize = 1000;
/// The large value.
const LARGE_VALUE_BYTES: usize = 1024 * 1024;
/// Read size when the large request arrives in pieces (the uring engine's default
/// provided-buffer size).
const READ_BYTES: usize = 16 * 1024;

fn pipelined(cmd: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    let v = value(VALUE_BYTES_DEFAULT);
    for i in 0..PIPELINE {
        let k = key(i);
        if cmd == b"GET" {
            encode_command(&mut buf, &[b"GET", &k]);
        } else {
            encode_command(&mut buf, &[b"SET", &k, &v]);
        }
    }
    buf
}

/// Parse every request in `buf` (which holds whole requests); returns how many.
fn parse_all(parser: &mut Parser, args: &mut Args, limits: &Limits, buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while pos < buf.len() {
        match parser.parse(&buf[pos..], limits, args) {
            Ok(Parsed::Complete { consumed }) => {
                pos += consumed;
                n += 1;
            }
            other => panic!("unexpected parse outcome {other:?}"),
        }
    }
    n
}

/// Parse one request that arrives `read_bytes` at a time: the buffer grows by one read per call.
fn parse_in_reads(parser: &mut Parser, args: &mut Args, limits: &Limits, buf: &[u8], read_bytes: usize) -> usize {
    let mut have = 0;
    loop {
        have = (have + read_bytes).min(buf.len());
        match parser.parse(&buf[..have], limits, args) {
            Ok(Parsed::Complete { consumed }) => return consumed,
            Ok(Parsed::Incomplete) => assert!(have < buf.len(), "complete request reported incomplete"),
            Err(e) => panic!("protocol error {e:?}"),
        }
    }
}

fn parse(c: &mut Criterion) {
    let limits = Limits::new(Config::defaults().proto_max_bulk_len);
    let mut group = c.benchmark_group("parse");
    for (name, buf) in [("get_pipelined_1000", pipelined(b"GET")), ("set_pipelined_1000", pipelined(b"SET"))] {
        group.throughput(Throughput::Bytes(buf.len() as u64));
        let (mut parser, mut args) = (Parser::new(), Args::new());
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(parse_all(&mut parser, &mut args, &limits, &buf), PIPELINE))
        });
    }
    let mut large = Vec::new();
    encode_command(&mut large, &[b"SET", &key(0), &value(LARGE_VALUE_BYTES)]);
    group.throughput(Throughput::Bytes(large.len() as u64));
    let (mut parser, mut args) = (Parser::new(), Args::new());
    group.bench_function("set_1mib_one_buffer", |b| {
        b.iter(|| assert_eq!(parse_all(&mut parser, &mut args, &limits, &large), 1))
    });
    group.bench_function("set_1mib_16k_reads", |b| {
        b.iter(|| assert_eq!(parse_in_reads(&mut parser, &mut args, &limits, &large, READ_BYTES), large.len()))
    });
    group.finish();
}

fn session(c: &mut Criterion) {
    let mut config = Config::defaults();
    config.unixsocket = "".into(); // Nothing is bound; Shared only holds the config.
    let shared = Shared::new(config);
    let mut session = Session::new(&shared);
    let sets = pipelined(b"SET");
    session.feed(&shared, &sets); // Preload, so the GETs hit.
    assert!(session.out.starts_with(b"+OK\r\n") && session.out.len() == PIPELINE * 5);
    session.out.clear();
    let gets = pipelined(b"GET");
    session.feed(&shared, &gets);
    // Every GET found its value: `$32\r\n` + 32 bytes + `\r\n`.
    assert_eq!(session.out.len(), PIPELINE * (VALUE_BYTES_DEFAULT + 7));
    session.out.clear();
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, buf) in [("get_pipelined_1000", gets), ("set_pipelined_1000", sets)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                session.feed(&shared, black_box(&buf));
                assert_eq!(session.buffered_input(), 0);
                session.out.clear();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Plots are skipped: rendering them costs seconds per benchmark on a 2-core machine.
    config = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parse, session
}
criterion_main!(benches);
