//! Finite-difference checks of whole-network gradients through the plan: every activation,
//! loss and layer in small networks, run in several chunks so the in-order reductions (and
//! batch norm's whole-batch statistics) are exercised. Dropout's mask is held fixed by
//! rewinding its random stream before each evaluation.

use nnspec::Spec;
use nnspec::exec::{Mode, Params, State};
use nnspec::plan::{CompileOptions, Plan};

/// A spec with the given model lines, loss and data source.
fn spec(layers: &str, loss: &str, data: &str) -> String {
    format!(
        "model g {{\n input 3\n{layers}\n}}\nloss {loss}\noptimizer sgd(lr: 0.1)\ndata {data}\n\
         train {{ epochs: 1, batch: full, seed: 11 }}\n"
    )
}

const REGRESSION: &str = "random(rows: 5, inputs: 3, targets: 2, seed: 3)";
const CLASSES: &str = "random(rows: 5, inputs: 3, classes: 3, seed: 3)";

fn loss_at(state: &mut State, plan: &Plan, params: &mut Params, words: u128) -> f64 {
    state.dropout_words = words;
    let sums = state.step(plan, params, Mode::Train, 0.0, false);
    plan.mean_loss(&sums, state.rows())
}

fn check_gradients(text: &str) {
    let spec = Spec::parse(text, "g.nn", std::path::Path::new("."), &[]).expect(text);
    // Chunks of 2 rows: 5 rows make 3 chunks.
    let data = spec.load_data().unwrap();
    let plan = spec.compile_for(&data, CompileOptions { chunk_rows: Some(2) });
    let mut params = Params::init(&plan, 11);
    // Move batch norm's shift and scale off their initial values so their gradients matter.
    for (tensor, info) in params.tensors.iter_mut().zip(&plan.params) {
        if info.trainable && info.shape.len() == 1 && !info.name.ends_with("bias") {
            tensor.iter_mut().enumerate().for_each(|(i, v)| *v += 0.1 * i as f32);
        }
    }
    let rows = data.splits.train.clone();
    let mut state = State::new(&plan, rows.len(), 11);
    state.load_batch(&data.dataset, &rows);
    loss_at(&mut state, &plan, &mut params, 0);
    let analytic: Vec<Option<Vec<f32>>> =
        (0..plan.params.len()).map(|p| plan.params[p].trainable.then(|| state.grad(&plan, p).to_vec())).collect();
    let h = 1e-3f32;
    for (p, grads) in analytic.iter().enumerate() {
        let Some(grads) = grads else { continue };
        for (i, &g) in grads.iter().enumerate() {
            let original = params.tensors[p][i];
            params.tensors[p][i] = original + h;
            let up = loss_at(&mut state, &plan, &mut params, 0);
            params.tensors[p][i] = original - h;
            let down = loss_at(&mut state, &plan, &mut params, 0);
            params.tensors[p][i] = original;
            let numeric = (up - down) / (2.0 * f64::from(h));
            assert!(
                (f64::from(g) - numeric).abs() < 2e-3 + 2e-2 * numeric.abs(),
                "{text}\n{}[{i}]: analytic {g} numeric {numeric}",
                plan.params[p].name
            );
        }
    }
}

#[test]
fn every_activation_matches_finite_differences() {
    let activations = ["sigmoid", "tanh", "relu", "leaky_relu(0.2)", "elu(0.7)", "softplus", "gelu", "identity"];
    for activation in activations {
        check_gradients(&spec(&format!(" dense 4 {activation}\n dense 2"), "mse", REGRESSION));
        // As a layer of its own after another activation (out of place).
        check_gradients(&spec(&format!(" dense 4 tanh\n {activation}\n dense 2"), "mse", REGRESSION));
    }
}

#[test]
fn every_loss_matches_finite_differences() {
    for loss in ["mse", "mae", "huber(delta: 0.5)"] {
        check_gradients(&spec(" dense 4 tanh\n dense 2", loss, REGRESSION));
    }
    check_gradients(&spec(" dense 4 tanh\n dense 2 sigmoid", "bce", REGRESSION));
    check_gradients(&spec(" dense 4 tanh\n dense 3 softmax", "cross_entropy", CLASSES));
    // Each sample weighted by its class, the batch's loss their weighted mean.
    check_gradients(&spec(" dense 4 tanh\n dense 3 softmax", "cross_entropy(class_weights: [0.5, 2, 3.5])", CLASSES));
    // Softmax that is not fused into the loss.
    check_gradients(&spec(" dense 4 tanh\n dense 2 softmax", "mse", REGRESSION));
}

#[test]
fn every_layer_matches_finite_differences() {
    check_gradients(&spec(" dense 4 tanh\n dropout 0.4\n dense 2", "mse", REGRESSION));
    check_gradients(&spec(" dense 4\n batch_norm tanh\n dense 2", "mse", REGRESSION));
    check_gradients(&spec(" dense 4\n layer_norm(eps: 1e-3) relu\n dense 2", "mse", REGRESSION));
    // Norms and dropout straight on the data (no input gradient needed).
    check_gradients(&spec(" batch_norm\n dropout 0.3\n layer_norm\n dense 3 softmax", "cross_entropy", CLASSES));
}

/// Layers of more than 1024 weights run over the whole batch as products (`kernels::tiled`;
/// of at most 16 units, as narrow layers), and the backward of an activation between two of
/// them runs in the upper one's pass: through a narrow upper layer (600 -> 2) and a tiled one
/// (400 -> 40; its sigmoid stays with it, as 40 -> 2 is small).
#[test]
fn tiled_layers_match_finite_differences() {
    check_gradients(&spec(" dense 600 tanh\n dense 2", "mse", REGRESSION));
    check_gradients(&spec(" dense 400 tanh\n dense 40 sigmoid\n dense 2", "mse", REGRESSION));
}
