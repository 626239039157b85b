//! The model's parameter tensors (and batch norm's running statistics), in plan order, each
//! row-major as PyTorch lays it out.

use crate::plan::{ParamInit, Plan};
use crate::rng::{self, Stream};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub tensors: Vec<Vec<f32>>,
}

impl Params {
    /// Initial parameters: dense layers in order from the `init` stream of `seed` (each weight
    /// in row-major order, then its bias); norms' scales 1, shifts 0, running variances 1.
    pub fn init(plan: &Plan, seed: u64) -> Params {
        let mut tensors: Vec<Vec<f32>> = plan.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut rng = rng::stream(seed, Stream::Init);
        for init in &plan.inits {
            match init {
                ParamInit::Dense { weight, bias, init, layer } => {
                    let (low, high) = tensors.split_at_mut(*bias);
                    init.fill(&mut low[*weight], &mut high[0], layer.inputs, layer.units, &mut rng);
                }
                ParamInit::Constant { param, value } => tensors[*param].fill(*value),
            }
        }
        Params { tensors }
    }

    /// Every value's bits, in order: what determinism tests compare.
    pub fn to_bits(&self) -> Vec<u32> {
        self.tensors.iter().flatten().map(|v| v.to_bits()).collect()
    }

    /// Whether every value is finite (a diverged run's are not).
    pub fn all_finite(&self) -> bool {
        self.tensors.iter().flatten().all(|v| v.is_finite())
    }

    /// Copies another set of the same shapes into this one, without allocating.
    pub fn copy_from(&mut self, other: &Params) {
        for (to, from) in self.tensors.iter_mut().zip(&other.tensors) {
            to.copy_from_slice(from);
        }
    }
}
