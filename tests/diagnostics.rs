//! Each error as the user sees it: the full rendering, and the exit code. Checks run
//! in-process through the library's façade (`Spec`, `Report`), as `nnspec check` does; errors
//! that only a run finds go through the binary.

use nnspec::Spec;
use nnspec::diagnostic::ColorChoice;

use crate::support::{Scratch, nnspec};

const XOR_CSV: &str = "x0,x1,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";

/// Checks a spec named `bad.nn` (with an xor.csv beside it) as `nnspec check bad.nn` does;
/// returns its exit code and what it prints on stderr.
fn check(name: &str, spec: &str) -> (i32, String) {
    let scratch = Scratch::new(name, &[("xor.csv", XOR_CSV)]);
    let checked = Spec::parse(spec, "bad.nn", &scratch.dir, &[]).and_then(|s| s.validate(Some(1e9)).map(|_| s));
    match checked {
        Ok(spec) => (0, spec.warnings_report().map(|r| r.render(ColorChoice::Never)).unwrap_or_default()),
        Err(report) => (i32::from(report.exit_code()), report.render(ColorChoice::Never)),
    }
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

    For more information about this error, try `nnspec explain E0001`.
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

    For more information about this error, try `nnspec explain E0002`.
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

    For more information about this error, try `nnspec explain E0002`.
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
      = note: `train` takes `epochs`, `batch`, `seed`, `shuffle`, `log_every`, `drop_last`, `metrics`, `early_stop(...)`, `reduce_lr(...)`
      = help: did you mean `batch`?

    error: 7 errors in bad.nn
    For more information about this error, try `nnspec explain E0005`.
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

    For more information about this error, try `nnspec explain E0101`.
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

    For more information about this error, try `nnspec explain E0101`.
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

    For more information about this error, try `nnspec explain E0100`.
    "#);
}

#[test]
fn malformed_rows_name_file_row_and_column() {
    let scratch = Scratch::new(
        "rows",
        &[("bad.nn", &with_model("    dense 1 sigmoid\n")), ("xor.csv", "x0,x1,y\n0,0,0\n0,abc,1\n")],
    );
    let out = nnspec(&scratch.dir, &["--color", "never", "run", "bad.nn"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @r#"
    error[E0100]: `xor.csv:3`, column 2 (`x1`): the value (3 characters of text) is not a number
     --> bad.nn:7:10
      |
    7 | data csv("xor.csv", target: "y")
      |          ^^^^^^^^^ in this file
      |
      = help: number columns hold numbers; declare a text column with `category(...)` or `binary(...)`

    For more information about this error, try `nnspec explain E0100`.
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

    For more information about this error, try `nnspec explain E0007`.
    ");
}

const CLASSES_CSV: &str = "a,b,label\n0.1,0.2,0\n0.3,0.1,1\n0.5,0.9,2\n0.2,0.2,1\n";

fn check_classes(name: &str, spec: &str, csv: &str) -> (i32, String) {
    let scratch = Scratch::new(name, &[("bad.nn", spec), ("c.csv", csv)]);
    let out = nnspec(&scratch.dir, &["--color", "never", "run", "bad.nn"]);
    (out.code, out.stderr)
}

fn classifier(model: &str, data: &str, train: &str) -> String {
    format!(
        "model m {{\n    input 2\n{model}}}\nloss cross_entropy\noptimizer adam(lr: 0.01)\ndata {data}\ntrain {{ {train} }}\n"
    )
}

#[test]
fn cross_entropy_needs_as_many_outputs_as_classes() {
    let spec = classifier("    dense 2 softmax\n", "csv(\"c.csv\", target: \"label\", classes: 3)", "epochs: 1");
    let (code, stderr) = check_classes("ce-width", &spec, CLASSES_CSV);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0007]: the data has 3 classes but the model has 2 outputs
     --> bad.nn:3:5
      |
    3 |     dense 2 softmax
      |     ^^^^^^^^^^^^^^^ 2 outputs
    ...
    7 | data csv("c.csv", target: "label", classes: 3)
      | ---------------------------------------------- 3 classes
      |
      = help: make the last layer `dense 3 softmax`

    For more information about this error, try `nnspec explain E0007`.
    "#);
}

#[test]
fn cross_entropy_needs_classes_and_a_softmax() {
    let spec = classifier("    dense 3 relu\n", "csv(\"c.csv\", target: \"label\")", "epochs: 1");
    let (code, stderr) = check_classes("ce-classes", &spec, CLASSES_CSV);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0007]: `cross_entropy` needs a final `softmax`
     --> bad.nn:5:6
      |
    3 |     dense 3 relu
      |     ------------ this last layer is not a `softmax`
    4 | }
    5 | loss cross_entropy
      |      ^^^^^^^^^^^^^ softmax cross-entropy
      |
      = help: end the model with `dense K softmax`, K the number of classes

    error[E0006]: `cross_entropy` needs the number of classes
     --> bad.nn:7:1
      |
    5 | loss cross_entropy
      |      ------------- integer class targets
    6 | optimizer adam(lr: 0.01)
    7 | data csv("c.csv", target: "label")
      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ no `classes: K` here
      |
      = help: add `classes: 3` to the data source

    error: 2 errors in bad.nn
    For more information about this error, try `nnspec explain E0007`.
    "#);
}

