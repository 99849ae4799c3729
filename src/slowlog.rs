//! The slow log (Redis's `slowlog.c`): commands that took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, shared by every worker.
//!
//! Cost on the request path: [`crate::cmd::execute`] reads the threshold from an atomic
//! ([`crate::tunables::Tunables`]); when it is -1 nothing else happens. Otherwise the command
//! is timed with two monotonic clock reads (vDSO, no syscall) and only a command at or over
//! the threshold builds an entry and takes this log's mutex. Arguments are trimmed as Redis
//! trims them, so an entry is small whatever the command was.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Arguments kept per entry; the last kept one says how many more there were.
pub const ENTRY_ARGC_MAX: usize = 32;
/// Bytes kept per argument; the rest is replaced by a "... (N more bytes)" marker.
pub const ENTRY_STRING_MAX: usize = 128;
/// Entries kept whatever `slowlog-max-len` says (Redis has no cap; this bounds memory when
/// an operator sets a huge length and a threshold of 0: ~100 MB of entries at most).
pub const ENTRIES_CAP: usize = 1 << 18;

/// One logged command.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Unique, increasing id (not reset by SLOWLOG RESET, as Redis).
    pub id: u64,
    /// When the command ran, Unix seconds.
    pub time_s: i64,
    pub duration_us: u64,
    /// The command's arguments, trimmed (see [`trim_argv`]).
    pub argv: Vec<Box<[u8]>>,
    /// `ip:port` or `socketpath:0`.
    pub peer: Box<[u8]>,
    /// The client's name, empty if none.
    pub name: Box<[u8]>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Newest at the front.
    entries: VecDeque<Entry>,
}

/// The shared log.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

impl SlowLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add an entry (its `id` is assigned here), dropping the oldest beyond `max_len`.
    pub fn push(&self, mut entry: Entry, max_len: u64) {
        let max_len = max_len.min(ENTRIES_CAP as u64) as usize;
        let mut inner = self.lock();
        entry.id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_front(entry);
        inner.entries.truncate(max_len);
    }

    /// Drop entries beyond `max_len` (after CONFIG SET slowlog-max-len).
    pub fn trim(&self, max_len: u64) {
        let max_len = max_len.min(ENTRIES_CAP as u64) as usize;
        self.lock().entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.lock().entries.clear();
    }

    /// The newest `count` entries, newest first.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.lock().entries.iter().take(count).cloned().collect()
    }
}

/// Trim a command's arguments as Redis's `slowlogCreateEntry`: at most [`ENTRY_ARGC_MAX`],
/// the last kept one replaced by `... (N more arguments)`; each at most
/// [`ENTRY_STRING_MAX`] bytes followed by `... (N more bytes)`. `arg(j)` gives argument `j`
/// of `argc`.
pub fn trim_argv<'a>(argc: usize, arg: impl Fn(usize) -> &'a [u8]) -> Vec<Box<[u8]>> {
    let kept = argc.min(ENTRY_ARGC_MAX);
    let mut out = Vec::with_capacity(kept);
    for j in 0..kept {
        let arg = arg(j);
        if kept != argc && j == kept - 1 {
            out.push(format!("... ({} more arguments)", argc - kept + 1).into_bytes().into());
        } else if arg.len() > ENTRY_STRING_MAX {
            let mut s = arg[..ENTRY_STRING_MAX].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", arg.len() - ENTRY_STRING_MAX).as_bytes());
            out.push(s.into());
        } else {
            out.push(arg.into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            id: 0,
            time_s: 1,
            duration_us: 2,
            argv: vec![],
            peer: Box::from(&b"p"[..]),
            name: name.as_bytes().into(),
        }
    }

    #[test]
    fn keeps_the_newest_up_to_max_len() {
        // Ids increase across resets; the newest comes first; max_len drops the oldest.
        let log = SlowLog::default();
        for n in ["a", "b", "c"] {
            log.push(entry(n), 2);
        }
        let got = log.newest(10);
        assert_eq!(got.iter().map(|e| (e.id, &*e.name)).collect::<Vec<_>>(), [(2, &b"c"[..]), (1, b"b")]);
        log.trim(1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.push(entry("d"), 0);
        assert!(log.is_empty(), "max_len 0 keeps nothing");
        log.push(entry("e"), 5);
        assert_eq!(log.newest(1)[0].id, 4);
    }

    #[test]
    fn trims_arguments_like_redis() {
        // 40 arguments: 31 kept + "... (9 more arguments)"; a 200-byte one is cut at 128.
        let long = vec![b'x'; 200];
        let mut args: Vec<&[u8]> = vec![b"cmd", &long];
        args.extend(std::iter::repeat_n(&b"a"[..], 38));
        let t = trim_argv(args.len(), |j| args[j]);
        assert_eq!(t.len(), 32);
        assert_eq!(&*t[31], b"... (9 more arguments)");
        let mut want = vec![b'x'; 128];
        want.extend_from_slice(b"... (72 more bytes)");
        assert_eq!(&*t[1], &want[..]);
        let exact: Vec<&[u8]> = vec![b"a"; 32];
        let t = trim_argv(exact.len(), |j| exact[j]);
        assert_eq!(t.len(), 32);
        assert_eq!(&*t[31], b"a");
    }
}
