//! The model's parameter tensors, in plan order, each row-major as PyTorch lays it out.

use crate::plan::Plan;
use crate::rng::{self, Stream};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub tensors: Vec<Vec<f32>>,
}

impl Params {
    /// Initial parameters: layer by layer from the `init` stream of `seed`, each weight in
    /// row-major order, then its bias.
    pub fn init(plan: &Plan, seed: u64) -> Params {
        let mut tensors: Vec<Vec<f32>> = plan.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut rng = rng::stream(seed, Stream::Init);
        for init in &plan.inits {
            let (low, high) = tensors.split_at_mut(init.bias);
            init.init.fill(
                &mut low[init.weight],
                &mut high[0],
                init.layer.inputs,
                init.layer.units,
                &mut rng,
            );
        }
        Params { tensors }
    }

    /// Every value's bits, in order: what determinism tests compare.
    pub fn to_bits(&self) -> Vec<u32> {
        self.tensors.iter().flatten().map(|v| v.to_bits()).collect()
    }
}
