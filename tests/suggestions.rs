//! Names from Keras and PyTorch get nnspec's name as the suggestion, and a syntax error no
//! longer hides the name errors of the statements after it.

use nnspec::Spec;
use nnspec::diagnostic::ColorChoice;

/// The rendering of `spec`'s errors (it must be invalid).
fn errors(spec: &str) -> String {
    let report = Spec::parse(spec, "bad.nn", std::path::Path::new("."), &[]).expect_err("invalid");
    assert_eq!(report.exit_code(), 2, "{report}");
    report.render(ColorChoice::Never)
}

/// The help lines of `spec`'s errors, in order.
fn helps(spec: &str) -> Vec<String> {
    let report = Spec::parse(spec, "bad.nn", std::path::Path::new("."), &[]).expect_err("invalid");
    report.diagnostics().iter().map(|d| d.help.clone().unwrap_or_default()).collect()
}

const MODEL: &str = "model m {\n    input 2\n    dense 2 softmax\n}\n";

#[test]
fn keras_and_pytorch_names_suggest_nnspec_s() {
    let spec = format!(
        "{MODEL}loss categorical_crossentropy\noptimizer adam(learning_rate: 0.01)\n\
         data random(rows: 10, inputs: 2, classes: 2) split(validation: 0.2)\n\
         train {{ epochs: 3, batch_size: 4, early_stop(monitor: val_acc) }}\n"
    );
    assert_eq!(
        helps(&spec),
        [
            "did you mean `cross_entropy`? (nnspec's name for `categorical_crossentropy`)",
            "did you mean `lr`? (nnspec's name for `learning_rate`)",
            "did you mean `batch`? (nnspec's name for `batch_size`)",
            "did you mean `val_accuracy`? (nnspec's name for `val_acc`)",
        ]
    );
    let bce = format!("{MODEL}loss binary_crossentropy\noptimizer sgd\ndata xor(rows: 8)\ntrain {{ epochs: 1 }}\n");
    assert_eq!(helps(&bce), ["did you mean `bce`? (nnspec's name for `binary_crossentropy`)"]);
}

#[test]
fn constructs_written_otherwise_get_a_hint_and_the_train_note_lists_every_setting() {
    let spec = format!(
        "{MODEL}loss cross_entropy\noptimizer sgd\ndata random(rows: 10, inputs: 2, classes: 2)\n\
         train {{ epochs: 3, validation_split: 0.2, early_stopping: true }}\n"
    );
    insta::assert_snapshot!(errors(&spec), @"
    error[E0002]: `train` has no argument `validation_split`
     --> bad.nn:8:20
      |
    8 | train { epochs: 3, validation_split: 0.2, early_stopping: true }
      |                    ^^^^^^^^^^^^^^^^ unknown argument
      |
      = note: `train` takes `epochs`, `batch`, `seed`, `shuffle`, `log_every`, `drop_last`, `metrics`, `early_stop(...)`, `reduce_lr(...)`
      = help: hold out validation rows after the data source: `data csv(...) split(validation: 0.2)`

    error[E0002]: `train` has no argument `early_stopping`
     --> bad.nn:8:43
      |
    8 | train { epochs: 3, validation_split: 0.2, early_stopping: true }
      |                                           ^^^^^^^^^^^^^^ unknown argument
      |
      = note: `train` takes `epochs`, `batch`, `seed`, `shuffle`, `log_every`, `drop_last`, `metrics`, `early_stop(...)`, `reduce_lr(...)`
      = help: early stopping is `early_stop(patience: 10)` in the train block

    error: 2 errors in bad.nn
    For more information about this error, try `nnspec explain E0002`.
    ");
}

#[test]
fn a_syntax_error_does_not_hide_the_name_errors_after_it() {
    let spec = format!(
        "{MODEL}loss categorical_crossentropy\noptimizer adam(learning_rate=0.01)\n\
         data random(rows: 10, inputs: 2, classes: 2)\ntrain {{ epochs: 3, batch_size: 4 }}\n"
    );
    insta::assert_snapshot!(errors(&spec), @"
    error[E0002]: unknown loss `categorical_crossentropy`
     --> bad.nn:5:6
      |
    5 | loss categorical_crossentropy
      |      ^^^^^^^^^^^^^^^^^^^^^^^^ not a loss nnspec knows
      |
      = note: losses are: mse, mae, huber, bce, cross_entropy
      = help: did you mean `cross_entropy`? (nnspec's name for `categorical_crossentropy`)

    error[E0002]: `adam` has no argument `learning_rate`
     --> bad.nn:6:16
      |
    6 | optimizer adam(learning_rate=0.01)
      |                ^^^^^^^^^^^^^ unknown argument
      |
      = note: `adam` takes `lr`, `beta1`, `beta2`, `eps`, `weight_decay`, `schedule`, `clip_norm`
      = help: did you mean `lr`? (nnspec's name for `learning_rate`)

    error[E0001]: expected `(`, `)`, `,` or `:`, found `=0.01`
     --> bad.nn:6:29
      |
    6 | optimizer adam(learning_rate=0.01)
      |                             ^^^^^ unexpected here
      |
      = help: named arguments use a colon: `name: value`

    error[E0002]: `train` has no argument `batch_size`
     --> bad.nn:8:20
      |
    8 | train { epochs: 3, batch_size: 4 }
      |                    ^^^^^^^^^^ unknown argument
      |
      = note: `train` takes `epochs`, `batch`, `seed`, `shuffle`, `log_every`, `drop_last`, `metrics`, `early_stop(...)`, `reduce_lr(...)`
      = help: did you mean `batch`? (nnspec's name for `batch_size`)

    error: 4 errors in bad.nn
    For more information about this error, try `nnspec explain E0002`.
    ");
}
