//! Dropout masks from a counter-based hash: mask element i is a pure function of (stream key, i),
//! so masks are reproducible from the seed and generated in vector registers. Burn's own dropout
//! draws each element from a scalar ChaCha generator, which took a quarter of a TCN training
//! step in the profile.
//!
//! Streams: `seed` sets the calling thread's stream counter (training runs on one thread);
//! every mask takes the next key.

use std::cell::Cell;

use super::simd::multiversion;

thread_local! {
    static NEXT_KEY: Cell<u64> = const { Cell::new(0x243F_6A88_85A3_08D3) };
}

/// Seeds this thread's dropout masks (call where the training device is seeded).
pub fn seed(seed: u64) {
    NEXT_KEY.with(|k| k.set(mix64(seed ^ 0x9E37_79B9_7F4A_7C15)));
}

fn next_key() -> u64 {
    NEXT_KEY.with(|k| {
        let key = k.get();
        k.set(mix64(key.wrapping_add(0x9E37_79B9_7F4A_7C15)));
        key
    })
}

/// SplitMix64's finaliser.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A dropout mask of `n` elements: 0 with probability `p`, else `1 / (1 - p)`.
pub fn dropout_mask(n: usize, p: f32) -> Vec<f32> {
    let (k0, k1) = next_mask_key();
    let mut out = vec![0.0f32; n];
    fill_mask(&mut out, p, k0, k1);
    out
}

/// The next mask's two 32-bit keys (what `dropout_mask` takes; the GPU's mask kernel hashes
/// the same way, so a seeded run draws the same masks on either device).
pub fn next_mask_key() -> (u32, u32) {
    let key = next_key();
    (key as u32, (key >> 32) as u32)
}

/// The drop threshold on the hash's top 24 bits and the kept elements' scale for `p`.
pub fn mask_threshold(p: f32) -> (u32, f32) {
    ((p * 16_777_216.0) as u32, 1.0 / (1.0 - p))
}

multiversion! {
    fn fill_mask(out: &mut [f32], p: f32, k0: u32, k1: u32) {
        // Uniform in [0, 1) from the top 24 bits; drop when below p.
        let (threshold, keep) = mask_threshold(p);
        for (i, o) in out.iter_mut().enumerate() {
            // murmur3's 32-bit finaliser over the index, keyed twice.
            let mut h = (i as u32).wrapping_mul(0x9E37_79B1) ^ k0;
            h ^= h >> 16;
            h = h.wrapping_mul(0x85EB_CA6B);
            h ^= h >> 13;
            h = h.wrapping_mul(0xC2B2_AE35) ^ k1;
            h ^= h >> 16;
            h = h.wrapping_mul(0x85EB_CA6B);
            h ^= h >> 15;
            *o = if (h >> 8) >= threshold { keep } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_the_asked_share_and_repeat_from_the_seed() {
        seed(7);
        let a = dropout_mask(200_000, 0.2);
        let b = dropout_mask(200_000, 0.2);
        seed(7);
        assert_eq!(dropout_mask(200_000, 0.2), a, "same seed, same masks");
        assert_ne!(a, b, "each mask takes a new stream");
        let dropped = a.iter().filter(|v| **v == 0.0).count() as f64 / a.len() as f64;
        assert!((dropped - 0.2).abs() < 0.005, "dropped share {dropped}");
        assert!(a.iter().all(|v| *v == 0.0 || (*v - 1.25).abs() < 1e-6));
        // Neighbouring elements are not correlated.
        let both = a.windows(2).filter(|w| w[0] == 0.0 && w[1] == 0.0).count() as f64
            / (a.len() - 1) as f64;
        assert!((both - 0.04).abs() < 0.003, "pairs dropped together {both}");
        let mean: f64 = a.iter().map(|v| f64::from(*v)).sum::<f64>() / a.len() as f64;
        assert!(
            (mean - 1.0).abs() < 0.01,
            "the mask keeps the expectation: {mean}"
        );
    }
}
