//! Each error as the user sees it: the full rendering, and the exit code.

use crate::support::{Scratch, nnspec};

const XOR_CSV: &str = "x0,x1,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";

/// Runs `nnspec check bad.nn` on a spec (with an xor.csv beside it) and returns exit code and stderr.
fn check(name: &str, spec: &str) -> (i32, String) {
    let scratch = Scratch::new(name, &[("bad.nn", spec), ("xor.csv", XOR_CSV)]);
    let out = nnspec(&scratch.dir, &["--color", "never", "check", "bad.nn"]);
    (out.code, out.stderr)
}

const GOOD_TAIL: &str =
    "loss bce\noptimizer sgd(lr: 0.5)\ndata csv(\"xor.csv\", target: \"y\")\ntrain { epochs: 10 }\n";

fn with_model(model: &str) -> String {
    format!("model m {{\n    input 2\n{model}}}\n{GOOD_TAIL}")
}

#[test]
fn syntax_error() {
    let (code, stderr) = check("syntax", &with_model("    dense 8 tanh,\n    dense 1 sigmoid\n"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0001]: expected `(`, `init`, `}`, a list `[...]`, a name, a number or a string, found `,`
     --> bad.nn:3:17
      |
    3 |     dense 8 tanh,
      |                 ^ unexpected here
    ");
}

#[test]
fn unknown_activation_suggests_the_closest() {
    let (code, stderr) = check("activation", &with_model("    dense 8 tanhh\n    dense 1 sigmoid\n"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0002]: unknown activation `tanhh`
     --> bad.nn:3:13
      |
    3 |     dense 8 tanhh
      |             ^^^^^ not an activation nnspec knows
      |
      = note: activations are: sigmoid, tanh, relu, leaky_relu, elu, softplus, gelu, softmax, identity
      = help: did you mean `tanh`?
    ");
}

#[test]
fn unknown_statement_suggests_the_closest() {
    let spec = with_model("    dense 1 sigmoid\n").replace("optimizer sgd", "optimiser sgd");
    let (code, stderr) = check("statement", &spec);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0002]: unknown statement `optimiser`
     --> bad.nn:6:1
      |
    6 | optimiser sgd(lr: 0.5)
      | ^^^^^^^^^ not a statement nnspec knows
      |
      = note: a spec has the statements `model`, `loss`, `optimizer`, `data` and `train`
      = help: did you mean `optimizer`?
    ");
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let spec = "model m {\n    input 2\n    dense 0 sigmoud\n    conv 3\n}\nloss mea\noptimizer sgd(lr: -1, moment: 0.9)\n\
                data csv(\"xor.csv\", target: \"y\")\ntrain { epochs: 10, bacth: 4 }\n";
    let (code, stderr) = check("many", spec);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0005]: the unit count must be a whole number of at least 1
     --> bad.nn:3:11
      |
    3 |     dense 0 sigmoud
      |           ^ unit count 0

    error[E0002]: unknown activation `sigmoud`
     --> bad.nn:3:13
      |
    3 |     dense 0 sigmoud
      |             ^^^^^^^ not an activation nnspec knows
      |
      = note: activations are: sigmoid, tanh, relu, leaky_relu, elu, softplus, gelu, softmax, identity
      = help: did you mean `sigmoid`?

    error[E0002]: unknown layer `conv`
     --> bad.nn:4:5
      |
    4 |     conv 3
      |     ^^^^ not a layer nnspec knows
      |
      = note: layers are: input, dense, dropout, batch_norm, layer_norm, sigmoid, tanh, relu, leaky_relu, elu, softplus, gelu, softmax, identity

    error[E0002]: unknown loss `mea`
     --> bad.nn:6:6
      |
    6 | loss mea
      |      ^^^ not a loss nnspec knows
      |
      = note: losses are: mse, mae, huber, bce, cross_entropy
      = help: did you mean `mae`?

    error[E0002]: `sgd` has no argument `moment`
     --> bad.nn:7:23
      |
    7 | optimizer sgd(lr: -1, moment: 0.9)
      |                       ^^^^^^ unknown argument
      |
      = note: `sgd` takes `lr`, `momentum`, `nesterov`, `weight_decay`, `schedule`, `clip_norm`
      = help: did you mean `momentum`?

    error[E0005]: argument `lr` of `sgd` must be a number above 0
     --> bad.nn:7:19
      |
    7 | optimizer sgd(lr: -1, moment: 0.9)
      |                   ^^ not a number above 0

    error[E0002]: `train` has no argument `bacth`
     --> bad.nn:9:21
      |
    9 | train { epochs: 10, bacth: 4 }
      |                     ^^^^^ unknown argument
      |
      = note: `train` takes `epochs`, `batch`, `seed`, `shuffle`, `log_every`
      = help: did you mean `batch`?

    error: 7 errors in bad.nn
    ");
}