#[test]
fn early_stopping_needs_validation_rows() {
    let spec = classifier(
        "    dense 3 softmax\n",
        "csv(\"c.csv\", target: \"label\", classes: 3)",
        "epochs: 1, early_stop(patience: 5)",
    );
    let (code, stderr) = check_classes("early", &spec, CLASSES_CSV);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0006]: early stopping needs validation data
     --> bad.nn:8:1
      |
    7 | data csv("c.csv", target: "label", classes: 3)
      | ---------------------------------------------- no validation split here
    8 | train { epochs: 1, early_stop(patience: 5) }
      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ monitors `val_loss`
      |
      = help: add `split(validation: 0.2)` after the data source

    For more information about this error, try `nnspec explain E0006`.
    "#);
}

#[test]
fn out_of_range_layer_and_training_values() {
    let spec = classifier(
        "    dense 3 softmax\n    dropout 1.5\n",
        "csv(\"c.csv\", target: \"label\", classes: 3) split(validation: 0.6, test: 0.5)",
        "epochs: 0, batch: 0, early_stop(patience: 0)",
    )
    .replace("adam(lr: 0.01)", "adam(lr: 0, beta1: 1)");
    let (code, stderr) = check_classes("ranges", &spec, CLASSES_CSV);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0005]: the dropout probability must be in [0, 1)
     --> bad.nn:4:13
      |
    4 |     dropout 1.5
      |             ^^^ 1.5 is outside [0, 1)
      |
      = help: it is the fraction of values dropped, e.g. `dropout 0.1`

    error[E0005]: argument `lr` of `adam` must be a number above 0
     --> bad.nn:7:20
      |
    7 | optimizer adam(lr: 0, beta1: 1)
      |                    ^ not a number above 0

    error[E0005]: argument `beta1` of `adam` must be in [0, 1)
     --> bad.nn:7:30
      |
    7 | optimizer adam(lr: 0, beta1: 1)
      |                              ^ not in [0, 1)

    error[E0005]: the split leaves no training rows
     --> bad.nn:8:48
      |
    8 | data csv("c.csv", target: "label", classes: 3) split(validation: 0.6, test: 0.5)
      |                                                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ validation + test >= 1
      |
      = help: hold out less, e.g. `split(validation: 0.2, test: 0.2)`

    error[E0005]: argument `epochs` of `train` must be a whole number of at least 1
     --> bad.nn:9:17
      |
    9 | train { epochs: 0, batch: 0, early_stop(patience: 0) }
      |                 ^ not a whole number of at least 1

    error[E0005]: argument `batch` of `train` must be a whole number of at least 1
     --> bad.nn:9:27
      |
    9 | train { epochs: 0, batch: 0, early_stop(patience: 0) }
      |                           ^ not a whole number of at least 1

    error[E0005]: argument `patience` of `early_stop` must be a whole number of at least 1
     --> bad.nn:9:51
      |
    9 | train { epochs: 0, batch: 0, early_stop(patience: 0) }
      |                                                   ^ not a whole number of at least 1

    error: 7 errors in bad.nn
    For more information about this error, try `nnspec explain E0005`.
    "#);
}

#[test]
fn class_targets_must_be_class_indices() {
    let spec = classifier("    dense 3 softmax\n", "csv(\"c.csv\", target: \"label\", classes: 3)", "epochs: 1");
    let (code, stderr) = check_classes("class-range", &spec, "a,b,label\n0.1,0.2,0\n0.3,0.1,3\n");
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr, @r#"
    error[E0101]: `c.csv:3`, column 3 (`label`): the value (1 character with digits) is not a class index in 0..2
     --> bad.nn:7:10
      |
    7 | data csv("c.csv", target: "label", classes: 3)
      |          ^^^^^^^ in this file
      |
      = help: class targets are whole numbers from 0 to 2 (`classes: 3`)

    For more information about this error, try `nnspec explain E0101`.
    "#);
}

#[test]
fn a_regression_loss_after_softmax_is_a_warning() {
    let spec = "model m {\n    input 2\n    dense 3 softmax\n}\nloss mse\noptimizer sgd\n\
                data csv(\"c.csv\", target: [\"p\", \"q\", \"r\"], features: [\"a\", \"b\"])\ntrain { epochs: 1 }\n";
    let csv = "a,b,p,q,r\n0.1,0.2,1,0,0\n0.3,0.1,0,1,0\n0.5,0.9,0,0,1\n";
    let (code, stderr) = check_classes("warning", spec, csv);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stderr, @"
    warning[E0007]: `mse` after a `softmax` is rarely what you want
     --> bad.nn:5:6
      |
    3 |     dense 3 softmax
      |     --------------- on probabilities
    4 | }
    5 | loss mse
      |      ^^^ a regression loss
      |
      = help: for classification use `loss cross_entropy` with `classes: K` in the data
    ");
}

