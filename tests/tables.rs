//! Real tables through the binary: text labels, categories, missing cells, id columns,
//! delimiters and gzip; labels and encodings through `--save`, `predict` and `eval`; the
//! classification metrics in the trace and early stopping on them.

use std::io::Write;

use crate::support::{Scratch, nnspec};

/// Two islands, a sex with a missing cell, a number with missing cells, an id, text labels.
const ANIMALS: &str = "\
id,island,sex,weight,species
a1,north,m,10,cat
a2,north,f,11,cat
a3,south,m,30,dog
a4,south,NA,31,dog
a5,north,f,NA,cat
a6,south,m,29,dog
a7,north,m,9,cat
a8,south,f,32,dog
a9,north,f,12,cat
a10,south,m,NA,dog
";

fn spec(data: &str) -> String {
    format!(
        "model m {{\n    input standardize\n    dense 8 tanh\n    dense 2 softmax\n}}\nloss cross_entropy\n\
         optimizer adam(lr: 0.05)\n{data}\ntrain {{ epochs: 60, batch: 4, seed: 3 }}\n"
    )
}

const DATA: &str = "data csv(\"animals.csv\", target: \"species\", classes: auto, columns: [category([\"island\", \"sex\"]), \
                    number(\"weight\", missing: mean, indicator: true), id(\"id\")])";

