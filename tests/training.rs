//! Training features end to end, in process: splits, separate validation and test files,
//! several regression targets, schedules, early stopping, clipping.

use nnspec::Spec;
use nnspec::plan::CompileOptions;
use nnspec::train::{StopReason, train};

use crate::support::{Scratch, nnspec, root};

/// Trains a spec text whose data paths are relative to `dir`.
fn run(dir: &std::path::Path, text: &str) -> (nnspec::data::Prepared, nnspec::train::Outcome) {
    let spec = Spec::parse(text, "t.nn", dir, &[]).expect(text);
    let plan = spec.compile(CompileOptions::default());
    let data = spec.load_data().expect("loads");
    let outcome = train(&plan, &data, &mut ()).expect("trains");
    (data, outcome)
}

fn iris_spec(data: &str, train: &str) -> String {
    format!(
        "model m {{\n input 4 standardize\n dense 8 relu\n dense 3 softmax\n}}\nloss cross_entropy\n\
         optimizer adam(lr: 0.01)\ndata {data}\ntrain {{ {train} }}\n"
    )
}

#[test]
fn splits_are_stratified_disjoint_and_complete() {
    let spec = iris_spec(
        "csv(\"specs/data/iris.csv\", target: \"target\", classes: 3) split(validation: 0.2, test: 0.1)",
        "epochs: 1, seed: 5",
    );
    let (data, _) = run(&root(), &spec);
    let splits = &data.splits;
    assert_eq!((splits.train.len(), splits.validation.len(), splits.test.len()), (105, 30, 15));
    let class_of = |row: &usize| data.dataset.target_row(*row)[0] as usize;
    for (rows, per_class) in [(&splits.validation, 10), (&splits.test, 5)] {
        let mut counts = [0; 3];
        rows.iter().for_each(|r| counts[class_of(r)] += 1);
        assert_eq!(counts, [per_class; 3], "each class keeps its share");
    }
    let mut all: Vec<usize> = splits.train.iter().chain(&splits.validation).chain(&splits.test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..150).collect::<Vec<_>>());
}

#[test]
fn separate_validation_and_test_files_are_used_as_given() {
    let iris = std::fs::read_to_string(root().join("specs/data/iris.csv")).unwrap();
    let (header, rows) = iris.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let pick = |keep: fn(usize) -> bool| {
        let picked: Vec<&str> = rows.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, r)| *r).collect();
        format!("{header}\n{}\n", picked.join("\n"))
    };
    let scratch = Scratch::new(
        "files",
        &[
            ("train.csv", &pick(|i| i % 5 >= 2)),
            ("val.csv", &pick(|i| i % 5 == 0)),
            ("test.csv", &pick(|i| i % 5 == 1)),
        ],
    );
    let spec = iris_spec(
        "csv(\"train.csv\", target: \"target\", classes: 3) validation(\"val.csv\") test(\"test.csv\")",
        "epochs: 30, batch: 16, seed: 1",
    );
    let (data, outcome) = run(&scratch.dir, &spec);
    assert_eq!((data.splits.train.len(), data.splits.validation.len(), data.splits.test.len()), (90, 30, 30));
    let last = outcome.trace.last().unwrap();
    assert!(last.validation.is_some() && last.test.is_some());
    assert!(last.test.unwrap().accuracy.unwrap() > 0.8);
}

#[test]
fn several_regression_targets_get_regression_metrics() {
    let spec = "model m {\n input 2 minmax\n dense 8 tanh\n dense 2\n}\nloss huber(delta: 1)\n\
                optimizer sgd(lr: 0.05, momentum: 0.9)\n\
                data csv(\"specs/data/iris.csv\", target: [\"petal_length_cm\", \"petal_width_cm\"], \
                features: [\"sepal_length_cm\", \"sepal_width_cm\"]) split(validation: 0.2, test: 0.2)\n\
                train { epochs: 50, batch: 16, seed: 3 }\n";
    let (data, outcome) = run(&root(), spec);
    assert_eq!(data.dataset.target_width, 2);
    let last = outcome.trace.last().unwrap();
    let validation = last.validation.unwrap();
    assert!(validation.accuracy.is_none());
    assert!(validation.r2.unwrap() > 0.5, "sepal size explains most of petal size: {validation:?}");
    assert!(last.test.unwrap().rmse.unwrap() > 0.0);
    assert!(outcome.confusion.is_none());
}

