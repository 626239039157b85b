//! No input breaks nnspec: mutated specs (a small, seeded, bounded fuzzer that runs in CI),
//! randomly generated valid specs (which must check and compile), a 10 MB spec.

use nnspec::plan::CompileOptions;
use nnspec::span::Source;

use crate::support::root;

/// A deterministic xorshift generator: the tests must not depend on a crate's random output.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Parses and checks without loading data; panics are the failure this looks for.
fn check_text(text: &str) -> Result<nnspec::Spec, nnspec::Report> {
    let spec = nnspec::Spec::parse(text, "fuzz.nn", &root().join("specs"), &[])?;
    // Compiling a checked model cannot fail, and the plan text must render.
    assert!(!spec.compile(CompileOptions::default()).to_string().is_empty());
    Ok(spec)
}

#[test]
fn mutated_specs_never_panic() {
    let corpus: Vec<String> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .chain(std::fs::read_dir(root().join("tests/malformed")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let tokens = [
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        ";",
        "\n",
        "\r",
        "\"",
        "\\",
        "#",
        "-",
        "1e999",
        "0",
        "1e-50",
        "-1",
        "dense",
        "softmax",
        "input",
        "loss",
        "model",
        "train",
        "data",
        "csv",
        "random",
        "split",
        "init",
        "é",
        "\u{feff}",
        "early_stop(",
        "warmup(",
        "classes: 3",
        "batch: full",
        "9999999999999999999999",
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut text: Vec<char> = corpus[random.below(corpus.len())].chars().collect();
        for _ in 0..1 + random.below(4) {
            let at = random.below(text.len() + 1);
            match random.below(3) {
                0 => text.splice(at..at, random.pick(&tokens).chars()).for_each(drop),
                1 if at < text.len() => {
                    let end = (at + 1 + random.below(8)).min(text.len());
                    text.drain(at..end);
                }
                _ => {
                    let from = random.below(text.len().max(1));
                    let end = (from + random.below(20)).min(text.len());
                    let piece: Vec<char> = text[from..end].to_vec();
                    text.splice(at..at, piece).for_each(drop);
                }
            }
        }
        let _ = check_text(&text.into_iter().collect::<String>());
    }
}

/// A random valid spec from the language's pieces.
fn generate(random: &mut Random) -> String {
    let inputs = 1 + random.below(8);
    let mut lines = vec![format!("    input {inputs} {}", random.pick(&["", "standardize", "minmax"]))];
    for _ in 0..random.below(4) {
        let units = 1 + random.below(32);
        let activation =
            random.pick(&["", "relu", "tanh", "sigmoid", "gelu", "leaky_relu(0.2)", "elu", "softplus", "identity"]);
        let init = random.pick(&["", " init he", " init xavier_normal", " init uniform(-0.5, 0.5)", " init zeros"]);
        lines.push(format!("    dense {units} {activation}{init}"));
        match random.below(4) {
            0 => lines.push(format!("    dropout 0.{}", random.below(9))),
            1 => lines
                .push(format!("    {}", random.pick(&["batch_norm", "layer_norm", "batch_norm(momentum: 0.2) relu"]))),
            _ => {}
        }
    }
    let (last, loss, data) = match random.below(3) {
        0 => {
            let classes = 2 + random.below(5);
            (
                format!("dense {classes} softmax"),
                "cross_entropy".to_string(),
                format!("random(rows: 50, inputs: {inputs}, classes: {classes})"),
            )
        }
        1 => ("dense 1 sigmoid".into(), "bce".into(), format!("random(rows: 50, inputs: {inputs}, targets: 1)")),
        _ => {
            let targets = 1 + random.below(3);
            (
                format!("dense {targets}"),
                random.pick(&["mse", "mae", "huber(delta: 0.5)"]).into(),
                format!("random(rows: 50, inputs: {inputs}, targets: {targets})"),
            )
        }
    };
    lines.push(format!("    {last}"));
    let optimizer = random.pick(&[
        "sgd(lr: 0.1)",
        "sgd(lr: 0.05, momentum: 0.9, nesterov: true)",
        "adam(lr: 0.01, schedule: warmup(2, then: cosine(over: 10)))",
        "adamw",
        "rmsprop(lr: 0.001, clip_norm: 1)",
    ]);
    let split = random.pick(&["", " split(validation: 0.2)", " split(validation: 0.2, test: 0.2)"]);
    let early = if split.is_empty() { "" } else { random.pick(&["", ", early_stop(patience: 3)"]) };
    format!(
        "model g {{\n{}\n}}\nloss {loss}\noptimizer {optimizer}\ndata {data}{split}\ntrain {{ epochs: 3, batch: {}{early} }}\n",
        lines.join("\n"),
        random.pick(&["8", "full", "50"])
    )
}

#[test]
fn generated_valid_specs_check_compile_and_train() {
    let mut random = Random(42);
    for round in 0..200 {
        let text = generate(&mut random);
        let spec = match check_text(&text) {
            Ok(spec) => spec,
            Err(report) => panic!("generated spec {round} was refused:\n{report}\n{text}"),
        };
        // Every tenth also trains for its three epochs, without error.
        if round % 10 == 0 {
            let options = nnspec::RunOptions { threads: Some(1), ..Default::default() };
            nnspec::run::train(&spec, &options, &mut ()).unwrap_or_else(|report| panic!("{text}\n{report}"));
        }
    }
}

#[test]
fn a_ten_megabyte_spec_parses_and_checks() {
    let mut text = String::from("model big {\n    input 4\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("    dense 4 relu   # a layer, with a comment to pad the line out a little more\n");
    }
    text.push_str("    dense 1\n}\nloss mse\noptimizer sgd\ndata random(rows: 10, inputs: 4)\ntrain { epochs: 1 }\n");
    let spec = nnspec::syntax::parse(&text).expect("parses");
    let source = Source::new("big.nn", text);
    let checked = nnspec::ir::check(&spec, std::path::Path::new("."), source.text.len()).expect("checks");
    assert!(checked.model.layers.len() > 200_000);
}

/// The plan text without `# file:line` references, which formatting may shift.
fn plan_without_lines(text: &str) -> Option<String> {
    let plan = nnspec::Spec::parse(text, "f.nn", &root().join("specs"), &[])
        .ok()?
        .compile(CompileOptions::default())
        .to_string();
    Some(
        plan.lines().map(|l| l.split("  # ").next().unwrap_or(l).trim_end().to_string()).collect::<Vec<_>>().join("\n"),
    )
}

fn formatted(text: &str) -> Option<String> {
    let spec = nnspec::syntax::parse(text).ok()?;
    nnspec::syntax::format::format(&spec, &Source::new("f.nn", text.to_string()))
}

#[test]
fn fmt_is_idempotent_keeps_comments_and_the_plan() {
    let mut texts: Vec<String> = ["specs", "benches", "tests/malformed"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut random = Random(7);
    texts.extend((0..100).map(|_| generate(&mut random)));
    let mut formatted_count = 0;
    for text in &texts {
        let Some(once) = formatted(text) else { continue };
        formatted_count += 1;
        assert_eq!(formatted(&once).as_deref(), Some(once.as_str()), "fmt is idempotent:\n{text}");
        assert_eq!(plan_without_lines(&once), plan_without_lines(text), "fmt keeps the plan:\n{text}\n---\n{once}");
        let comments =
            |t: &str| t.lines().filter_map(|l| l.find('#').map(|i| l[i..].trim_end().to_string())).collect::<Vec<_>>();
        let (mut before, mut after) = (comments(text), comments(&once));
        before.sort();
        after.sort();
        assert_eq!(before, after, "every comment is kept:\n{text}");
    }
    assert!(formatted_count > 130, "most of the corpus formats: {formatted_count}");
}
