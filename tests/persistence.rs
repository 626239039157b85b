//! Models that outlive the run: saved weights named as the PyTorch module `export-torch`
//! prints, `--init`, `predict`, `eval`, checkpoints, exact resume, and a run killed with
//! SIGKILL leaving only complete files.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Scratch, nnspec, root};

/// A classifier with Adam, dropout and shuffling, quick to train.
const CLASSIFIER: &str = "model c {\n    input 4 standardize\n    dense 12 relu\n    dropout 0.2\n    dense 3 softmax\n}\n\
loss cross_entropy\noptimizer adam(lr: 0.01)\n\
data csv(\"iris.csv\", target: \"target\", classes: 3) split(validation: 0.2)\n\
train { epochs: 10, batch: 16, seed: 3, shuffle: true }\n";

fn scratch(name: &str, spec: &str) -> Scratch {
    let iris = std::fs::read_to_string(root().join("specs/data/iris.csv")).unwrap();
    Scratch::new(name, &[("c.nn", spec), ("iris.csv", &iris)])
}

fn trace_without_time(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("elapsed_s");
            value
        })
        .collect()
}

fn tensor_names(path: &Path) -> Vec<String> {
    let decoded = nnspec::weights::read(path).unwrap();
    let mut names: Vec<String> = decoded.tensors.keys().chain(decoded.ints.keys()).cloned().collect();
    names.sort();
    names
}

