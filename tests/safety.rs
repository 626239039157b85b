//! What a hostile or careless spec, config or command line must not achieve: writing over an
//! input, reading outside the project, hanging on a pipe, exhausting memory, passing silently
//! wrong. Each test states the attack and what nnspec does instead.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Scratch, nnspec, root};

const XOR_CSV: &str = "x0,x1,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n";

fn spec_on(data: &str) -> String {
    format!(
        "model m {{\n    input 2\n    dense 4 tanh\n    dense 1 sigmoid\n}}\nloss bce\noptimizer sgd(lr: 0.5)\n\
         data {data}\ntrain {{ epochs: 3 }}\n"
    )
}

fn project(name: &str) -> Scratch {
    let spec = spec_on("csv(\"data/xor.csv\", target: \"y\")");
    Scratch::new(name, &[("nnspec.toml", ""), ("m.nn", &spec), ("data/xor.csv", XOR_CSV)])
}

#[test]
fn an_output_is_never_an_input_or_another_output() {
    let s = project("roles");
    let spec_before = std::fs::read(s.dir.join("m.nn")).unwrap();
    for (args, roles) in [
        (&["run", "m.nn", "--trace", "m.nn"][..], "as the trace output, but it is the spec"),
        (&["run", "m.nn", "--save", "data/xor.csv"][..], "as the weights output, but it is a data file"),
        (
            &["run", "m.nn", "--trace", "t.jsonl", "--save", "t.jsonl"][..],
            "as the weights output, but it is the trace output",
        ),
        (&["run", "m.nn", "--summary-json", "./data/../m.nn"][..], "as the summary output, but it is the spec"),
    ] {
        let out = nnspec(&s.dir, &[&["--color", "never"], args].concat());
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("error[E0009]") && out.stderr.contains(roles), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "refused before anything runs");
    }
    assert_eq!(std::fs::read(s.dir.join("m.nn")).unwrap(), spec_before);
    assert_eq!(std::fs::read_to_string(s.dir.join("data/xor.csv")).unwrap(), XOR_CSV);
    assert_eq!(nnspec(&s.dir, &["run", "m.nn", "--save", "w.safetensors"]).code, 0);
    let out = nnspec(
        &s.dir,
        &["predict", "m.nn", "--weights", "w.safetensors", "--input", "data/xor.csv", "--output", "data/xor.csv"],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("as the predictions output, but it is a data file"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(s.dir.join("data/xor.csv")).unwrap(), XOR_CSV);
}

#[test]
fn spec_paths_stay_inside_the_project_unless_allowed() {
    let outer = Scratch::new("outer", &[("secret.csv", "x0,x1,y\n1,2,3\n")]);
    let inner = outer.dir.join("project");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(inner.join("nnspec.toml"), "").unwrap();
    for (name, data) in [
        ("up.nn", "csv(\"../secret.csv\", target: \"y\")"),
        ("abs.nn", "csv(\"/etc/passwd\", target: \"y\")"),
        ("val.nn", "csv(\"ok.csv\", target: \"y\") validation(\"../secret.csv\")"),
    ] {
        std::fs::write(inner.join(name), spec_on(data)).unwrap();
        let out = nnspec(&inner, &["--color", "never", "check", name]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains("error[E0009]") && out.stderr.contains("is outside the project"), "{}", out.stderr);
        assert!(!out.stderr.contains("root:"), "nothing of the file is shown");
    }
    // A link inside the project that leads out is followed, and refused.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outer.dir.join("secret.csv"), inner.join("link.csv")).unwrap();
        std::fs::write(inner.join("link.nn"), spec_on("csv(\"link.csv\", target: \"y\")")).unwrap();
        assert_eq!(nnspec(&inner, &["check", "link.nn"]).code, 2);
    }
    // `--allow-path` widens the project to the folder named.
    let allowed = nnspec(&inner, &["--allow-path", "..", "check", "up.nn"]);
    assert_ne!(allowed.code, 2, "{}", allowed.stderr);
    assert!(!allowed.stderr.contains("E0009"));
}

