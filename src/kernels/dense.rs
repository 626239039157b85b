//! The fully connected layer `z = W x + b`, for a chunk of samples at once.
//!
//! `x` is `inputs x n` column-major (one column per sample), `W` is row-major
//! `[units, inputs]` (PyTorch's layout). Every transpose is a strided view: nothing is copied.

use super::gemm::{Strided, StridedMut, gemm};

/// The shape of one dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    pub inputs: usize,
    pub units: usize,
}

impl Dense {
    /// `z = W x + b` for the `n = x.len() / inputs` samples of a chunk.
    pub fn forward(self, weight: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
        let n = x.len() / self.inputs;
        let w = Strided::row_major(weight, self.units, self.inputs);
        gemm(
            StridedMut::col_major(z, self.units, n),
            w,
            Strided::col_major(x, self.inputs, n),
        );
        for column in z.chunks_exact_mut(self.units) {
            column.iter_mut().zip(bias).for_each(|(z, b)| *z += b);
        }
    }

    /// From `dz`, the gradient with respect to `z`, computes this chunk's weight and bias
    /// gradients (overwriting `dw` and `db`) and, when asked, the gradient with respect to `x`.
    pub fn backward(
        self,
        weight: &[f32],
        x: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        let n = x.len() / self.inputs;
        let dz_view = Strided::col_major(dz, self.units, n);
        // dW = dZ X^T, with X^T as the strided view of x.
        let x_transposed = Strided::col_major(x, self.inputs, n).t();
        gemm(
            StridedMut::row_major(dw, self.units, self.inputs),
            dz_view,
            x_transposed,
        );
        db.fill(0.0);
        for column in dz.chunks_exact(self.units) {
            db.iter_mut().zip(column).for_each(|(b, g)| *b += g);
        }
        if let Some(dx) = dx {
            let w_transposed = Strided::row_major(weight, self.units, self.inputs).t();
            gemm(StridedMut::col_major(dx, self.inputs, n), w_transposed, dz_view);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks forward against a hand computation and every gradient against finite differences
    /// of `sum(z * r)` for a fixed random-looking `r`, at sizes on both sides of nalgebra's
    /// small-matrix threshold.
    #[test]
    fn forward_and_gradients_are_right() {
        for (inputs, units, n) in [(2, 3, 4), (7, 9, 8)] {
            let layer = Dense { inputs, units };
            let fill = |len: usize, k: f32| (0..len).map(|i| (i as f32 * k).sin() * 0.9).collect::<Vec<f32>>();
            let weight = fill(units * inputs, 1.3);
            let bias = fill(units, 0.7);
            let x = fill(inputs * n, 2.1);
            let r = fill(units * n, 0.37);
            let objective = |weight: &[f32], bias: &[f32], x: &[f32]| {
                let mut z = vec![0.0; units * n];
                layer.forward(weight, bias, x, &mut z);
                z.iter().zip(&r).map(|(z, r)| f64::from(z * r)).sum::<f64>()
            };
            let mut z = vec![0.0; units * n];
            layer.forward(&weight, &bias, &x, &mut z);
            let (s, u, i) = (n - 1, units - 1, inputs - 1);
            let expected: f32 = (0..inputs)
                .map(|k| weight[u * inputs + k] * x[s * inputs + k])
                .sum::<f32>()
                + bias[u];
            assert!((z[s * units + u] - expected).abs() < 1e-5);
            let (mut dw, mut db, mut dx) = (vec![0.0; units * inputs], vec![0.0; units], vec![0.0; inputs * n]);
            layer.backward(&weight, &x, &r, &mut dw, &mut db, Some(&mut dx));
            let h = 1e-2f32;
            let numeric = |which: usize, index: usize| {
                let mut args = [weight.clone(), bias.clone(), x.clone()];
                args[which][index] += h;
                let up = objective(&args[0], &args[1], &args[2]);
                args[which][index] -= 2.0 * h;
                let down = objective(&args[0], &args[1], &args[2]);
                (up - down) / (2.0 * f64::from(h))
            };
            let checks = [
                (0, u * inputs + i, dw[u * inputs + i]),
                (1, u, db[u]),
                (2, s * inputs + i, dx[s * inputs + i]),
            ];
            for (which, index, analytic) in checks {
                let numeric = numeric(which, index);
                assert!(
                    (f64::from(analytic) - numeric).abs() < 1e-3,
                    "tensor {which}: {analytic} vs {numeric}"
                );
            }
        }
    }
}
