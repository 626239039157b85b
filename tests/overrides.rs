//! `--set key=value`: an error in an override is shown in the override as typed, with the
//! spec's text it replaced; a bare word is a string where the spec expects one.

use nnspec::Spec;
use nnspec::diagnostic::ColorChoice;

use crate::support::{Scratch, nnspec};

const SPEC: &str = "model m {\n    input 2\n    dense 1 sigmoid\n}\nloss bce\noptimizer adam(lr: 0.003)\n\
                    data csv(\"xor.csv\", target: \"y\")\ntrain { epochs: 300, batch: 2 }\n";

/// The rendering of the spec above with `overrides`, or `None` when it is valid.
fn render(overrides: &[&str]) -> Option<String> {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Spec::parse(SPEC, "m.nn", std::path::Path::new("."), &overrides).err().map(|r| r.render(ColorChoice::Never))
}

#[test]
fn a_bad_value_is_shown_in_the_override_with_the_value_it_replaces() {
    insta::assert_snapshot!(render(&["train.epochs=-1"]).unwrap(), @"
    error[E0005]: argument `epochs` of `train` must be a whole number of at least 1
     --> <command line>:1:20
      |
    1 | --set train.epochs=-1
      |                    ^^ not a whole number of at least 1
      |
    note: `--set` replaces this value of the spec
     --> m.nn:8:17
      |
    8 | train { epochs: 300, batch: 2 }
      |                 --- replaced

    For more information about this error, try `nnspec explain E0005`.
    ");
    insta::assert_snapshot!(render(&["optimizer.lr=abc"]).unwrap(), @"
    error[E0004]: argument `lr` of `adam` must be a number, found a name
     --> <command line>:1:20
      |
    1 | --set optimizer.lr=abc
      |                    ^^^ expected a number
      |
    note: `--set` replaces this value of the spec
     --> m.nn:6:20
      |
    6 | optimizer adam(lr: 0.003)
      |                    ----- replaced

    For more information about this error, try `nnspec explain E0004`.
    ");
}

#[test]
fn an_added_argument_and_a_bad_key_are_shown_in_the_override() {
    insta::assert_snapshot!(render(&["optimizer.learning_rate=0.01"]).unwrap(), @"
    error[E0002]: `adam` has no argument `learning_rate`
     --> <command line>:1:17
      |
    1 | --set optimizer.learning_rate=0.01
      |                 ^^^^^^^^^^^^^ unknown argument
      |
      = note: `adam` takes `lr`, `beta1`, `beta2`, `eps`, `weight_decay`, `schedule`, `clip_norm`
      = help: did you mean `lr`? (nnspec's name for `learning_rate`)
    note: `--set` adds the argument to this
     --> m.nn:6:11
      |
    6 | optimizer adam(lr: 0.003)
      |           --------------- changed

    For more information about this error, try `nnspec explain E0002`.
    ");
    insta::assert_snapshot!(render(&["trian.epochs=5", "train.epochs=1.2.3"]).unwrap(), @r#"
    error[E0002]: `--set`: no statement `trian` to change
     --> <command line>:1:7
      |
    1 | --set trian.epochs=5
      |       ^^^^^ not a statement
      |
      = note: the keys are `loss`, `optimizer`, `optimizer.ARG`, `data.ARG` and `train.ARG`
      = help: did you mean `train`?

    error[E0001]: expected end of file, found `.3`
     --> <command line>:1:23
      |
    1 | --set train.epochs=1.2.3
      |                       ^^ unexpected here
      |
      = note: a value is written as in a spec: `5`, `0.1`, `mae`, `adam(lr: 0.01)`, `"y"`, `["a", "b"]` (quoted for the shell: `--set 'data.target="y"'`)

    error: 2 errors in m.nn
    For more information about this error, try `nnspec explain E0002`.
    "#);
}

#[test]
fn a_bare_word_is_a_string_where_the_spec_expects_one() {
    let overrides = ["data.target=x1".to_string(), "data.path=other.csv".to_string()];
    let spec = Spec::parse(SPEC, "m.nn", std::path::Path::new("."), &overrides).expect("valid");
    let nnspec::ir::DataSource::Csv(csv) = &spec.model().data.source else { panic!("a csv source") };
    assert_eq!(csv.shown, "other.csv");
    assert_eq!(csv.targets, ["x1"]);
    // A word is a name where a name is expected: `loss=mae` still picks the loss.
    assert!(render(&["loss=mae"]).is_none());
}

#[test]
fn check_json_locates_an_override_on_the_command_line() {
    let s = Scratch::new("set-json", &[("m.nn", SPEC), ("xor.csv", "x0,x1,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")]);
    let out = nnspec(&s.dir, &["run", "m.nn", "--set", "train.epochs=-1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(" --> <command line>:1:20"), "{}", out.stderr);
    let spec = Spec::load(&s.dir.join("m.nn"), &["train.epochs=-1".to_string()]).unwrap_err();
    let json = serde_json::to_value(spec.diagnostics()).unwrap();
    assert_eq!(json[0]["file"], "<command line>");
    assert_eq!((json[0]["line"].as_u64(), json[0]["column"].as_u64()), (Some(1), Some(20)));
}