#[test]
fn the_schedule_sets_each_epochs_learning_rate() {
    let spec = iris_spec("csv(\"specs/data/iris.csv\", target: \"target\", classes: 3)", "epochs: 6, seed: 1")
        .replace("adam(lr: 0.01)", "sgd(lr: 0.1, schedule: warmup(2, then: step(every: 2, gamma: 0.5)))");
    let (_, outcome) = run(&root(), &spec);
    let rates: Vec<f64> = outcome.trace.iter().map(|line| line.lr).collect();
    assert_eq!(rates, [0.05, 0.1, 0.1, 0.1, 0.05, 0.05]);
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    // A learning rate this high makes validation loss worse quickly after the first epochs.
    let spec = iris_spec(
        "csv(\"specs/data/iris.csv\", target: \"target\", classes: 3) split(validation: 0.3)",
        "epochs: 500, seed: 4, early_stop(patience: 5)",
    );
    let (_, outcome) = run(&root(), &spec);
    let StopReason::EarlyStop { best_epoch, restored } = outcome.stop else { panic!("ran all 500 epochs") };
    assert!(restored);
    let last = outcome.trace.last().unwrap();
    assert_eq!(last.epoch, best_epoch + 5, "stops after exactly `patience` epochs without improvement");
    assert_eq!(outcome.restored, Some(best_epoch));
    assert_eq!(outcome.weights_line().map(|line| line.epoch), Some(best_epoch), "the weights are the best epoch's");
    assert_eq!(outcome.best.unwrap().epoch, best_epoch);
}

#[test]
fn clipping_changes_the_trajectory_and_keeps_it_finite() {
    let spec = iris_spec("csv(\"specs/data/iris.csv\", target: \"target\", classes: 3)", "epochs: 5, seed: 2")
        .replace("adam(lr: 0.01)", "sgd(lr: 0.5)");
    let (_, free) = run(&root(), &spec);
    let (_, clipped) = run(&root(), &spec.replace("sgd(lr: 0.5)", "sgd(lr: 0.5, clip_norm: 0.01)"));
    let loss = |o: &nnspec::train::Outcome| o.trace.last().unwrap().train.loss;
    assert!(loss(&clipped).is_finite());
    assert_ne!(loss(&free), loss(&clipped));
    // Steps of norm at most lr * 0.01 barely move the weights in 5 epochs.
    assert!(loss(&clipped) > loss(&free));
}

