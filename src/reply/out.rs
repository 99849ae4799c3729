//! A connection's pending output as an ordered queue of segments: owned bytes (every reply's
//! framing and every small value, one contiguous `Vec` as before) with **shared slices of
//! stored values** spliced in between. A GET of a big string references the store's
//! refcounted buffer instead of copying it, so N readers of one 100 MiB value cost ~100 MiB,
//! not N × 100 MiB, and a worker does not stall copying; the reference keeps the buffer
//! alive after the key is overwritten or deleted, so a slow reader still gets the old value
//! intact. Engines send the segments with vectored I/O (`writev`, `IORING_OP_SENDMSG`).
//!
//! Representation: `bytes` holds every owned byte in order; `refs` lists `(at, slice)` pairs,
//! each slice going out *before* `bytes[at..]` (`at` non-decreasing). With no reference — the
//! common case — `refs` is an empty `Vec` (no allocation) and the queue is exactly the byte
//! buffer it always was: same writes, same single `send`. Offsets in the API ([`Segments::len`],
//! [`Segments::truncate`], [`Segments::move_front`]) are in *total* bytes (owned + shared),
//! which is what the session's reply offsets (CLIENT REPLY, `appendfsync always` holds) mean.
//!
//! Which replies reference (`reply::stored_bulk`, values of [`SHARE_MIN_BYTES`] or more):
//! GET, GETEX, GETDEL, GETSET, SET … GET and MGET, also inside MULTI/EXEC (EXEC writes into
//! the connection's output). Everything else copies: GETRANGE / SUBSTR, LCS, values of
//! collections (HGET, LRANGE, …: not stored as shared buffers), DUMP, SORT … GET, replies to
//! Lua's `redis.call`, blocked pops served on a client's behalf and anything delivered through
//! another connection's mailbox (pub/sub, MONITOR), which are bytes by design.
//!
//! Only a session's own output takes references ([`Out::for_conn`]); every output built aside
//! (MULTI's `sibling`, Lua, mailboxes of other connections, tests) copies, so whoever reads it
//! as bytes (`Deref`) sees every byte. Reading a referencing `Out` through `Deref` is a bug that
//! debug builds assert on.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::Proto;

/// A stored big string's buffer, shared by the store and the replies that send it.
pub type SharedBytes = Arc<Vec<u8>>;

/// A bulk reply references a stored value instead of copying it from this many bytes on.
/// Below it the copy is cheap and keeps the reply in the one contiguous buffer, so small and
/// mid-size GETs send exactly as before (one plain `send`). Measured (docs/memory.md, GET
/// c10 P1, epoll and uring): at 16 KiB copy and reference cost the same within noise
/// (4.4–7.4 µs of server CPU per GET either way); at 1 MiB the reference costs 180–200 µs
/// against 580–750 for the copy. Values between the store's inline limit (4 KiB) and this are
/// stored shared but still copied into replies.
pub const SHARE_MIN_BYTES: usize = 16 * 1024;

/// A slice `start..end` of a shared value buffer.
#[derive(Clone)]
pub struct ValueSlice {
    buf: SharedBytes,
    start: usize,
    end: usize,
}

impl ValueSlice {
    /// The whole of `buf`.
    pub fn whole(buf: &SharedBytes) -> ValueSlice {
        ValueSlice { buf: Arc::clone(buf), start: 0, end: buf.len() }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// The first `n` bytes (`n` < len).
    fn prefix(&self, n: usize) -> ValueSlice {
        debug_assert!(n < self.len());
        ValueSlice { buf: Arc::clone(&self.buf), start: self.start, end: self.start + n }
    }
}

/// Lengths only: a value may be megabytes.
impl std::fmt::Debug for ValueSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValueSlice({}..{} of {})", self.start, self.end, self.buf.len())
    }
}

/// One piece of the queue, in order: owned bytes `bytes[range]`, or the reference `refs[i]`.
#[derive(Clone, Debug)]
enum Piece {
    Owned(std::ops::Range<usize>),
    Ref(usize),
}

/// Owned bytes with shared value slices spliced in (see the module docs).
#[derive(Debug, Default)]
pub struct Segments {
    bytes: Vec<u8>,
    /// `(at, slice)`: `slice` goes out before `bytes[at..]`; `at` non-decreasing.
    refs: Vec<(usize, ValueSlice)>,
    /// Total length of the slices in `refs`.
    ref_len: usize,
}

