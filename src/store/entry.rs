//! One key with its value and metadata in **one** heap block behind a thin (8-byte) pointer:
//! the store's [`Entry`]. A shard's slab holds these pointers, so a small string key costs
//! one allocation instead of three fields of 48 bytes plus two allocations.
//!
//! Block layouts (all offsets in bytes, the block is 8-aligned):
//!
//! ```text
//! narrow inline string (key <= 255 and value <= 255 bytes):
//!   [meta u64 @0][tag @8][klen u8 @9][vlen u8 @10][key @11][value]
//! wide inline string (longer key, or value up to INLINE_VALUE_MAX):
//!   [meta u64 @0][tag @8][klen u64 @9][vlen u32 @17][key @21][value]
//! boxed (collections):
//!   [meta u64 @0][tag @8][pad][Value @16 (24 bytes)][klen u64 @40][key @48]
//! shared (strings longer than INLINE_VALUE_MAX), the boxed layout with another slot type:
//!   [meta u64 @0][tag @8][pad][Arc<Vec<u8>> @16 (8 of 24 bytes)][klen u64 @40][key @48]
//! ```
//!
//! `meta` is the store's deadline + access-clock word (see `store::access`). Keeping it in
//! the block (rather than next to the pointer in the slab) makes the slab element 8 bytes;
//! the block header is 11 bytes, so a 16-byte key with a 32-byte value is a 59-byte block
//! (jemalloc's 64-byte class) and with a 100-byte value 127 bytes (the 128-byte class).
//! Moving `meta` into the slab instead (16-byte slab element, 3-byte header) costs the same
//! block classes plus 8 bytes per key, so it stays here. The entry's hash is not stored:
//! in the header it would push 16 + 100 bytes into the 160-byte class, in a vector beside
//! the slab it cost 4-5 bytes per key; the store recomputes it from [`Entry::key`] when its
//! table rehashes or an entry moves (see `store`).
//!
//! Measured (`cargo test --release --test memory -- --nocapture`, 1M × 16 B keys with 32 B
//! values, jemalloc, same machine): before (48-byte `Entry` + key box + value `Vec` + a
//! stored hash) 112 B/key counted, 119 B/key RSS; after 77.7 B/key counted (8 slab pointer +
//! ~10.5 table slack at this load + 59 block), 84.5 B/key RSS. The real server's figures
//! (1M: 90.6 → 86.4-90.6 B/key by engine, Redis 142) are in `docs/memory.md`.
//!
//! Integers are kept as their digits, not as an `i64` (Redis's `int` encoding): inline, a
//! canonical integer costs its 1..20 digit bytes in a block that exists anyway, an `i64` would
//! save at most 12 bytes for 9..20-digit values and cost a formatting per GET; OBJECT
//! ENCODING still answers `int` from the content.
//!
//! Strings longer than [`INLINE_VALUE_MAX`] live in their own refcounted buffer
//! (`Arc<Vec<u8>>`, [`Entry::shared_str`]) so a GET reply can *reference* it instead of
//! copying it (`reply::out`); the reply's reference keeps the old bytes alive when the key is
//! overwritten or deleted meanwhile. APPEND / SETRANGE / SETBIT on a big value change the
//! buffer in place when nothing else references it (`Arc::make_mut`: amortised O(1) appends,
//! as with a plain `Vec`) and copy it first only while a reply still sends it
//! (copy-on-write). A short string mutated in place ([`Entry::with_str_mut`]) is copied out
//! and back (bounded by [`INLINE_VALUE_MAX`]), in place when its length does not change.
//! The shared block keeps the boxed layout (16 unused slot bytes per big value, nothing next
//! to its kilobytes), so key and length accessors are the same for both.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::types::{Value, ValueRef};

/// Longest string value kept inside the entry's block; longer ones get their own refcounted
/// buffer (so appending to a big value does not copy it each time, and replies share it).
/// 4 KiB: an inline value mutated in place is copied out and back, which must stay cheap;
/// below it a value saves a separate allocation and a 24-byte `Vec` header.
pub const INLINE_VALUE_MAX: usize = 4096;
/// Longest key or value the narrow header (one length byte each) describes.
const NARROW_LEN_MAX: usize = u8::MAX as usize;

