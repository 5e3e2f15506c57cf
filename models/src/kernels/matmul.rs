//! Matrix products on strided f32 views: the `gemm` crate (Flex's own matrix multiply, with its
//! AVX-512 kernels) for everything but a few rows, and register-tiled AVX-512/AVX2 kernels for one
//! to four rows, where `gemm` reached 14 GFLOP/s (an LSTM step of a single window is such a
//! product, 120 times per layer).
//!
//! Views carry their strides, so a transpose is free and every bound is checked once per call,
//! before any unsafe code runs.
// Register tiles are indexed by row on purpose: `acc[r]` and `a[k * R + r]` in one unrolled loop.
#![allow(clippy::needless_range_loop)]

/// A read-only matrix view: element (r, c) is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// A writable matrix view with the same addressing as `MatRef`.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

fn last_index(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs
    }
}

impl<'a> MatRef<'a> {
    /// `rows x cols` stored row after row, `row_stride` elements apart.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        let m = Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        };
        m.check();
        m
    }

    /// A dense row-major `rows x cols` matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn check(&self) {
        assert!(
            self.rows == 0
                || self.cols == 0
                || last_index(self.rows, self.cols, self.row_stride, self.col_stride)
                    < self.data.len(),
            "matrix view {}x{} (strides {}, {}) exceeds its {} elements",
            self.rows,
            self.cols,
            self.row_stride,
            self.col_stride,
            self.data.len()
        );
    }

    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

impl<'a> MatMut<'a> {
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            rows == 0 || cols == 0 || last_index(rows, cols, row_stride, 1) < data.len(),
            "matrix view {rows}x{cols} (row stride {row_stride}) exceeds its {} elements",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    pub fn dense(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }
}

/// `dst = a · b`, or `dst += a · b` when `accumulate`. `parallel` lets `gemm` use Rayon's pool
/// (worth it only for large products).
pub fn matmul(dst: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, parallel: bool) {
    assert!(
        a.rows == dst.rows && b.cols == dst.cols && a.cols == b.rows,
        "matmul shapes: [{}x{}] = [{}x{}] . [{}x{}]",
        dst.rows,
        dst.cols,
        a.rows,
        a.cols,
        b.rows,
        b.cols
    );
    let (m, n, k) = (dst.rows, dst.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst.data[r * dst.row_stride..r * dst.row_stride + n].fill(0.0);
            }
        }
        return;
    }
    if m <= 4 && b.col_stride == 1 && dst.col_stride == 1 {
        few_rows(dst, a, b, accumulate);
        return;
    }
    let parallelism = if parallel && m * n * k >= 1 << 22 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the constructors checked that every (row, col) of each view lies inside its slice,
    // the shapes agree (asserted above), and `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

fn few_rows(dst: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let (m, n, k) = (dst.rows, dst.cols, a.cols);
    // A's values gathered once, [k][m], so the kernels read them with unit stride.
    let mut av = vec![0.0f32; k * m];
    for kk in 0..k {
        for r in 0..m {
            av[kk * m + r] = a.at(r, kk);
        }
    }
    let MatMut {
        data, row_stride, ..
    } = dst;
    #[cfg(target_arch = "x86_64")]
    {
        use super::simd::{Level, level};
        // SAFETY: every (row, col) of `dst` and `b` was checked to lie inside its slice when the
        // views were built, shapes agree (asserted by `matmul`), both have unit column stride,
        // and `level()` confirmed the instruction set.
        unsafe {
            match (level(), m) {
                (Level::V4, 1) => {
                    return x86::few_rows_v4::<1>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V4, 2) => {
                    return x86::few_rows_v4::<2>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V4, 3) => {
                    return x86::few_rows_v4::<3>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V4, 4) => {
                    return x86::few_rows_v4::<4>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V3, 1) => {
                    return x86::few_rows_v3::<1>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V3, 2) => {
                    return x86::few_rows_v3::<2>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V3, 3) => {
                    return x86::few_rows_v3::<3>(data, row_stride, &av, b, n, k, accumulate);
                }
                (Level::V3, 4) => {
                    return x86::few_rows_v3::<4>(data, row_stride, &av, b, n, k, accumulate);
                }
                _ => {}
            }
        }
    }
    // Portable fallback: one output row at a time, b's rows streamed.
    for r in 0..m {
        let o = &mut data[r * row_stride..r * row_stride + n];
        if !accumulate {
            o.fill(0.0);
        }
        for kk in 0..k {
            let s = av[kk * m + r];
            let brow = &b.data[kk * b.row_stride..kk * b.row_stride + n];
            for (o, x) in o.iter_mut().zip(brow) {
                *o += s * x;
            }
        }
    }
}

