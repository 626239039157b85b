//! The optimizer step over every trainable tensor, in one parallel pass: each tensor (and each
//! fixed range of a large one) first sums its per-chunk gradients in chunk order, then applies
//! the optimizer's element-wise rule, while the gradient is still in cache. With gradient
//! clipping the sums come first, for the global norm. Results do not depend on the threads.

use itertools::izip;

use super::Params;
use super::chunks::{add_later_chunks, reduce_in_order};
use super::phase::run_tasks;
use super::state::State;
use crate::plan::{Plan, UPDATE_RANGE as RANGE};

impl State {
    /// Applies the optimizer with learning rate `lr` (step `self.step + 1`).
    pub(super) fn update(&mut self, plan: &Plan, params: &mut Params, lr: f64) {
        self.step += 1;
        if let Some(max_norm) = plan.clip_norm {
            self.reduce_gradients(plan);
            self.clip(plan, max_norm);
        }
        let rule = plan.optimizer.rule(self.step, lr);
        let tensors = izip!(&mut params.tensors, &mut self.partials, &mut self.moments, &self.pending, &plan.params);
        // Tensors that took their step in the backward pass are skipped.
        let updated = &self.updated;
        let tensors = tensors.enumerate().filter(|(id, tensor)| tensor.4.trainable && !updated[*id]);
        if plan.optimizer_pass_len() <= RANGE {
            // A small pass (a small model's, or the biases left when the weights' steps are
            // fused) runs faster on one thread than it takes to hand its pieces to others:
            // W2's took 5.8 us split between two threads and 1.9 us on one.
            for (_, (param, partials, moments, &chunks, info)) in tensors {
                let len = info.len();
                let (grad, rest) = partials.split_at_mut(len);
                add_later_chunks(grad, &rest[..(chunks - 1) * len], len, 0);
                rule.apply(param, grad, &mut moments.first, &mut moments.second);
            }
        } else {
            let ranges = tensors.flat_map(|(_, (param, partials, moments, &chunks, info))| {
                let len = info.len();
                let (grad, rest) = partials.split_at_mut(len);
                let rest = &rest[..(chunks - 1) * len];
                let pieces = izip!(
                    param.chunks_mut(RANGE),
                    grad.chunks_mut(RANGE),
                    moment_ranges(&mut moments.first, len),
                    moment_ranges(&mut moments.second, len),
                );
                pieces.enumerate().map(move |(i, (p, g, m, v))| UpdateRange {
                    offset: i * RANGE,
                    len,
                    rest,
                    p,
                    g,
                    m,
                    v,
                })
            });
            run_tasks(ranges, |r| {
                add_later_chunks(r.g, r.rest, r.len, r.offset);
                rule.apply(r.p, r.g, r.m, r.v);
            });
        }
        self.pending.iter_mut().for_each(|c| *c = 1);
        self.updated.iter_mut().for_each(|u| *u = false);
    }

    /// Sums every tensor's pending per-chunk gradients into its first, in chunk order.
    pub(super) fn reduce_gradients(&mut self, plan: &Plan) {
        for (partials, &chunks, info) in izip!(&mut self.partials, &self.pending, &plan.params) {
            reduce_in_order(partials, info.len(), chunks);
        }
        self.pending.iter_mut().for_each(|c| *c = 1);
    }

    /// Scales every gradient by `max_norm / (norm + 1e-6)` when their global L2 norm exceeds
    /// `max_norm`, as torch.nn.utils.clip_grad_norm_. The norm is summed in f64 in parameter order.
    fn clip(&mut self, plan: &Plan, max_norm: f64) {
        let mut squares = 0.0f64;
        for (id, info) in plan.params.iter().enumerate().filter(|(_, p)| p.trainable) {
            squares += self.partials[id][..info.len()].iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>();
        }
        let coefficient = max_norm / (squares.sqrt() + 1e-6);
        if coefficient < 1.0 {
            for (id, info) in plan.params.iter().enumerate().filter(|(_, p)| p.trainable) {
                self.partials[id][..info.len()].iter_mut().for_each(|g| *g *= coefficient as f32);
            }
        }
    }
}

/// One range of a tensor for the optimizer: its values, gradient and moments from `offset`,
/// and the later chunks' gradients of the whole tensor (`len` values each) still to add.
struct UpdateRange<'a> {
    offset: usize,
    len: usize,
    rest: &'a [f32],
    p: &'a mut [f32],
    g: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

/// A moment buffer in ranges of `RANGE` matching its tensor's (`len` values): an optimizer
/// without this moment keeps it empty, and every range then gets an empty slice.
fn moment_ranges(moment: &mut [f32], len: usize) -> impl Iterator<Item = &mut [f32]> {
    let ranges = len.div_ceil(RANGE).max(1);
    let (kept, empty) = if moment.is_empty() { (0, ranges) } else { (ranges, 0) };
    moment.chunks_mut(RANGE).take(kept).chain(std::iter::repeat_with(|| &mut [][..]).take(empty))
}
