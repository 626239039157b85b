//! The commands through the binary: exit codes, stdout, stderr and written files.

use crate::support::{Scratch, nnspec, root};

#[test]
fn run_trains_and_writes_the_trace() {
    let scratch = Scratch::new("run-trace", &[]);
    let trace = scratch.dir.join("xor.jsonl");
    let out = nnspec(&root(), &["run", "specs/xor.nn", "--trace", trace.to_str().unwrap(), "--threads", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("model xor\n"), "{}", out.stdout);
    assert!(out.stdout.contains("33 parameters; loss bce; optimizer sgd(lr: 0.5)"));
    assert!(out.stdout.contains("2 thread(s)"));
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("epoch ")).count(), 10, "one line per 200 epochs");
    assert!(out.stderr.is_empty());
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10);
    // Keys in the order DESIGN.md gives, read from the text itself (a parsed map may sort them).
    let first = text.lines().next().unwrap();
    let keys: Vec<&str> =
        first.split('"').skip(1).step_by(2).filter(|k| first.contains(&format!("\"{k}\":"))).collect();
    assert_eq!(keys, ["epoch", "step", "loss", "accuracy", "lr", "elapsed_s"]);
    assert_eq!(lines[9]["epoch"], 2000);
    assert_eq!(lines[9]["step"], 2000);
}

#[test]
fn regression_traces_have_no_accuracy() {
    let scratch = Scratch::new("run-regression", &[]);
    let trace = scratch.dir.join("t.jsonl");
    let out = nnspec(&root(), &["run", "specs/seed.nn", "--trace", trace.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&trace).unwrap().lines().next().unwrap()).unwrap();
    assert!(first.get("accuracy").is_none());
    assert_eq!(first["lr"], 0.01);
}

