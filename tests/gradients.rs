//! Finite-difference checks of whole-network gradients: every activation in a two-layer
//! network, under every loss, computed through the plan in several chunks.

use nnspec::exec::{Params, State};
use nnspec::plan::{CompileOptions, compile};
use nnspec::span::Source;

fn network(hidden: &str, output: &str, loss: &str) -> String {
    format!(
        "model g {{\n input 3\n dense 4 {hidden} init xavier_normal\n dense 2 {output} init xavier_normal\n}}\n\
         loss {loss}\noptimizer sgd(lr: 0.1)\ndata random(rows: 5, inputs: 3, targets: 2, seed: 3)\n\
         train {{ epochs: 1, batch: full, seed: 11 }}\n"
    )
}

/// The batch loss for the given parameters (no update).
fn loss_at(state: &mut State, plan: &nnspec::plan::Plan, params: &mut Params, rows: usize) -> f64 {
    state.step(plan, params, 0.0, false).loss / (rows * plan.output_width) as f64
}

#[test]
fn every_activation_and_loss_matches_finite_differences() {
    let mut cases = Vec::new();
    for hidden in ["sigmoid", "tanh", "relu", "identity"] {
        for output in ["sigmoid", "tanh", "relu", "identity"] {
            cases.push((hidden, output, "mse"));
        }
        cases.push((hidden, "sigmoid", "bce"));
    }
    for (hidden, output, loss) in cases {
        let text = network(hidden, output, loss);
        let source = Source::new("g.nn", text.clone());
        let model = nnspec::check_source(&source, std::path::Path::new(".")).expect("valid");
        // Chunks of 2 rows: 5 rows make 3 chunks, so the in-order reduction is exercised.
        let plan = compile(&model, &source, CompileOptions { chunk_rows: 2 });
        let data = nnspec::data::load(&model).unwrap();
        let mut params = Params::init(&plan, 11);
        let mut state = State::new(&plan, data.rows);
        let rows: Vec<usize> = (0..data.rows).collect();
        state.load_batch(&data, &rows);
        loss_at(&mut state, &plan, &mut params, data.rows);
        let analytic: Vec<Vec<f32>> = (0..plan.params.len()).map(|p| state.grad(&plan, p).to_vec()).collect();
        let h = 1e-3f32;
        for (p, grads) in analytic.iter().enumerate() {
            for (i, &g) in grads.iter().enumerate() {
                let original = params.tensors[p][i];
                params.tensors[p][i] = original + h;
                let up = loss_at(&mut state, &plan, &mut params, data.rows);
                params.tensors[p][i] = original - h;
                let down = loss_at(&mut state, &plan, &mut params, data.rows);
                params.tensors[p][i] = original;
                let numeric = (up - down) / (2.0 * f64::from(h));
                let error = (f64::from(g) - numeric).abs();
                assert!(
                    error < 1e-3 + 1e-2 * numeric.abs(),
                    "{hidden}/{output}/{loss}: {}[{i}] analytic {g} numeric {numeric}",
                    plan.params[p].name
                );
            }
        }
    }
}