#[test]
fn saved_names_are_the_state_dict_of_the_exported_module() {
    let spec = CLASSIFIER.replace("dense 12 relu", "dense 12\n    batch_norm relu");
    let s = scratch("names", &spec);
    let out = nnspec(&s.dir, &["run", "c.nn", "--save", "w.safetensors"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let module = nnspec(&s.dir, &["export-torch", "c.nn"]).stdout;
    // Each `nn.X(...),  # layers.N` entry owns the parameters PyTorch gives that module.
    let mut expected = Vec::new();
    for line in module.lines().filter(|l| l.contains("# layers.")) {
        let index = line.rsplit("# layers.").next().unwrap().trim();
        let own: &[&str] = if line.contains("nn.Linear(") || line.contains("nn.LayerNorm(") {
            &["weight", "bias"]
        } else if line.contains("nn.BatchNorm1d(") {
            &["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
        } else {
            &[]
        };
        expected.extend(own.iter().map(|p| format!("layers.{index}.{p}")));
    }
    expected.sort();
    assert_eq!(tensor_names(&s.dir.join("w.safetensors")), expected);
    insta::assert_snapshot!(module, @r#"
    import torch
    from torch import nn


    class C(nn.Module):
        """nnspec model `c` (c.nn).

        `model(torch.tensor(raw_rows))` gives what `nnspec predict` prints: the input
        scaling fitted on the training rows is built in (buffers outside the state_dict).
        Load weights saved by `nnspec run --save FILE` with
        `model.load_state_dict(safetensors.torch.load_file(FILE))`.
        """

        def __init__(self):
            super().__init__()
            # Input scaling (standardize): x' = (x - offset) * factor, fitted on the training rows.
            # persistent=False keeps it out of the state_dict, so nnspec's weights files load as they are.
            self.register_buffer("input_offset", torch.tensor([5.853333473205566, 3.059166669845581, 3.752500057220459, 1.1991666555404663]), persistent=False)
            self.register_buffer("input_factor", torch.tensor([1.2078132629394531, 2.247809886932373, 0.5687733292579651, 1.313159465789795]), persistent=False)
            self.layers = nn.Sequential(
                nn.Linear(4, 12),  # layers.0
                nn.BatchNorm1d(12, eps=0.00001, momentum=0.1),  # layers.1
                nn.ReLU(),  # layers.2
                nn.Dropout(0.2),  # layers.3
                nn.Linear(12, 3),  # layers.4
                nn.Softmax(dim=1),  # layers.5
            )

        def preprocess(self, x):
            """Raw rows to the first layer's inputs."""
            x = (x - self.input_offset) * self.input_factor
            return x

        @torch.no_grad()
        def set_preprocess(self, offset, factor):
            """Sets the input scaling: x' = (x - offset) * factor."""
            self.input_offset.copy_(torch.as_tensor(offset, dtype=torch.float32))
            self.input_factor.copy_(torch.as_tensor(factor, dtype=torch.float32))

        def forward(self, x):
            return self.layers(self.preprocess(x))
    "#);
}

#[test]
fn ten_epochs_straight_equal_five_and_a_resume() {
    let s = scratch("resume", CLASSIFIER);
    let straight = nnspec(
        &s.dir,
        &[
            "run",
            "c.nn",
            "--save",
            "a.safetensors",
            "--trace",
            "a.jsonl",
            "--checkpoint-every",
            "5",
            "--checkpoint-dir",
            "ck",
        ],
    );
    assert_eq!(straight.code, 0, "{}", straight.stderr);
    assert!(s.dir.join("ck/epoch-000005.ckpt").exists() && s.dir.join("ck/epoch-000010.ckpt").exists());
    let resumed = nnspec(
        &s.dir,
        &["run", "c.nn", "--resume", "ck/epoch-000005.ckpt", "--save", "b.safetensors", "--trace", "b.jsonl"],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(resumed.stdout.contains("resuming from ck/epoch-000005.ckpt"));
    assert_eq!(trace_without_time(&s.dir.join("a.jsonl")), trace_without_time(&s.dir.join("b.jsonl")));
    let (a, b) =
        (std::fs::read(s.dir.join("a.safetensors")).unwrap(), std::fs::read(s.dir.join("b.safetensors")).unwrap());
    assert!(a == b, "the weights files are identical, byte for byte");
}

#[test]
fn init_reports_missing_and_misshapen_tensors() {
    let s = scratch("init", CLASSIFIER);
    assert_eq!(nnspec(&s.dir, &["run", "c.nn", "--save", "w.safetensors"]).code, 0);
    let narrower = CLASSIFIER.replace("dense 12 relu", "dense 8 relu");
    std::fs::write(s.dir.join("narrow.nn"), narrower).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "narrow.nn", "--init", "w.safetensors"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @"
    warning[E0101]: `w.safetensors` was saved from a model with another architecture (16f908aca358b78a)
     |
     = note: this spec's architecture hash is c842b63479e03f5f

    error[E0101]: tensor `layers.0.weight` in `w.safetensors` has shape [12, 4], but the layer at narrow.nn:3 expects [8, 4]
     |
     = note: the spec's layer widths differ from those the weights were saved with
     = help: train again from this spec, or restore the spec the weights came from

    For more information about this error, try `nnspec explain E0101`.
    ");
    let deeper = CLASSIFIER.replace("dense 3 softmax", "dense 3\n    dense 3 softmax");
    std::fs::write(s.dir.join("deep.nn"), deeper).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "deep.nn", "--init", "w.safetensors"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("has no tensor `layers.4.weight`"), "{}", out.stderr);
    // The same architecture starts from the saved weights: its first epoch beats a fresh one's.
    let fresh = nnspec(&s.dir, &["run", "c.nn", "--trace", "fresh.jsonl"]);
    let warm = nnspec(&s.dir, &["run", "c.nn", "--init", "w.safetensors", "--trace", "warm.jsonl"]);
    assert_eq!((fresh.code, warm.code), (0, 0), "{}", warm.stderr);
    let first_loss = |file: &str| trace_without_time(&s.dir.join(file))[0]["loss"].as_f64().unwrap();
    assert!(first_loss("warm.jsonl") < first_loss("fresh.jsonl"));
}

#[test]
fn predict_and_eval_use_the_stored_scaling() {
    let s = scratch("predict", CLASSIFIER);
    assert_eq!(nnspec(&s.dir, &["run", "c.nn", "--save", "w.safetensors"]).code, 0);
    let out = nnspec(&s.dir, &["predict", "c.nn", "--weights", "w.safetensors", "--input", "iris.csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "class,prob_0,prob_1,prob_2");
    assert_eq!(lines.len(), 151);
    let cells: Vec<f64> = lines[1].split(',').map(|c| c.parse().unwrap()).collect();
    assert_eq!(cells[0], 0.0, "the first flower is a setosa");
    assert!((cells[1..].iter().sum::<f64>() - 1.0).abs() < 1e-5);
    let out =
        nnspec(&s.dir, &["predict", "c.nn", "--weights", "w.safetensors", "--input", "iris.csv", "--output", "p.csv"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(s.dir.join("p.csv")).unwrap().lines().count(), 151);
    let out = nnspec(&s.dir, &["eval", "c.nn", "--weights", "w.safetensors", "--data", "iris.csv", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["rows"], 150);
    assert!(report["metrics"]["accuracy"].as_f64().unwrap() > 0.85);
    let counts: u64 = report["confusion"]["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(counts, 150);
    let text = nnspec(&s.dir, &["eval", "c.nn", "--weights", "w.safetensors", "--data", "iris.csv"]).stdout;
    assert!(text.contains("accuracy: ") && text.contains("confusion matrix"));
}

#[test]
fn a_killed_run_leaves_complete_files_and_resumes() {
    let spec = "model k {\n    input 32\n    dense 256 relu\n    dropout 0.1\n    dense 4 softmax\n}\n\
                loss cross_entropy\noptimizer adam(lr: 0.001)\n\
                data random(rows: 4000, inputs: 32, classes: 4, seed: 1)\ntrain { epochs: 60, batch: 32, seed: 2 }\n";
    let s = Scratch::new("kill", &[("k.nn", spec)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnspec"))
        .args(["run", "k.nn", "--checkpoint-every", "1", "--checkpoint-dir", "ck", "--save", "w.safetensors"])
        .current_dir(&s.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let count = |dir: &Path| {
        std::fs::read_dir(dir)
            .map_or(0, |d| d.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "ckpt")).count())
    };
    while count(&s.dir.join("ck")) < 3 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!s.dir.join("w.safetensors").exists(), "the run was killed before it could save");
    for entry in std::fs::read_dir(s.dir.join("ck")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ckpt") {
            assert!(nnspec::train::checkpoint::load(&path).is_ok(), "{} is complete", path.display());
        }
    }
    let resumed = nnspec(&s.dir, &["run", "k.nn", "--resume", "ck", "--save", "w.safetensors"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let straight = nnspec(&s.dir, &["run", "k.nn", "--save", "straight.safetensors"]);
    assert_eq!(straight.code, 0);
    assert!(
        std::fs::read(s.dir.join("w.safetensors")).unwrap()
            == std::fs::read(s.dir.join("straight.safetensors")).unwrap()
    );
}

#[test]
fn resuming_with_a_changed_spec_is_refused_in_words() {
    let s = scratch("resume-changed", CLASSIFIER);
    assert_eq!(nnspec(&s.dir, &["run", "c.nn", "--checkpoint-every", "5", "--checkpoint-dir", "ck"]).code, 0);
    std::fs::write(s.dir.join("other.nn"), CLASSIFIER.replace("adam(lr: 0.01)", "rmsprop(lr: 0.01)")).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "other.nn", "--resume", "ck"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("the spec differs from the run it was saved from"), "{}", out.stderr);
    assert!(out.stderr.contains("was: optimizer adam(") && out.stderr.contains("now: optimizer rmsprop("));
    // Other training rows (one row fewer) are refused too, naming the data.
    let iris = std::fs::read_to_string(s.dir.join("iris.csv")).unwrap();
    let shorter: String = iris.lines().take(150).map(|l| format!("{l}\n")).collect();
    std::fs::write(s.dir.join("iris.csv"), shorter).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "c.nn", "--resume", "ck"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("(the training data changed)"), "{}", out.stderr);
    std::fs::write(s.dir.join("iris.csv"), iris).unwrap();
    // More epochs are allowed: training simply continues.
    std::fs::write(s.dir.join("longer.nn"), CLASSIFIER.replace("epochs: 10", "epochs: 12")).unwrap();
    assert_eq!(nnspec(&s.dir, &["run", "longer.nn", "--resume", "ck/epoch-000010.ckpt"]).code, 0);
}

#[test]
fn checkpoints_keep_the_newest_few_and_the_trace_once() {
    let s = scratch("keep", &CLASSIFIER.replace("epochs: 10", "epochs: 30"));
    let run =
        nnspec(&s.dir, &["run", "c.nn", "--checkpoint-every", "1", "--checkpoint-dir", "ck", "--trace", "t.jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> =
        std::fs::read_dir(s.dir.join("ck")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["epoch-000028.ckpt", "epoch-000029.ckpt", "epoch-000030.ckpt", "trace.jsonl"]);
    // The trace is kept once, beside the checkpoints, and equals the run's.
    assert_eq!(trace_without_time(&s.dir.join("ck/trace.jsonl")), trace_without_time(&s.dir.join("t.jsonl")));
    // A checkpoint does not grow with the trace: the 30th is the size of an early one.
    let again = nnspec(
        &s.dir,
        &["run", "c.nn", "--checkpoint-every", "1", "--checkpoint-dir", "ck2", "--keep-checkpoints", "40"],
    );
    assert_eq!(again.code, 0);
    let size = |n: &str| std::fs::metadata(s.dir.join("ck2").join(n)).unwrap().len();
    assert!(
        size("epoch-000030.ckpt") <= size("epoch-000002.ckpt") + 64,
        "{} vs {}",
        size("epoch-000030.ckpt"),
        size("epoch-000002.ckpt")
    );
    // Resuming from the pruned directory gives the uninterrupted run's trace.
    let resumed = nnspec(
        &s.dir,
        &["run", "c.nn", "--set", "train.epochs=30", "--resume", "ck/epoch-000028.ckpt", "--trace", "r.jsonl"],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(trace_without_time(&s.dir.join("r.jsonl")), trace_without_time(&s.dir.join("t.jsonl")));
    // Without its trace beside it, a checkpoint says so.
    std::fs::remove_file(s.dir.join("ck/trace.jsonl")).unwrap();
    let orphan = nnspec(&s.dir, &["--color", "never", "run", "c.nn", "--resume", "ck/epoch-000028.ckpt"]);
    assert_eq!(orphan.code, 1);
    assert!(orphan.stderr.contains("trace.jsonl"), "{}", orphan.stderr);
}

#[test]
fn a_crafted_checkpoint_step_count_is_refused() {
    use nnspec::weights::{Values, decode, encode};
    let s = scratch("crafted", CLASSIFIER);
    assert_eq!(nnspec(&s.dir, &["run", "c.nn", "--checkpoint-every", "5", "--checkpoint-dir", "ck"]).code, 0);
    let path = s.dir.join("ck/epoch-000005.ckpt");
    let decoded = decode(&std::fs::read(&path).unwrap()).unwrap();
    let mut metadata = decoded.metadata.clone();
    let mut state: serde_json::Value = serde_json::from_str(&metadata["nnspec.state"]).unwrap();
    state["step"] = serde_json::json!(u64::MAX - 3);
    metadata.insert("nnspec.state".into(), state.to_string());
    let mut tensors: Vec<(String, Vec<usize>, Values)> = decoded
        .tensors
        .iter()
        .map(|(name, (shape, values))| (name.clone(), shape.clone(), Values::F32(values)))
        .collect();
    tensors.extend(
        decoded.ints.iter().map(|(name, (shape, values))| (name.clone(), shape.clone(), Values::I64(values.clone()))),
    );
    std::fs::write(&path, encode(tensors, metadata)).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "c.nn", "--resume", "ck/epoch-000005.ckpt"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("are not those of whole epochs"), "{}", out.stderr);
}

/// `balanced` class weights are resolved from the training rows, saved with the weights, and
/// weigh `eval`'s loss: the weighted mean of each row's `-ln p(class)` as `predict` gives them.
#[test]
fn eval_weighs_its_loss_with_the_saved_balanced_class_weights() {
    let spec = CLASSIFIER
        .replace("loss cross_entropy", "loss cross_entropy(class_weights: balanced)")
        .replace("validation: 0.2", "validation: 0.4");
    // Fifty flowers of each of two classes, ten of the third.
    let iris = std::fs::read_to_string(root().join("specs/data/iris.csv")).unwrap();
    let uneven: String = iris.lines().take(111).map(|line| format!("{line}\n")).collect();
    let s = Scratch::new("balanced", &[("c.nn", spec.as_str()), ("iris.csv", uneven.as_str())]);
    assert_eq!(nnspec(&s.dir, &["run", "c.nn", "--save", "w.safetensors"]).code, 0);
    let decoded = nnspec::weights::read(&s.dir.join("w.safetensors")).unwrap();
    let weights: Vec<f64> = serde_json::from_str(&decoded.metadata["nnspec.class_weights"]).unwrap();
    assert_eq!(weights.len(), 3);
    assert!(weights.iter().any(|&w| (w - 1.0).abs() > 1e-3), "the training rows' classes are uneven: {weights:?}");
    let out = nnspec(&s.dir, &["predict", "c.nn", "--weights", "w.safetensors", "--input", "iris.csv"]);
    let (mut weighted, mut total, mut plain) = (0.0, 0.0, 0.0);
    assert_eq!(out.stdout.lines().count(), 111);
    for (prediction, row) in out.stdout.lines().skip(1).zip(uneven.lines().skip(1)) {
        let class: usize = row.rsplit(',').next().unwrap().parse().unwrap();
        let p: f64 = prediction.split(',').nth(1 + class).unwrap().parse().unwrap();
        weighted += weights[class] * -p.ln();
        total += weights[class];
        plain += -p.ln() / 110.0;
    }
    let out = nnspec(&s.dir, &["eval", "c.nn", "--weights", "w.safetensors", "--data", "iris.csv", "--json"]);
    let loss = serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()["metrics"]["loss"].as_f64().unwrap();
    assert!((loss - weighted / total).abs() < 1e-5, "eval {loss}, weighted mean {}", weighted / total);
    assert!((loss - plain).abs() > 1e-4, "unweighted {plain} is another number");
}

/// Ctrl-C: the run ends the epoch in progress, writes a last checkpoint (into the default
/// folder beside the trace, as `--checkpoint-dir` is not given) and exits 130; the trace file,
/// appended line by line while the run went, holds every epoch until then as valid JSON lines.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_a_checkpoint_and_the_live_trace() {
    let spec = "model k {\n    input 32\n    dense 64 relu\n    dense 4 softmax\n}\n\
                loss cross_entropy\noptimizer adam(lr: 0.001)\n\
                data random(rows: 2000, inputs: 32, classes: 4, seed: 1)\ntrain { epochs: 1000000, batch: 32, seed: 2 }\n";
    let s = Scratch::new("sigint", &[("k.nn", spec), ("out/t.jsonl", "an older trace\n")]);
    let child = Command::new(env!("CARGO_BIN_EXE_nnspec"))
        .args(["run", "k.nn", "--checkpoint-every", "1000000", "--trace", "out/t.jsonl"])
        .current_dir(&s.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The trace grows while the run goes (it would never end by itself).
    let trace = s.dir.join("out/t.jsonl");
    let lines = || std::fs::read_to_string(&trace).map_or(0, |t| t.lines().filter(|l| l.starts_with('{')).count());
    let start = Instant::now();
    while lines() < 3 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(lines() >= 3, "the trace is written as the run goes");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stdout.starts_with("checkpoints go to out/k.checkpoints\n"), "{stdout}");
    assert!(stderr.contains("interrupted after epoch") && stderr.contains("--resume out/k.checkpoints"), "{stderr}");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.ends_with('\n'), "the last line is whole");
    let epochs: Vec<u64> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, (1..=epochs.len() as u64).collect::<Vec<_>>(), "every epoch until Ctrl-C, once");
    let last = epochs.len();
    assert!(stdout.contains(&format!("epoch {last:>5}")), "the last epoch's line is printed: {stdout}");
    let checkpoint = s.dir.join(format!("out/k.checkpoints/epoch-{last:06}.ckpt"));
    assert!(nnspec::train::checkpoint::load(&checkpoint).is_ok(), "{} is complete", checkpoint.display());
}