/// After early stopping restored the best weights, the run shows what those weights score
/// (and `--save` writes) apart from the last epoch, and the plot marks that epoch.
#[test]
fn restored_weights_are_reported_apart_from_the_last_epoch() {
    let spec = iris_spec(
        "csv(\"iris.csv\", target: \"target\", classes: 3) split(validation: 0.3, test: 0.2)",
        "epochs: 500, seed: 4, early_stop(patience: 5)",
    );
    let iris = std::fs::read_to_string(root().join("specs/data/iris.csv")).unwrap();
    let s = Scratch::new("restored", &[("m.nn", &spec), ("iris.csv", &iris)]);
    let out = nnspec(&s.dir, &["run", "m.nn", "--summary-json", "s.json", "--plot", "p.svg", "--trace", "t.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("s.json")).unwrap()).unwrap();
    let (best, last) = (summary["best_epoch"].as_u64().unwrap(), summary["epochs_run"].as_u64().unwrap());
    assert!(best < last, "stopped early after its best epoch");
    assert_eq!(summary["weights_epoch"], best);
    assert!(out.stdout.contains(&format!("\nlast   epoch {last}  loss ")), "{}", out.stdout);
    let model = format!("\nmodel  epoch {best} (restored; what --save writes)  loss ");
    assert!(out.stdout.contains(&model), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("  (the restored weights of epoch {best})\n")), "{}", out.stdout);
    assert!(!out.stdout.contains("\nfinal  "), "no line claims the last epoch's numbers are the model's");
    // The model line shows the best epoch's validation loss, as the summary's best line has it.
    let val_loss = summary["best"]["val_loss"].as_f64().unwrap();
    assert!(out.stdout.contains(&format!("val_loss {val_loss:.6}")), "{}", out.stdout);
    let svg = std::fs::read_to_string(s.dir.join("p.svg")).unwrap();
    assert!(svg.contains(&format!("restored weights (epoch {best})")), "the restored epoch is marked");
    assert!(svg.contains("m (m.nn)") && svg.contains("test: test_loss "), "title and test metrics");
}

#[test]
fn drop_last_leaves_out_the_short_last_batch_of_each_epoch() {
    // Ten rows in batches of 4 without shuffling: with `drop_last`, every epoch trains on the
    // first eight rows only, exactly as a run on those eight rows does (same seed, same initial
    // weights, same batches), metrics included.
    let rows: Vec<String> = (0..10).map(|i| format!("{},{},{}", i % 3, (i * 7) % 5, i % 2)).collect();
    let ten = format!("a,b,y\n{}\n", rows.join("\n"));
    let eight = format!("a,b,y\n{}\n", rows[..8].join("\n"));
    let s = Scratch::new("drop-last", &[("ten.csv", ten.as_str()), ("eight.csv", eight.as_str())]);
    let spec = |file: &str, train: &str| {
        format!(
            "model m {{\n input 2\n dense 3 tanh\n dense 1\n}}\nloss mse\noptimizer sgd(lr: 0.05)\n\
             data csv(\"{file}\", target: \"y\")\ntrain {{ epochs: 3, batch: 4, shuffle: false, {train} }}\n"
        )
    };
    let (_, dropped) = run(&s.dir, &spec("ten.csv", "drop_last: true"));
    let (_, eight_rows) = run(&s.dir, &spec("eight.csv", "drop_last: false"));
    let (_, kept) = run(&s.dir, &spec("ten.csv", "drop_last: false"));
    let steps = |outcome: &nnspec::train::Outcome| outcome.trace.iter().map(|l| l.step).collect::<Vec<_>>();
    assert_eq!(steps(&dropped), [2, 4, 6]);
    assert_eq!(steps(&kept), [3, 6, 9]);
    let metrics =
        |outcome: &nnspec::train::Outcome| format!("{:?}", outcome.trace.iter().map(|l| &l.train).collect::<Vec<_>>());
    assert_eq!(metrics(&dropped), metrics(&eight_rows));
    assert_eq!(dropped.params.to_bits(), eight_rows.params.to_bits());
    assert_ne!(metrics(&dropped), metrics(&kept));
    // Where the batches divide the rows, `drop_last` changes nothing.
    let (_, whole) = run(&s.dir, &spec("ten.csv", "drop_last: true").replace("batch: 4", "batch: 5"));
    let (_, whole_kept) = run(&s.dir, &spec("ten.csv", "drop_last: false").replace("batch: 4", "batch: 5"));
    assert_eq!(metrics(&whole), metrics(&whole_kept));
}

#[test]
fn drop_last_shows_in_the_plan() {
    let text = "model m {\n input 2\n dense 1\n}\nloss mse\noptimizer sgd\ndata random(rows: 10, inputs: 2)\n\
                train { epochs: 1, batch: 4, drop_last: true }\n";
    let spec = Spec::parse(text, "t.nn", std::path::Path::new("."), &[]).expect("valid");
    let plan = spec.compile(CompileOptions::default());
    assert!(plan.to_string().lines().next().unwrap().contains("batch 4 (b rows, a short last batch dropped)"));
    assert_eq!((plan.steps_per_epoch(10), plan.trained_rows(10)), (2, 8));
}

/// Every optimizer updates every range of a tensor larger than one update task
/// (`UPDATE_RANGE` values), with or without its optional moments. An optimizer without a
/// second moment (SGD) or a first one (RMSprop without momentum) once left such tensors
/// untouched: their empty moment buffer cut the ranges short.
#[test]
fn every_optimizer_updates_every_range_of_a_large_tensor() {
    let inputs = 300;
    let units = 2 * nnspec::plan::UPDATE_RANGE / inputs + 1;
    for optimizer in [
        "sgd(lr: 0.1)",
        "sgd(lr: 0.1, momentum: 0.9)",
        "rmsprop(lr: 0.01)",
        "rmsprop(lr: 0.01, momentum: 0.5)",
        "adam(lr: 0.01)",
        "adamw(lr: 0.01)",
    ] {
        let text = format!(
            "model m {{\n input {inputs}\n dense {units} tanh\n dense 3 softmax\n}}\nloss cross_entropy\n\
             optimizer {optimizer}\ndata random(rows: 64, inputs: {inputs}, classes: 3, seed: 1)\n\
             train {{ epochs: 1, batch: 64, seed: 2 }}\n"
        );
        let spec = Spec::parse(&text, "t.nn", &root(), &[]).expect(&text);
        let plan = spec.compile(CompileOptions::default());
        let (_, outcome) = run(&root(), &text);
        let initial = nnspec::exec::Params::init(&plan, plan.train.seed);
        for (id, info) in plan.params.iter().enumerate().filter(|(_, info)| info.trainable) {
            let (before, after) = (&initial.tensors[id], &outcome.params.tensors[id]);
            for (range, (b, a)) in
                before.chunks(nnspec::plan::UPDATE_RANGE).zip(after.chunks(nnspec::plan::UPDATE_RANGE)).enumerate()
            {
                assert!(b != a, "{optimizer}: range {range} of {} was not updated", info.name);
            }
        }
    }
}

/// A tiled layer's weight takes its optimizer step inside the backward pass; with clipping
/// (here a bound never reached, so the gradients are unchanged) every tensor is updated in the
/// separate pass instead. Both orders must give the same bits, for every optimizer.
#[test]
fn the_step_fused_into_the_backward_pass_equals_the_separate_update() {
    for optimizer in [
        "sgd(lr: 0.05",
        "sgd(lr: 0.05, momentum: 0.9, weight_decay: 0.01",
        "adam(lr: 0.01",
        "adamw(lr: 0.01",
        "rmsprop(lr: 0.01, momentum: 0.5",
    ] {
        let text = |clip: &str| {
            format!(
                "model m {{\n input 64\n dense 96 relu\n dense 80 tanh\n dense 3 softmax\n}}\nloss cross_entropy\n\
                 optimizer {optimizer}{clip})\ndata random(rows: 300, inputs: 64, classes: 3, seed: 1)\n\
                 train {{ epochs: 2, batch: 100, seed: 2 }}\n"
            )
        };
        let plan = Spec::parse(&text(""), "t.nn", &root(), &[]).unwrap().compile(CompileOptions::default());
        assert!((0..plan.params.len()).any(|id| plan.update_fused(id)), "the spec has tiled layers");
        let (_, fused) = run(&root(), &text(""));
        let (_, separate) = run(&root(), &text(", clip_norm: 1e30"));
        for (id, (a, b)) in fused.params.tensors.iter().zip(&separate.params.tensors).enumerate() {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{optimizer}: {} differs", plan.params[id].name);
        }
        assert_eq!(fused.trace.len(), separate.trace.len());
    }
}