#[test]
fn text_labels_round_trip_through_save_predict_and_eval() {
    let s = Scratch::new("labels", &[("a.nn", &spec(DATA)), ("animals.csv", ANIMALS)]);
    let out = nnspec(&s.dir, &["run", "a.nn", "--save", "w.safetensors"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("input (standardized)                     6"), "2 + 2 + 2 slots: {}", out.stdout);
    // Predictions name the classes and carry the id; an island never seen in training and a
    // missing weight are encoded, not refused.
    let new_rows = "id,island,sex,weight\nz1,west,m,10\nz2,south,f,NA\nz3,north,?,30\n";
    std::fs::write(s.dir.join("new.csv"), new_rows).unwrap();
    let out = nnspec(&s.dir, &["predict", "a.nn", "--weights", "w.safetensors", "--input", "new.csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "id,class,prob_cat,prob_dog");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("z1,cat,"), "a light animal is a cat: {}", lines[1]);
    assert!(lines[3].starts_with("z3,dog,"), "a heavy one a dog: {}", lines[3]);
    // Eval reads the labels back and reports the per-class metrics.
    let out = nnspec(&s.dir, &["eval", "a.nn", "--weights", "w.safetensors", "--data", "animals.csv", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["rows"], 10);
    assert_eq!(report["metrics"]["accuracy"], 1.0);
    assert_eq!(report["metrics"]["f1"], 1.0);
    assert_eq!(report["metrics"]["auc"], 1.0, "two classes: ROC AUC");
    assert_eq!(report["confusion"]["labels"], serde_json::json!(["cat", "dog"]));
    assert_eq!(report["classes"]["support"], serde_json::json!([5, 5]));
    // A label the model never learned is an error naming the row.
    std::fs::write(s.dir.join("bad.csv"), "id,island,sex,weight,species\nb1,north,m,10,cow\n").unwrap();
    let out = nnspec(&s.dir, &["eval", "a.nn", "--weights", "w.safetensors", "--data", "bad.csv"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("`bad.csv:2`, column 5 (`species`): the value (3 characters of text) is not one of the classes"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_shows_the_fitted_columns() {
    let s = Scratch::new("columns", &[("a.nn", &spec(DATA)), ("animals.csv", ANIMALS)]);
    let out = nnspec(&s.dir, &["check", "a.nn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The mean of the 8 known weights: (10+11+30+31+29+9+32+12) / 8 = 20.5.
    assert!(out.stdout.contains("columns (6 input slots):"), "{}", out.stdout);
    assert!(
        out.stdout.contains("island                  category     2  north, south; missing: zeros"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("weight                  number       2  missing: mean 20.5;"), "{}", out.stdout);
    assert!(out.stdout.contains("target species: classes cat, dog"), "{}", out.stdout);
    assert!(out.stdout.contains("ids: id"), "{}", out.stdout);
    // A width written by hand is checked against the columns.
    let wrong = spec(DATA).replace("input standardize", "input 5 standardize");
    std::fs::write(s.dir.join("w.nn"), wrong).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "check", "w.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("give 6 input slot(s) but the model's input is 5"), "{}", out.stderr);
    assert!(out.stderr.contains("slots per column: island 2, sex 2, weight 2"), "{}", out.stderr);
}

#[test]
fn a_missing_cell_without_a_strategy_names_its_row_and_column() {
    let data = "data csv(\"animals.csv\", target: \"species\", classes: auto, columns: [category([\"island\", \"sex\"]), id(\"id\")])";
    let s = Scratch::new("missing", &[("a.nn", &spec(data)), ("animals.csv", ANIMALS)]);
    let out = nnspec(&s.dir, &["--color", "never", "run", "a.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("`animals.csv:6`, column 4 (`weight`): the value is missing"), "{}", out.stderr);
    assert!(out.stderr.contains("number(\"weight\", missing: mean)"), "{}", out.stderr);
    // `drop` leaves those rows out instead: 8 of 10 remain.
    let dropped = data.replace("id(\"id\")", "id(\"id\"), number(\"weight\", missing: drop)");
    std::fs::write(s.dir.join("d.nn"), spec(&dropped)).unwrap();
    let out = nnspec(&s.dir, &["check", "d.nn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("weight                  number       1  missing: drop"), "{}", out.stdout);
    let out = nnspec(&s.dir, &["run", "d.nn"]);
    assert!(
        out.stdout.contains("rows: 8 train (2 left out: a missing target or a missing `drop` cell)"),
        "{}",
        out.stdout
    );
}

/// The same table as `,`, `;`, tab and `|` separated and gzip-compressed files gives the same
/// trace; a delimiter given wrongly is named in the error.
#[test]
fn delimiters_and_gzip_give_the_same_rows() {
    let with = |delimiter: &str| ANIMALS.replace(',', delimiter);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ANIMALS.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let s = Scratch::new(
        "delimiters",
        &[("comma.csv", &with(",")), ("semi.csv", &with(";")), ("tab.tsv", &with("\t")), ("pipe.csv", &with("|"))],
    );
    std::fs::write(s.dir.join("gz.csv.gz"), gz).unwrap();
    let trace = |file: &str| {
        let spec = spec(&DATA.replace("animals.csv", file));
        std::fs::write(s.dir.join("t.nn"), spec).unwrap();
        let out = nnspec(&s.dir, &["run", "t.nn", "--trace", "t.jsonl"]);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        let text = std::fs::read_to_string(s.dir.join("t.jsonl")).unwrap();
        text.lines().map(|l| l.split(",\"elapsed_s\"").next().unwrap().to_string()).collect::<Vec<_>>()
    };
    let reference = trace("comma.csv");
    for file in ["semi.csv", "tab.tsv", "pipe.csv", "gz.csv.gz"] {
        assert_eq!(trace(file), reference, "{file}");
    }
    let forced = spec(&DATA.replace("\"animals.csv\", ", "\"semi.csv\", delimiter: \",\", "));
    std::fs::write(s.dir.join("f.nn"), forced).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "check", "f.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("the header was read as one column, split at `,`"), "{}", out.stderr);
    assert!(out.stderr.contains("the file seems separated by `;`: write `delimiter: \";\"`"), "{}", out.stderr);
}

#[test]
fn quoted_fields_keep_their_commas() {
    let csv = "name,size,label\n\"Smith, J.\",1,small\n\"O\"\"Neil\",5,big\n\"Lee, K.\",2,small\nRay,6,big\n";
    let data = "data csv(\"q.csv\", target: \"label\", classes: [\"small\", \"big\"], columns: [id(\"name\")])";
    let s = Scratch::new("quoted", &[("q.nn", &spec(data)), ("q.csv", csv)]);
    assert_eq!(nnspec(&s.dir, &["run", "q.nn", "--save", "w.safetensors"]).code, 0);
    let out = nnspec(&s.dir, &["predict", "q.nn", "--weights", "w.safetensors", "--input", "q.csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "name,class,prob_small,prob_big", "listed classes keep their order");
    assert!(lines[1].starts_with("\"Smith, J.\","), "{}", lines[1]);
    assert!(lines[2].starts_with("\"O\"\"Neil\","), "{}", lines[2]);
}

#[test]
fn classification_metrics_in_the_trace_and_early_stopping_on_them() {
    let train = "train { epochs: 30, batch: 4, seed: 3, metrics: [precision, recall, f1, auc], early_stop(monitor: val_f1, patience: 5) }";
    let text = spec(DATA).replace("train { epochs: 60, batch: 4, seed: 3 }", train);
    let text = text.replace("id(\"id\")])", "id(\"id\")]) split(validation: 0.4)");
    let s = Scratch::new("metrics", &[("m.nn", &text), ("animals.csv", ANIMALS)]);
    let out = nnspec(&s.dir, &["run", "m.nn", "--trace", "t.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(s.dir.join("t.jsonl")).unwrap().lines().next().unwrap()).unwrap();
    for key in ["val_precision", "val_recall", "val_f1", "val_auc"] {
        let value = first[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&value), "{key}: {first}");
    }
    assert!(first.get("precision").is_none(), "training rows get no confusion-based metrics");
    // val_f1 reaches 1 and cannot improve: early stopping ends the run after 5 more epochs.
    assert!(out.stdout.contains("stopped early"), "{}", out.stdout);
    // A regression monitor on a classifier is refused before training.
    let bad = text.replace("monitor: val_f1", "monitor: val_mae");
    std::fs::write(s.dir.join("bad.nn"), bad).unwrap();
    let out = nnspec(&s.dir, &["--color", "never", "check", "bad.nn"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`val_mae` needs a regression loss"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn pipes_are_refused() {
    let s = Scratch::new("fifo", &[("a.nn", &spec(DATA))]);
    let fifo = s.dir.join("animals.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|status| status.success()) {
        return; // no mkfifo on this machine
    }
    let out = nnspec(&s.dir, &["--color", "never", "check", "a.nn"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}

/// With `min_delta: 1` no epoch after the first improves, so with `patience: 1` the rate
/// halves after every second bad epoch: epochs 1-3 at 0.05, 4-5 at 0.025, 6-7 at 0.0125.
#[test]
fn reduce_lr_on_plateau_lowers_the_rate_in_the_trace() {
    let train =
        "train { epochs: 7, batch: 4, seed: 3, reduce_lr(monitor: val_loss, factor: 0.5, patience: 1, min_delta: 1) }";
    let text = spec(DATA).replace("train { epochs: 60, batch: 4, seed: 3 }", train);
    let text = text.replace("id(\"id\")])", "id(\"id\")]) split(validation: 0.4)");
    let s = Scratch::new("plateau", &[("p.nn", &text), ("animals.csv", ANIMALS)]);
    let out = nnspec(&s.dir, &["run", "p.nn", "--trace", "t.jsonl"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rates: Vec<f64> = std::fs::read_to_string(s.dir.join("t.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, [0.05, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]);
}
