//! Snapshots of every spec under `specs/` (its plan and the first logged epochs of its trace,
//! floats rounded to 5 significant digits, `elapsed_s` redacted), and the goals each spec
//! must reach.

use serde_json::Value;

use crate::support::{root, train_spec};

/// Rounds every float in a JSON value to 5 significant digits, so snapshots agree across
/// CPUs whose kernels round differently.
fn round(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            let rounded: f64 = format!("{x:.4e}").parse().unwrap();
            serde_json::json!(rounded)
        }
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, round(v))).collect()),
        other => other,
    }
}

#[test]
fn plans_and_traces() {
    insta::glob!("../specs", "*.nn", |path| {
        let run = train_spec(path, 2, None);
        insta::assert_snapshot!("plan", run.plan.to_string());
        let outcome = run.outcome;
        let first: Vec<Value> = outcome
            .trace
            .iter()
            .take(5)
            .map(|line| {
                let mut value = round(serde_json::to_value(line).unwrap());
                value["elapsed_s"] = Value::String("[elapsed]".into());
                value
            })
            .collect();
        let text: Vec<String> = first.iter().map(Value::to_string).collect();
        insta::assert_snapshot!("trace", text.join("\n"));
    });
}

/// The benchmark specs are too heavy to train in tests, but their plans show how a heavy step
/// splits into parallel tasks (the tasks column), which these snapshots keep.
#[test]
fn benchmark_plans() {
    insta::glob!("../benches", "*.nn", |path| {
        let spec = nnspec::Spec::load(path, &[]).unwrap_or_else(|report| panic!("{report}"));
        let plan = spec.compile(nnspec::plan::CompileOptions::default());
        insta::assert_snapshot!("bench_plan", plan.to_string());
    });
}

fn final_line(name: &str) -> nnspec::train::TraceLine {
    train_spec(&root().join("specs").join(name), 2, None).outcome.trace.last().cloned().unwrap()
}

#[test]
fn seed_loss_decreases() {
    let trace = train_spec(&root().join("specs/seed.nn"), 1, None).outcome.trace;
    assert_eq!(trace.last().unwrap().epoch, 1000);
    assert!(trace.windows(2).all(|w| w[1].train.loss < w[0].train.loss), "loss falls at every logged epoch");
}

#[test]
fn xor_is_learned() {
    let last = final_line("xor.nn");
    assert!(last.train.loss < 0.05, "xor loss {}", last.train.loss);
    assert_eq!(last.train.accuracy, Some(1.0), "all four points classified");
}

#[test]
fn petal_width_is_predicted() {
    // Predicting the mean petal width (0.58 variance) would leave an MSE of about 0.58.
    let last = final_line("iris_petal_width.nn");
    assert!(last.train.loss < 0.06, "petal width mse {}", last.train.loss);
}

#[test]
fn iris_reaches_95_percent_validation_accuracy() {
    let outcome = train_spec(&root().join("specs/iris.nn"), 2, None).outcome;
    let best = outcome.best.expect("early stopping keeps the best epoch");
    let accuracy = best.validation.unwrap().accuracy.unwrap();
    assert!(accuracy >= 0.95, "iris validation accuracy {accuracy}");
}

#[test]
fn digits_reaches_95_percent_on_an_unseen_test_split() {
    let run = train_spec(&root().join("specs/digits.nn"), 2, None);
    let (splits, outcome) = (&run.data.splits, &run.outcome);
    // The test rows are disjoint from the rows that train and that early stopping watches.
    assert!(splits.test.iter().all(|r| !splits.train.contains(r) && !splits.validation.contains(r)));
    assert_eq!(splits.train.len() + splits.validation.len() + splits.test.len(), 1797);
    let test = outcome.trace.last().unwrap().test.expect("the final line carries the test metrics");
    assert!(test.accuracy.unwrap() >= 0.95, "digits test accuracy {:?}", test.accuracy);
    let confusion = outcome.confusion.as_ref().unwrap();
    assert_eq!((confusion.split.as_str(), confusion.classes), ("test", 10));
    assert_eq!(confusion.counts.iter().sum::<u64>() as usize, splits.test.len());
}

/// Every `nn` block of docs/language.md parses (and `nn check` blocks check), and every
/// keyword and error code nnspec knows is documented there.
#[test]
fn docs_examples_parse() {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut blocks = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```nn") {
        let header_end = start + rest[start..].find('\n').unwrap();
        let check = rest[start..header_end].contains("check");
        let end = header_end + rest[header_end..].find("```").unwrap();
        let code = &rest[header_end + 1..end];
        let spec = nnspec::syntax::parse(code).unwrap_or_else(|e| panic!("{}\n{code}", e[0].message));
        if check {
            let checked = nnspec::ir::check(&spec, &root().join("specs"), code.len());
            assert!(checked.is_ok(), "{code}\n{:?}", checked.err().map(|e| e[0].message.clone()));
        }
        blocks += 1;
        rest = &rest[end + 3..];
    }
    assert!(blocks >= 7, "{blocks} examples");
    use nnspec::kernels::{activation::Activation, init::Init, loss::Loss, optim::Optimizer, schedule::Schedule};
    let keywords = Activation::KEYWORDS
        .iter()
        .chain(&Loss::KEYWORDS)
        .chain(&Optimizer::KEYWORDS)
        .chain(&Init::KEYWORDS)
        .chain(&Schedule::KEYWORDS);
    for keyword in keywords.chain(&[
        "dropout",
        "batch_norm",
        "layer_norm",
        "standardize",
        "minmax",
        "split",
        "early_stop",
        "xor",
        "random",
        "csv",
    ]) {
        assert!(
            doc.contains(&format!("`{keyword}"))
                || doc.contains(&format!(" {keyword}("))
                || doc.contains(&format!(" {keyword} ")),
            "`{keyword}` is documented"
        );
    }
    for code in nnspec::diagnostic::explain::ALL {
        assert!(doc.contains(code.as_str()), "{} is documented", code.as_str());
    }
}

/// The summary's per-layer counts (from the IR) add up to the plan's trainable parameters
/// (from the tensors' shapes): one count, two views of it.
#[test]
fn layer_parameter_counts_add_up_to_the_plan() {
    for path in crate::support::all_specs() {
        let spec = nnspec::Spec::load(&path, &[]).unwrap();
        let by_layer: usize = spec.model().layers.iter().map(|l| l.kind.parameter_count(l.inputs, l.outputs)).sum();
        let plan = spec.compile(nnspec::plan::CompileOptions::default());
        assert_eq!(by_layer, plan.parameter_count(), "{}", path.display());
    }
}

#[test]
fn penguins_reach_97_percent_on_an_unseen_test_split() {
    let run = train_spec(&root().join("specs/penguins.nn"), 2, None);
    let (data, outcome) = (&run.data, &run.outcome);
    // 344 rows, none dropped: the NA cells are filled from the training rows.
    assert_eq!((data.dataset.rows, data.dropped), (344, 0));
    assert_eq!(data.dataset.input_width, 9, "3 islands, 2 sexes, 4 measurements");
    let test = outcome.trace.last().unwrap().test.expect("the final line carries the test metrics");
    assert!(test.accuracy.unwrap() >= 0.97, "penguins test accuracy {:?}", test.accuracy);
    let confusion = outcome.confusion.as_ref().unwrap();
    assert_eq!(confusion.labels, ["Adelie", "Chinstrap", "Gentoo"]);
    assert_eq!(confusion.counts.iter().sum::<u64>() as usize, data.splits.test.len());
}
