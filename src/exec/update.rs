//! The optimizer step over every trainable tensor, after optional clipping of the gradients'
//! global norm. Large tensors are updated in fixed element ranges in parallel; every rule is
//! element-wise, so the result does not depend on the threads.

use rayon::prelude::*;

use super::Params;
use super::state::State;
use crate::plan::Plan;

/// Elements per parallel range of an update.
const RANGE: usize = 32 * 1024;

impl State {
    pub(super) fn update(&mut self, plan: &Plan, params: &mut Params, lr: f64) {
        self.step += 1;
        let t = self.step;
        if let Some(max_norm) = plan.clip_norm {
            self.clip(plan, max_norm);
        }
        let optimizer = plan.optimizer;
        for (id, info) in plan.params.iter().enumerate() {
            if !info.trainable {
                continue;
            }
            let len = info.len();
            let param = &mut params.tensors[id][..];
            let grad = &self.partials[id][..len];
            let moments = &mut self.moments[id];
            let (first, second) = (&mut moments.first[..], &mut moments.second[..]);
            if len <= RANGE {
                optimizer.update(t, lr, param, grad, first, second);
            } else {
                (
                    param.par_chunks_mut(RANGE),
                    grad.par_chunks(RANGE),
                    first.par_chunks_mut(RANGE),
                    second.par_chunks_mut(RANGE),
                )
                    .into_par_iter()
                    .for_each(|(p, g, m, v)| optimizer.update(t, lr, p, g, m, v));
            }
        }
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
