//! The per-run buffers: activations, their gradients, targets, per-chunk parameter gradients
//! and per-chunk loss sums. Allocated once, reused by every batch.

use rayon::prelude::*;

use super::Params;
use super::chunks::{both_mut, each_mut, read_write, reduce_in_order, zip2};
use crate::data::Dataset;
use crate::kernels::loss::LossSums;
use crate::plan::{Kernel, Plan};

pub struct State {
    /// One `width x batch_rows` buffer per plan buffer; buffer 0 is the input batch.
    values: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    targets: Vec<f32>,
    /// Per parameter, one gradient per chunk back to back; the first holds their sum.
    partials: Vec<Vec<f32>>,
    chunk_sums: Vec<LossSums>,
    /// Rows in the current batch.
    rows: usize,
}

impl State {
    /// Buffers for batches of up to `batch_rows` rows.
    pub fn new(plan: &Plan, batch_rows: usize) -> State {
        let chunks = plan.chunks(batch_rows);
        let buffers = || {
            plan.buffers
                .iter()
                .map(|b| vec![0.0; b.width * batch_rows])
                .collect::<Vec<_>>()
        };
        let mut grads = buffers();
        grads[0] = Vec::new(); // the data needs no gradient
        State {
            values: buffers(),
            grads,
            targets: vec![0.0; plan.output_width * batch_rows],
            partials: plan.params.iter().map(|p| vec![0.0; p.len() * chunks]).collect(),
            chunk_sums: vec![LossSums::default(); chunks],
            rows: 0,
        }
    }

    /// Copies the given data rows, in order, into the input and target buffers.
    pub fn load_batch(&mut self, data: &Dataset, rows: &[usize]) {
        let (inputs, targets) = (&mut self.values[0], &mut self.targets);
        for (slot, &row) in rows.iter().enumerate() {
            inputs[slot * data.input_width..(slot + 1) * data.input_width].copy_from_slice(data.input_row(row));
            targets[slot * data.target_width..(slot + 1) * data.target_width].copy_from_slice(data.target_row(row));
        }
        self.rows = rows.len();
    }

    /// The gradient of a parameter after the last `step`.
    pub fn grad(&self, plan: &Plan, param: usize) -> &[f32] {
        &self.partials[param][..plan.params[param].len()]
    }

    /// The model's output (last buffer) for the loaded batch, before any fused activation.
    pub fn output(&self, plan: &Plan) -> &[f32] {
        &self.values[plan.buffers.len() - 1][..self.rows * plan.output_width]
    }

    /// Runs forward, loss, backward and (if `update`) the optimizer on the loaded batch, and
    /// returns the batch's loss sums.
    pub fn step(&mut self, plan: &Plan, params: &mut Params, lr: f64, update: bool) -> LossSums {
        let rows = self.rows;
        let chunk = plan.chunk_rows;
        let chunks = plan.chunks(rows);
        for step in &plan.steps {
            match &step.kernel {
                Kernel::Dense {
                    layer,
                    input,
                    output,
                    weight,
                    bias,
                } => {
                    let (x, z) = read_write(&mut self.values, *input, *output);
                    let (w, b) = (&params.tensors[*weight], &params.tensors[*bias]);
                    zip2(
                        chunk,
                        &x[..rows * layer.inputs],
                        layer.inputs,
                        &mut z[..rows * layer.units],
                        layer.units,
                        |x, z| layer.forward(w, b, x, z),
                    );
                }
                Kernel::Activation { activation, buffer } => {
                    let width = plan.buffers[*buffer].width;
                    each_mut(chunk, &mut self.values[*buffer][..rows * width], width, |v| {
                        activation.forward(v)
                    });
                }
                Kernel::Loss { kernel, output, .. } => {
                    let width = plan.output_width;
                    let scale = 1.0 / (rows * width) as f32;
                    let n = rows * width;
                    let span = chunk * width;
                    let values = &self.values[*output][..n];
                    let grads = &mut self.grads[*output][..n];
                    (
                        values.par_chunks(span),
                        self.targets[..n].par_chunks(span),
                        grads.par_chunks_mut(span),
                    )
                        .into_par_iter()
                        .zip(self.chunk_sums[..chunks].par_iter_mut())
                        .for_each(|((v, t, g), sums)| *sums = kernel.forward_backward(v, t, g, scale));
                }
                Kernel::ActivationBackward { activation, buffer } => {
                    let width = plan.buffers[*buffer].width;
                    zip2(
                        chunk,
                        &self.values[*buffer][..rows * width],
                        width,
                        &mut self.grads[*buffer][..rows * width],
                        width,
                        |y, g| activation.backward(y, g),
                    );
                }
                Kernel::DenseBackward {
                    layer,
                    input,
                    output,
                    weight,
                    bias,
                    input_grad,
                } => {
                    let (dw_len, db_len) = (layer.units * layer.inputs, layer.units);
                    let x = &self.values[*input][..rows * layer.inputs];
                    let w = &params.tensors[*weight];
                    let (dz, dx) = if *input_grad {
                        let (dz, dx) = read_write(&mut self.grads, *output, *input);
                        (&dz[..rows * layer.units], Some(&mut dx[..rows * layer.inputs]))
                    } else {
                        (&self.grads[*output][..rows * layer.units], None)
                    };
                    let (dw_parts, db_parts) = both_mut(&mut self.partials, *weight, *bias);
                    let db_parts = &mut db_parts[..chunks * db_len];
                    let dw_parts = &mut dw_parts[..chunks * dw_len];
                    let xs = x.par_chunks(chunk * layer.inputs);
                    let dzs = dz.par_chunks(chunk * layer.units);
                    let dws = dw_parts.par_chunks_mut(dw_len);
                    let dbs = db_parts.par_chunks_mut(db_len);
                    match dx {
                        Some(dx) => (xs, dzs, dws, dbs, dx.par_chunks_mut(chunk * layer.inputs))
                            .into_par_iter()
                            .for_each(|(x, dz, dw, db, dx)| layer.backward(w, x, dz, dw, db, Some(dx))),
                        None => (xs, dzs, dws, dbs)
                            .into_par_iter()
                            .for_each(|(x, dz, dw, db)| layer.backward(w, x, dz, dw, db, None)),
                    }
                    reduce_in_order(&mut self.partials[*weight], dw_len, chunks);
                    reduce_in_order(&mut self.partials[*bias], db_len, chunks);
                }
                Kernel::Update { optimizer, params: ids } => {
                    if update {
                        for &id in ids {
                            let len = plan.params[id].len();
                            optimizer.update(&mut params.tensors[id], &self.partials[id][..len], lr);
                        }
                    }
                }
            }
        }
        let mut total = LossSums::default();
        for sums in &self.chunk_sums[..chunks] {
            total.add(*sums);
        }
        total
    }
}
