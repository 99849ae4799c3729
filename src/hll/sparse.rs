//! The sparse encoding: a run-length code of the registers, Redis 7.0's three opcodes:
//! `ZERO` (`00xxxxxx`: 1..=64 zero registers), `XZERO` (`01xxxxxx yyyyyyyy`: 1..=16384 zero
//! registers) and `VAL` (`1vvvvvxx`: 1..=4 registers of value 1..=32). Updates split and
//! merge opcodes in place exactly as `hllSparseSet` does, so the bytes after any sequence of
//! PFADDs are Redis's. Any byte string is decoded without panics: an opcode run that does not
//! cover exactly 16384 registers is [`Corrupt`]; a truncated `XZERO` at the very end reads its
//! second byte as 0 (Redis reads the string's NUL terminator there).

use super::{dense, Corrupt, HDR_SIZE, REGISTERS};

/// `01xxxxxx`: the XZERO tag.
const XZERO_BIT: u8 = 0x40;
/// `1vvvvvxx`: the VAL tag.
const VAL_BIT: u8 = 0x80;
/// Largest register value a VAL opcode holds; a bigger one promotes to dense.
pub const VAL_MAX_VALUE: u8 = 32;
/// Most registers one VAL opcode covers.
const VAL_MAX_LEN: usize = 4;
/// Most registers one ZERO opcode covers (longer runs use XZERO).
const ZERO_MAX_LEN: usize = 64;
/// Most registers one XZERO opcode covers.
const XZERO_MAX_LEN: usize = 16384;

/// One decoded opcode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Zero(usize),
    XZero(usize),
    /// (value, run length)
    Val(u8, usize),
}

impl Op {
    /// Bytes the opcode takes.
    fn size(self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
    /// Registers it covers.
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }
}

/// The opcode at `p` of `buf` (a byte past the end reads 0, as Redis's NUL terminator).
pub fn op_at(buf: &[u8], p: usize) -> Op {
    let b = buf[p];
    if b & 0xc0 == 0 {
        Op::Zero(usize::from(b & 0x3f) + 1)
    } else if b & 0xc0 == XZERO_BIT {
        let low = buf.get(p + 1).copied().unwrap_or(0);
        Op::XZero(((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1)
    } else {
        Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x3) + 1)
    }
}

fn val_byte(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len - 1) as u8) | VAL_BIT
}

/// Append a run of `len` zero registers (ZERO up to 64, XZERO beyond).
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        seq.extend_from_slice(&[(l >> 8) as u8 | XZERO_BIT, (l & 0xff) as u8]);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// The value of a new, empty sparse HyperLogLog's registers: XZERO opcodes covering them all.
pub fn empty_registers() -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_zeros(&mut out, n);
        left -= n;
    }
    out
}

