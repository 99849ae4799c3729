//! Fuzz the parser, the command layer and the store together, the way every engine drives
//! them: arbitrary bytes are fed to a [`Session`] in up to three pieces split at points the
//! fuzzer chooses, and the output is "sent" (taken) and held input resumed as an engine would.
//!
//! Input layout: byte 0 picks a server configuration (no password / password "pw" / tiny
//! limits), bytes 1 and 2 pick the split points, the rest is what the client sends.
//!
//! Checked: nothing panics; everything the session puts in its output is a sequence of whole,
//! well-formed RESP2 replies (so no client could ever be desynchronised); requests are held
//! back only while pending output is at `--client-output-pause`; input after a close is
//! ignored.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringkv::config::Config;
use ringkv::session::Session;
use ringkv::shared::Shared;

/// Configurations to fuzz under. Bulks are capped (64 KiB, or 2 KiB with tiny limits) so
/// that SETRANGE/SETBIT with huge offsets, and MGETs of such values, are refused or stay small
/// instead of allocating gigabytes (which Redis allows too, but is not what this looks for).
fn configs() -> &'static [Config] {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let base = || {
            let mut c = Config::defaults();
            c.databases = 4;
            c.proto_max_bulk_len = 64 * 1024;
            c
        };
        let mut password = base();
        password.requirepass = Some("pw".into());
        let mut tiny = base();
        tiny.client_query_buffer_limit = 4096;
        tiny.client_output_pause = 512;
        tiny.proto_max_bulk_len = 2048;
        vec![base(), password, tiny]
    })
}

/// Length of the complete RESP2 or RESP3 reply at the start of `buf` (HELLO 3 switches the
/// session's protocol), or `None` if it is not one.
fn reply_len(buf: &[u8], depth: usize) -> Option<usize> {
    assert!(depth < 16, "replies nest too deeply");
    let crlf = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..crlf]).ok();
    let next = crlf + 2;
    match buf.first()? {
        b'+' | b'-' => {
            assert!(!buf[1..crlf].contains(&b'\n') && !buf[1..crlf].contains(&b'\r'), "CR/LF inside a line");
            Some(next)
        }
        b':' => line?.parse::<i64>().ok().map(|_| next),
        b'_' => line?.is_empty().then_some(next),
        b'#' => matches!(line?, "t" | "f").then_some(next),
        b',' => line?.parse::<f64>().ok().map(|_| next),
        b'(' => line?.parse::<i128>().ok().map(|_| next),
        b'$' | b'=' => match line?.parse::<i64>().ok()? {
            -1 => Some(next),
            n if n >= 0 => {
                let end = next + n as usize;
                (buf.get(end..end + 2)? == b"\r\n").then_some(end + 2)
            }
            _ => None,
        },
        kind @ (b'*' | b'%' | b'~' | b'>') => match line?.parse::<i64>().ok()? {
            -1 if *kind == b'*' => Some(next),
            n if n >= 0 => {
                let mut at = next;
                let items = if *kind == b'%' { 2 * n } else { n };
                for _ in 0..items {
                    at += reply_len(&buf[at..], depth + 1)?;
                }
                Some(at)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Assert `out` is whole replies, and drop it (as an engine does once it is sent).
fn send(out: &mut Vec<u8>) {
    let mut at = 0;
    while at < out.len() {
        match reply_len(&out[at..], 0) {
            Some(n) => at += n,
            None => panic!("malformed or torn reply at {at}: {:?}", out[at..].escape_ascii().to_string()),
        }
    }
    out.clear();
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let config = &configs()[data[0] as usize % configs().len()];
    let body = &data[3..];
    let mut cuts = [data[1] as usize * body.len() / 256, data[2] as usize * body.len() / 256];
    cuts.sort_unstable();
    let shared = Shared::new(config.clone());
    let mut session = Session::new(&shared);
    let pause = config.client_output_pause as usize;
    for piece in [&body[..cuts[0]], &body[cuts[0]..cuts[1]], &body[cuts[1]..]] {
        session.feed(&shared, piece);
        // An engine sends the output, then resumes what backpressure held, until idle.
        loop {
            assert!(!session.has_held_input() || session.out.len() >= pause, "held without backpressure");
            send(&mut session.out);
            if !session.has_held_input() {
                break;
            }
            session.resume(&shared);
        }
        if session.close_reason().is_some() {
            session.feed(&shared, b"PING\r\n");
            assert!(session.out.is_empty(), "input after a close was run");
        }
    }
});
