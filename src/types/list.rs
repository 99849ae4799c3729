//! The list type: a quicklist, as Redis 7.0's `quicklist.c` (OBJECT ENCODING `quicklist` for
//! every list, as in 7.0): a deque of [`Listpack`] nodes, each at most
//! [`LIST_NODE_BYTES_MAX`] bytes (Redis's default `list-max-listpack-size -2`). Pushes and
//! pops at either end touch one node; an index walks node counts, then one node. An element
//! bigger than a node's budget gets a node of its own.

use std::collections::VecDeque;

use super::listpack::Listpack;

/// Redis's `list-max-listpack-size -2`: each quicklist node holds at most 8 KiB of entries.
pub const LIST_NODE_BYTES_MAX: usize = 8 * 1024;

/// A list value.
#[derive(Clone, Default)]
pub struct List {
    nodes: VecDeque<Listpack>,
    len: usize,
}

/// A node can take `item` without passing the byte budget (an empty node takes anything).
fn fits(node: &Listpack, item: &[u8]) -> bool {
    node.is_empty() || node.bytes() + item.len() + 5 <= LIST_NODE_BYTES_MAX
}

impl List {
    pub fn new() -> List {
        List::default()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocations dropping this list releases: one per node (see `lazyfree`).
    pub fn free_effort(&self) -> usize {
        self.nodes.len()
    }
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn push_back(&mut self, item: &[u8]) {
        match self.nodes.back_mut() {
            Some(node) if fits(node, item) => node.push(item),
            _ => {
                let mut node = Listpack::new();
                node.push(item);
                self.nodes.push_back(node);
            }
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, item: &[u8]) {
        match self.nodes.front_mut() {
            Some(node) if fits(node, item) => node.insert_at(0, &[item]),
            _ => {
                let mut node = Listpack::new();
                node.push(item);
                self.nodes.push_front(node);
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.front_mut()?;
        let item = node.entry_at(0).0.to_vec();
        node.remove_at(0, 1);
        if node.is_empty() {
            self.nodes.pop_front();
        }
        self.len -= 1;
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.back_mut()?;
        let at = node.offset_of(node.len() - 1);
        let item = node.entry_at(at).0.to_vec();
        node.remove_at(at, 1);
        if node.is_empty() {
            self.nodes.pop_back();
        }
        self.len -= 1;
        Some(item)
    }

    /// (node, index inside it) of element `i` (< len).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (n, node) in self.nodes.iter().enumerate() {
            if i < node.len() {
                return (n, i);
            }
            i -= node.len();
        }
        unreachable!("index checked against len")
    }

    /// Element `i` (< len).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (n, j) = self.locate(i);
        let node = &self.nodes[n];
        Some(node.entry_at(node.offset_of(j)).0)
    }

    /// Replace element `i`; false if out of range.
    pub fn set(&mut self, i: usize, item: &[u8]) -> bool {
        if i >= self.len {
            return false;
        }
        let (n, j) = self.locate(i);
        let node = &mut self.nodes[n];
        let at = node.offset_of(j);
        node.replace_at(at, item);
        self.split_if_big(n);
        true
    }

    /// Splits node `n` in two halves while it is over budget and holds more than one entry.
    fn split_if_big(&mut self, n: usize) {
        let node = &self.nodes[n];
        if node.bytes() <= LIST_NODE_BYTES_MAX || node.len() < 2 {
            return;
        }
        let half = node.len() / 2;
        let mut tail = Listpack::new();
        for item in node.iter().skip(half) {
            tail.push(item);
        }
        let node = &mut self.nodes[n];
        let cut = node.offset_of(half);
        node.remove_at(cut, node.len() - half);
        self.nodes.insert(n + 1, tail);
        self.split_if_big(n + 1);
        self.split_if_big(n);
    }

    /// Elements from index `start` on, front to back.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &[u8]> {
        let (first, skip) = if start < self.len { self.locate(start) } else { (self.nodes.len(), 0) };
        self.nodes
            .iter()
            .skip(first)
            .enumerate()
            .flat_map(move |(k, node)| node.iter().skip(if k == 0 { skip } else { 0 }))
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.iter_from(0)
    }

    /// Elements back to front.
    pub fn iter_rev(&self) -> impl Iterator<Item = &[u8]> {
        self.nodes.iter().rev().flat_map(|node| {
            let items: Vec<&[u8]> = node.iter().collect();
            items.into_iter().rev()
        })
    }

    /// Insert `item` before element `i` (`i <= len`).
    pub fn insert(&mut self, i: usize, item: &[u8]) {
        if i == self.len {
            return self.push_back(item);
        }
        let (n, j) = self.locate(i);
        let node = &mut self.nodes[n];
        let at = node.offset_of(j);
        node.insert_at(at, &[item]);
        self.len += 1;
        self.split_if_big(n);
    }

    /// Keep only the elements for which `keep(index, element)` is true; returns how many
    /// were removed. Rebuilds each node that loses an element.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut index = 0;
        let mut removed = 0;
        for node in self.nodes.iter_mut() {
            let mut rebuilt = Listpack::new();
            let mut changed = false;
            for item in node.iter() {
                if keep(index, item) {
                    rebuilt.push(item);
                } else {
                    changed = true;
                    removed += 1;
                }
                index += 1;
            }
            if changed {
                *node = rebuilt;
            }
        }
        self.nodes.retain(|n| !n.is_empty());
        self.len -= removed;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|i| i.to_vec()).collect()
    }

    #[test]
    fn deque_operations_across_many_nodes() {
        let mut l = List::new();
        let mut model = std::collections::VecDeque::new();
        for i in 0..5000u32 {
            let item = format!("item-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes();
            if i % 3 == 0 {
                l.push_front(&item);
                model.push_front(item);
            } else {
                l.push_back(&item);
                model.push_back(item);
            }
        }
        assert!(l.nodes.len() > 10);
        assert_eq!(l.len(), model.len());
        assert_eq!(contents(&l), model.iter().cloned().collect::<Vec<_>>());
        assert_eq!(l.get(1234), Some(&model[1234][..]));
        assert_eq!(l.iter_from(4990).count(), 10);
        let rev: Vec<Vec<u8>> = l.iter_rev().map(|i| i.to_vec()).collect();
        assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
        let big = vec![b'b'; 3 * LIST_NODE_BYTES_MAX];
        assert!(l.set(100, &big));
        model[100] = big.clone();
        l.insert(200, &big);
        model.insert(200, big);
        assert_eq!(l.pop_front(), model.pop_front());
        assert_eq!(l.pop_back(), model.pop_back());
        let before = l.len();
        let removed = l.retain(|i, _| i % 2 == 0);
        let mut k = 0;
        model.retain(|_| {
            k += 1;
            (k - 1) % 2 == 0
        });
        assert_eq!(removed, before - model.len());
        assert_eq!(l.len(), model.len());
        assert_eq!(contents(&l), model.iter().cloned().collect::<Vec<_>>());
        while l.pop_back().is_some() {}
        assert!(l.is_empty() && l.nodes.is_empty());
    }
}