#[test]
fn missing_target_column_points_at_the_data_clause() {
    let spec = with_model("    dense 1 sigmoid\n").replace("target: \"y\"", "target: \"label\"");
    let (code, stderr) = check("target", &spec);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr, @r#"
    error[E0101]: target column `label` is not in the header of `xor.csv`
     --> bad.nn:7:1
      |
    7 | data csv("xor.csv", target: "label")
      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ names target column `label`
      |
      = note: the header is: x0, x1, y
    "#);
}

#[test]
fn csv_width_must_match_the_input() {
    let spec = with_model("    dense 1 sigmoid\n").replace("input 2", "input 3");
    let (code, stderr) = check("width", &spec);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr, @r#"
    error[E0101]: `xor.csv` has 2 feature column(s) but the model's input is 3
     --> bad.nn:7:1
      |
    2 |     input 3
      |     ------- input width 3
    ...
    7 | data csv("xor.csv", target: "y")
      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ 2 feature column(s)
      |
      = note: feature columns: x0, x1
      = help: set `input 2`, or choose the columns with `features: [...]` or `ignore: [...]`
    "#);
}

#[test]
fn missing_data_file() {
    let spec = with_model("    dense 1 sigmoid\n").replace("xor.csv", "nope.csv");
    let (code, stderr) = check("nofile", &spec);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr, @r#"
    error[E0100]: cannot read data file `nope.csv`: no such file
     --> bad.nn:7:10
      |
    7 | data csv("nope.csv", target: "y")
      | ---------^^^^^^^^^^--------------
      | |        |
      | |        this file
      | in this data clause
      |
      = help: paths are relative to the spec file's directory
    "#);
}

#[test]
fn malformed_rows_name_file_row_and_column() {
    let scratch = Scratch::new(
        "rows",
        &[
            ("bad.nn", &with_model("    dense 1 sigmoid\n")),
            ("xor.csv", "x0,x1,y\n0,0,0\n0,abc,1\n"),
        ],
    );
    let out = nnspec(&scratch.dir, &["--color", "never", "run", "bad.nn"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r#"
    error[E0100]: `xor.csv:3`, column 2 (`x1`): `abc` is not a number
     --> bad.nn:7:10
      |
    7 | data csv("xor.csv", target: "y")
      |          ^^^^^^^^^ in this file
      |
      = help: every feature and target cell must be numeric
    "#);
}

#[test]
fn bce_needs_a_final_sigmoid() {
    let (code, stderr) = check("bce", &with_model("    dense 1 tanh\n"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0007]: `bce` needs outputs in [0, 1], from a final `sigmoid`
     --> bad.nn:5:6
      |
    3 |     dense 1 tanh
      |     ------------ this last layer is not a `sigmoid`
    4 | }
    5 | loss bce
      |      ^^^ binary cross-entropy
      |
      = help: end the model with a `sigmoid` activation, e.g. `dense 1 sigmoid`
    ");
}
