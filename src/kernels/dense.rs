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
            tiny::forward(self.units, self.inputs, weight, bias, x, z);
        } else if self.is_small() {
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
        if self.is_tiny() {
            tiny::backward(self.units, self.inputs, weight, x, dz, dw, db, dx);
            return;
        }
        if self.is_small() {
            small::backward(self.units, self.inputs, weight, x, dz, dw, db, dx);
            return;
        }
        let (isa, mut packs) = (Isa::current(), Packs::default());
        let input_grad = dx.is_some();
        self.backward_jobs(isa, weight, x, dz, db, input_grad, &mut packs).into_iter().for_each(|job| job.run());
        let (weight_grad, input_grad) = self.backward_products(isa, x.len() / self.inputs, dw, dx, &packs, None);
        for product in std::iter::once(weight_grad).chain(input_grad) {
            let (shared, tiles) = product.into_parts();
            tiles.into_iter().for_each(|tile| shared.run(isa, tile));
        }
    }
}

/// Layers with at most 16 inputs and 16 units: the weights, padded with zeros to `K x 16`
/// (`K` the input count rounded up to 1, 2, 4, 8 or 16), live on the stack, and every row
/// operation is one fixed-width vector operation (16 lanes: one AVX-512 register, two AVX2
/// ones). Fixed trip counts let the compiler vectorise along the rows rather than across them,
/// and rows are read and written whole (no `memcpy` calls). Sums run over samples in order.
/// Compiled for AVX2 only (AVX-512 machines run it too): given AVX-512, LLVM vectorises these
/// loops across samples with gathers and scatters, several times slower.
mod tiny {
    use multiversion::multiversion;

    pub const LANES: usize = 16;
    type Row = [f32; LANES];
    /// Samples whose independent sums are interleaved.
    const GROUP: usize = 4;

    /// `acc += a * row`, one fused multiply-add per lane: a single instruction on FMA CPUs and
    /// the same correctly rounded result (through libm's `fmaf`) on the rare ones without.
    #[inline(always)]
    fn axpy<const N: usize>(acc: &mut [f32; N], a: f32, row: &[f32; N]) {
        for (y, &v) in acc.iter_mut().zip(row) {
            *y = a.mul_add(v, *y);
        }
    }

    /// `src[start..start + len]` in the first `len` of `N` lanes. Reads `N` values at once when
    /// they are there: the lanes past `len` then hold the next sample's values, which callers
    /// must ignore (`load_zeroed` clears them).
    #[inline(always)]
    fn load<const N: usize>(src: &[f32], start: usize, len: usize) -> [f32; N] {
        let mut row = [0.0; N];
        match src.get(start..start + N) {
            Some(whole) => row.copy_from_slice(whole),
            None => {
                for (v, &s) in row.iter_mut().zip(&src[start..start + len]) {
                    *v = s;
                }
            }
        }
        row
    }

    /// `load` with the lanes past `len` set to zero.
    #[inline(always)]
    fn load_zeroed<const N: usize>(src: &[f32], start: usize, len: usize, mask: &[f32; N]) -> [f32; N] {
        let mut row: [f32; N] = load(src, start, len);
        for (v, &keep) in row.iter_mut().zip(mask) {
            *v = if keep != 0.0 { *v } else { 0.0 };
        }
        row
    }

    /// The sum of the lanes by halving: lanes `i` and `i + N/2` first, and so on, the same
    /// order on every CPU.
    #[inline(always)]
    fn tree_sum<const N: usize>(mut v: [f32; N]) -> f32 {
        let mut width = N / 2;
        while width > 0 {
            for i in 0..width {
                v[i] += v[i + width];
            }
            width /= 2;
        }
        v[0]
    }

    /// 1 in the first `len` lanes, 0 after.
    fn lane_mask<const N: usize>(len: usize) -> [f32; N] {
        let mut mask = [0.0; N];
        mask[..len].fill(1.0);
        mask
    }