#[test]
fn bce_on_two_outputs_says_what_to_change() {
    // A two-way softmax: one error, whose help offers both fixes.
    let softmax = with_model("    dense 2 softmax\n").replace("target: \"y\"", "target: \"y\", classes: 2");
    let (code, stderr) = check("bce-softmax", &softmax);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error[E0007]: `bce` needs outputs in [0, 1], from a final `sigmoid`
     --> bad.nn:5:6
      |
    3 |     dense 2 softmax
      |     --------------- this last layer is not a `sigmoid`
    4 | }
    5 | loss bce
      |      ^^^ binary cross-entropy
      |
      = help: with a `softmax` over the classes use `loss cross_entropy`; for `bce` end the model with `dense 1 sigmoid`

    For more information about this error, try `nnspec explain E0007`.
    ");
    // Two sigmoids over two classes in one column of labels.
    let (code, stderr) = check("bce-two", &softmax.replace("softmax", "sigmoid"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0010]: `bce` on two classes needs one output, but the model has 2
     --> bad.nn:3:5
      |
    3 |     dense 2 sigmoid
      |     ^^^^^^^^^^^^^^^ 2 outputs
    ...
    7 | data csv("xor.csv", target: "y", classes: 2)
      | -------------------------------------------- two classes in one column of labels
      |
      = note: the one output is the probability of the second class
      = help: end the model with `dense 1 sigmoid`, or use `loss cross_entropy` with `dense 2 softmax`

    For more information about this error, try `nnspec explain E0010`.
    "#);
}

#[test]
fn a_width_the_spec_contradicts_is_an_invalid_spec() {
    // The spec names one target column and gives two outputs: found before any data is read,
    // so an invalid spec (exit 2) with its own code, not E0101 (the data, exit 1).
    let (code, stderr) = check("two-outputs", &with_model("    dense 2 sigmoid\n"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r#"
    error[E0010]: the data has 1 target column(s) but the model has 2 output(s)
     --> bad.nn:7:1
      |
    3 |     dense 2 sigmoid
      |     --------------- 2 output(s)
    ...
    7 | data csv("xor.csv", target: "y")
      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ 1 target(s)
      |
      = help: make the last layer's width the number of target columns

    For more information about this error, try `nnspec explain E0010`.
    "#);
}

#[test]
fn every_code_exits_as_its_explanation_and_the_docs_say() {
    use nnspec::diagnostic::explain;
    let docs = std::fs::read_to_string(crate::support::root().join("docs/language.md")).unwrap();
    for code in explain::ALL {
        let exit = nnspec::Kind::of(code).exit_code();
        assert!(explain::explain(code).contains(&format!("Exit code {exit}.")), "{code:?}");
        let row = docs.lines().find(|line| line.starts_with(&format!("| {} |", code.as_str()))).unwrap();
        assert!(row.ends_with(&format!("| {exit} |")), "{row}");
    }
}

#[test]
fn a_one_row_batch_under_batch_norm_is_a_warning_until_drop_last() {
    // 10 rows in batches of 3: three batches of 3 and one of 1.
    let spec = "model m {\n    input 2\n    dense 4\n    batch_norm relu\n    dense 1\n}\nloss mse\noptimizer sgd\n\
                data random(rows: 10, inputs: 2, seed: 1)\ntrain { epochs: 1, batch: 3 }\n";
    let warned = |spec: &str| {
        let spec = Spec::parse(spec, "bn.nn", std::path::Path::new("."), &[]).expect("valid");
        let data = spec.load_data().expect("generated");
        spec.data_warnings(&data).map(|report| report.render(ColorChoice::Never))
    };
    insta::assert_snapshot!(warned(spec).expect("a warning"), @"
    warning[E0005]: the last training batch of each epoch has one row, which batch norm cannot normalise
      --> bn.nn:10:1
       |
     4 |     batch_norm relu
       |     --------------- normalises over each training batch
    ...
    10 | train { epochs: 1, batch: 3 }
       | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ 10 training rows make 3 batch(es) of 3 and one of 1
       |
       = note: a one-row batch has variance 0: batch norm outputs its shift alone (PyTorch refuses such a batch)
       = help: add `drop_last: true` to the train block (the short batch is left out of each epoch), or change the batch size or the split
    ");
    assert_eq!(warned(&spec.replace("batch: 3", "batch: 3, drop_last: true")), None);
    assert_eq!(warned(&spec.replace("batch: 3", "batch: 5")), None, "two whole batches");
    assert_eq!(warned(&spec.replace("    batch_norm relu\n", "")), None, "no batch norm");
    assert!(
        warned(&spec.replace("batch: 3", "batch: 1")).is_some_and(|w| w.contains("every training batch has one row"))
    );
}
