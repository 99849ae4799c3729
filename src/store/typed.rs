//! Typed access to a key's value: [`KeyView`] accessors that answer `Err(WrongType)` for a
//! key of another type (`hash()`, `list_or_new()`, `string()`, …), used by every collection
//! command. Here rather than in [`crate::types`] so the value types need not know the store.

use super::entry::SharedStr;
use super::KeyView;
use crate::types::{Hash, List, Set, Value, ValueRef, WrongType, ZSet};

/// Generates `KeyView::$get` (the live value of that type, `Err(WrongType)` for another type)
/// and `KeyView::$get_or_new` (the same, creating an empty one, without TTL, if absent).
macro_rules! typed_access {
    ($get:ident, $get_or_new:ident, $variant:ident, $ty:ty) => {
        /// The key's value if it is of this type; `Ok(None)` if absent.
        /// Not counted as a modification: see [`KeyView::get_untracked`].
        pub fn $get(&mut self) -> Result<Option<&mut $ty>, WrongType> {
            let Some(entry) = self.get_untracked() else { return Ok(None) };
            match entry.boxed_mut() {
                Some(Value::$variant(v)) => Ok(Some(&mut **v)),
                _ => Err(WrongType),
            }
        }
        /// The key's value of this type, created empty if absent. The caller must leave it
        /// non-empty (or call [`KeyView::remove_if_empty`]).
        pub fn $get_or_new(&mut self) -> Result<&mut $ty, WrongType> {
            if !self.exists() {
                self.set(Value::$variant(Box::default()), None);
            }
            match self.$get() {
                Ok(Some(v)) => Ok(v),
                Ok(None) => unreachable!("created above"),
                Err(e) => Err(e),
            }
        }
    };
}

impl KeyView<'_> {
    typed_access!(hash, hash_or_new, Hash, Hash);
    typed_access!(list, list_or_new, List, List);
    typed_access!(set_value, set_or_new, Set, Set);
    typed_access!(zset, zset_or_new, ZSet, ZSet);

    /// The key's string value; `Ok(None)` if absent, `Err(WrongType)` for another type.
    pub fn string(&mut self) -> Result<Option<&[u8]>, WrongType> {
        match self.get().map(|e| e.value()) {
            None => Ok(None),
            Some(ValueRef::Str(s)) => Ok(Some(s)),
            Some(_) => Err(WrongType),
        }
    }

    /// The key's string value for a reply: its bytes and, for a big value, the shared buffer
    /// holding them (a reply may reference it instead of copying; `reply::stored_bulk`).
    /// `Ok(None)` if absent, `Err(WrongType)` for another type.
    #[allow(clippy::type_complexity)]
    pub fn string_for_reply(&mut self) -> Result<Option<(&[u8], Option<&SharedStr>)>, WrongType> {
        let Some(entry) = self.get() else { return Ok(None) };
        match entry.value() {
            ValueRef::Str(s) => Ok(Some((s, entry.shared_str()))),
            _ => Err(WrongType),
        }
    }

    /// Runs `f` on the key's string value to change it in place (APPEND, SETRANGE, SETBIT):
    /// `Ok(None)` if absent (`f` not called), `Err(WrongType)` for another type. Not counted
    /// as a modification: a caller that changes it calls [`KeyView::touch`].
    pub fn string_mut<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> Result<Option<R>, WrongType> {
        let Some(entry) = self.get_untracked() else { return Ok(None) };
        entry.with_str_mut(f).map(Some).ok_or(WrongType)
    }

    /// The key's type name (`none` if absent).
    pub fn type_name(&mut self) -> &'static str {
        self.get().map_or("none", |e| e.value().type_name())
    }

    /// Remove the key if it holds an empty collection (Redis never keeps empty ones).
    pub fn remove_if_empty(&mut self) {
        let empty = self.get().is_some_and(|e| !matches!(e.value(), ValueRef::Str(_)) && e.value().is_empty());
        if empty {
            self.remove();
        }
    }
}