/// Register-tiled kernels for one to four rows: R rows by 64 (AVX-512) or 32 (AVX2) columns of
/// accumulators stay in registers while k walks down `b`'s rows, so `b` is read once per call.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::MatRef;

    /// # Safety
    /// `out` holds rows 0..R at `out_stride` with n columns each, `b` has k rows of n columns with
    /// unit column stride, `av` is `[k][R]`, and the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn few_rows_v4<const R: usize>(
        out: &mut [f32],
        out_stride: usize,
        av: &[f32],
        b: MatRef<'_>,
        n: usize,
        k: usize,
        accumulate: bool,
    ) {
        const W: usize = 16;
        let bp = b.data.as_ptr();
        let op = out.as_mut_ptr();
        let mut j = 0;
        while j < n {
            let cols = (n - j).min(4 * W);
            let masks: [__mmask16; 4] = std::array::from_fn(|v| {
                let left = cols.saturating_sub(v * W).min(W);
                ((1u32 << left) - 1) as __mmask16
            });
            let mut acc = [[_mm512_setzero_ps(); 4]; R];
            for kk in 0..k {
                // SAFETY (whole block): row kk, columns j..j+cols of b exist; masked lanes are
                // not read.
                unsafe {
                    let row = bp.add(kk * b.row_stride + j);
                    let x: [__m512; 4] =
                        std::array::from_fn(|v| _mm512_maskz_loadu_ps(masks[v], row.add(v * W)));
                    for r in 0..R {
                        let s = _mm512_set1_ps(*av.get_unchecked(kk * R + r));
                        for v in 0..4 {
                            acc[r][v] = _mm512_fmadd_ps(s, x[v], acc[r][v]);
                        }
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                for (v, value) in acc_r.iter().enumerate() {
                    if masks[v] == 0 {
                        continue;
                    }
                    // SAFETY: row r, columns j + v*W .. under the mask, lie inside `out`.
                    unsafe {
                        let dst = op.add(r * out_stride + j + v * W);
                        let value = if accumulate {
                            _mm512_add_ps(*value, _mm512_maskz_loadu_ps(masks[v], dst))
                        } else {
                            *value
                        };
                        _mm512_mask_storeu_ps(dst, masks[v], value);
                    }
                }
            }
            j += cols;
        }
    }

    /// # Safety
    /// As `few_rows_v4`, with AVX2 and FMA instead of AVX-512F.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn few_rows_v3<const R: usize>(
        out: &mut [f32],
        out_stride: usize,
        av: &[f32],
        b: MatRef<'_>,
        n: usize,
        k: usize,
        accumulate: bool,
    ) {
        const W: usize = 8;
        let bp = b.data.as_ptr();
        let op = out.as_mut_ptr();
        let mut j = 0;
        while j < n {
            let cols = (n - j).min(4 * W);
            let lanes = |v: usize| cols.saturating_sub(v * W).min(W);
            let masks: [__m256i; 4] = std::array::from_fn(|v| {
                let left = lanes(v) as i32;
                _mm256_setr_epi32(
                    -((0 < left) as i32),
                    -((1 < left) as i32),
                    -((2 < left) as i32),
                    -((3 < left) as i32),
                    -((4 < left) as i32),
                    -((5 < left) as i32),
                    -((6 < left) as i32),
                    -((7 < left) as i32),
                )
            });
            let mut acc = [[_mm256_setzero_ps(); 4]; R];
            for kk in 0..k {
                // SAFETY: as in the AVX-512 kernel; masked lanes are not read.
                unsafe {
                    let row = bp.add(kk * b.row_stride + j);
                    let x: [__m256; 4] =
                        std::array::from_fn(|v| _mm256_maskload_ps(row.add(v * W), masks[v]));
                    for r in 0..R {
                        let s = _mm256_set1_ps(*av.get_unchecked(kk * R + r));
                        for v in 0..4 {
                            acc[r][v] = _mm256_fmadd_ps(s, x[v], acc[r][v]);
                        }
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                for (v, value) in acc_r.iter().enumerate() {
                    if lanes(v) == 0 {
                        continue;
                    }
                    // SAFETY: row r, columns under the mask, lie inside `out`.
                    unsafe {
                        let dst = op.add(r * out_stride + j + v * W);
                        let value = if accumulate {
                            _mm256_add_ps(*value, _mm256_maskload_ps(dst, masks[v]))
                        } else {
                            *value
                        };
                        _mm256_maskstore_ps(dst, masks[v], value);
                    }
                }
            }
            j += cols;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &MatRef<'_>, b: &MatRef<'_>) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| a.at(r, i) * b.at(i, c)).sum();
            }
        }
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_path_and_transpose_matches_the_naive_product() {
        for &(m, n, k) in &[
            (1, 5, 3),
            (3, 130, 17),
            (4, 64, 64),
            (2, 200, 33),
            (1, 512, 128),
            (5, 7, 9),
            (33, 70, 40),
        ] {
            let a_data = values(m * k, 1);
            let bt_data = values(n * k, 2);
            let a = MatRef::dense(&a_data, m, k);
            // b given transposed, as the backward passes use it.
            let b = MatRef::dense(&bt_data, n, k).t();
            let want = naive(m, n, k, &a, &b);
            let mut got = vec![1.0f32; m * n];
            matmul(MatMut::dense(&mut got, m, n), a, b, true, true);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - (w + 1.0)).abs() < 1e-4,
                    "{m}x{n}x{k}: {g} vs {}",
                    w + 1.0
                );
            }
            // A dense b takes the few-rows kernel when m <= 4.
            let b_dense: Vec<f32> = (0..k * n).map(|i| b.at(i / n, i % n)).collect();
            let mut got = vec![0.0f32; m * n];
            matmul(
                MatMut::dense(&mut got, m, n),
                a,
                MatRef::dense(&b_dense, k, n),
                false,
                false,
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{m}x{n}x{k}: {g} vs {w}");
            }
        }
    }

    /// The AVX2 kernel, which `level()` skips on an AVX-512 machine, against the naive product.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_few_rows_kernel_matches_too() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        for &(n, k) in &[(5, 3), (37, 9), (64, 128), (200, 33)] {
            let a_data = values(3 * k, 1);
            let b_data = values(k * n, 2);
            let (a, b) = (MatRef::dense(&a_data, 3, k), MatRef::dense(&b_data, k, n));
            let want = naive(3, n, k, &a, &b);
            let mut av = vec![0.0f32; k * 3];
            for kk in 0..k {
                for r in 0..3 {
                    av[kk * 3 + r] = a.at(r, kk);
                }
            }
            let mut got = vec![1.0f32; 3 * n];
            // SAFETY: shapes as the kernel requires; AVX2 and FMA checked above.
            unsafe { x86::few_rows_v3::<3>(&mut got, n, &av, b, n, k, true) };
            for (g, w) in got.iter().zip(&want) {
                assert!((g - (w + 1.0)).abs() < 1e-4, "{n}x{k}: {g} vs {}", w + 1.0);
            }
        }
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn a_view_past_its_slice_is_refused() {
        let data = vec![0.0f32; 10];
        let _ = MatRef::strided(&data, 3, 4, 4);
    }
}
