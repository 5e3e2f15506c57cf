//! Fused CPU kernels for the training and inference hot paths, on plain f32 slices (no Burn):
//! the whole LSTM recurrence as one operation with a hand-written backward pass (`lstm`),
//! 1-D convolutions as one matrix product with im2col/col2im (`conv`), scaled dot-product
//! attention over all heads (`attention`), and dropout masks from a counter-based hash (`random`). `crate::fused` plugs them
//! into Burn's Flex CPU backend and its autodiff; other devices (wgpu) keep the generic path.
//!
//! Why: the models are tiny, so Burn's generic path spends its time in per-operation overhead (an
//! LSTM step is about ten tensor operations and autodiff nodes, times 120 steps, times two
//! passes) and in convolution routes that miss Flex's fast paths (dilated, padded, and the
//! backward on generic fallbacks). The profile and the figures are in docs/benchmarks.md.

pub mod attention;
pub mod conv;
pub mod lstm;
pub mod matmul;
pub mod memory;
pub mod random;
pub mod simd;

/// Runs `f` on every item, on Rayon's threads when there are several; a single item (one window
/// at inference) runs on the calling thread, which saves a hand-over to the pool and back.
pub(crate) fn for_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync + Send) {
    use rayon::prelude::*;
    if items.len() <= 1 {
        items.into_iter().for_each(f);
    } else {
        items.into_par_iter().for_each(f);
    }
}

/// `items.map(f).collect()`, in parallel as `for_each`.
pub(crate) fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() <= 1 {
        items.into_iter().map(f).collect()
    } else {
        items.into_par_iter().map(f).collect()
    }
}
