//! The optimizer step over every trainable tensor, in one parallel pass: each tensor (and each
//! fixed range of a large one) first sums its per-chunk gradients in chunk order, then applies
//! the optimizer's element-wise rule, while the gradient is still in cache. With gradient
//! clipping the sums come first, for the global norm. Results do not depend on the threads.

use rayon::prelude::*;

use super::Params;
use super::chunks::{add_later_chunks, reduce_in_order};
use super::state::State;
use crate::kernels::optim::Moments;
use crate::plan::{ParamInfo, Plan, UPDATE_RANGE as RANGE};

impl State {
    /// Applies the optimizer with learning rate `lr` (step `self.step + 1`).
    pub(super) fn update(&mut self, plan: &Plan, params: &mut Params, lr: f64) {
        self.step += 1;
        if let Some(max_norm) = plan.clip_norm {
            self.reduce_gradients(plan);
            self.clip(plan, max_norm);
        }
        let (t, optimizer) = (self.step, plan.optimizer);
        let per_tensor =
            |param: &mut Vec<f32>, partials: &mut Vec<f32>, moments: &mut Moments, chunks: usize, info: &ParamInfo| {
                if !info.trainable {
                    return;
                }
                let len = info.len();
                let (grad, rest) = partials.split_at_mut(len);
                let rest = &rest[..(chunks - 1) * len];
                let apply = |offset: usize, p: &mut [f32], g: &mut [f32], m: &mut [f32], v: &mut [f32]| {
                    add_later_chunks(g, rest, len, offset);
                    optimizer.update(t, lr, p, g, m, v);
                };
                let (first, second) = (&mut moments.first[..], &mut moments.second[..]);
                if len <= RANGE {
                    apply(0, param, grad, first, second);
                } else {
                    (
                        param.par_chunks_mut(RANGE),
                        grad.par_chunks_mut(RANGE),
                        first.par_chunks_mut(RANGE),
                        second.par_chunks_mut(RANGE),
                    )
                        .into_par_iter()
                        .enumerate()
                        .for_each(|(i, (p, g, m, v))| apply(i * RANGE, p, g, m, v));
                }
            };
        let tensors = (&mut params.tensors, &mut self.partials, &mut self.moments, &self.pending);
        if plan.parameter_count() <= RANGE {
            // A small model updates faster on one thread than it takes to wake another.
            for (((param, partials), moments), (&chunks, info)) in tensors
                .0
                .iter_mut()
                .zip(tensors.1.iter_mut())
                .zip(tensors.2.iter_mut())
                .zip(tensors.3.iter().zip(&plan.params))
            {
                per_tensor(param, partials, moments, chunks, info);
            }
        } else {
            (tensors.0.par_iter_mut(), tensors.1.par_iter_mut(), tensors.2.par_iter_mut(), tensors.3)
                .into_par_iter()
                .zip(&plan.params)
                .for_each(|((param, partials, moments, &chunks), info)| {
                    per_tensor(param, partials, moments, chunks, info)
                });
        }
        self.pending.iter_mut().for_each(|c| *c = 1);
    }

    /// Sums every tensor's pending per-chunk gradients into its first, in chunk order.
    pub(super) fn reduce_gradients(&mut self, plan: &Plan) {
        (self.partials.par_iter_mut(), &self.pending)
            .into_par_iter()
            .zip(&plan.params)
            .for_each(|((partials, &chunks), info)| reduce_in_order(partials, info.len(), chunks));
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
