//! Matrix products on strided f32 views: the `gemm` crate (Flex's own matrix multiply, with its
//! AVX-512 kernels) for everything but a few rows, and a register-blocked kernel for one to four
//! rows, where `gemm`'s packing costs more than the arithmetic (an LSTM step of a single window).
//!
//! Views carry their strides, so a transpose is free and every bound is checked once per call,
//! before any unsafe code runs.

use super::simd::multiversion;

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
    let parallelism = if parallel && m * n * k >= 1 << 20 {
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

/// Columns handled per block of the few-rows kernel: four AVX-512 registers per row.
const BLOCK: usize = 64;

fn few_rows(dst: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) {
    let MatMut {
        data,
        rows,
        cols,
        row_stride,
        ..
    } = dst;
    few_rows_kernel(data, rows, cols, row_stride, a, b, accumulate);
}

multiversion! {
    /// Up to four rows: for each block of 64 columns, accumulators stay in registers while `k`
    /// walks down `b`'s rows, so `b` is read once per call.
    fn few_rows_kernel(
        out: &mut [f32],
        rows: usize,
        cols: usize,
        out_stride: usize,
        a: MatRef<'_>,
        b: MatRef<'_>,
        accumulate: bool,
    ) {
        let k = a.cols;
        let mut j0 = 0;
        while j0 < cols {
            let width = BLOCK.min(cols - j0);
            let mut acc = [[0.0f32; BLOCK]; 4];
            for kk in 0..k {
                let start = kk * b.row_stride + j0;
                let brow = &b.data[start..start + width];
                for r in 0..rows {
                    let coef = a.at(r, kk);
                    for (acc, &bv) in acc[r][..width].iter_mut().zip(brow) {
                        *acc += coef * bv;
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let start = r * out_stride + j0;
                let o = &mut out[start..start + width];
                if accumulate {
                    for (o, &v) in o.iter_mut().zip(&acc[..width]) {
                        *o += v;
                    }
                } else {
                    o.copy_from_slice(&acc[..width]);
                }
            }
            j0 += width;
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
        for &(m, n, k) in &[(1, 5, 3), (3, 130, 17), (4, 64, 64), (5, 7, 9), (33, 70, 40)] {
            let a_data = values(m * k, 1);
            let bt_data = values(n * k, 2);
            let a = MatRef::dense(&a_data, m, k);
            // b given transposed, as the backward passes use it.
            let b = MatRef::dense(&bt_data, n, k).t();
            let want = naive(m, n, k, &a, &b);
            let mut got = vec![1.0f32; m * n];
            matmul(MatMut::dense(&mut got, m, n), a, b, true, true);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - (w + 1.0)).abs() < 1e-4, "{m}x{n}x{k}: {g} vs {}", w + 1.0);
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

    #[test]
    #[should_panic(expected = "exceeds")]
    fn a_view_past_its_slice_is_refused() {
        let data = vec![0.0f32; 10];
        let _ = MatRef::strided(&data, 3, 4, 4);
    }
}