impl Segments {
    /// A queue starting from `bytes` (an engine's recycled, empty allocation).
    pub fn from_vec(bytes: Vec<u8>) -> Segments {
        Segments { bytes, refs: Vec::new(), ref_len: 0 }
    }
    /// Total bytes queued (owned + referenced).
    pub fn len(&self) -> usize {
        self.bytes.len() + self.ref_len
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True if some bytes are references to stored values (not owned).
    pub fn has_refs(&self) -> bool {
        !self.refs.is_empty()
    }
    /// Capacity of the owned buffer.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
    /// Empty the queue (references dropped), keeping the owned buffer's allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.refs.clear();
        self.ref_len = 0;
    }
    /// Free the owned buffer's allocation if it is larger than `keep` bytes (after `clear`).
    pub fn shrink_past(&mut self, keep: usize) {
        if self.bytes.capacity() > keep {
            self.bytes = Vec::new();
        }
        if self.refs.capacity() > REFS_KEEP {
            self.refs = Vec::new();
        }
    }
    /// The owned buffer's allocation, emptied (references dropped).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.bytes.clear();
        self.bytes
    }
    /// Append a reference to `slice` (not copied).
    pub fn push_ref(&mut self, slice: ValueSlice) {
        if slice.is_empty() {
            return;
        }
        self.ref_len += slice.len();
        self.refs.push((self.bytes.len(), slice));
    }
    /// Append owned bytes.
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
    }

    fn pieces(&self) -> Pieces<'_> {
        Pieces { segs: self, next_ref: 0, pos: 0 }
    }

    fn piece_bytes(&self, p: &Piece) -> &[u8] {
        match p {
            Piece::Owned(r) => &self.bytes[r.clone()],
            Piece::Ref(i) => self.refs[*i].1.bytes(),
        }
    }

    /// The queued bytes from total offset `from` on, as contiguous chunks in order (what an
    /// iovec array describes). Never yields an empty chunk.
    pub fn chunks_from(&self, from: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let mut skip = from;
        self.pieces().filter_map(move |p| {
            let b = self.piece_bytes(&p);
            if skip >= b.len() {
                skip -= b.len();
                return None;
            }
            let b = &b[skip..];
            skip = 0;
            Some(b)
        })
    }

    /// The owned bytes from total offset `from` up to the next reference (or the end): all of
    /// a reply that references nothing (errors, integers, …). Empty if `from` lies inside a
    /// reference or past the end.
    pub fn owned_from(&self, from: usize) -> &[u8] {
        let mut before = 0;
        for (at, r) in &self.refs {
            let start = at + before;
            if from < start {
                return &self.bytes[from - before..*at];
            }
            if from < start + r.len() {
                return &[];
            }
            before += r.len();
        }
        // Past every reference: `from` >= the last one's end >= `before`.
        self.bytes.get(from - before..).unwrap_or_default()
    }

    /// Keep only the first `n` total bytes.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        while let Some((at, r)) = self.refs.last_mut() {
            let at = *at;
            let start = at + self.ref_len - r.len();
            if start >= n {
                self.ref_len -= r.len();
                self.refs.pop();
                self.bytes.truncate(at);
                continue;
            }
            if start + r.len() > n {
                let keep = n - start;
                self.ref_len -= r.len() - keep;
                *r = r.prefix(keep);
                self.bytes.truncate(at);
                return;
            }
            break;
        }
        self.bytes.truncate(n - self.ref_len);
    }

    /// Move the first `n` total bytes to the end of `dst` (owned bytes copied, references
    /// moved as references; a reference cut at `n` is split in two).
    pub fn move_front(&mut self, n: usize, dst: &mut Segments) {
        let n = n.min(self.len());
        let (mut left, mut owned_cut, mut refs_cut, mut cut_into) = (n, 0, 0, 0);
        for p in self.pieces() {
            if left == 0 {
                break;
            }
            match p {
                Piece::Owned(r) => {
                    let k = left.min(r.len());
                    dst.bytes.extend_from_slice(&self.bytes[r.start..r.start + k]);
                    left -= k;
                    owned_cut = r.start + k;
                }
                Piece::Ref(i) => {
                    let s = &self.refs[i].1;
                    if left >= s.len() {
                        dst.push_ref(s.clone());
                        left -= s.len();
                        refs_cut = i + 1;
                    } else {
                        dst.push_ref(s.prefix(left));
                        cut_into = left;
                        left = 0;
                    }
                }
            }
        }
        self.bytes.drain(..owned_cut);
        self.refs.drain(..refs_cut);
        if let Some((_, first)) = self.refs.first_mut().filter(|_| cut_into > 0) {
            first.start += cut_into;
        }
        for (at, _) in self.refs.iter_mut() {
            *at -= owned_cut;
        }
        self.ref_len = self.refs.iter().map(|(_, r)| r.len()).sum();
    }

    /// Every queued byte, copied into one `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for c in self.chunks_from(0) {
            v.extend_from_slice(c);
        }
        v
    }
}

