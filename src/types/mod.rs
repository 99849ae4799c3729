//! The value types a key can hold, one file per type as Redis (`t_hash.c`, `t_list.c`, …):
//! [`hash`], [`list`], [`set`], [`zset`], built from a compact [`listpack`] encoding for small
//! values and a general one ([`dense`] hash tables, the [`skiplist`]) past Redis's named
//! thresholds. [`Value`] is the owned value moved into and out of the store (24 bytes: a
//! string's `Vec` and a boxed collection share the space); inside the store a short string
//! lives in the entry's own block and a collection is a boxed `Value` there (see
//! `store::entry`). Readers get a [`ValueRef`].
//!
//! The store gives `KeyView` typed accessors (`hash()`, `set_or_new()`, …) that answer
//! `WRONGTYPE` for a key of another type. They are built on the store's own mutation API
//! (`get`, `set`, `remove`), so every change to a collection goes through the same path a
//! string's does. [`lazyfree`] drops big values off the worker thread.

pub mod dense;
pub mod hash;
pub mod lazyfree;
pub mod list;
pub mod listpack;
pub mod set;
pub mod skiplist;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

/// The key holds a value of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// A key's value.
#[derive(Clone)]
pub enum Value {
    Str(Vec<u8>),
    Hash(Box<Hash>),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Str(v)
    }
}

/// A value equals a byte string when it is that string (handy in tests).
impl<const N: usize> PartialEq<&[u8; N]> for Value {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_str().is_some_and(|s| s[..] == other[..])
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "Str({:?})", String::from_utf8_lossy(s)),
            other => write!(f, "{}(len {})", other.type_name(), other.len()),
        }
    }
}

/// A borrowed view of a key's value, as the store hands it out (a string's bytes may live
/// inside the store's entry block, see `store::entry`).
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    Str(&'a [u8]),
    Hash(&'a Hash),
    List(&'a List),
    Set(&'a Set),
    ZSet(&'a ZSet),
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Str(s) => ValueRef::Str(s),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::List(l) => ValueRef::List(l),
            Value::Set(s) => ValueRef::Set(s),
            Value::ZSet(z) => ValueRef::ZSet(z),
        }
    }
}

impl std::fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueRef::Str(s) => write!(f, "Str({:?})", String::from_utf8_lossy(s)),
            other => write!(f, "{}(len {})", other.type_name(), other.len()),
        }
    }
}

impl<'a> ValueRef<'a> {
    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::Hash(_) => "hash",
            ValueRef::List(_) => "list",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
        }
    }

    /// OBJECT ENCODING's answer: Redis 7.0's name for the representation in use. Strings:
    /// `int` for a canonical 64-bit integer, `embstr` up to 44 bytes, `raw` beyond.
    pub fn encoding(&self) -> &'static str {
        /// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
        const EMBSTR_SIZE_LIMIT: usize = 44;
        match self {
            ValueRef::Str(s) if s.len() <= 20 && crate::args::parse_i64(s).is_some() => "int",
            ValueRef::Str(s) if s.len() <= EMBSTR_SIZE_LIMIT => "embstr",
            ValueRef::Str(_) => "raw",
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::List(l) => l.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
        }
    }

    /// Elements (bytes for a string).
    pub fn len(&self) -> usize {
        match self {
            ValueRef::Str(s) => s.len(),
            ValueRef::Hash(h) => h.len(),
            ValueRef::List(l) => l.len(),
            ValueRef::Set(s) => s.len(),
            ValueRef::ZSet(z) => z.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&'a [u8]> {
        match *self {
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An owned copy (DUMP-like uses; collections are cloned).
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Str(s) => Value::Str(s.to_vec()),
            ValueRef::Hash(h) => Value::Hash(Box::new(h.clone())),
            ValueRef::List(l) => Value::List(Box::new(l.clone())),
            ValueRef::Set(s) => Value::Set(Box::new(s.clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new(z.clone())),
        }
    }
}

/// A value equals a byte string when it is that string (handy in tests).
impl<const N: usize> PartialEq<&[u8; N]> for ValueRef<'_> {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_str().is_some_and(|s| s[..] == other[..])
    }
}

impl Value {
    /// A borrowed view.
    pub fn as_ref(&self) -> ValueRef<'_> {
        ValueRef::from(self)
    }

    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }

    /// OBJECT ENCODING's answer (see [`ValueRef::encoding`]).
    pub fn encoding(&self) -> &'static str {
        self.as_ref().encoding()
    }

    /// Elements (bytes for a string).
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&Vec<u8>> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Moves the string out (leaving an empty one), if this is one.
    pub fn take_str(&mut self) -> Option<Vec<u8>> {
        self.as_str_mut().map(std::mem::take)
    }

    /// Allocations dropping this value releases.
    fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::Hash(h) => h.free_effort(),
            Value::List(l) => l.free_effort(),
            Value::Set(s) => s.free_effort(),
            Value::ZSet(z) => z.free_effort(),
        }
    }
}

impl Drop for Value {
    /// Big collections are handed to the lazy-free thread (the box's contents are moved out,
    /// leaving an empty value of the same type to drop here).
    fn drop(&mut self) {
        if self.free_effort() <= lazyfree::LAZYFREE_THRESHOLD {
            return;
        }
        let garbage: lazyfree::Garbage = match self {
            Value::Str(_) => return,
            Value::Hash(h) => Box::new(std::mem::take(&mut **h)),
            Value::List(l) => Box::new(std::mem::take(&mut **l)),
            Value::Set(s) => Box::new(std::mem::take(&mut **s)),
            Value::ZSet(z) => Box::new(std::mem::take(&mut **z)),
        };
        lazyfree::defer(garbage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_as_small_as_a_vec() {
        assert_eq!(std::mem::size_of::<Value>(), std::mem::size_of::<Vec<u8>>());
    }

    #[test]
    fn big_collections_are_freed_in_the_background() {
        let before = lazyfree::deferred_total();
        let mut s = Set::new();
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes());
        }
        drop(Value::Set(Box::new(s)));
        // Other tests may free big values concurrently: the counter only grows.
        assert!(lazyfree::deferred_total() > before);
    }
}
