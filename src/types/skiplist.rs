//! The ordered half of a big sorted set: a skiplist with spans, as Redis's `zskiplist`
//! (`t_zset.c`), ordered by (score, member). Spans make rank lookups O(log n): each forward
//! link records how many level-0 steps it skips, so walking down the levels sums to a rank.
//!
//! Nodes live in an arena (`Vec<Node>`, indices instead of pointers, freed slots reused), so
//! there is no `unsafe`; index 0 is the header. Scores are never NaN (callers reject it), so
//! `partial_cmp` is total here.

use std::cmp::Ordering;

/// Redis's ZSKIPLIST_MAXLEVEL: enough for 2^64 elements at p = 1/4.
const MAX_LEVEL: usize = 32;
/// Redis's ZSKIPLIST_P: a node gets one more level with probability 1/4.
const LEVEL_P_INVERSE: u64 = 4;
/// "No node" in links.
const NIL: u32 = u32::MAX;
const HEADER: u32 = 0;

#[derive(Clone, Copy)]
struct Link {
    forward: u32,
    /// Level-0 steps this link skips.
    span: usize,
}

#[derive(Clone)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    backward: u32,
    links: Vec<Link>,
}

/// A skiplist of (score, member).
#[derive(Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    rng: u64,
}

/// (score, member) order.
pub fn cmp(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score.partial_cmp(&b_score).unwrap_or(Ordering::Equal).then_with(|| a_member.cmp(b_member))
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let header = Node {
            member: Box::default(),
            score: 0.0,
            backward: NIL,
            links: vec![Link { forward: NIL, span: 0 }; MAX_LEVEL],
        };
        let seed = ahash::RandomState::new().hash_one(0u8) | 1;
        SkipList { nodes: vec![header], free: Vec::new(), tail: NIL, len: 0, level: 1, rng: seed }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if level >= MAX_LEVEL || !self.rng.is_multiple_of(LEVEL_P_INVERSE) {
                return level;
            }
            level += 1;
        }
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    /// For each level, the last node before (score, member) and its rank.
    fn find_update(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let mut update = [HEADER; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEADER;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let next = self.node(x).links[i].forward;
                if next == NIL {
                    break;
                }
                let n = self.node(next);
                if cmp(n.score, &n.member, score, member) != Ordering::Less {
                    break;
                }
                rank[i] += self.node(x).links[i].span;
                x = next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Insert a (score, member) not already present.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let (mut update, mut rank) = self.find_update(score, member);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEADER;
                self.nodes[HEADER as usize].links[i].span = self.len;
            }
            self.level = level;
        }
        let node =
            Node { member: member.into(), score, backward: NIL, links: vec![Link { forward: NIL, span: 0 }; level] };
        let x = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let prev = update[i] as usize;
            let prev_link = self.nodes[prev].links[i];
            self.nodes[x as usize].links[i] =
                Link { forward: prev_link.forward, span: prev_link.span - (rank[0] - rank[i]) };
            self.nodes[prev].links[i] = Link { forward: x, span: rank[0] - rank[i] + 1 };
        }
        for (i, &prev) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[prev as usize].links[i].span += 1;
        }
        self.nodes[x as usize].backward = if update[0] == HEADER { NIL } else { update[0] };
        match self.node(x).links[0].forward {
            NIL => self.tail = x,
            next => self.nodes[next as usize].backward = x,
        }
        self.len += 1;
    }

    /// Remove (score, member); false if absent.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let (update, _) = self.find_update(score, member);
        let x = self.node(update[0]).links[0].forward;
        if x == NIL || self.node(x).score != score || *self.node(x).member != *member {
            return false;
        }
        for (i, &prev) in update.iter().enumerate().take(self.level) {
            let prev = prev as usize;
            if self.nodes[prev].links[i].forward == x {
                let gone = self.nodes[x as usize].links[i];
                self.nodes[prev].links[i] =
                    Link { forward: gone.forward, span: self.nodes[prev].links[i].span + gone.span - 1 };
            } else {
                self.nodes[prev].links[i].span -= 1;
            }
        }
        let (next, back) = (self.node(x).links[0].forward, self.node(x).backward);
        match next {
            NIL => self.tail = back,
            next => self.nodes[next as usize].backward = back,
        }
        while self.level > 1 && self.node(HEADER).links[self.level - 1].forward == NIL {
            self.level -= 1;
        }
        self.nodes[x as usize].member = Box::default();
        self.nodes[x as usize].links = Vec::new();
        self.free.push(x);
        self.len -= 1;
        true
    }

    /// Number of elements for which `before(score, member)` holds; `before` must hold for a
    /// prefix of the order (e.g. "score < min"). O(log n).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEADER;
        let mut rank = 0;
        for i in (0..self.level).rev() {
            loop {
                let next = self.node(x).links[i].forward;
                if next == NIL || !before(self.node(next).score, &self.node(next).member) {
                    break;
                }
                rank += self.node(x).links[i].span;
                x = next;
            }
        }
        rank
    }

    /// The node at 0-based rank `r` (< len). O(log n).
    fn at_rank(&self, r: usize) -> u32 {
        let target = r + 1;
        let mut x = HEADER;
        let mut traversed = 0;
        for i in (0..self.level).rev() {
            loop {
                let link = self.node(x).links[i];
                if link.forward == NIL || traversed + link.span > target {
                    break;
                }
                traversed += link.span;
                x = link.forward;
            }
            if traversed == target {
                return x;
            }
        }
        x
    }

    /// The element at rank `r` (< len).
    pub fn get(&self, r: usize) -> (&[u8], f64) {
        let n = self.node(self.at_rank(r));
        (&n.member, n.score)
    }

    /// Visit ranks `start..end` (< len) ascending, or descending from `end - 1` if `rev`.
    pub fn for_range<'a>(&'a self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&'a [u8], f64)) {
        if start >= end {
            return;
        }
        let mut x = self.at_rank(if rev { end - 1 } else { start });
        for _ in start..end {
            let n = self.node(x);
            f(&n.member, n.score);
            x = if rev { n.backward } else { n.links[0].forward };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_match_a_sorted_vec() {
        let mut s = SkipList::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut x: u64 = 12345;
        for step in 0..4000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let score = ((x >> 40) % 50) as f64;
            let member = format!("m{}", (x >> 20) % 300).into_bytes();
            if let Some(pos) = model.iter().position(|(_, m)| *m == member) {
                let (old, _) = model.remove(pos);
                assert!(s.remove(old, &member));
            } else if step % 3 != 0 {
                s.insert(score, &member);
                model.push((score, member));
            }
            model.sort_by(|a, b| cmp(a.0, &a.1, b.0, &b.1));
            assert_eq!(s.len(), model.len());
        }
        for (r, (score, member)) in model.iter().enumerate() {
            assert_eq!(s.get(r), (&member[..], *score));
            assert_eq!(s.count_before(|sc, m| cmp(sc, m, *score, member) == Ordering::Less), r);
        }
        let mut seen = Vec::new();
        s.for_range(3, 20, true, |m, _| seen.push(m.to_vec()));
        let want: Vec<Vec<u8>> = model[3..20].iter().rev().map(|(_, m)| m.clone()).collect();
        assert_eq!(seen, want);
        assert!(!s.remove(1e9, b"nope"));
    }
}
