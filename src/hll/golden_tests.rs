//! Golden vectors captured from redis-server 7.0.15 (elements `el:0`, `el:1`, ... added in
//! PFADDs of 1000; big values compared through their FNV-1a 64 hash and length), and the
//! hostile-bytes property: any string at all, fed to every entry point, gives a value or
//! [`Corrupt`], never a panic.

use super::*;
use proptest::prelude::*;

const SPARSE_MAX: u64 = SPARSE_MAX_BYTES_DEFAULT;

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// PFADD key e... as Redis does it: a new sparse value, the cache invalidated if anything
/// changed (always, for a new key).
fn pfadd_all(v: &mut Vec<u8>, elements: impl Iterator<Item = Vec<u8>>) {
    for e in elements {
        add(v, &e, SPARSE_MAX).expect("valid");
    }
    invalidate(v);
}

fn elements(n: usize) -> Vec<u8> {
    let mut v = new_sparse();
    pfadd_all(&mut v, (0..n).map(|i| format!("el:{i}").into_bytes()));
    v
}

#[test]
fn five_elements_give_redis_bytes_and_count() {
    let mut v = new_sparse();
    pfadd_all(&mut v, ["a", "b", "c", "hello", "world"].iter().map(|s| s.as_bytes().to_vec()));
    assert_eq!(v, hex("48594c4c0100000000000000000000804ab588563c80430a804da5844bfb80425a"));
    assert_eq!(cached(&v), None);
    assert_eq!(count(&v), Ok(5));
    store_cached(&mut v, 5);
    assert_eq!(v, hex("48594c4c0100000005000000000000004ab588563c80430a804da5844bfb80425a"));
    assert_eq!(sparse::decode(&v), "Z:2742 v:3,1 Z:5693 v:1,1 Z:779 v:1,1 Z:3494 v:2,1 Z:3068 v:1,1 Z:603");
}

#[test]
fn two_hundred_elements_give_redis_sparse_bytes() {
    let v = elements(200);
    assert_eq!(v.len(), 505);
    assert_eq!(fnv1a(&v), 0x91f8_8d5c_e759_8aca);
    // The header (cache stale) and the first opcodes: XZERO:155, VAL:2,1, XZERO:234, ...
    assert_eq!(&v[..27], &hex("48594c4c010000000000000000000080409a8440e980238839802d")[..]);
    assert_eq!(count(&v), Ok(201));
}

#[test]
fn thousand_elements_stay_sparse_and_count_as_redis() {
    let v = elements(1000);
    assert_eq!((v.len(), fnv1a(&v)), (1892, 0x007d_6275_b67d_f980));
    assert_eq!(encoding(&v), Some(Encoding::Sparse));
    assert_eq!(count(&v), Ok(999));
}

#[test]
fn hundred_thousand_elements_promote_to_redis_dense_bytes() {
    let mut v = elements(100_000);
    assert_eq!(encoding(&v), Some(Encoding::Dense));
    assert_eq!((v.len(), fnv1a(&v)), (DENSE_SIZE, 0xcb0c_9bd8_5def_a544));
    assert_eq!(count(&v), Ok(98_893));
    store_cached(&mut v, 98_893);
    assert_eq!(fnv1a(&v), 0x44f4_03e1_c04b_3f92);
}

#[test]
fn merges_count_and_encode_as_redis() {
    // PFMERGE m n200 small (all sparse: the result stays sparse), PFCOUNT n200 n1000 small.
    let (n200, n1000) = (elements(200), elements(1000));
    let mut small = new_sparse();
    pfadd_all(&mut small, ["a", "b", "c", "hello", "world"].iter().map(|s| s.as_bytes().to_vec()));
    let mut max = vec![0u8; REGISTERS];
    for v in [&n200, &small] {
        merge_into(&mut max, v).expect("valid");
    }
    let mut m = new_sparse();
    for (i, &r) in max.iter().enumerate().filter(|(_, &r)| r != 0) {
        set_register(&mut m, i, r, SPARSE_MAX).expect("valid");
    }
    invalidate(&mut m);
    assert_eq!((m.len(), fnv1a(&m)), (517, 0x72a8_eaf0_5438_936e));
    assert_eq!(count(&m), Ok(206));
    merge_into(&mut max, &n1000).expect("valid");
    assert_eq!(count_registers(&max), 1004);
}

#[test]
fn header_checks_follow_redis() {
    assert_eq!(encoding(b"HYLL"), None, "shorter than the header");
    assert_eq!(encoding(&new_sparse()), Some(Encoding::Sparse));
    let mut d = new_sparse();
    assert_eq!(to_dense(&mut d), Ok(true));
    assert_eq!(encoding(&d), Some(Encoding::Dense));
    d.push(0);
    assert_eq!(encoding(&d), None, "a dense string of the wrong length");
    let mut bad = new_sparse();
    bad[4] = 2;
    assert_eq!(encoding(&bad), None, "unknown encoding");
    let mut short = new_sparse();
    short.pop();
    assert_eq!(count(&short), Err(Corrupt), "registers do not add up");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any register bytes after a valid header, sparse or dense: add, count, merge and
    /// convert return a value or Corrupt and never panic; a value that stays a HyperLogLog
    /// after an add keeps a valid header.
    #[test]
    fn hostile_bytes_never_panic(
        sparse in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        dense_body in proptest::collection::vec(any::<u8>(), (DENSE_SIZE - HDR_SIZE)..=(DENSE_SIZE - HDR_SIZE)),
        card in any::<u64>(),
        elements in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..20),
        max_bytes in 0u64..4000,
    ) {
        let mut v = new_sparse();
        v.truncate(HDR_SIZE);
        v.extend_from_slice(if sparse { &body } else { &dense_body });
        if !sparse {
            v[4] = 0;
        }
        store_cached(&mut v, card);
        let _ = count(&v);
        let mut max = vec![0u8; REGISTERS];
        let _ = merge_into(&mut max, &v);
        let _ = count_registers(&max);
        let _ = sparse::decode(&v);
        let mut converted = v.clone();
        let _ = to_dense(&mut converted);
        for e in &elements {
            if add(&mut v, e, max_bytes).is_err() {
                break;
            }
        }
        prop_assert!(encoding(&v).is_some());
    }

    /// Valid HyperLogLogs built from random elements: the sparse and the dense form hold the
    /// same registers and count the same.
    #[test]
    fn sparse_and_dense_agree(elements in proptest::collection::vec(any::<u32>(), 0..400)) {
        let mut s = new_sparse();
        let mut d = new_sparse();
        to_dense(&mut d).expect("valid");
        for e in &elements {
            let e = e.to_le_bytes();
            let a = add(&mut s, &e, u64::MAX).expect("valid");
            let b = add(&mut d, &e, u64::MAX).expect("valid");
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(count(&s), count(&d));
        let mut conv = s.clone();
        to_dense(&mut conv).expect("valid");
        prop_assert_eq!(&conv[HDR_SIZE..], &d[HDR_SIZE..]);
    }
}
