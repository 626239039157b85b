//! Backward kernels: each turns the gradient of a node's output into gradients of its
//! parameters (per chunk, then summed in chunk order) and of its input.

use itertools::izip;

use super::Params;
use super::chunks::{both_mut, read_write, reduce_in_order, run_jobs, run_products, zip2};
use super::phase::run_tasks;
use super::state::State;
use crate::kernels::activation::Activation;
use crate::kernels::gemm::Isa;
use crate::kernels::optim::Rule;
use crate::kernels::tiled::FusedUpdate;
use crate::kernels::{dropout, norm};
use crate::plan::{Node, Op, Plan};

impl State {
    /// Runs `node`'s backward kernel; `fused` is an in-place activation whose backward runs
    /// first, in the same pass, and `then` (only for a tiled layer, see `Kernel::Backward`) one
    /// on the node's input whose backward runs on the input gradient as it is written.
    /// With `rule`, a tiled layer's weight takes the optimizer's step as its gradient tiles
    /// are done.
    pub(super) fn backward(
        &mut self,
        plan: &Plan,
        node: &Node,
        (fused, then): (Option<Activation>, Option<Activation>),
        params: &mut Params,
        rule: Option<Rule>,
    ) {
        let rows = self.rows;
        let chunk = self.chunk_rows;
        let chunks = self.chunks(rows);
        let input_grad = node.input != 0;
        debug_assert!(
            then.is_none() || (input_grad && matches!(node.op, Op::Dense { layer, .. } if layer.is_tiled())),
            "only a tiled layer with an input gradient takes the backward of the activation below it"
        );
        match node.op {
            Op::Dense { layer, weight, bias } if layer.is_tiled() => {
                // Over the whole batch, split by output tiles (a narrow layer by inputs and by
                // samples): each weight's gradient sums the batch's samples in order, so there
                // are no per-chunk copies to add up.
                let (x, y) =
                    (&self.values[node.input][..rows * layer.inputs], &self.values[node.output][..rows * layer.units]);
                let (dw, db) = both_mut(&mut self.partials, weight, bias);
                let (dw, db) = (&mut dw[..layer.units * layer.inputs], &mut db[..layer.units]);
                // With it, the activation below the layer and its outputs (the layer's input).
                let (dz, dx) = if input_grad {
                    let (dz, dx) = both_mut(&mut self.grads, node.output, node.input);
                    (dz, Some((&mut dx[..rows * layer.inputs], then.map(|activation| (activation, x)))))
                } else {
                    (&mut self.grads[node.output], None)
                };
                let dz = &mut dz[..rows * layer.units];
                if let Some(activation) = fused {
                    zip2(chunk, y, layer.units, dz, layer.units, |y, g| activation.backward(y, y, g, layer.units));
                }
                let fuses_update = rule.is_some() && plan.update_fused(weight);
                if layer.is_narrow() {
                    // With the step fused, the input gradient reads the weight as it was
                    // before the update, which runs in the same phase: from a copy.
                    let (w, update) = match rule.filter(|_| fuses_update) {
                        Some(rule) => {
                            self.updated[weight] = true;
                            let param = &mut params.tensors[weight][..];
                            let before = self.packs.scratch(if input_grad { param.len() } else { 0 });
                            before.copy_from_slice(&param[..before.len()]);
                            let moments = &mut self.moments[weight];
                            let (first, second) = (&mut moments.first[..], &mut moments.second[..]);
                            (&*before, Some(FusedUpdate { rule, param, first, second }))
                        }
                        None => (&params.tensors[weight][..], None),
                    };
                    let dz = &*dz;
                    let parts = layer.narrow_backward_parts(dz, dw, db, dx, update);
                    run_tasks(parts, |part| layer.narrow_backward(part, x, dz, w));
                } else {
                    let isa = Isa::current();
                    let w = &params.tensors[weight];
                    let tiles = layer.backward_tasks(rows, input_grad, fuses_update).tiles;
                    run_jobs(layer.backward_jobs(isa, w, x, dz, db, input_grad, &mut self.packs), tiles > 1);
                    // The weight is read again only by the next step (the product for dx reads
                    // its packed copy), so it can take its step as soon as its gradient is known.
                    let update = rule.filter(|_| fuses_update).map(|rule| {
                        self.updated[weight] = true;
                        let moments = &mut self.moments[weight];
                        let param = &mut params.tensors[weight][..];
                        FusedUpdate { rule, param, first: &mut moments.first, second: &mut moments.second }
                    });
                    let (weight_grad, input_grad) = layer.backward_products(isa, rows, dw, dx, &self.packs, update);
                    run_products(isa, std::iter::once(weight_grad).chain(input_grad).collect());
                }
                self.pending[weight] = 1;
                self.pending[bias] = 1;
            }
            Op::Dense { layer, weight, bias } => {
                let (dw_len, db_len) = (layer.units * layer.inputs, layer.units);
                let x = &self.values[node.input][..rows * layer.inputs];
                let y = &self.values[node.output][..rows * layer.units];
                let w = &params.tensors[weight];
                let (dw_parts, db_parts) = both_mut(&mut self.partials, weight, bias);
                self.pending[weight] = chunks;
                self.pending[bias] = chunks;
                if chunks == 1 {
                    // A light batch runs here: going through rayon would cost more than the layer.
                    let (dw, db) = (&mut dw_parts[..dw_len], &mut db_parts[..db_len]);
                    if input_grad {
                        let (dz, dx) = both_mut(&mut self.grads, node.output, node.input);
                        let (dz, dx) = (&mut dz[..rows * layer.units], &mut dx[..rows * layer.inputs]);
                        layer.backward(w, x, y, dz, dw, db, Some(dx), fused);
                    } else {
                        let dz = &mut self.grads[node.output][..rows * layer.units];
                        layer.backward(w, x, y, dz, dw, db, None, fused);
                    }
                    return;
                }
                let inputs = (x.chunks(chunk * layer.inputs), y.chunks(chunk * layer.units));
                let dws = dw_parts[..chunks * dw_len].chunks_mut(dw_len);
                let dbs = db_parts[..chunks * db_len].chunks_mut(db_len);
                if input_grad {
                    let (dz, dx) = both_mut(&mut self.grads, node.output, node.input);
                    let dzs = dz[..rows * layer.units].chunks_mut(chunk * layer.units);
                    let dxs = dx[..rows * layer.inputs].chunks_mut(chunk * layer.inputs);
                    run_tasks(izip!(inputs.0, inputs.1, dzs, dws, dbs, dxs), |(x, y, dz, dw, db, dx)| {
                        layer.backward(w, x, y, dz, dw, db, Some(dx), fused)
                    });
                } else {
                    let dzs = self.grads[node.output][..rows * layer.units].chunks_mut(chunk * layer.units);
                    run_tasks(izip!(inputs.0, inputs.1, dzs, dws, dbs), |(x, y, dz, dw, db)| {
                        layer.backward(w, x, y, dz, dw, db, None, fused)
                    });
                }
                // Summed in chunk order by the update (or `reduce_gradients`), in the same pass.
            }
            Op::Activation { activation, width } => {
                let n = rows * width;
                if node.input == node.output {
                    let y = &self.values[node.output][..n];
                    zip2(chunk, y, width, &mut self.grads[node.output][..n], width, |y, g| {
                        activation.backward(y, y, g, width)
                    });
                } else {
                    let (dy, dx) = read_write(&mut self.grads, node.output, node.input);
                    dx[..n].copy_from_slice(&dy[..n]);
                    let (x, y) = (&self.values[node.input][..n], &self.values[node.output][..n]);
                    let span = chunk * width;
                    run_tasks(izip!(x.chunks(span), y.chunks(span), dx[..n].chunks_mut(span)), |(x, y, g)| {
                        activation.backward(x, y, g, width)
                    });
                }
            }
            Op::Dropout { p, width, mask } => {
                let n = rows * width;
                let (dy, dx) = read_write(&mut self.grads, node.output, node.input);
                if p == 0.0 {
                    // The forward pass copied its input and drew no mask.
                    dx[..n].copy_from_slice(&dy[..n]);
                    return;
                }
                let span = chunk * width;
                let chunks = izip!(self.aux[mask][..n].chunks(span), dy[..n].chunks(span), dx[..n].chunks_mut(span));
                run_tasks(chunks, |(m, dy, dx)| dropout::backward(m, dy, dx));
            }
            Op::BatchNorm { width, weight, bias, xhat, stats, .. } => {
                self.affine_grads(node, width, weight, bias, xhat);
                if input_grad {
                    let n = rows * width;
                    let span = chunk * width;
                    let (dy, dx) = read_write(&mut self.grads, node.output, node.input);
                    let gamma = &params.tensors[weight];
                    let inv_std = &self.aux[stats][width..2 * width];
                    let (sum_dy_xhat, sum_dy) = (&self.partials[weight][..width], &self.partials[bias][..width]);
                    let chunks =
                        izip!(dy[..n].chunks(span), self.aux[xhat][..n].chunks(span), dx[..n].chunks_mut(span));
                    run_tasks(chunks, |(dy, xhat, dx)| {
                        norm::batch_norm_input_grad(dy, xhat, gamma, inv_std, sum_dy, sum_dy_xhat, rows, dx)
                    });
                }
            }
            Op::LayerNorm { width, weight, bias, xhat, inv_std, .. } => {
                self.affine_grads(node, width, weight, bias, xhat);
                if input_grad {
                    let n = rows * width;
                    let span = chunk * width;
                    let (dy, dx) = read_write(&mut self.grads, node.output, node.input);
                    let gamma = &params.tensors[weight];
                    let chunks = izip!(
                        dy[..n].chunks(span),
                        self.aux[xhat][..n].chunks(span),
                        self.aux[inv_std][..rows].chunks(chunk),
                        dx[..n].chunks_mut(span),
                    );
                    run_tasks(chunks, |(dy, xhat, inv, dx)| norm::layer_norm_input_grad(dy, xhat, gamma, inv, dx));
                }
            }
        }
    }

    /// The gradients of a norm's scale and shift, per chunk, summed in chunk order.
    fn affine_grads(&mut self, node: &Node, width: usize, weight: usize, bias: usize, xhat: usize) {
        let rows = self.rows;
        let chunks = self.chunks(rows);
        let span = self.chunk_rows * width;
        let (dgamma, dbeta) = both_mut(&mut self.partials, weight, bias);
        let chunks_of = izip!(
            self.grads[node.output][..rows * width].chunks(span),
            self.aux[xhat][..rows * width].chunks(span),
            dgamma[..chunks * width].chunks_mut(width),
            dbeta[..chunks * width].chunks_mut(width),
        );
        run_tasks(chunks_of, |(dy, xhat, dg, db)| norm::affine_grads(dy, xhat, width, dg, db));
        reduce_in_order(dgamma, width, chunks);
        reduce_in_order(dbeta, width, chunks);
    }
}
