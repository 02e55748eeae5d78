//! Blocked bloom filters over the 16-byte key prefix of a run's records (the stream hash, the
//! correlation id, the idempotency-key hash): every probe of a key reads one 64-byte block, so
//! a lookup touches one cache line and at most one checksummed page of the filter.
//!
//! Invariant: which bits a key sets is part of the run file format (`run.rs`, format 1); the
//! hash and the bit selection must never change without a new format number.

/// Bytes per block (one cache line; divides the 4 KiB page, so a block never straddles pages).
pub(super) const BLOCK_BYTES: usize = 64;
const BLOCK_BITS: u64 = (BLOCK_BYTES * 8) as u64;
/// ≈1% false positives for a blocked filter with 7 probes.
const BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;

/// The filter hash of a key prefix (prefixes are hashes already, except correlation ids, which
/// are time-ordered: mix both halves).
pub(super) fn prefix_hash(prefix: u128) -> u64 {
    splitmix((prefix >> 64) as u64 ^ splitmix(prefix as u64))
}

/// Number of blocks for a run holding at most `keys` distinct prefixes.
pub(super) fn blocks_for(keys: usize) -> usize {
    (keys.saturating_mul(BITS_PER_KEY))
        .div_ceil(BLOCK_BITS as usize)
        .max(1)
}

/// The block a hash probes, out of `blocks`.
pub(super) fn block_of(hash: u64, blocks: usize) -> usize {
    ((u128::from(hash) * blocks as u128) >> 64) as usize
}

fn bit_positions(hash: u64) -> impl Iterator<Item = usize> {
    let h2 = splitmix(hash ^ 0x5851_f42d_4c95_7f2d);
    (0..PROBES).map(move |i| ((h2 >> (9 * i)) % BLOCK_BITS) as usize)
}

/// Whether `block` (the `BLOCK_BYTES` bytes of the block `block_of(hash)`) may hold the key.
pub(super) fn block_may_contain(block: &[u8], hash: u64) -> bool {
    bit_positions(hash).all(|p| block[p / 8] & (1 << (p % 8)) != 0)
}

/// A filter being built while a run is written.
pub(super) struct BloomBuilder {
    bytes: Vec<u8>,
    blocks: usize,
}

impl BloomBuilder {
    pub(super) fn new(blocks: usize) -> BloomBuilder {
        BloomBuilder {
            bytes: vec![0; blocks * BLOCK_BYTES],
            blocks,
        }
    }

    pub(super) fn insert(&mut self, hash: u64) {
        let base = block_of(hash, self.blocks) * BLOCK_BYTES;
        for p in bit_positions(hash) {
            self.bytes[base + p / 8] |= 1 << (p % 8);
        }
    }

    pub(super) fn blocks(&self) -> usize {
        self.blocks
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_always_found_and_others_rarely() {
        let n = 20_000usize;
        let mut b = BloomBuilder::new(blocks_for(n));
        for k in 0..n as u128 {
            b.insert(prefix_hash(k));
        }
        let block = |h: u64| {
            let s = block_of(h, b.blocks()) * BLOCK_BYTES;
            &b.bytes()[s..s + BLOCK_BYTES]
        };
        for k in 0..n as u128 {
            assert!(block_may_contain(block(prefix_hash(k)), prefix_hash(k)));
        }
        let fp = (n as u128..2 * n as u128)
            .filter(|&k| block_may_contain(block(prefix_hash(k)), prefix_hash(k)))
            .count();
        assert!(fp < n * 3 / 100, "{fp} false positives out of {n}");
    }
}
