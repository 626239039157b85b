//! Forward kernels over the loaded batch, chunk by chunk in parallel. Batch norm in training
//! reduces its per-chunk sums in chunk order, so its statistics do not depend on the threads.

use itertools::izip;

use super::Params;
use super::chunks::{both_mut, each_mut, read_write, reduce_in_order, run_jobs, run_products, zip2};
use super::phase::run_tasks;
use super::state::{Mode, State};
use crate::kernels::activation::Activation;
use crate::kernels::gemm::Isa;
use crate::kernels::tiled::fuses_into_tiles;
use crate::kernels::{dropout, norm};
use crate::plan::{Node, Op};

impl State {
    /// Runs `node`'s forward kernel; `fused` is an in-place activation applied in the same pass.
    pub(super) fn forward(&mut self, node: &Node, fused: Option<Activation>, params: &mut Params, mode: Mode) {
        let rows = self.rows;
        let chunk = self.chunk_rows;
        let chunks = self.chunks(rows);
        match node.op {
            Op::Dense { layer, weight, bias } if layer.is_tiled() => {
                let (x, z) = read_write(&mut self.values, node.input, node.output);
                let (x, z) = (&x[..rows * layer.inputs], &mut z[..rows * layer.units]);
                let (w, b) = (&params.tensors[weight], &params.tensors[bias]);
                if layer.is_narrow() {
                    // Over the whole batch, split by samples, from W^T padded to 16 lanes.
                    let wt = self.packs.scratch(layer.padded_len());
                    layer.transpose_padded(w, wt);
                    let (wt, in_tiles) = (&*wt, fused.filter(|&a| fuses_into_tiles(a)));
                    run_tasks(layer.narrow_forward_parts(x, z), |(x, z)| layer.narrow_forward(wt, b, x, z, in_tiles));
                } else {
                    // Over the whole batch, split by output tiles: pack W and x, then the tiles.
                    let isa = Isa::current();
                    let tiles = layer.forward_tasks(rows).tiles;
                    run_jobs(layer.forward_jobs(isa, w, x, &mut self.packs), tiles > 1);
                    run_products(isa, vec![layer.forward_product(isa, b, z, &self.packs, fused)]);
                }
                if let Some(activation) = fused.filter(|&a| !fuses_into_tiles(a)) {
                    each_mut(chunk, z, layer.units, |v| activation.forward_in_place(v, layer.units));
                }
            }
            Op::Dense { layer, weight, bias } => {
                let (x, z) = read_write(&mut self.values, node.input, node.output);
                let (w, b) = (&params.tensors[weight], &params.tensors[bias]);
                let w_t = &mut self.transposed[weight];
                if layer.is_small() && !layer.is_tiny() {
                    layer.transpose(w, w_t);
                }
                let w_t = &*w_t;
                zip2(
                    chunk,
                    &x[..rows * layer.inputs],
                    layer.inputs,
                    &mut z[..rows * layer.units],
                    layer.units,
                    |x, z| layer.forward(w, w_t, b, x, z, fused),
                );
            }
            Op::Activation { activation, width } => {
                if node.input == node.output {
                    let values = &mut self.values[node.output][..rows * width];
                    each_mut(chunk, values, width, |v| activation.forward_in_place(v, width));
                } else {
                    let (x, y) = read_write(&mut self.values, node.input, node.output);
                    zip2(chunk, &x[..rows * width], width, &mut y[..rows * width], width, |x, y| {
                        activation.forward(x, y, width)
                    });
                }
            }
            Op::Dropout { p, width, mask } => {
                let (x, y) = read_write(&mut self.values, node.input, node.output);
                let (x, y) = (&x[..rows * width], &mut y[..rows * width]);
                if mode == Mode::Eval || p == 0.0 {
                    y.copy_from_slice(x);
                    return;
                }
                let base = self.dropout_words;
                let rng = &self.dropout_rng;
                let span = chunk * width;
                let chunks = izip!(x.chunks(span), y.chunks_mut(span), self.aux[mask][..rows * width].chunks_mut(span));
                run_tasks(chunks.enumerate(), |(c, (x, y, m))| {
                    let mut rng = rng.clone();
                    rng.set_word_pos(base + (c * span) as u128);
                    dropout::forward(p, &mut rng, x, m, y);
                });
                self.dropout_words += (rows * width) as u128;
            }
            Op::BatchNorm { width, eps, momentum, weight, bias, running_mean, running_var, tracked, xhat, stats } => {
                let (x, y) = read_write(&mut self.values, node.input, node.output);
                let (x, y) = (&x[..rows * width], &mut y[..rows * width]);
                let (gamma, beta) = (&params.tensors[weight], &params.tensors[bias]);
                if mode == Mode::Eval {
                    let (mean, var) = (&params.tensors[running_mean], &params.tensors[running_var]);
                    zip2(chunk, x, width, y, width, |x, y| norm::batch_norm_eval(x, mean, var, eps, gamma, beta, y));
                    return;
                }
                let (stats_buffer, xhat_buffer) = both_mut(&mut self.aux, stats, xhat);
                let (batch_stats, partial) = stats_buffer.split_at_mut(2 * width);
                let partial = &mut partial[..chunks * width];
                let span = chunk * width;
                // Mean: per-chunk sums, added in chunk order.
                run_tasks(x.chunks(span).zip(partial.chunks_mut(width)), |(x, out)| norm::feature_sums(x, width, out));
                reduce_in_order(partial, width, chunks);
                let (mean, inv_std) = batch_stats.split_at_mut(width);
                mean.iter_mut().zip(&partial[..width]).for_each(|(m, s)| *m = s / rows as f32);
                // Variance: per-chunk squared deviations from that mean, added in chunk order.
                let mean_ref = &*mean;
                run_tasks(x.chunks(span).zip(partial.chunks_mut(width)), |(x, out)| {
                    norm::feature_squared_deviations(x, mean_ref, width, out)
                });
                reduce_in_order(partial, width, chunks);
                let variance: &[f32] = &partial[..width];
                inv_std.iter_mut().zip(variance).for_each(|(s, v)| *s = 1.0 / (v / rows as f32 + eps).sqrt());
                let (mean, inv_std) = (&*mean, &*inv_std);
                let chunks = izip!(x.chunks(span), y.chunks_mut(span), xhat_buffer[..rows * width].chunks_mut(span));
                run_tasks(chunks, |(x, y, xhat)| norm::batch_norm_apply(x, mean, inv_std, gamma, beta, xhat, y));
                // Running statistics as PyTorch keeps them: the unbiased variance, momentum-weighted.
                let unbiased = rows as f32 / (rows.max(2) - 1) as f32;
                let (rm, rv) = both_mut(&mut params.tensors, running_mean, running_var);
                for f in 0..width {
                    rm[f] = (1.0 - momentum) * rm[f] + momentum * mean[f];
                    rv[f] = (1.0 - momentum) * rv[f] + momentum * variance[f] / rows as f32 * unbiased;
                }
                params.tensors[tracked][0] += 1.0;
            }
            Op::LayerNorm { width, eps, weight, bias, xhat, inv_std } => {
                let (x, y) = read_write(&mut self.values, node.input, node.output);
                let (gamma, beta) = (&params.tensors[weight], &params.tensors[bias]);
                let span = chunk * width;
                let (xhat_buffer, inv_buffer) = both_mut(&mut self.aux, xhat, inv_std);
                let chunks = izip!(
                    x[..rows * width].chunks(span),
                    y[..rows * width].chunks_mut(span),
                    xhat_buffer[..rows * width].chunks_mut(span),
                    inv_buffer[..rows].chunks_mut(chunk),
                );
                run_tasks(chunks, |(x, y, xhat, inv)| norm::layer_norm_forward(x, gamma, beta, eps, xhat, inv, y));
            }
        }
    }
}
