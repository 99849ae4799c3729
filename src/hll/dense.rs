//! The dense encoding: 16384 registers of 6 bits packed from the least significant bit of
//! each byte upwards (register 0 = low 6 bits of byte 0, register 1 = top 2 bits of byte 0
//! and low 4 of byte 1, ...), exactly Redis's `HLL_DENSE_GET/SET_REGISTER`. Redis reads one
//! byte past the last register (the string's NUL terminator); here a missing byte reads 0.

use super::{BITS, REGISTERS, REGISTER_MAX};

/// Register `index` of the packed registers `regs` (bytes past the end read as 0).
pub fn get(regs: &[u8], index: usize) -> u8 {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let b0 = u16::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

/// Write `val` (≤ 63) into register `index` (writes past the end are dropped: they only
/// ever carry zero bits).
pub fn put(regs: &mut [u8], index: usize, val: u8) {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let (v, max) = (u16::from(val), u16::from(REGISTER_MAX));
    if let Some(b) = regs.get_mut(byte) {
        *b = ((u16::from(*b) & !(max << fb)) | (v << fb)) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b = ((u16::from(*b) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Raise register `index` to `count` if it is lower (Redis's `hllDenseSet`): true if it
/// changed.
pub fn raise(regs: &mut [u8], index: usize, count: u8) -> bool {
    if count > get(regs, index) {
        put(regs, index, count);
        true
    } else {
        false
    }
}

/// Add every register value to `histo` (index = register value).
pub fn histogram(regs: &[u8], histo: &mut [u32; 64]) {
    for i in 0..REGISTERS {
        histo[get(regs, i) as usize] += 1;
    }
}

/// `max[i] = max(max[i], register i)` for every register.
pub fn merge(regs: &[u8], max: &mut [u8]) {
    for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
        *m = (*m).max(get(regs, i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_then_get_every_register_without_disturbing_neighbours() {
        let mut regs = vec![0u8; REGISTERS * BITS / 8];
        for i in 0..REGISTERS {
            put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(get(&regs, i), (i % 64) as u8, "register {i}");
        }
        // The layout Redis documents: |11000000|22221111|33333322|.
        let mut r = vec![0u8; 3];
        put(&mut r, 1, 0b111111);
        assert_eq!(r, [0b1100_0000, 0b0000_1111, 0]);
        assert!(raise(&mut r, 2, 5));
        assert!(!raise(&mut r, 2, 4));
        assert_eq!(get(&r, 2), 5);
    }
}