/// The pieces of a [`Segments`] in order (empty owned ranges skipped).
struct Pieces<'a> {
    segs: &'a Segments,
    next_ref: usize,
    /// Owned bytes before `pos` were yielded.
    pos: usize,
}

impl Iterator for Pieces<'_> {
    type Item = Piece;
    fn next(&mut self) -> Option<Piece> {
        if let Some((at, _)) = self.segs.refs.get(self.next_ref) {
            if self.pos < *at {
                let piece = Piece::Owned(self.pos..*at);
                self.pos = *at;
                return Some(piece);
            }
            self.next_ref += 1;
            return Some(Piece::Ref(self.next_ref - 1));
        }
        let end = self.segs.bytes.len();
        if self.pos < end {
            let piece = Piece::Owned(self.pos..end);
            self.pos = end;
            return Some(piece);
        }
        None
    }
}

/// A drained queue keeps its reference list's allocation up to this many entries (a pipeline
/// of big GETs grows it; an idle connection should not pin it).
const REFS_KEEP: usize = 64;

/// A connection's encoded replies not yet handed to the kernel, and the protocol they are
/// encoded in. Derefs to the owned byte buffer for writing (every reply function appends
/// through it); reads go through its own methods, which count referenced bytes too.
#[derive(Debug, Default)]
pub struct Out {
    segs: Segments,
    /// Whether bulk replies of big stored values may reference them ([`Out::for_conn`]).
    shares: bool,
    pub proto: Proto,
}

impl Out {
    pub fn new() -> Out {
        Out::default()
    }
    /// An empty buffer encoding in `proto`.
    pub fn with_proto(proto: Proto) -> Out {
        Out { segs: Segments::default(), shares: false, proto }
    }
    /// A connection's output: big stored values are referenced, not copied (engines send it).
    pub fn for_conn() -> Out {
        Out { segs: Segments::default(), shares: true, proto: Proto::Resp2 }
    }
    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }
    /// True if bulk replies of big values may reference them.
    pub fn shares(&self) -> bool {
        self.shares
    }
    /// An empty buffer in the same protocol, for a reply encoded aside (e.g. one whose length
    /// is only known at the end) and appended later. It copies values (never references).
    pub fn sibling(&self) -> Out {
        Out::with_proto(self.proto)
    }
    /// Total bytes (owned + referenced).
    pub fn len(&self) -> usize {
        self.segs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
    /// Keep only the first `n` total bytes (drop the replies written after offset `n`).
    pub fn truncate(&mut self, n: usize) {
        self.segs.truncate(n);
    }
    /// Drop everything, keeping the owned buffer's allocation.
    pub fn clear(&mut self) {
        self.segs.clear();
    }
    /// Drop everything, freeing the owned buffer past `keep` bytes of capacity.
    pub fn clear_and_shrink(&mut self, keep: usize) {
        self.segs.clear();
        self.segs.shrink_past(keep);
    }
    /// Take the encoded bytes (copying referenced values in), leaving an empty buffer of the
    /// same protocol.
    pub fn take(&mut self) -> Vec<u8> {
        let v = if self.segs.has_refs() { self.segs.to_vec() } else { std::mem::take(&mut self.segs.bytes) };
        self.segs.clear();
        v
    }
    /// Replace the (empty) contents with `bytes`, reusing that allocation.
    pub fn set_bytes(&mut self, bytes: Vec<u8>) {
        debug_assert!(self.is_empty());
        self.segs = Segments::from_vec(bytes);
    }
    /// Exchange the contents with `other` (an engine's empty send queue, whose allocation is
    /// reused for the next replies). The protocol stays with `self`.
    pub fn swap_segments(&mut self, other: &mut Segments) {
        std::mem::swap(&mut self.segs, other);
    }
    /// Move the first `n` total bytes to the end of `dst` (see [`Segments::move_front`]).
    pub fn move_front(&mut self, n: usize, dst: &mut Segments) {
        self.segs.move_front(n, dst);
    }
    /// The owned bytes of the reply starting at total offset `from` (see
    /// [`Segments::owned_from`]): a whole reply unless it references a value.
    pub fn owned_from(&self, from: usize) -> &[u8] {
        self.segs.owned_from(from)
    }
    /// The queue, for engines that send it in place (epoll, threads).
    pub fn segments(&self) -> &Segments {
        &self.segs
    }
    /// Append a reference to a stored value's bytes.
    pub(super) fn push_ref(&mut self, slice: ValueSlice) {
        debug_assert!(self.shares);
        self.segs.push_ref(slice);
    }
}