/// Block alignment (the `meta` word and the boxed `Value` are 8-aligned).
const ALIGN: usize = 8;
const TAG_AT: usize = 8;
const NARROW_KLEN_AT: usize = 9;
const NARROW_VLEN_AT: usize = 10;
const NARROW_DATA_AT: usize = 11;
const WIDE_KLEN_AT: usize = 9;
const WIDE_VLEN_AT: usize = 17;
const WIDE_DATA_AT: usize = 21;
const BOXED_VALUE_AT: usize = 16;
const BOXED_KLEN_AT: usize = BOXED_VALUE_AT + std::mem::size_of::<Value>();
const BOXED_KEY_AT: usize = BOXED_KLEN_AT + 8;

/// Block kinds (the tag byte).
const TAG_NARROW: u8 = 0;
const TAG_WIDE: u8 = 1;
const TAG_BOXED: u8 = 2;
const TAG_SHARED: u8 = 3;

/// A big string's buffer, shared by the store and the replies sending it.
pub type SharedStr = Arc<Vec<u8>>;

/// One key, its value and its metadata word, in one block (see the module docs). `Send` and
/// `Sync` as a `Box` of its contents would be.
pub struct Entry {
    ptr: NonNull<u8>,
}

// SAFETY: an Entry uniquely owns its block (like a Box); the block holds bytes and a `Value`,
// which is Send + Sync.
unsafe impl Send for Entry {}
// SAFETY: shared access only reads the block (see above).
unsafe impl Sync for Entry {}

/// The layout of a block of `size` bytes.
fn layout(size: usize) -> Layout {
    // A size near isize::MAX cannot happen (the key is already in memory); treat it as an
    // allocation failure, as Vec does for a capacity overflow.
    Layout::from_size_align(size, ALIGN).unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()))
}

/// A fresh, uninitialised block of `size` bytes.
fn allocate(size: usize) -> NonNull<u8> {
    let layout = layout(size);
    // SAFETY: `size` >= NARROW_DATA_AT > 0, so the layout is not zero-sized.
    let ptr = unsafe { alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout))
}

impl Entry {
    /// An entry holding `value` (a short string is copied into the block, anything else
    /// moved into it).
    pub fn new(key: &[u8], mut value: Value, meta: u64) -> Entry {
        match value.as_str().map(Vec::len) {
            Some(len) if len <= INLINE_VALUE_MAX => Entry::inline(key, value.as_str().map_or(&[], Vec::as_slice), meta),
            // Moved into the shared buffer, not copied.
            Some(_) => Entry::shared(key, Arc::new(value.take_str().unwrap_or_default()), meta),
            None => Entry::boxed(key, value, meta),
        }
    }

    /// An entry holding the string `value` (copied: into the block if short).
    pub fn new_str(key: &[u8], value: &[u8], meta: u64) -> Entry {
        if value.len() <= INLINE_VALUE_MAX {
            Entry::inline(key, value, meta)
        } else {
            Entry::shared(key, Arc::new(value.to_vec()), meta)
        }
    }

