//! The products through nalgebra, nnspec's matrix type: its `gemm` hands the strides to
//! matrixmultiply. No longer on the training path (the tiled products are faster and give the
//! same bits for any thread count, see `benches/products.rs`), it stays as the reference the
//! tiled products are tested and measured against. Products with a dimension of 5 or less
//! (where nalgebra would not use matrixmultiply, and its fallback mishandles non-unit row
//! strides) use a plain loop.

use nalgebra::{Dyn, MatrixViewMut};

use super::Strided;

/// Where a product goes: `rows x cols` with the given strides.
pub struct StridedMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> StridedMut<'a> {
    pub fn col_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        StridedMut { data, rows, cols, row_stride: 1, col_stride: rows }
    }

    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        StridedMut { data, rows, cols, row_stride: cols, col_stride: 1 }
    }
}

/// Below or at this size in any dimension, products use the plain loop (nalgebra's own threshold).
const SMALL: usize = 5;

/// `c = a * b`.
pub fn gemm(c: StridedMut<'_>, a: Strided<'_>, b: Strided<'_>) {
    assert!(a.cols == b.rows && c.rows == a.rows && c.cols == b.cols, "gemm: shapes do not match");
    if a.rows > SMALL && a.cols > SMALL && b.cols > SMALL {
        let mut out = MatrixViewMut::<f32, Dyn, Dyn, Dyn, Dyn>::from_slice_with_strides_generic(
            c.data,
            Dyn(c.rows),
            Dyn(c.cols),
            Dyn(c.row_stride),
            Dyn(c.col_stride),
        );
        out.gemm(1.0, &a.view(), &b.view(), 0.0);
        return;
    }
    for j in 0..c.cols {
        for i in 0..c.rows {
            let mut sum = 0.0f32;
            for p in 0..a.cols {
                sum += a.at(i, p) * b.at(p, j);
            }
            c.data[i * c.row_stride + j * c.col_stride] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout and transpose combination, small and large, against a naive f64 product.
    #[test]
    fn products_match_a_naive_reference() {
        for (m, k, n) in [(1, 1, 1), (3, 2, 7), (8, 9, 10), (6, 1, 6), (17, 33, 12)] {
            let a_data: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b_data: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
            for a in [Strided::col_major(&a_data, m, k), Strided::row_major(&a_data, k, m).t()] {
                for b in [Strided::col_major(&b_data, k, n), Strided::row_major(&b_data, n, k).t()] {
                    for row_major_out in [false, true] {
                        let mut out = vec![0.0f32; m * n];
                        let c = if row_major_out {
                            StridedMut::row_major(&mut out, m, n)
                        } else {
                            StridedMut::col_major(&mut out, m, n)
                        };
                        let (rs, cs) = (c.row_stride, c.col_stride);
                        gemm(c, a, b);
                        for i in 0..m {
                            for j in 0..n {
                                let expected: f64 = (0..k).map(|p| f64::from(a.at(i, p)) * f64::from(b.at(p, j))).sum();
                                let got = f64::from(out[i * rs + j * cs]);
                                assert!((got - expected).abs() < 1e-4, "{m}x{k}x{n} at ({i},{j}): {got} vs {expected}");
                            }
                        }
                    }
                }
            }
        }
    }
}
