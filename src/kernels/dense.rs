//! The fully connected layer `z = W x + b`, for a chunk of samples at once.
//!
//! `x` is `inputs x n` column-major (one column per sample), `W` is row-major
//! `[units, inputs]` (PyTorch's layout). Layers with at most 1024 weights run chunk by chunk
//! here: the tiniest in registers (`tiny`), the others in loops the compiler vectorises for the
//! CPU it finds at run time (`small`). Larger layers run over the whole batch at once, split by
//! output tiles (`super::tiled`); `forward` and `backward` run those on one thread.

use super::activation::Activation;
use super::gemm::Isa;
use super::tiled::{Packs, fuses_into_tiles};

/// One chunk's backward pass of a chunked (tiny or small) layer: its shape, what it reads,
/// what it writes (`dx` when the input gradient is wanted).
pub struct Chunk<'a> {
    pub units: usize,
    pub inputs: usize,
    pub weight: &'a [f32],
    pub x: &'a [f32],
    pub dz: &'a [f32],
    pub dw: &'a mut [f32],
    pub db: &'a mut [f32],
    pub dx: Option<&'a mut [f32]>,
}

/// The shape of one dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    pub inputs: usize,
    pub units: usize,
}

impl Dense {
    /// Whether the plain loops beat the tiled products' packing for this shape: at most 1024
    /// weights. Decided by the shape alone, so results never depend on anything else.
    pub fn is_small(self) -> bool {
        self.units * self.inputs <= 1024
    }

    /// Whether the layer runs over the whole batch at once, split by output tiles
    /// (`super::tiled`), rather than chunk by chunk: every layer that is not small.
    pub fn is_tiled(self) -> bool {
        !self.is_small()
    }

    /// Whether both sides fit one 16-lane vector: such layers run entirely in registers.
    pub fn is_tiny(self) -> bool {
        self.units <= tiny::LANES && self.inputs <= tiny::LANES
    }

    /// Writes `W^T` (`inputs x units`, row-major), which the small forward reads row by row.
    pub fn transpose(self, weight: &[f32], out: &mut [f32]) {
        for (u, row) in weight.chunks_exact(self.inputs).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                out[k * self.units + u] = w;
            }
        }
    }

    /// `z = act(W x + b)` for the `n = x.len() / inputs` samples of a chunk. `weight_t` is
    /// `transpose(weight)` for small layers and unused for large ones.
    pub fn forward(
        self,
        weight: &[f32],
        weight_t: &[f32],
        bias: &[f32],
        x: &[f32],
        z: &mut [f32],
        activation: Option<Activation>,
    ) {
        if self.is_tiny() {
            // The activation too: on AVX-512, in registers before each row is stored.
            return tiny::forward(self.units, self.inputs, weight, bias, x, z, activation);
        }
        if self.is_small() {
            small::forward(self.inputs, weight_t, bias, x, z);
        } else {
            let (isa, mut packs) = (Isa::current(), Packs::default());
            self.forward_jobs(isa, weight, x, &mut packs).into_iter().for_each(|job| job.run());
            let (shared, tiles) = self.forward_product(isa, bias, z, &packs, activation).into_parts();
            tiles.into_iter().for_each(|tile| shared.run(isa, tile));
            if activation.is_some_and(fuses_into_tiles) {
                return;
            }
        }
        if let Some(activation) = activation {
            activation.forward_in_place(z, self.units);
        }
    }

    /// From `dz`, the gradient with respect to `z` (or, with a fused `activation`, with respect
    /// to its output `y`, turned into the gradient of `z` in place first), computes this chunk's
    /// weight and bias gradients (overwriting `dw` and `db`) and, when asked, that of `x`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        self,
        weight: &[f32],
        x: &[f32],
        y: &[f32],
        dz: &mut [f32],
        dw: &mut [f32],
        db: &mut [f32],
        dx: Option<&mut [f32]>,
        activation: Option<Activation>,
    ) {
        if let Some(activation) = activation {
            activation.backward(y, y, dz, self.units);
        }
        let (units, inputs) = (self.units, self.inputs);
        if self.is_tiny() {
            tiny::backward(Chunk { units, inputs, weight, x, dz, dw, db, dx });
            return;
        }
        if self.is_small() {
            small::backward(Chunk { units, inputs, weight, x, dz, dw, db, dx });
            return;
        }
        let (isa, mut packs) = (Isa::current(), Packs::default());
        let input_grad = dx.is_some();
        self.backward_jobs(isa, weight, x, dz, db, input_grad, &mut packs).into_iter().for_each(|job| job.run());
        let dx = dx.map(|dx| (dx, None));
        let (weight_grad, input_grad) = self.backward_products(isa, x.len() / self.inputs, dw, dx, &packs, None);
        for product in std::iter::once(weight_grad).chain(input_grad) {
            let (shared, tiles) = product.into_parts();
            tiles.into_iter().for_each(|tile| shared.run(isa, tile));
        }
    }
}

mod tiny;
#[cfg(target_arch = "x86_64")]
mod tiny512;