    /// A block with the string inline (`value.len()` <= [`INLINE_VALUE_MAX`]).
    fn inline(key: &[u8], value: &[u8], meta: u64) -> Entry {
        debug_assert!(value.len() <= INLINE_VALUE_MAX);
        let narrow = key.len() <= NARROW_LEN_MAX && value.len() <= NARROW_LEN_MAX;
        let data_at = if narrow { NARROW_DATA_AT } else { WIDE_DATA_AT };
        let size = data_at.saturating_add(key.len()).saturating_add(value.len());
        let ptr = allocate(size);
        // SAFETY: the block is `size` bytes, 8-aligned: the header fields and the key and value
        // bytes written below all lie inside it and do not overlap the source slices (fresh
        // allocation). Lengths fit their fields (checked by `narrow`; vlen <= 4096 < u32::MAX).
        unsafe {
            let p = ptr.as_ptr();
            p.cast::<u64>().write(meta);
            if narrow {
                p.add(TAG_AT).write(TAG_NARROW);
                p.add(NARROW_KLEN_AT).write(key.len() as u8);
                p.add(NARROW_VLEN_AT).write(value.len() as u8);
            } else {
                p.add(TAG_AT).write(TAG_WIDE);
                p.add(WIDE_KLEN_AT).cast::<u64>().write_unaligned(key.len() as u64);
                p.add(WIDE_VLEN_AT).cast::<u32>().write_unaligned(value.len() as u32);
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(data_at), key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), p.add(data_at + key.len()), value.len());
        }
        Entry { ptr }
    }

    /// A block holding `value` itself (a collection or a long string).
    fn boxed(key: &[u8], value: Value, meta: u64) -> Entry {
        Entry::with_payload(key, TAG_BOXED, value, meta)
    }

    /// A block holding a big string's shared buffer.
    fn shared(key: &[u8], buf: SharedStr, meta: u64) -> Entry {
        Entry::with_payload(key, TAG_SHARED, buf, meta)
    }

    /// A block of the boxed layout: `payload` (a [`Value`] or a [`SharedStr`]) at
    /// `BOXED_VALUE_AT`, tagged `tag`.
    fn with_payload<T>(key: &[u8], tag: u8, payload: T, meta: u64) -> Entry {
        const { assert!(size_of::<T>() <= BOXED_KLEN_AT - BOXED_VALUE_AT && align_of::<T>() <= ALIGN) };
        let size = BOXED_KEY_AT.saturating_add(key.len());
        let ptr = allocate(size);
        // SAFETY: as in `inline`; `BOXED_VALUE_AT` is 8-aligned and the payload fits before
        // `BOXED_KLEN_AT` with at most that alignment (the const assertion above), so the
        // write is aligned and in bounds.
        unsafe {
            let p = ptr.as_ptr();
            p.cast::<u64>().write(meta);
            p.add(TAG_AT).write(tag);
            p.add(BOXED_VALUE_AT).cast::<T>().write(payload);
            p.add(BOXED_KLEN_AT).cast::<u64>().write_unaligned(key.len() as u64);
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(BOXED_KEY_AT), key.len());
        }
        Entry { ptr }
    }

    fn tag(&self) -> u8 {
        // SAFETY: every block has its tag at TAG_AT (written at construction).
        unsafe { self.ptr.as_ptr().add(TAG_AT).read() }
    }

    /// (offset of the key, key length, value length) of an inline block; `None` if boxed.
    #[inline]
    fn inline_parts(&self) -> Option<(usize, usize, usize)> {
        let p = self.ptr.as_ptr();
        // SAFETY: the length fields read exist in a block of this tag (see the layouts).
        unsafe {
            match self.tag() {
                TAG_NARROW => {
                    Some((NARROW_DATA_AT, p.add(NARROW_KLEN_AT).read() as usize, p.add(NARROW_VLEN_AT).read() as usize))
                }
                TAG_WIDE => Some((
                    WIDE_DATA_AT,
                    p.add(WIDE_KLEN_AT).cast::<u64>().read_unaligned() as usize,
                    p.add(WIDE_VLEN_AT).cast::<u32>().read_unaligned() as usize,
                )),
                _ => None,
            }
        }
    }

    fn boxed_key_len(&self) -> usize {
        // SAFETY: only called on a boxed or shared block, which has its key length at
        // BOXED_KLEN_AT.
        unsafe { self.ptr.as_ptr().add(BOXED_KLEN_AT).cast::<u64>().read_unaligned() as usize }
    }

    /// The key bytes.
    #[inline]
    pub fn key(&self) -> &[u8] {
        let (at, len) = match self.inline_parts() {
            Some((at, klen, _)) => (at, klen),
            None => (BOXED_KEY_AT, self.boxed_key_len()),
        };
        // SAFETY: `len` key bytes start at `at` inside the block, initialised at construction
        // and never changed; the borrow of `self` keeps the block alive.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(at), len) }
    }

    /// The boxed value, if this block holds one.
    fn boxed_ref(&self) -> Option<&Value> {
        // SAFETY: a boxed block holds an initialised, aligned `Value` at BOXED_VALUE_AT.
        (self.tag() == TAG_BOXED).then(|| unsafe { &*self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<Value>() })
    }

    /// A big string's shared buffer, if this block holds one: a reply may keep a clone of it
    /// (see `reply::stored_bulk`) to send the value without copying it.
    pub fn shared_str(&self) -> Option<&SharedStr> {
        // SAFETY: a shared block holds an initialised, aligned Arc at BOXED_VALUE_AT.
        (self.tag() == TAG_SHARED).then(|| unsafe { &*self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<SharedStr>() })
    }

    /// The shared buffer, to change (copy-on-write through `Arc::make_mut`).
    fn shared_str_mut(&mut self) -> Option<&mut SharedStr> {
        // SAFETY: as `shared_str`; `&mut self` makes the access unique.
        (self.tag() == TAG_SHARED).then(|| unsafe { &mut *self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<SharedStr>() })
    }

    /// The boxed value, to change in place (collections); `None` for a string.
    pub fn boxed_mut(&mut self) -> Option<&mut Value> {
        // SAFETY: as `boxed_ref`; `&mut self` makes the access unique.
        (self.tag() == TAG_BOXED).then(|| unsafe { &mut *self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<Value>() })
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        match self.inline_parts() {
            Some((at, klen, vlen)) => {
                // SAFETY: `vlen` value bytes follow the key inside the block, initialised.
                ValueRef::Str(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(at + klen), vlen) })
            }
            None => match self.shared_str() {
                Some(buf) => ValueRef::Str(buf),
                None => self.boxed_ref().map_or(ValueRef::Str(&[]), ValueRef::from),
            },
        }
    }

    /// The string value, if the value is a string.
    pub fn str(&self) -> Option<&[u8]> {
        self.value().as_str()
    }

    /// The metadata word (deadline and access clock, see `store::access`).
    #[inline]
    pub fn meta(&self) -> u64 {
        // SAFETY: every block starts with an initialised, aligned u64.
        unsafe { self.ptr.as_ptr().cast::<u64>().read() }
    }

    /// Only the store changes it: the deadline decides the entry's place in the slab.
    #[inline]
    pub(super) fn set_meta(&mut self, meta: u64) {
        // SAFETY: as `meta`; `&mut self` makes the write unique.
        unsafe { self.ptr.as_ptr().cast::<u64>().write(meta) }
    }

    /// The block's size in bytes (as requested from the allocator; MEMORY USAGE).
    pub fn block_bytes(&self) -> usize {
        match self.inline_parts() {
            Some((at, klen, vlen)) => at + klen + vlen,
            None => BOXED_KEY_AT + self.boxed_key_len(),
        }
    }

    /// Bytes of a string value outside the block: a long string's buffer capacity plus its
    /// `Vec` header and reference counts, 0 for a short (inline) one or a collection.
    pub fn str_heap_bytes(&self) -> usize {
        /// The Arc's two counts and the Vec header in the Arc's allocation.
        const SHARED_HEADER_BYTES: usize = 16 + std::mem::size_of::<Vec<u8>>();
        self.shared_str().map_or(0, |s| s.capacity() + SHARED_HEADER_BYTES)
    }

    /// Replaces the value (same key and metadata, in a new block); returns the old entry.
    pub fn replace_value(&mut self, value: Value) -> Entry {
        let new = Entry::new(self.key(), value, self.meta());
        std::mem::replace(self, new)
    }

    /// Replaces the value with the string `bytes` (same key and metadata): in place when the
    /// old value is an inline string of the same length, else in a new block.
    pub fn overwrite_str(&mut self, bytes: &[u8]) {
        if let Some((at, klen, vlen)) = self.inline_parts() {
            if vlen == bytes.len() {
                // SAFETY: the value's `vlen` bytes lie inside the block; `&mut self` makes the
                // write unique and `bytes` cannot alias the block (it is not borrowed from it).
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr().add(at + klen), vlen) };
                return;
            }
        }
        let new = Entry::new_str(self.key(), bytes, self.meta());
        *self = new;
    }

    /// Runs `f` on the string value as a `Vec` (`None`, without calling `f`, if the value is
    /// not a string). A long string is handed over in place (copied first only if a reply
    /// still references its buffer); a short one is copied out and back (in place if its
    /// length is unchanged, else into a new block; past [`INLINE_VALUE_MAX`] it moves to its
    /// own shared buffer).
    pub fn with_str_mut<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> Option<R> {
        if let Some(buf) = self.shared_str_mut() {
            return Some(f(Arc::make_mut(buf)));
        }
        if self.tag() == TAG_BOXED {
            return None;
        }
        let mut s = self.str()?.to_vec();
        let result = f(&mut s);
        if s.len() <= INLINE_VALUE_MAX {
            self.overwrite_str(&s);
        } else {
            let new = Entry::shared(self.key(), Arc::new(s), self.meta());
            *self = new;
        }
        Some(result)
    }

    /// The value, moved out (the key and metadata are dropped).
    pub fn into_value(self) -> Value {
        let this = std::mem::ManuallyDrop::new(self);
        let value = match (this.inline_parts(), this.tag()) {
            (Some(_), _) => Value::Str(this.str().unwrap_or_default().to_vec()),
            (None, TAG_SHARED) => {
                // SAFETY: a shared block holds an initialised Arc; it is read (moved) out once
                // and the block is then freed without dropping it again.
                let buf = unsafe { this.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<SharedStr>().read() };
                // Unreferenced (the usual case): the buffer itself; else a copy.
                Value::Str(Arc::try_unwrap(buf).unwrap_or_else(|buf| buf.to_vec()))
            }
            // SAFETY: a boxed block holds an initialised Value; it is read (moved) out once
            // and the block is then freed without dropping it again.
            (None, _) => unsafe { this.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<Value>().read() },
        };
        // SAFETY: the block was allocated with this layout and is not used after this.
        unsafe { dealloc(this.ptr.as_ptr(), layout(this.block_bytes())) };
        value
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let size = self.block_bytes();
        match self.tag() {
            // SAFETY: a boxed block's Value is initialised and dropped exactly once, here.
            TAG_BOXED => unsafe { std::ptr::drop_in_place(self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<Value>()) },
            // SAFETY: the same for a shared block's Arc.
            TAG_SHARED => unsafe { std::ptr::drop_in_place(self.ptr.as_ptr().add(BOXED_VALUE_AT).cast::<SharedStr>()) },
            _ => {}
        }
        // SAFETY: the block was allocated with `layout(size)` (its size is a function of its
        // header, which never changes) and nothing uses it after this.
        unsafe { dealloc(self.ptr.as_ptr(), layout(size)) };
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("meta", &self.meta())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::types::Set;

    /// Lengths at every header boundary.
    const EDGE_LENS: [usize; 9] = [0, 1, 11, 255, 256, 4095, 4096, 4097, 65536];

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn entry_is_a_thin_pointer() {
        assert_eq!(std::mem::size_of::<Entry>(), 8);
        assert_eq!(BOXED_VALUE_AT % ALIGN, 0);
    }

    #[test]
    fn small_entries_land_in_small_size_classes() {
        let e = Entry::new_str(&[b'k'; 16], &[b'v'; 32], 0);
        assert_eq!(e.block_bytes(), 59, "16 + 32 payload fits jemalloc's 64-byte class");
        let e = Entry::new_str(&[b'k'; 16], &[b'v'; 100], 0);
        assert_eq!(e.block_bytes(), 127, "16 + 100 payload fits the 128-byte class");
    }

    #[test]
    fn every_edge_length_round_trips() {
        for klen in EDGE_LENS {
            for vlen in EDGE_LENS {
                let (k, v) = (bytes(klen, 1), bytes(vlen, 2));
                let meta = (klen as u64) << 32 | vlen as u64;
                let e = Entry::new_str(&k, &v, meta);
                assert_eq!(e.key(), &k[..], "{klen}/{vlen}");
                assert_eq!(e.str(), Some(&v[..]), "{klen}/{vlen}");
                assert_eq!(e.meta(), meta);
                let e = Entry::new(&k, Value::Str(v.clone()), meta);
                assert_eq!((e.key(), e.str()), (&k[..], Some(&v[..])));
                assert_eq!(e.into_value().as_str(), Some(&v));
            }
        }
    }

    #[test]
    fn collections_are_boxed_and_keep_their_key() {
        let mut set = Set::new();
        set.add(b"m");
        let mut e = Entry::new(b"", Value::Set(Box::new(set)), 7);
        assert_eq!(e.key(), b"");
        assert_eq!(e.value().type_name(), "set");
        assert_eq!(e.str(), None);
        assert_eq!(e.with_str_mut(|_| ()), None);
        if let Some(Value::Set(s)) = e.boxed_mut() {
            s.add(b"n");
        }
        assert_eq!(e.value().len(), 2);
        e.set_meta(9);
        let old = e.replace_value(Value::Str(b"x".to_vec()));
        assert_eq!((e.key(), e.str(), e.meta()), (&b""[..], Some(&b"x"[..]), 9));
        assert_eq!(old.value().type_name(), "set");
    }

    #[test]
    fn mutation_moves_long_strings_to_their_own_vec() {
        let mut e = Entry::new_str(b"k", b"abc", 3);
        assert_eq!(e.with_str_mut(|s| s.extend_from_slice(b"d")), Some(()));
        assert_eq!(e.str(), Some(&b"abcd"[..]));
        e.with_str_mut(|s| s.resize(INLINE_VALUE_MAX + 1, b'x'));
        assert!(e.shared_str().is_some(), "past the inline limit the string has its own buffer");
        e.with_str_mut(|s| s.push(b'y'));
        assert_eq!(e.str().map(<[u8]>::len), Some(INLINE_VALUE_MAX + 2));
        assert_eq!((e.key(), e.meta()), (&b"k"[..], 3));
        e.overwrite_str(b"short");
        assert_eq!(e.str(), Some(&b"short"[..]));
        e.overwrite_str(b"SHORT");
        assert_eq!(e.str(), Some(&b"SHORT"[..]));
    }

    #[test]
    fn big_strings_change_in_place_unless_a_reply_shares_them() {
        let mut e = Entry::new_str(b"k", &bytes(INLINE_VALUE_MAX + 1, 4), 0);
        assert!(e.shared_str().is_some(), "big strings are shared buffers");
        e.with_str_mut(|s| s.reserve(1 << 20));
        let grown = e.shared_str().map(|b| b.as_ptr());
        for _ in 0..1000 {
            e.with_str_mut(|s| s.extend_from_slice(b"abc"));
        }
        assert_eq!(e.shared_str().map(|b| b.as_ptr()), grown, "unshared: appended in place");
        // The reserve took effect (whether realloc moved the buffer is the allocator's choice).
        let cap = e.shared_str().map(|b| b.capacity()).unwrap_or(0);
        assert!(cap >= INLINE_VALUE_MAX + 1 + (1 << 20), "the reserve grew the buffer: {cap}");
        // A reply holds the buffer: the next change copies, the reply's bytes stay as they were.
        let reply = Arc::clone(e.shared_str().expect("shared"));
        let sent = reply.to_vec();
        e.with_str_mut(|s| s[0] ^= 0xff);
        assert_eq!(*reply, sent);
        assert_ne!(e.str().map(|s| s[0]), Some(sent[0]));
        assert!(!Arc::ptr_eq(&reply, e.shared_str().expect("shared")));
        // Moving the value out of the entry while a reply holds it copies; otherwise not.
        let value = e.into_value();
        assert_eq!(value.as_str().map(Vec::len), Some(sent.len()));
        let e = Entry::new(b"k", value, 0);
        let ptr = e.shared_str().map(|b| b.as_ptr());
        assert_eq!(e.into_value().as_str().map(|v| v.as_ptr()), ptr, "moved, not copied");
    }

    proptest! {
        /// Entries built and mutated every way agree with a plain map of byte strings.
        #[test]
        fn entries_agree_with_a_model(ops in proptest::collection::vec(
            (0u8..4, prop::collection::vec(any::<u8>(), 0..300), 0usize..5000, any::<u8>()), 1..40)) {
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut entries: HashMap<Vec<u8>, Entry> = HashMap::new();
            for (op, key, len, byte) in ops {
                let value = vec![byte; len];
                match op {
                    0 => {
                        entries.insert(key.clone(), Entry::new_str(&key, &value, len as u64));
                        model.insert(key, value);
                    }
                    1 => {
                        if let Some(e) = entries.get_mut(&key) {
                            e.with_str_mut(|s| s.extend_from_slice(&value));
                            model.get_mut(&key).expect("in both").extend_from_slice(&value);
                        }
                    }
                    2 => {
                        if let Some(e) = entries.get_mut(&key) {
                            e.overwrite_str(&value);
                            model.insert(key, value);
                        }
                    }
                    _ => {
                        let old = entries.remove(&key).and_then(|e| e.into_value().as_str().cloned());
                        prop_assert_eq!(old, model.remove(&key));
                    }
                }
            }
            for (key, value) in &model {
                let e = &entries[key];
                prop_assert_eq!(e.key(), &key[..]);
                prop_assert_eq!(e.str(), Some(&value[..]));
            }
        }
    }
}