#[test]
fn check_prints_inferred_shapes() {
    let out = nnspec(&root(), &["check", "specs/iris_petal_width.nn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @"
    model iris_petal_width
      layer                               output  parameters
      input                                    3            
      dense (init xavier_uniform)             16          64
      tanh                                    16            
      dense (init default)                     1          17
      81 parameters; loss mse; optimizer sgd(lr: 0.01)
    data data/iris.csv: features sepal_length_cm, sepal_width_cm, petal_length_cm -> targets petal_width_cm
    ok: specs/iris_petal_width.nn is valid
    ");
}

#[test]
fn plan_prints_one_line_per_kernel() {
    let out = nnspec(&root(), &["plan", "specs/seed.nn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(out.stdout, @"
    plan seed (seed.nn): buffers 1, 1, 2 parameters, batch full (b rows), chunks sized with the data
    optimizer sgd(lr: 0.01)
    forward
      dense+sigmoid    x[b,1] -> h1[b,1]  with layers.0.weight[1,1], layers.0.bias[1]  # seed.nn:6
    loss
      mse              h1[b,1], y[b,1] -> loss                                         # seed.nn:8
    backward
      sigmoid'+dense'  dh1[b,1] -> dlayers.0.weight[1,1], dlayers.0.bias[1]            # seed.nn:6
    update
      sgd              layers.0.weight[1,1]                                            # seed.nn:9
      sgd              layers.0.bias[1]                                                # seed.nn:9
    ");
}

#[test]
fn usage_errors_exit_2_and_file_errors_exit_1() {
    let out = nnspec(&root(), &["run", "specs/xor.nn", "--threads", "0"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--threads"), "{}", out.stderr);
    let out = nnspec(&root(), &["frobnicate"]);
    assert_eq!(out.code, 2);
    let out = nnspec(&root(), &["run", "specs/no_such.nn"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(out.stderr, @"
    error[E0100]: cannot read spec `specs/no_such.nn`: no such file

    For more information about this error, try `nnspec explain E0100`.
    ");
}

#[test]
fn an_unwritable_trace_fails_before_training() {
    let out = nnspec(&root(), &["run", "specs/xor.nn", "--trace", "/no/such/dir/t.jsonl"]);
    assert_eq!(out.code, 1);
    assert!(!out.stdout.contains("epoch"), "no training happened: {}", out.stdout);
    assert!(out.stderr.contains("cannot write `/no/such/dir/t.jsonl`"), "{}", out.stderr);
}

#[test]
fn set_overrides_are_checked_like_the_spec() {
    let scratch = Scratch::new("set", &[]);
    let summary = scratch.dir.join("s.json");
    let out = nnspec(
        &root(),
        &[
            "run",
            "specs/xor.nn",
            "--set",
            "train.epochs=3",
            "--set",
            "optimizer.lr=0.2",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("optimizer sgd(lr: 0.2)"));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!((summary["epochs_run"].as_u64(), summary["stop_reason"].as_str()), (Some(3), Some("completed")));
    assert_eq!(summary["parameters"], 33);
    assert_eq!(summary["final"]["epoch"], 3);
    let out = nnspec(&root(), &["--color", "never", "run", "specs/xor.nn", "--set", "train.epocs=3"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`train` has no argument `epocs`") && out.stderr.contains("did you mean `epochs`?"),
        "{}",
        out.stderr
    );
    let out = nnspec(&root(), &["--color", "never", "run", "specs/xor.nn", "--set", "optimizer.lr=-1"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("must be a number above 0"), "{}", out.stderr);
}

#[test]
fn init_then_test_blesses_and_detects_drift() {
    let scratch = Scratch::new("init", &[]);
    assert_eq!(nnspec(&scratch.dir, &["init", "demo"]).code, 0);
    let project = scratch.dir.join("demo");
    let out = nnspec(&project, &["test"]);
    assert_eq!(out.code, 1, "no golden file yet: {}", out.stdout);
    assert!(out.stderr.contains("--bless"));
    assert_eq!(nnspec(&project, &["test", "--bless"]).code, 0);
    let out = nnspec(&project, &["test"]);
    assert_eq!((out.code, out.stdout.starts_with("ok ")), (0, true), "{}", out.stderr);
    let spec = project.join("demo.nn");
    let text = std::fs::read_to_string(&spec).unwrap().replace("lr: 0.01", "lr: 0.03");
    std::fs::write(&spec, text).unwrap();
    let out = nnspec(&project, &["--color", "never", "test"]);
    assert_eq!(out.code, 1);
    // The summary first, then the changed numbers at five significant digits, capped.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "DRIFT  demo.nn");
    assert!(lines[1].starts_with("  first drift at epoch 5; 6 of 6 matched epochs moved"), "{}", out.stdout);
    assert!(lines[2].starts_with("  largest drift per key: loss "), "{}", out.stdout);
    let loss = lines.iter().find(|l| l.starts_with("  epoch 5: loss ")).unwrap_or_else(|| panic!("{}", out.stdout));
    let number = loss.split(' ').nth(5).unwrap();
    assert_eq!(number.trim_start_matches("0.").len(), 5, "five significant digits: {loss}");
    assert!(out.stdout.contains("more changes\n"), "{}", out.stdout);
    assert!(lines.len() <= 3 + nnspec::golden::LISTED + 1, "{}", out.stdout);
    // Logging every 10 epochs instead of 5: the shared epochs are compared by number.
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace("lr: 0.03", "lr: 0.01")).unwrap();
    let every_ten = std::fs::read_to_string(&spec).unwrap().replace("log_every: 5", "log_every: 10");
    std::fs::write(&spec, every_ten).unwrap();
    let out = nnspec(&project, &["--color", "never", "test"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stdout, "DRIFT  demo.nn\n  missing epochs (in the golden trace, not logged now): 5, 15, 25 (3 epochs)\n",
        "{}",
        out.stderr
    );
    assert_eq!(nnspec(&scratch.dir, &["init", "demo"]).code, 1, "an existing project is not overwritten");
}

/// `init` takes cargo's project names; `test` finds nnspec.toml in the folders above, as cargo
/// finds Cargo.toml.
#[test]
fn init_takes_hyphens_and_test_finds_its_config_above() {
    let scratch = Scratch::new("init-hyphen", &[]);
    let out = nnspec(&scratch.dir, &["init", "my-proj"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("created my-proj/my-proj.nn and my-proj/nnspec.toml\n"), "{}", out.stdout);
    let deep = scratch.dir.join("my-proj/notes/today");
    std::fs::create_dir_all(&deep).unwrap();
    let out = nnspec(&deep, &["test", "--bless"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(scratch.dir.join("my-proj/golden/my-proj.jsonl").is_file());
    let out = nnspec(&deep, &["test"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "ok     my-proj.nn (6 epochs logged)\n"), "{}", out.stderr);
    let out = nnspec(&scratch.dir, &["--color", "never", "test"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no `nnspec.toml` in") && out.stderr.contains("or any folder above it"),
        "{}",
        out.stderr
    );
    assert_eq!(nnspec(&scratch.dir, &["init", "2-fast"]).code, 2);
}

#[test]
fn explain_and_completions() {
    let out = nnspec(&root(), &["explain", "E0005"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("E0005\n") && out.stdout.contains("Example"));
    assert_eq!(nnspec(&root(), &["explain", "E99"]).code, 2);
    let out = nnspec(&root(), &["completions", "bash"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("nnspec") && out.stdout.contains("export-torch"));
}

#[test]
fn plots_are_svg_with_labelled_axes() {
    let scratch = Scratch::new("plot", &[]);
    let svg = scratch.dir.join("curve.svg");
    let out = nnspec(&root(), &["run", "specs/iris.nn", "--quiet", "--plot", svg.to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg")
            && text.contains(">\nepoch\n<")
            && text.contains(">\nval_loss\n<")
            && text.contains(">\naccuracy\n<")
    );
    let trace = scratch.dir.join("t.jsonl");
    assert_eq!(nnspec(&root(), &["run", "specs/seed.nn", "--quiet", "--trace", trace.to_str().unwrap()]).code, 0);
    let again = scratch.dir.join("again.svg");
    assert_eq!(nnspec(&root(), &["plot", trace.to_str().unwrap(), "--output", again.to_str().unwrap()]).code, 0);
    assert!(std::fs::read_to_string(&again).unwrap().contains(">\nr2\n<"), "regression plots R²");
    let png = scratch.dir.join("curve.png");
    assert_eq!(nnspec(&root(), &["plot", trace.to_str().unwrap(), "--output", png.to_str().unwrap()]).code, 0);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let jpg = scratch.dir.join("curve.jpg");
    assert_eq!(nnspec(&root(), &["plot", trace.to_str().unwrap(), "--output", jpg.to_str().unwrap()]).code, 2);
}

/// The texts of an SVG plot, with their anchors: `("middle", "0.76em", "3")` is an x tick.
fn svg_texts(svg: &str) -> Vec<(String, String, String)> {
    let attribute = |element: &str, name: &str| {
        let start = element.find(&format!("{name}=\"")).map(|i| i + name.len() + 2)?;
        Some(element[start..].split('"').next()?.to_string())
    };
    svg.split("<text ")
        .skip(1)
        .filter_map(|element| {
            let (attributes, rest) = element.split_once('>')?;
            let text = rest.split("</text>").next()?.trim().to_string();
            Some((attribute(attributes, "text-anchor")?, attribute(attributes, "dy")?, text))
        })
        .collect()
}

/// Whole-epoch ticks, a logarithmic loss axis on request, the title, the test metrics and the
/// epoch of the lowest validation loss marked.
#[test]
fn plots_tick_whole_epochs_and_mark_the_best() {
    let trace = "{\"epoch\":1,\"step\":2,\"loss\":5.0,\"val_loss\":6.0,\"lr\":0.1}\n\
                 {\"epoch\":2,\"step\":4,\"loss\":0.5,\"val_loss\":0.4,\"lr\":0.1}\n\
                 {\"epoch\":3,\"step\":6,\"loss\":0.02,\"val_loss\":0.7,\"test_loss\":0.65,\"lr\":0.1}\n";
    let scratch = Scratch::new("plot-ticks", &[("small.jsonl", trace)]);
    let draw = |args: &[&str]| {
        let out = nnspec(&scratch.dir, &[&["plot", "small.jsonl", "--output", "p.svg"], args].concat());
        assert_eq!(out.code, 0, "{}", out.stderr);
        svg_texts(&std::fs::read_to_string(scratch.dir.join("p.svg")).unwrap())
    };
    let texts = |all: &[(String, String, String)], anchor: &str, dy: &str| -> Vec<String> {
        all.iter().filter(|(a, d, _)| a == anchor && d == dy).map(|(_, _, t)| t.clone()).collect()
    };
    let linear = draw(&[]);
    let x_ticks: Vec<String> =
        texts(&linear, "middle", "0.76em").into_iter().filter(|t| t.parse::<f64>().is_ok()).collect();
    assert_eq!(x_ticks, ["0", "1", "2", "3"], "whole epochs only");
    let titles = texts(&linear, "start", "0.76em");
    assert_eq!(titles[..2], ["small".to_string(), "test: test_loss 0.6500".to_string()]);
    assert!(titles.contains(&"lowest val_loss (epoch 2)".to_string()), "{titles:?}");
    assert_eq!(texts(&linear, "end", "0.5ex"), ["0", "1", "2", "3", "4", "5", "6"]);
    let log = draw(&["--log-loss", "--title", "demo"]);
    assert_eq!(texts(&log, "end", "0.5ex"), ["0.1", "1"], "decades on a logarithmic loss axis");
    assert_eq!(texts(&log, "start", "0.76em")[0], "demo");
}

#[test]
fn the_shipped_specs_are_canonical_and_fmt_rewrites_others() {
    let out = nnspec(
        &root(),
        &[
            "fmt",
            "--check",
            "specs/seed.nn",
            "specs/xor.nn",
            "specs/iris.nn",
            "specs/digits.nn",
            "specs/iris_petal_width.nn",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let scratch = Scratch::new("fmt", &[("a.nn", "# top\nloss   mse # why\noptimizer sgd( lr : 1e-4 )\n")]);
    let out = nnspec(&scratch.dir, &["--color", "never", "fmt", "--check", "a.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("not canonical: a.nn"));
    assert_eq!(nnspec(&scratch.dir, &["fmt", "a.nn"]).code, 0);
    let text = std::fs::read_to_string(scratch.dir.join("a.nn")).unwrap();
    assert_eq!(text, "# top\nloss mse  # why\noptimizer sgd(lr: 1e-4)\n");
}

#[test]
fn fmt_keeps_comments_of_multi_line_statements_with_them() {
    let text = "model m {\n    input 2\n    dense 1 sigmoid\n} # after close\ntrain {\n    epochs: 20, # lowered for CI\n    batch: full\n}\nloss bce\noptimizer sgd(\n    lr: 0.5, # tuned\n    momentum: 0.9\n) # end\ndata xor(rows: 64)\n";
    let scratch = Scratch::new("fmt-multi", &[("m.nn", text)]);
    assert_eq!(nnspec(&scratch.dir, &["fmt", "m.nn"]).code, 0);
    let formatted = std::fs::read_to_string(scratch.dir.join("m.nn")).unwrap();
    assert_eq!(
        formatted,
        "model m {\n    input 2\n    dense 1 sigmoid\n}  # after close\ntrain { epochs: 20, batch: full }  # lowered for CI\n\
         loss bce\noptimizer sgd(lr: 0.5, momentum: 0.9)  # tuned # end\ndata xor(rows: 64)\n"
    );
}

#[test]
fn check_json_gives_each_diagnostic_with_its_location() {
    let bad = "model m {\n    input 2\n    dense 8 tanhh\n    dense 1 sigmoid\n}\nloss bce\n\
               optimizer sgd(lr: 0.5)\ndata xor(rows: 8)\ntrain { epochs: 0 }\n";
    let scratch = Scratch::new("check-json", &[("bad.nn", bad)]);
    let out = nnspec(&scratch.dir, &["check", "--json", "bad.nn"]);
    assert_eq!(out.code, 2, "the exit code is that of the check");
    assert!(out.stderr.is_empty(), "JSON only, on stdout: {}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["valid"], false);
    let diagnostics = value["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 2, "{value}");
    let activation = &diagnostics[0];
    assert_eq!(activation["code"], "E0002");
    assert_eq!(activation["severity"], "error");
    assert_eq!(activation["message"], "unknown activation `tanhh`");
    assert_eq!(
        (activation["file"].as_str(), activation["line"].as_u64(), activation["column"].as_u64()),
        (Some("bad.nn"), Some(3), Some(13))
    );
    assert_eq!(activation["end_column"], 18);
    assert_eq!(activation["help"], "did you mean `tanh`?");
    assert_eq!((diagnostics[1]["code"].as_str(), diagnostics[1]["line"].as_u64()), (Some("E0005"), Some(9)));
    let good = nnspec(&root(), &["check", "--json", "specs/xor.nn"]);
    assert_eq!(good.code, 0);
    let value: serde_json::Value = serde_json::from_str(&good.stdout).unwrap();
    assert_eq!((value["valid"].as_bool(), value["diagnostics"].as_array().map(Vec::len)), (Some(true), Some(0)));
}

#[test]
fn every_flag_and_positional_of_every_command_has_help() {
    use clap::CommandFactory;
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
    }
    let mut command = nnspec::cli::Cli::command();
    command.build();
    let mut missing = Vec::new();
    walk(&command, "nnspec", &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
    // `--max-memory` only where it limits something, `--allow-path` only where paths are read.
    let flag = |name: &str, long: &str| {
        let sub = command.find_subcommand(name).unwrap();
        sub.get_arguments().any(|arg| arg.get_long() == Some(long) && !arg.is_hide_set())
    };
    for name in ["run", "check", "plan", "predict", "eval", "test", "bench"] {
        assert!(flag(name, "max-memory"), "{name}");
    }
    for name in ["init", "completions", "fmt", "plot", "explain", "export-torch", "export-onnx"] {
        assert!(!flag(name, "max-memory"), "{name}");
    }
    for name in ["init", "completions", "fmt", "plot", "explain", "bench"] {
        assert!(!flag(name, "allow-path"), "{name}");
    }
    // Before the command's name, both are still taken.
    let out = nnspec(&root(), &["--max-memory", "1G", "check", "specs/xor.nn", "--max-memory", "2G"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let help = nnspec(&root(), &["plot", "--help"]).stdout;
    assert!(help.contains("SVG or PNG"), "{help}");
}

#[test]
fn check_and_run_warn_of_a_one_row_batch_under_batch_norm() {
    // 10 rows in batches of 3: the last batch of each epoch has one row.
    let spec = "model m {\n    input 2\n    dense 4\n    batch_norm relu\n    dense 1\n}\nloss mse\noptimizer sgd\n\
                data random(rows: 10, inputs: 2, seed: 1)\ntrain { epochs: 1, batch: 3 }\n";
    let s = Scratch::new("one-row", &[("m.nn", spec)]);
    for command in ["check", "run"] {
        let out = nnspec(&s.dir, &[command, "m.nn"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("the last training batch of each epoch has one row"), "{command}: {}", out.stderr);
    }
    let out = nnspec(&s.dir, &["run", "m.nn", "--set", "train.drop_last=true"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
}