    /// Writes the first `len` lanes of `row` at `dst[start..]`. When there is room it writes all
    /// `N`: callers write samples in increasing order, so the extra lanes land in the next
    /// sample's slots and are overwritten by it.
    #[inline(always)]
    fn store<const N: usize>(dst: &mut [f32], start: usize, len: usize, row: &[f32; N]) {
        match dst.get_mut(start..start + N) {
            Some(whole) => whole.copy_from_slice(row),
            None => {
                for (d, &v) in dst[start..start + len].iter_mut().zip(row) {
                    *d = v;
                }
            }
        }
    }

    /// `z_j = b + sum_k x_j[k] W^T[k]`.
    #[multiversion(targets("x86_64+avx2+fma"))]
    pub fn forward(units: usize, inputs: usize, weight: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
        match inputs {
            1 => forward_k::<1>(units, inputs, weight, bias, x, z),
            2 => forward_k::<2>(units, inputs, weight, bias, x, z),
            3..=4 => forward_k::<4>(units, inputs, weight, bias, x, z),
            5..=8 => forward_k::<8>(units, inputs, weight, bias, x, z),
            _ => forward_k::<16>(units, inputs, weight, bias, x, z),
        }
    }

    #[inline(always)]
    fn forward_k<const K: usize>(units: usize, inputs: usize, weight: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
        let mut weight_t = [[0.0f32; LANES]; K];
        for (u, row) in weight.chunks_exact(inputs).enumerate() {
            for (k, &w) in row.iter().enumerate() {
                weight_t[k][u] = w;
            }
        }
        let mask = lane_mask::<K>(inputs);
        if units == 1 {
            // One output: a dot product per sample, summed as a fixed tree over the lanes.
            let w: [f32; K] = load_zeroed(weight, 0, inputs, &mask);
            for (j, zj) in z.iter_mut().enumerate() {
                let xj: [f32; K] = load_zeroed(x, j * inputs, inputs, &mask);
                let mut products = [0.0f32; K];
                for ((p, &a), &b) in products.iter_mut().zip(&xj).zip(&w) {
                    *p = a * b;
                }
                *zj = tree_sum(products) + bias[0];
            }
            return;
        }
        let bias: Row = load_zeroed(bias, 0, units, &lane_mask(units));
        let n = x.len() / inputs;
        // GROUP samples at a time: their sums are independent, so the CPU overlaps them where
        // one sum alone would wait out each multiply-add's latency. Each sample's operations
        // and their order are unchanged. Stores go in sample order (see `store`).
        let mut j = 0;
        while j + GROUP <= n {
            // Zeroed: a non-finite value of the next sample times a zero weight would be NaN.
            let mut xs = [[0.0f32; K]; GROUP];
            for (s, xj) in xs.iter_mut().enumerate() {
                *xj = load_zeroed(x, (j + s) * inputs, inputs, &mask);
            }
            let mut accs = [bias; GROUP];
            for (k, row) in weight_t.iter().enumerate() {
                for (acc, xj) in accs.iter_mut().zip(&xs) {
                    axpy(acc, xj[k], row);
                }
            }
            for (s, acc) in accs.iter().enumerate() {
                store(z, (j + s) * units, units, acc);
            }
            j += GROUP;
        }
        for j in j..n {
            let xj: [f32; K] = load_zeroed(x, j * inputs, inputs, &mask);
            let mut acc = bias;
            for (row, &xk) in weight_t.iter().zip(&xj) {
                axpy(&mut acc, xk, row);
            }
            store(z, j * units, units, &acc);
        }
    }

