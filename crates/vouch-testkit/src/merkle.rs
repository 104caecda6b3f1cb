//! RFC 6962 §2.1 Merkle tree hashing and audit paths (inclusion proofs).

use sha2::{Digest, Sha256};

/// A SHA-256 tree node.
pub(crate) type Hash = [u8; 32];

/// Leaf hash: SHA-256(0x00 || data) (RFC 6962 §2.1).
pub(crate) fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash: SHA-256(0x01 || left || right) (RFC 6962 §2.1).
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// Merkle Tree Hash of the given leaf hashes (RFC 6962 §2.1 `MTH`).
pub(crate) fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1
/// `PATH`), ordered from the leaf up.
pub(crate) fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(index < leaves.len(), "leaf index out of range");
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if index < k {
        let mut path = inclusion_proof(index, &leaves[..k]);
        path.push(root(&leaves[k..]));
        path
    } else {
        let mut path = inclusion_proof(index - k, &leaves[k..]);
        path.push(root(&leaves[..k]));
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162 §2.1.3.2 verification, written independently of `PATH`.
    fn verify(index: usize, size: usize, leaf: Hash, path: &[Hash], root: Hash) -> bool {
        let (mut fn_, mut sn) = (index, size - 1);
        let mut r = leaf;
        for p in path {
            if sn == 0 {
                return false;
            }
            if fn_ & 1 == 1 || fn_ == sn {
                r = node_hash(p, &r);
                if fn_ & 1 == 0 {
                    while fn_ & 1 == 0 && fn_ != 0 {
                        fn_ >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        sn == 0 && r == root
    }

    #[test]
    fn every_proof_verifies_for_every_tree_size() {
        let leaves: Vec<Hash> = (0..33u8).map(|i| leaf_hash(&[i])).collect();
        for size in 1..=leaves.len() {
            let tree = &leaves[..size];
            let r = root(tree);
            for index in 0..size {
                let path = inclusion_proof(index, tree);
                assert!(verify(index, size, tree[index], &path, r), "{index}/{size}");
            }
        }
    }

    #[test]
    fn empty_tree_root_is_hash_of_empty_string() {
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