/// Loops over samples with vector operations along a row, compiled for AVX-512, AVX2+FMA and
/// the baseline, chosen at run time. Each sums in a fixed order, so results are the same on
/// every call; they may differ from the tiled products in the last bits, which is why the choice
/// depends only on the layer's shape.
mod small {
    use multiversion::multiversion;

    /// `z_j = b + sum_k x_j[k] * W^T[k, :]` for each sample `j`.
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    pub fn forward(inputs: usize, weight_t: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
        let units = bias.len();
        for (xj, zj) in x.chunks_exact(inputs).zip(z.chunks_exact_mut(units)) {
            zj.copy_from_slice(bias);
            for (&xk, row) in xj.iter().zip(weight_t.chunks_exact(units)) {
                for (z, &w) in zj.iter_mut().zip(row) {
                    *z += xk * w;
                }
            }
        }
    }

    /// `db = sum_j dz_j`, `dW[u, :] = sum_j dz_j[u] x_j`, `dx_j = sum_u dz_j[u] W[u, :]`.
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    pub fn backward(chunk: super::Chunk<'_>) {
        let super::Chunk { units, inputs, weight, x, dz, dw, db, mut dx } = chunk;
        dw.fill(0.0);
        db.fill(0.0);
        for (j, (xj, dzj)) in x.chunks_exact(inputs).zip(dz.chunks_exact(units)).enumerate() {
            for (b, &g) in db.iter_mut().zip(dzj) {
                *b += g;
            }
            for (&g, dw_row) in dzj.iter().zip(dw.chunks_exact_mut(inputs)) {
                for (d, &v) in dw_row.iter_mut().zip(xj) {
                    *d += g * v;
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                let dxj = &mut dx[j * inputs..(j + 1) * inputs];
                dxj.fill(0.0);
                for (&g, w_row) in dzj.iter().zip(weight.chunks_exact(inputs)) {
                    for (d, &w) in dxj.iter_mut().zip(w_row) {
                        *d += g * w;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks forward against a hand computation and every gradient against finite differences
    /// of `sum(z * r)` for a fixed `r`, for small and large layers.
    #[test]
    fn forward_and_gradients_are_right() {
        // Tiny, tiny at the 16-lane limit, small, and large (tiled) layers.
        for (inputs, units, n) in [(2, 3, 4), (16, 16, 5), (7, 40, 8), (40, 48, 7)] {
            let layer = Dense { inputs, units };
            let fill = |len: usize, k: f32| (0..len).map(|i| (i as f32 * k).sin() * 0.9).collect::<Vec<f32>>();
            let weight = fill(units * inputs, 1.3);
            let bias = fill(units, 0.7);
            let x = fill(inputs * n, 2.1);
            let r = fill(units * n, 0.37);
            let objective = |weight: &[f32], bias: &[f32], x: &[f32]| {
                let mut weight_t = vec![0.0; weight.len()];
                layer.transpose(weight, &mut weight_t);
                let mut z = vec![0.0; units * n];
                layer.forward(weight, &weight_t, bias, x, &mut z, None);
                z.iter().zip(&r).map(|(z, r)| f64::from(z * r)).sum::<f64>()
            };
            let mut weight_t = vec![0.0; weight.len()];
            layer.transpose(&weight, &mut weight_t);
            let mut z = vec![0.0; units * n];
            layer.forward(&weight, &weight_t, &bias, &x, &mut z, None);
            let (s, u, i) = (n - 1, units - 1, inputs - 1);
            let expected: f32 = (0..inputs).map(|k| weight[u * inputs + k] * x[s * inputs + k]).sum::<f32>() + bias[u];
            assert!((z[s * units + u] - expected).abs() < 1e-4);
            let (mut dw, mut db, mut dx) = (vec![0.0; units * inputs], vec![0.0; units], vec![0.0; inputs * n]);
            let mut dz = r.clone();
            layer.backward(&weight, &x, &z, &mut dz, &mut dw, &mut db, Some(&mut dx), None);
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
                (0, 0, dw[0]),
                (1, u, db[u]),
                (2, s * inputs + i, dx[s * inputs + i]),
            ];
            for (which, index, analytic) in checks {
                let numeric = numeric(which, index);
                assert!((f64::from(analytic) - numeric).abs() < 2e-3, "tensor {which}: {analytic} vs {numeric}");
            }
        }
    }

    /// The fused activation gives the same result as the activation applied on its own.
    #[test]
    fn fused_activation_matches_separate_passes() {
        let layer = Dense { inputs: 3, units: 4 };
        let weight: Vec<f32> = (0..12).map(|i| (i as f32 * 0.3).cos()).collect();
        let mut weight_t = vec![0.0; 12];
        layer.transpose(&weight, &mut weight_t);
        let (bias, x) = (vec![0.1; 4], vec![0.5, -1.0, 2.0, 0.3, 0.2, -0.7]);
        let (mut fused, mut separate) = (vec![0.0; 8], vec![0.0; 8]);
        layer.forward(&weight, &weight_t, &bias, &x, &mut fused, Some(Activation::Tanh));
        layer.forward(&weight, &weight_t, &bias, &x, &mut separate, None);
        Activation::Tanh.forward_in_place(&mut separate, 4);
        assert_eq!(fused, separate);
    }
}