    /// The gradients of a chunk: `db = sum_j dz_j`, `dW` (accumulated along whichever side
    /// takes fewer vector operations), `dx_j = sum_u dz_j[u] W[u]`.
    #[allow(clippy::too_many_arguments)]
    #[multiversion(targets("x86_64+avx2+fma"))]
    pub fn backward(
        units: usize,
        inputs: usize,
        weight: &[f32],
        x: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        dx: Option<&mut [f32]>,
    ) {
        match inputs {
            1 => backward_k::<1>(units, inputs, weight, x, dz, dw, db, dx),
            2 => backward_k::<2>(units, inputs, weight, x, dz, dw, db, dx),
            3..=4 => backward_k::<4>(units, inputs, weight, x, dz, dw, db, dx),
            5..=8 => backward_k::<8>(units, inputs, weight, x, dz, dw, db, dx),
            _ => backward_k::<16>(units, inputs, weight, x, dz, dw, db, dx),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn backward_k<const K: usize>(
        units: usize,
        inputs: usize,
        weight: &[f32],
        x: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        if units == 1 {
            return backward_one::<K>(inputs, weight, x, dz, dw, db, dx);
        }
        let mut w = [[0.0f32; K]; LANES];
        for (row, source) in w.iter_mut().zip(weight.chunks_exact(inputs)) {
            row[..inputs].copy_from_slice(source);
        }
        // dW by rows of units (`dW^T[k] += x_j[k] g_j`, K row operations per sample) or by rows
        // of inputs (`dW[u] += g_j[u] x_j`, one per unit): whichever is fewer.
        let by_units = K <= units;
        let mut dw_t = [[0.0f32; LANES]; K];
        let mut dw_rows = [[0.0f32; K]; LANES];
        let mut db_acc: Row = [0.0; LANES];
        // Lanes past `units` of g and past `inputs` of x_j hold the next sample's values; they
        // only reach accumulator lanes that are never read back.
        let n = x.len() / inputs;
        let mut j = 0;
        while j < n {
            // GROUP samples at a time (fewer at the end), as in `forward_k`: the sums over
            // samples (db, dW) take them in order; their dx sums are independent and overlap.
            let group = GROUP.min(n - j);
            let mut gs = [[0.0f32; LANES]; GROUP];
            for (s, g) in gs[..group].iter_mut().enumerate() {
                *g = load(dz, (j + s) * units, units);
            }
            for (s, g) in gs[..group].iter().enumerate() {
                let xj: [f32; K] = load(x, (j + s) * inputs, inputs);
                axpy(&mut db_acc, 1.0, g);
                if by_units {
                    for (row, &xk) in dw_t.iter_mut().zip(&xj) {
                        axpy(row, xk, g);
                    }
                } else {
                    for (row, &gu) in dw_rows[..units].iter_mut().zip(g) {
                        axpy(row, gu, &xj);
                    }
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                let mut accs = [[0.0f32; K]; GROUP];
                for (u, wu) in w[..units].iter().enumerate() {
                    for (acc, g) in accs.iter_mut().zip(&gs) {
                        axpy(acc, g[u], wu);
                    }
                }
                for (s, acc) in accs[..group].iter().enumerate() {
                    store(dx, (j + s) * inputs, inputs, acc);
                }
            }
            j += group;
        }
        for (u, row) in dw.chunks_exact_mut(inputs).enumerate() {
            for (k, d) in row.iter_mut().enumerate() {
                *d = if by_units { dw_t[k][u] } else { dw_rows[u][k] };
            }
        }
        db.copy_from_slice(&db_acc[..units]);
    }

    /// `backward_k` for a single unit: its gradient is one number per sample, so the sums run
    /// on scalars and `K`-wide rows instead of 16-lane ones. The same fused multiply-adds in
    /// the same order: `db += g`, `dW[k] += g x[k]`, `dx[k] = g W[k]`.
    #[inline(always)]
    fn backward_one<const K: usize>(
        inputs: usize,
        weight: &[f32],
        x: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
        let w: [f32; K] = load(weight, 0, inputs);
        let (mut db_acc, mut dw_acc) = (0.0f32, [0.0f32; K]);
        for (j, &g) in dz.iter().enumerate() {
            let xj: [f32; K] = load(x, j * inputs, inputs);
            db_acc = 1.0f32.mul_add(g, db_acc);
            axpy(&mut dw_acc, g, &xj);
            if let Some(dx) = dx.as_deref_mut() {
                let mut acc = [0.0f32; K];
                axpy(&mut acc, g, &w);
                store(dx, j * inputs, inputs, &acc);
            }
        }
        dw.copy_from_slice(&dw_acc[..inputs]);
        db[0] = db_acc;
    }
}

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
    #[allow(clippy::too_many_arguments)]
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    pub fn backward(
        units: usize,
        inputs: usize,
        weight: &[f32],
        x: &[f32],
        dz: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        mut dx: Option<&mut [f32]>,
    ) {
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
