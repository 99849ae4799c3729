//! `--scan [--pattern p]`: every key of the database through SCAN, one per line, quoted in
//! the standard format and as is in raw format (redis-cli 7.0's `scanMode`). [`step`] is the
//! one SCAN call that `--bigkeys` / `--memkeys` share, with redis-cli's error texts.

use std::io::{self, Write};
use std::time::Duration;

use super::ModeEnd;
use crate::client::{write_repr, Client, Reply};

/// What one SCAN call gives: the next cursor and the keys, or the message redis-cli prints
/// on standard error before exiting 1.
pub type Step = Result<(u64, Vec<Vec<u8>>), String>;

/// One SCAN call: the next cursor and the keys, or the message redis-cli prints on standard
/// error before exiting 1.
pub fn step(client: &mut Client, cursor: u64, pattern: Option<&[u8]>) -> io::Result<Step> {
    let cursor_text = cursor.to_string();
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor_text.as_bytes()];
    if let Some(pattern) = pattern {
        args.extend([&b"MATCH"[..], pattern]);
    }
    Ok(match client.command(&args)? {
        Reply::Error(e) => Err(format!("SCAN error: {}", String::from_utf8_lossy(&e))),
        Reply::Array(Some(parts)) if parts.len() == 2 => parse(parts),
        Reply::Array(Some(_)) => Err("Invalid element count from SCAN!".to_string()),
        _ => Err("Non ARRAY response from SCAN!".to_string()),
    })
}

/// Splits a two-element SCAN reply into the cursor (C's `strtoull`: leading digits) and keys.
fn parse(parts: Vec<Reply>) -> Step {
    let mut parts = parts.into_iter();
    let cursor = match parts.next() {
        Some(Reply::Bulk(Some(c)) | Reply::Status(c)) => c
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))),
        _ => return Err("Invalid cursor from SCAN!".to_string()),
    };
    let keys = match parts.next() {
        Some(Reply::Array(Some(keys)) | Reply::Set(keys)) => keys
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(Some(k)) | Reply::Status(k) => Some(k),
                _ => None,
            })
            .collect(),
        _ => return Err("Non ARRAY response from SCAN!".to_string()),
    };
    Ok((cursor, keys))
}

/// One key's line: `"quoted"` in the standard format, the bytes as they are in raw format.
pub fn key_line(out: &mut Vec<u8>, key: &[u8], tty: bool) {
    if tty {
        write_repr(out, key);
    } else {
        out.extend_from_slice(key);
    }
    out.push(b'\n');
}

/// Runs `--scan`, sleeping `interval` (`-i`) after each SCAN call.
pub fn run(
    client: &mut Client,
    out: &mut dyn Write,
    tty: bool,
    pattern: Option<&[u8]>,
    interval: Option<Duration>,
) -> io::Result<ModeEnd> {
    let mut cursor = 0;
    loop {
        let (next, keys) = match step(client, cursor, pattern)? {
            Ok(step) => step,
            Err(message) => {
                eprintln!("{message}");
                return Ok(ModeEnd::Failed);
            }
        };
        let mut text = Vec::new();
        for key in &keys {
            key_line(&mut text, key, tty);
        }
        out.write_all(&text)?;
        out.flush()?;
        if let Some(interval) = interval {
            std::thread::sleep(interval);
        }
        cursor = next;
        if cursor == 0 {
            return Ok(ModeEnd::Ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reply_parsing() {
        let keys = Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Bulk(Some(b"b c".to_vec()))]));
        let reply = vec![Reply::Bulk(Some(b"17".to_vec())), keys];
        assert_eq!(parse(reply), Ok((17, vec![b"a".to_vec(), b"b c".to_vec()])));
        assert!(parse(vec![Reply::Integer(1), Reply::Array(Some(vec![]))]).is_err());
        assert!(parse(vec![Reply::Bulk(Some(b"0".to_vec())), Reply::Integer(1)]).is_err());
    }

    #[test]
    fn key_lines_quote_only_in_standard_format() {
        let mut out = Vec::new();
        key_line(&mut out, b"a b\n", true);
        key_line(&mut out, b"a b\n", false);
        assert_eq!(out, b"\"a b\\n\"\na b\n\n");
    }
}
