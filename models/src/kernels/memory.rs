//! Keeping freed memory in the process while training.
//!
//! A training step allocates and frees the same few large buffers (activations, gradients,
//! im2col matrices) thousands of times. glibc hands blocks over 128 KiB back to the kernel on
//! every free (`mmap`/`munmap`, or trimming the heap top), so each step paid for page faults and
//! zeroing of fresh pages: about two thirds of an LSTM forward pass in the profile. Raising the
//! thresholds keeps those pages for reuse; `release_freed_memory` gives them back when a run
//! ends. Elsewhere than glibc both are no-ops.

/// Makes the allocator reuse freed memory instead of returning it to the OS. Call once at
/// start-up, before training.
pub fn hold_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
    unsafe {
        // Blocks up to 1 GiB come from the heap, and up to 4 GiB of free heap top is kept.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Returns the memory freed so far to the OS (after a training run, say).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}