/// Walk the opcodes of the whole string `v` (header included), calling `f(first register,
/// op)`; `Err` unless they cover exactly [`REGISTERS`]. A VAL that would run past the last
/// register stops the walk (Redis's overflow check), as does any run past it.
pub fn walk(v: &[u8], mut f: impl FnMut(usize, Op)) -> Result<(), Corrupt> {
    let (mut p, mut idx) = (HDR_SIZE, 0usize);
    while p < v.len() {
        let op = op_at(v, p);
        if idx + op.span() > REGISTERS {
            return Err(Corrupt);
        }
        f(idx, op);
        idx += op.span();
        p += op.size();
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Add every register value to `histo`.
pub fn histogram(v: &[u8], histo: &mut [u32; 64]) -> Result<(), Corrupt> {
    walk(v, |_, op| match op {
        Op::Zero(n) | Op::XZero(n) => histo[0] += n as u32,
        Op::Val(val, n) => histo[val as usize] += n as u32,
    })
}

/// `max[i] = max(max[i], register i)` for every register.
pub fn merge(v: &[u8], max: &mut [u8]) -> Result<(), Corrupt> {
    walk(v, |first, op| {
        if let Op::Val(val, n) = op {
            for m in &mut max[first..first + n] {
                *m = (*m).max(val);
            }
        }
    })
}

/// The packed dense registers the sparse string `v` encodes (Redis's `hllSparseToDense`).
pub fn to_dense_registers(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut regs = vec![0u8; super::DENSE_SIZE - HDR_SIZE];
    walk(v, |first, op| {
        if let Op::Val(val, n) = op {
            for i in first..first + n {
                dense::put(&mut regs, i, val);
            }
        }
    })?;
    Ok(regs)
}

/// PFDEBUG DECODE's text: `z:<n>`, `Z:<n>`, `v:<value>,<n>` separated by spaces.
pub fn decode(v: &[u8]) -> String {
    let mut out = String::new();
    let mut p = HDR_SIZE;
    while p < v.len() {
        let op = op_at(v, p);
        let text = match op {
            Op::Zero(n) => format!("z:{n} "),
            Op::XZero(n) => format!("Z:{n} "),
            Op::Val(val, n) => format!("v:{val},{n} "),
        };
        out.push_str(&text);
        p += op.size();
    }
    out.trim_matches(' ').to_string()
}

/// What [`set`] did.
#[derive(Debug, PartialEq)]
pub enum SetOutcome {
    /// The register already held `count` or more.
    Unchanged,
    /// The register was raised in the sparse string.
    Updated,
    /// The register needs a value or a size the sparse encoding cannot take: convert to
    /// dense, then raise it there.
    Promote,
}

/// Where the opcode covering a register is: its offset, the previous opcode's, the first
/// register it covers, and whether another opcode follows it.
struct Found {
    p: usize,
    prev: Option<usize>,
    first: usize,
    op: Op,
    has_next: bool,
}

fn locate(v: &[u8], index: usize) -> Result<Found, Corrupt> {
    let (mut p, mut prev, mut first) = (HDR_SIZE, None, 0usize);
    while p < v.len() {
        let op = op_at(v, p);
        if index < first + op.span() {
            let has_next = p + op.size() < v.len();
            return Ok(Found { p, prev, first, op, has_next });
        }
        prev = Some(p);
        p += op.size();
        first += op.span();
    }
    Err(Corrupt)
}

/// Raise register `index` of the sparse string `v` to `count` if lower (Redis 7.0's
/// `hllSparseSet` up to its promotion step): split the covering opcode, then merge
/// adjacent equal VALs. A string that would grow past `max_bytes` is left as is and
/// [`SetOutcome::Promote`] returned.
pub fn set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: u64) -> Result<SetOutcome, Corrupt> {
    if count > VAL_MAX_VALUE {
        return Ok(SetOutcome::Promote);
    }
    let f = locate(v, index)?;
    match f.op {
        Op::Val(old, _) if old >= count => return Ok(SetOutcome::Unchanged),
        Op::Val(_, 1) | Op::Zero(1) => {
            v[f.p] = val_byte(count, 1);
            merge_adjacent(v, f.prev);
            return Ok(SetOutcome::Updated);
        }
        _ => {}
    }
    let last = f.first + f.op.span() - 1;
    let mut seq = Vec::with_capacity(5);
    match f.op {
        Op::Val(cur, _) => {
            if index != f.first {
                seq.push(val_byte(cur, index - f.first));
            }
            seq.push(val_byte(count, 1));
            if index != last {
                seq.push(val_byte(cur, last - index));
            }
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != f.first {
                push_zeros(&mut seq, index - f.first);
            }
            seq.push(val_byte(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
    }
    let delta = seq.len() as i64 - f.op.size() as i64;
    if delta > 0 && v.len() as u64 + delta as u64 > max_bytes {
        return Ok(SetOutcome::Promote);
    }
    let new_len = (v.len() as i64 + delta) as usize;
    if f.has_next {
        v.splice(f.p..f.p + f.op.size(), seq);
    } else {
        // The last opcode (possibly a truncated XZERO): Redis writes the sequence over it and
        // sets the length to the old one plus the difference.
        v.truncate(f.p);
        v.extend_from_slice(&seq);
        v.truncate(new_len);
    }
    merge_adjacent(v, f.prev);
    Ok(SetOutcome::Updated)
}

/// Redis's step 4: from the opcode before the changed one, look at up to 5 opcodes and
/// fuse adjacent VALs of the same value whose lengths fit one VAL.
fn merge_adjacent(v: &mut Vec<u8>, prev: Option<usize>) {
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if b & VAL_BIT == 0 {
            p += if b & 0xc0 == XZERO_BIT { 2 } else { 1 };
            continue;
        }
        if p + 1 < v.len() {
            if let (Op::Val(v1, l1), Op::Val(v2, l2)) = (op_at(v, p), op_at(v, p + 1)) {
                if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                    v[p + 1] = val_byte(v1, l1 + l2);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}