#[test]
fn golden_files_are_written_only_inside_the_project_and_never_over_a_spec() {
    let s = project("bless");
    std::fs::write(s.dir.join("nnspec.toml"), "[[specs]]\nspec = \"m.nn\"\ngolden = \"../escaped.jsonl\"\n").unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "test", "--bless"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("`../escaped.jsonl` is outside the project"), "{}", out.stderr);
    assert!(!s.dir.join("../escaped.jsonl").exists());
    std::fs::write(s.dir.join("nnspec.toml"), "[[specs]]\nspec = \"m.nn\"\ngolden = \"m.nn\"\n").unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "test", "--bless"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("a golden trace, but it is a spec of the configuration"), "{}", out.stderr);
    for bad in ["tolerance = nan", "tolerance = inf", "tolerance = -1"] {
        std::fs::write(
            s.dir.join("nnspec.toml"),
            format!("[test]\n{bad}\n[[specs]]\nspec = \"m.nn\"\ngolden = \"g.jsonl\"\n"),
        )
        .unwrap();
        let out = nnspec(&s.dir, &["test"]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
    }
    std::fs::write(s.dir.join("nnspec.toml"), "[[specs]]\nspec = \"m.nn\"\ngolden = \"g.jsonl\"\n").unwrap();
    std::fs::write(s.dir.join("g.jsonl"), "null\nnull\n").unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "test"]);
    assert_eq!(out.code, 1, "a golden file of nulls does not pass: {}", out.stderr);
    assert!(out.stderr.contains("is not a trace line"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn pipes_devices_and_endless_lines_are_refused_without_hanging() {
    let s = project("fifo");
    let fifo = s.dir.join("data/pipe.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(s.dir.join("p.nn"), spec_on("csv(\"data/pipe.csv\", target: \"y\")")).unwrap();
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nnspec"))
            .args(args)
            .current_dir(&s.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A hang is the failure this looks for: nnspec answers at once or is killed here.
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("nnspec {args:?} hangs");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let out = run(&["check", "p.nn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    assert_eq!(run(&["run", "m.nn", "--init", "/dev/zero"]).status.code(), Some(1));
    std::fs::copy(s.dir.join("m.nn"), s.dir.join("spec-fifo-target.nn")).unwrap();
    let spec_fifo = s.dir.join("q.nn");
    assert!(Command::new("mkfifo").arg(&spec_fifo).status().unwrap().success());
    assert_eq!(run(&["check", "q.nn"]).status.code(), Some(1));
    // A first line of 17 MiB without a newline: refused, not read into memory whole.
    std::fs::write(s.dir.join("data/long.csv"), vec![b'x'; 17 << 20]).unwrap();
    std::fs::write(s.dir.join("l.nn"), spec_on("csv(\"data/long.csv\", target: \"y\")")).unwrap();
    let out = run(&["check", "l.nn"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // Outputs: a device or a link is not replaced.
    let out = nnspec(&s.dir, &["run", "m.nn", "--trace", "/dev/null"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}

#[test]
fn memory_is_estimated_before_anything_is_allocated() {
    // A million classes: the confusion matrix alone would need 8 TB.
    let spec = "model m {\n    input 2\n    dense 1000000 softmax\n}\nloss cross_entropy\noptimizer sgd\n\
                data random(rows: 10, inputs: 2, classes: 1000000)\ntrain { epochs: 1 }\n";
    let s = Scratch::new("classes", &[("m.nn", spec)]);
    let out = nnspec(&s.dir, &["--color", "never", "--max-memory", "4G", "run", "m.nn"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0008]"), "{}", out.stderr);
    // `ulimit -v` is honoured: E0008, not an abort.
    #[cfg(target_os = "linux")]
    {
        let big = "model m {\n    input 4096\n    dense 4096\n    dense 1\n}\nloss mse\noptimizer adam\n\
                   data random(rows: 200000, inputs: 4096)\ntrain { epochs: 1 }\n";
        std::fs::write(s.dir.join("big.nn"), big).unwrap();
        let binary = env!("CARGO_BIN_EXE_nnspec");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -v 1500000 && exec '{binary}' --color never run big.nn"))
            .current_dir(&s.dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("error[E0008]"), "{stderr}");
    }
}

#[test]
fn divergence_is_an_error_and_nothing_is_saved() {
    // Finite batch losses to the end, but weights that overflow in the last update: the old
    // run exited 0 with `val_loss inf` and saved the weights.
    let spec = "model m {\n    input 1\n    dense 1\n}\nloss mse\noptimizer sgd(lr: 1e20)\n\
                data random(rows: 64, inputs: 1, seed: 3) split(validation: 0.25)\ntrain { epochs: 2, batch: full }\n";
    let s = Scratch::new("diverge", &[("m.nn", spec)]);
    let out = nnspec(&s.dir, &["--color", "never", "run", "m.nn", "--save", "w.safetensors"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("error[E0200]: training diverged"), "{}", out.stderr);
    assert!(!s.dir.join("w.safetensors").exists());
    let number = out.stderr.lines().find(|l| l.contains("last finite batch loss")).unwrap_or("");
    assert!(number.len() < 80, "the loss is printed briefly: {number}");
}

#[test]
fn values_checked_as_the_kernels_hold_them() {
    let s = project("ranges");
    let check = |name: &str, text: String| {
        std::fs::write(s.dir.join(name), text).unwrap();
        nnspec(&s.dir, &["--color", "never", "check", name])
    };
    let base = std::fs::read_to_string(s.dir.join("m.nn")).unwrap();
    let out = check("d.nn", base.replace("dense 4 tanh", "dense 4 tanh\n    dropout 0.9999999999999"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is 1 in f32"), "{}", out.stderr);
    let out = check("e.nn", base.replace("epochs: 3", "epochs: 1e16"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("a whole number of at most 1e15"), "{}", out.stderr);
    // The target may not also be a feature, nor a header name appear twice.
    let out = check("f.nn", spec_on("csv(\"data/xor.csv\", target: \"y\", features: [\"x0\", \"y\"])"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("is both a target and a feature"), "{}", out.stderr);
    std::fs::write(s.dir.join("data/dup.csv"), "x0,x0,y\n0,0,0\n").unwrap();
    let out = check("g.nn", spec_on("csv(\"data/dup.csv\", target: \"y\")"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("names column `x0` twice"), "{}", out.stderr);
}

#[test]
fn bce_labels_are_checked_in_eval_and_named_by_their_own_file() {
    let s = project("bce-labels");
    assert_eq!(nnspec(&s.dir, &["run", "m.nn", "--save", "w.safetensors"]).code, 0);
    std::fs::write(s.dir.join("data/bad.csv"), "x0,x1,y\n0,0,0\n0,1,-3\n").unwrap();
    let out = nnspec(&s.dir, &["eval", "m.nn", "--weights", "w.safetensors", "--data", "data/bad.csv"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("data/bad.csv:3` has -3"), "{}", out.stderr);
    let spec = spec_on("csv(\"data/xor.csv\", target: \"y\") validation(\"data/bad.csv\")");
    std::fs::write(s.dir.join("v.nn"), spec).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "run", "v.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("`data/bad.csv:3` has -3"), "the validation file and its own line: {}", out.stderr);
}

#[test]
fn a_plot_of_another_format_is_refused_before_training() {
    let s = project("plot");
    let out = nnspec(&s.dir, &["run", "m.nn", "--plot", "curve.pdf"]);
    assert_eq!(out.code, 2);
    assert!(!out.stdout.contains("epoch"), "nothing trained: {}", out.stdout);
}

#[test]
fn a_hundred_thousand_layers_check_and_train() {
    // Quadratic set-up once took minutes here; linear takes about a second. A generous watchdog
    // turns a hang into a failure.
    let mut text = String::from("model deep {\n    input 4\n");
    for _ in 0..100_000 {
        text.push_str("    dense 4 relu\n");
    }
    text.push_str("    dense 1\n}\nloss mse\noptimizer sgd\ndata random(rows: 8, inputs: 4)\ntrain { epochs: 1 }\n");
    let spec = nnspec::Spec::parse(&text, "deep.nn", &root(), &[]).unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let options = nnspec::RunOptions { threads: Some(1), ..nnspec::RunOptions::default() };
        let _ = done.send(nnspec::run::train(&spec, &options, &mut ()).map(|run| run.outcome.trace.len()));
    });
    let result = finished.recv_timeout(Duration::from_secs(120)).expect("a deep model trains in linear time");
    assert_eq!(result.unwrap(), 1);
}

#[test]
fn fmt_keeps_huge_numbers_parseable_and_is_idempotent() {
    // A comment closing the block after blank lines once gained a blank line at each pass.
    let text = "model m {\n    input 2\n\n\n    dense 1 sigmoid\n   \n\n# last layer\n}\nloss bce\n\
                optimizer sgd(lr: -1e400)\n\n\ndata xor(rows: 8)\ntrain { epochs: 1 }\n\n\n";
    let s = Scratch::new("fmt", &[("m.nn", text)]);
    let path = s.dir.join("m.nn");
    assert_eq!(nnspec(&s.dir, &["fmt", "m.nn"]).code, 0);
    let once = std::fs::read_to_string(&path).unwrap();
    assert!(!once.contains("inf"), "{once}");
    assert!(nnspec::syntax::parse(&once).is_ok(), "{once}");
    assert_eq!(nnspec(&s.dir, &["fmt", "--check", "m.nn"]).code, 0, "formatting twice changes nothing:\n{once}");
    let _ = Path::new(&path);
}