impl Deref for Out {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        debug_assert!(!self.segs.has_refs(), "an Out that references values read as plain bytes");
        &self.segs.bytes
    }
}

impl DerefMut for Out {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.segs.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(len: usize, salt: u8) -> SharedBytes {
        Arc::new((0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(salt)).collect())
    }

    /// `a` + ref(v1) + `b` + ref(v2) + ref(v3) + `c`, and the same bytes flat.
    fn sample() -> (Segments, Vec<u8>) {
        let (v1, v2, v3) = (shared(10, 1), shared(5, 2), shared(3, 3));
        let mut s = Segments::default();
        let mut flat = Vec::new();
        for (own, v) in [(&b"abc"[..], Some(&v1)), (b"de", Some(&v2)), (b"", Some(&v3)), (b"fgh", None)] {
            s.extend_from_slice(own);
            flat.extend_from_slice(own);
            if let Some(v) = v {
                s.push_ref(ValueSlice::whole(v));
                flat.extend_from_slice(v);
            }
        }
        (s, flat)
    }

    #[test]
    fn chunks_follow_the_splices_from_any_offset() {
        let (s, flat) = sample();
        assert_eq!(s.len(), flat.len());
        assert_eq!(s.to_vec(), flat);
        assert_eq!(s.chunks_from(0).count(), 6, "abc, v1, de, v2, v3, fgh");
        for from in 0..=flat.len() {
            let got: Vec<u8> = s.chunks_from(from).flatten().copied().collect();
            assert_eq!(got, flat[from..], "from {from}");
            assert!(s.chunks_from(from).all(|c| !c.is_empty()));
        }
    }

    #[test]
    fn truncate_at_every_offset() {
        let (_, flat) = sample();
        for n in 0..=flat.len() + 1 {
            let (mut s, _) = sample();
            s.truncate(n);
            assert_eq!(s.to_vec(), flat[..n.min(flat.len())], "at {n}");
            s.extend_from_slice(b"Z");
            let mut want = flat[..n.min(flat.len())].to_vec();
            want.push(b'Z');
            assert_eq!(s.to_vec(), want, "appending after truncating at {n}");
        }
    }

    #[test]
    fn move_front_at_every_offset_in_two_steps() {
        let (_, flat) = sample();
        for n in 0..=flat.len() {
            for m in 0..=flat.len() - n {
                let (mut s, _) = sample();
                let mut dst = Segments::from_vec(b"@".to_vec());
                s.move_front(n, &mut dst);
                assert_eq!(dst.to_vec(), [&b"@"[..], &flat[..n]].concat(), "{n}");
                assert_eq!(s.to_vec(), flat[n..], "{n}");
                assert_eq!(s.len(), flat.len() - n);
                s.move_front(m, &mut dst);
                assert_eq!(dst.to_vec(), [&b"@"[..], &flat[..n + m]].concat(), "{n} {m}");
                assert_eq!(s.to_vec(), flat[n + m..], "{n} {m}");
            }
        }
    }

    #[test]
    fn owned_from_gives_whole_unreferencing_replies() {
        let (s, _) = sample();
        assert_eq!(s.owned_from(0), b"abc");
        assert_eq!(s.owned_from(1), b"bc");
        assert_eq!(s.owned_from(3), b"", "inside the first reference");
        assert_eq!(s.owned_from(13), b"de");
        assert_eq!(s.owned_from(23), b"fgh");
        assert_eq!(s.owned_from(26), b"");
        assert_eq!(s.owned_from(99), b"");
    }

    #[test]
    fn a_reference_keeps_the_value_alive_and_unchanged() {
        let mut v = shared(100, 9);
        let copy = v.to_vec();
        let mut s = Segments::default();
        s.push_ref(ValueSlice::whole(&v));
        // The store's copy-on-write: a shared buffer is copied before it is changed.
        Arc::make_mut(&mut v).extend_from_slice(b"more");
        drop(v);
        assert_eq!(s.to_vec(), copy);
    }

    #[test]
    fn plain_outputs_stay_one_buffer() {
        let mut out = Out::for_conn();
        out.extend_from_slice(b"+OK\r\n");
        assert_eq!(out.segments().chunks_from(0).count(), 1);
        assert_eq!(out.owned_from(0), b"+OK\r\n");
        let mut q = Segments::default();
        out.swap_segments(&mut q);
        assert!(out.is_empty() && out.shares());
        assert_eq!(q.to_vec(), b"+OK\r\n");
    }
}
