//! Exports: the PyTorch module and training script of every bundled spec (snapshots, compiled
//! by Python where python3 exists), generated Python that stays valid and inert whatever the
//! model and file are named, and ONNX models that tract runs to nnspec's own predictions.
//! PyTorch itself is never needed here: scripts/check-torch-export.sh runs the scripts.

use std::path::Path;
use std::process::Command;

use nnspec::exec::{Params, State};
use nnspec::export;
use tract_onnx::prelude::*;

use crate::support::{Scratch, all_specs, nnspec, root};

/// The spec's path as the snapshots show it: relative to the repository.
fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

/// The spec's PyTorch module, its preprocessing fitted on the training rows (`export-torch`).
fn module_of(path: &Path) -> String {
    let spec = nnspec::Spec::load(path, &[]).unwrap();
    let parts = export::module_parts(&spec, None).unwrap_or_else(|report| panic!("{report}"));
    export::torch_module(&parts.model, &parts.preprocess, &shown(path))
}

/// The spec's training script (`export-torch --script`), finding the data in `spec_dir`.
fn script_of(path: &Path, spec_dir: &str) -> String {
    let spec = nnspec::Spec::load(path, &[]).unwrap();
    let (model, plan, preprocess) = export::script_parts(&spec).unwrap_or_else(|report| panic!("{report}"));
    export::torch_script(&model, &plan, &preprocess, &shown(path), spec_dir)
}

/// The fixture with every column kind (tests/data/export-mixed/README.md).
fn mixed() -> std::path::PathBuf {
    root().join("tests/data/export-mixed/mixed.nn")
}

/// The Python every export shares, as files in src/export/: the training script's data
/// reading, number parser and runtime (in the order the script appends them), and the
/// module's methods that read raw cells.
const SHARED_PYTHON: [&str; 4] = ["torch_data.py", "torch_number.py", "torch_runtime.py", "torch_encode.py"];

/// A generated file with each shared source it holds (whole, at most once) replaced by one
/// comment line naming it (indented as the source), and the sources it held: the part that
/// depends on the spec, which the snapshots hold.
fn spec_part(generated: &str) -> (String, Vec<&'static str>) {
    let mut out = generated.to_string();
    let mut found = Vec::new();
    for file in SHARED_PYTHON {
        let source = std::fs::read_to_string(root().join("src/export").join(file)).unwrap();
        match out.matches(&source).count() {
            0 => continue,
            1 => {}
            n => panic!("{file} is in the generated file {n} times"),
        }
        let indent = &source[..source.len() - source.trim_start().len()];
        out = out.replacen(&source, &format!("{indent}# [src/export/{file}: the same for every spec]\n"), 1);
        found.push(file);
    }
    (out, found)
}

/// Each spec's module and training script, as snapshots of their spec-specific part: the
/// script is its generated head followed by the shared data reading, number parser and
/// runtime, whole and in that order (tested once, below and by scripts/check-torch-export.sh);
/// a module that reads categories (also the one in its script) holds the shared cell reading.
#[test]
fn torch_module_and_script_of_every_spec() {
    insta::glob!("../specs", "*.nn", |path| {
        let (module, shared) = spec_part(&module_of(path));
        let encodes = module.contains("def encode(self, x):");
        let expected: &[&str] = if encodes { &["torch_number.py", "torch_encode.py"] } else { &[] };
        assert_eq!(shared, expected, "{}", path.display());
        insta::assert_snapshot!("torch_module", module);
        let (script, shared) = spec_part(&script_of(path, "specs"));
        let mut expected = vec!["torch_data.py", "torch_number.py", "torch_runtime.py"];
        expected.extend(encodes.then_some("torch_encode.py"));
        assert_eq!(shared, expected, "{}", path.display());
        let tail = "# [src/export/torch_data.py: the same for every spec]\n\n\n\
                    # [src/export/torch_number.py: the same for every spec]\n\n\n\
                    # [src/export/torch_runtime.py: the same for every spec]\n";
        assert!(script.ends_with(tail), "{}: the shared part ends the script, whole", path.display());
        insta::assert_snapshot!("torch_script", script);
    });
}

/// The modules take the width the data's columns give (penguins writes `input` alone) and
/// build the fitted encoding in: penguins' 6 raw columns become 9 slots.
#[test]
fn modules_resolve_the_width_and_carry_the_encoding() {
    let penguins = module_of(&root().join("specs/penguins.nn"));
    assert!(penguins.contains("nn.Linear(9, 16),  # layers.0"), "{penguins}");
    assert!(
        penguins.contains(r#"{"name": "island", "kind": "category", "vocabulary": ["Biscoe", "Dream", "Torgersen"]}"#)
    );
    assert!(penguins.contains(r#"labels = ["Adelie", "Chinstrap", "Gentoo"]"#));
    assert!(penguins.contains("def encode_rows(self, rows):") && penguins.contains("def float32_of(text):"));
    let script = script_of(&root().join("specs/penguins.nn"), "specs");
    assert!(script.contains("nn.Linear(9, 16),  # layers.0") && script.contains("\"input_width\": 9,"));
    assert!(script.contains("torch.zeros(9, dtype=torch.bool)"), "placeholders the script fills");
    let mixed = module_of(&mixed());
    assert!(mixed.contains(r#"{"name": "smoker", "kind": "binary", "values": ["no", "yes"]}"#), "{mixed}");
    // color: green, red, <other>, <missing>; the <other> slot's code is -1.
    assert!(mixed.contains("torch.tensor([0.0, 1.0, -1.0, float(\"nan\"),"), "{mixed}");
}

/// Whether python3 runs here; CI without Python skips the checks that need it, saying so.
fn python() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("python3 is not installed: skipping the Python checks");
    }
    found
}

/// Runs python3 with `args`, asserting that it succeeds; returns its stdout.
fn python3(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("python3").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "python3 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generated_python_compiles() {
    if !python() {
        return;
    }
    let s = Scratch::new("py-compile", &[]);
    let fixtures = root().join("tests/data/export-mixed/penguins_sex.nn");
    for path in all_specs().into_iter().chain([mixed(), fixtures]) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        std::fs::write(s.dir.join(format!("{name}_module.py")), module_of(&path)).unwrap();
        std::fs::write(s.dir.join(format!("{name}_script.py")), script_of(&path, ".")).unwrap();
        python3(&s.dir, &["-m", "py_compile", &format!("{name}_module.py"), &format!("{name}_script.py")]);
    }
}

/// What a Python file holds at its top level, and its `SPEC` table read back as a literal: a
/// generated file must hold only imports, classes, functions, assignments, the docstring and
/// the `__main__` guard, so no text from the spec can have become code.
const INSPECT: &str = r#"
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
kinds = sorted({type(node).__name__ for node in tree.body})
spec, doc = None, ast.get_docstring(tree)
for node in tree.body:
    if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["SPEC"]:
        spec = ast.literal_eval(node.value)
    if isinstance(node, ast.Expr) and node is not tree.body[0]:
        kinds.append("stray expression")
    if isinstance(node, ast.If):
        kinds.append(ast.unparse(node.test))
classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
print(json.dumps({"kinds": kinds, "spec": spec, "classes": classes, "doc": doc}))
"#;

#[test]
fn hostile_names_and_paths_give_valid_inert_python() {
    if !python() {
        return;
    }
    let xor = std::fs::read_to_string(root().join("specs/data/xor.csv")).unwrap();
    // Each: a model name, the spec's file name, the data file's name.
    let cases = [
        ("none", "a\"\"\"b.nn", "x.csv"),
        ("_", "back\\slash.nn", "d\"\"\"ata.csv"),
        ("class", "new\nline.nn", "q'uote.csv"),
        ("value_error", "\u{e9}t\u{e9} \u{1f600}.nn", "tab\there.csv"),
        ("true", "x.nn\"); import os; os.system(\"echo pwned\"); (\"", "x.csv"),
    ];
    for (i, (model, spec_name, data_name)) in cases.iter().enumerate() {
        let escaped_data = data_name.replace('\\', "\\\\").replace('"', "\\\"").replace('\t', "\\t");
        let spec = format!(
            "model {model} {{\n    input 2 standardize\n    dense 4 tanh\n    dense 1 sigmoid\n}}\nloss bce\n\
             optimizer sgd(lr: 0.5)\ndata csv(\"{escaped_data}\", target: \"y\")\ntrain {{ epochs: 2, batch: full }}\n"
        );
        let s = Scratch::new(&format!("hostile-{i}"), &[(spec_name, &spec), (data_name, &xor)]);
        let script = nnspec(&s.dir, &["export-torch", spec_name, "--script", "out.py"]);
        assert_eq!(script.code, 0, "{model}: {}", script.stderr);
        let module = nnspec(&s.dir, &["export-torch", spec_name]);
        assert_eq!(module.code, 0, "{model}: {}", module.stderr);
        std::fs::write(s.dir.join("module.py"), &module.stdout).unwrap();
        python3(&s.dir, &["-m", "py_compile", "out.py", "module.py"]);
        std::fs::write(s.dir.join("probe_ast.py"), INSPECT).unwrap();
        for file in ["out.py", "module.py"] {
            let seen: serde_json::Value = serde_json::from_str(&python3(&s.dir, &["probe_ast.py", file])).unwrap();
            let kinds: Vec<&str> = seen["kinds"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
            let allowed =
                ["Assign", "ClassDef", "Expr", "FunctionDef", "If", "Import", "ImportFrom", "__name__ == '__main__'"];
            assert!(kinds.iter().all(|k| allowed.contains(k)), "{model} {file}: {kinds:?}");
            let class = seen["classes"][0].as_str().unwrap();
            assert_eq!(class, export::python::class_name(model));
            assert!(!class.is_empty() && class != "None" && class != "True");
            if file == "out.py" {
                assert_eq!(seen["spec"]["file"], *spec_name, "the path survives as data");
                assert_eq!(seen["spec"]["data"]["path"], *data_name);
                assert_eq!(seen["spec"]["name"], *model);
                assert!(seen["doc"].as_str().unwrap().contains("Trains the nnspec model"));
            }
        }
    }
}

#[test]
fn export_commands_report_bad_input_with_exit_codes() {
    let iris = std::fs::read_to_string(root().join("specs/data/iris.csv")).unwrap();
    let spec = std::fs::read_to_string(root().join("specs/iris.nn")).unwrap().replace("data/iris.csv", "iris.csv");
    let s = Scratch::new("export-cli", &[("iris.nn", &spec), ("iris.csv", &iris), ("bad.safetensors", "not weights")]);
    let missing = nnspec(&s.dir, &["export-onnx", "iris.nn", "--weights", "none.safetensors", "--output", "m.onnx"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("none.safetensors") && !s.dir.join("m.onnx").exists());
    let bad = nnspec(&s.dir, &["export-onnx", "iris.nn", "--weights", "bad.safetensors", "--output", "m.onnx"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("not a valid safetensors file"), "{}", bad.stderr);
    let unwritable = nnspec(&s.dir, &["export-torch", "iris.nn", "--script", "no/such/dir/t.py"]);
    assert_eq!(unwritable.code, 1);
    assert!(unwritable.stderr.contains("cannot write"), "{}", unwritable.stderr);
    let both = nnspec(&s.dir, &["export-torch", "iris.nn", "--script", "t.py", "--weights", "w.safetensors"]);
    assert_eq!(both.code, 2, "usage error: {}", both.stderr);
    // The module takes its scaling from weights when given, else fits it on the training rows.
    let trained = nnspec(&s.dir, &["run", "iris.nn", "--save", "w.safetensors", "--set", "train.epochs=1", "-q"]);
    assert_eq!(trained.code, 0, "{}", trained.stderr);
    let from_weights = nnspec(&s.dir, &["export-torch", "iris.nn", "--weights", "w.safetensors"]);
    let fitted = nnspec(&s.dir, &["export-torch", "iris.nn"]);
    assert_eq!(from_weights.code, 0, "{}", from_weights.stderr);
    assert_eq!(from_weights.stdout, fitted.stdout, "the file records the scaling a run fits");
    let onnx = nnspec(&s.dir, &["export-onnx", "iris.nn", "--weights", "w.safetensors", "--output", "m.onnx"]);
    assert_eq!(onnx.code, 0, "{}", onnx.stderr);
    assert!(std::fs::metadata(s.dir.join("m.onnx")).unwrap().len() > 100);
}

/// nnspec's predictions for raw rows: scaled as `predict` scales them, through the plan in
/// inference mode, then the final activation the loss fused.
fn nnspec_predictions(
    plan: &nnspec::plan::Plan,
    params: &Params,
    raw: &nnspec::data::Dataset,
    scaler: &nnspec::data::Scaler,
) -> Vec<f32> {
    let mut rows = raw.clone();
    scaler.apply(&mut rows);
    let mut params = params.clone();
    let width = plan.buffers[plan.loss_input].width;
    let capacity = plan.batch_rows(rows.rows);
    let mut state = State::new(plan, capacity, 0);
    let all: Vec<usize> = (0..rows.rows).collect();
    let mut outputs = Vec::new();
    for batch in all.chunks(capacity) {
        state.load_batch(&rows, batch);
        state.infer(plan, &mut params);
        outputs.extend_from_slice(state.loss_input(plan));
    }
    if let Some(activation) = plan.fused {
        activation.forward_in_place(&mut outputs, width);
    }
    outputs
}

/// Every bundled spec, the export fixtures (every column kind; a binary classifier with
/// missing targets) and a spec with every other layer and activation, trained for a few epochs (so batch norm's running statistics move), saved,
/// exported as ONNX through the façade and run by tract on raw rows (each CSV file's rows as
/// their codes, one number per raw column; generated rows as they are): the outputs are
/// nnspec's own predictions within 1e-5, and `class` is nnspec's class. The CSV files include
/// missing cells, categories the training rows never had and a binary column's third value.
#[test]
fn onnx_models_run_by_tract_give_nnspec_predictions() {
    let every_layer = "model every {\n    input 5 minmax\n    dense 8 gelu\n    layer_norm elu(0.5)\n    \
        dense 8 leaky_relu(0.2) init he_normal\n    batch_norm softplus\n    dropout 0.3\n    dense 6 tanh\n    \
        dense 4 relu\n    dense 3 sigmoid\n    dense 2\n}\nloss huber\noptimizer adam(lr: 0.01)\n\
        data random(rows: 96, inputs: 5, targets: 2, seed: 3)\ntrain { epochs: 3, batch: 16, seed: 5 }\n";
    let unseen = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n\
        Adelie,Atlantis,39.1,18.7,181,3750,male,2007\n\
        Gentoo,Biscoe,NA,NA,NA,NA,unknown,2009\n\
        Chinstrap,Dream,46.5,17.9,192,3500,?,2007\n";
    let s = Scratch::new("onnx-every-layer", &[("every.nn", every_layer), ("unseen.csv", unseen)]);
    for path in all_specs() {
        let data = csv_path(&path).into_iter();
        let extra = path.ends_with("penguins.nn").then(|| s.dir.join("unseen.csv"));
        check_onnx(&path, &data.chain(extra).collect::<Vec<_>>(), &s.dir);
    }
    // The fixture's training file has rows nnspec refuses to predict (a missing `w`, which
    // drops the row): its new rows hold unseen values but no such cell.
    check_onnx(&mixed(), &[root().join("tests/data/export-mixed/mixed_new.csv")], &s.dir);
    // A binary classifier (one sigmoid output) whose target has missing cells.
    let sex = root().join("tests/data/export-mixed/penguins_sex.nn");
    check_onnx(&sex, &[root().join("specs/data/penguins.csv"), s.dir.join("unseen.csv")], &s.dir);
    check_onnx(&s.dir.join("every.nn"), &[], &s.dir);
}

/// The spec's main CSV file, if its data is one.
fn csv_path(path: &Path) -> Option<std::path::PathBuf> {
    match &nnspec::Spec::load(path, &[]).unwrap().model().data.source {
        nnspec::ir::DataSource::Csv(csv) => Some(csv.path.clone()),
        _ => None,
    }
}

/// Runs an ONNX model's bytes with tract on `rows` rows of `codes`; returns its outputs.
fn run_onnx(bytes: &[u8], rows: usize, codes: &[f32]) -> TVec<TValue> {
    let columns = codes.len() / rows;
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .and_then(|m| m.with_input_fact(0, f32::fact([rows, columns]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap_or_else(|e| panic!("tract cannot load the model: {e:?}"));
    model.run(tvec!(Tensor::from_shape(&[rows, columns], codes).unwrap().into())).unwrap()
}

/// Trains `path` for 3 epochs, saves and exports it, and compares tract's outputs on the rows
/// of `files` (or, for generated data, on the generated rows) with nnspec's predictions.
fn check_onnx(path: &Path, files: &[std::path::PathBuf], scratch: &Path) {
    let spec = nnspec::Spec::load(path, &["train.epochs=3".to_string()]).unwrap();
    let options = nnspec::RunOptions { threads: Some(2), ..nnspec::RunOptions::default() };
    let run = nnspec::run::train(&spec, &options, &mut ()).unwrap_or_else(|report| panic!("{report}"));
    let weights = scratch.join(format!("{}.safetensors", spec.model().name));
    run.save_weights(&weights).unwrap();
    let trained = nnspec::Trained::load(&spec, &weights).unwrap();
    let (bytes, warnings) = export::onnx_for(&spec, &weights).unwrap_or_else(|report| panic!("{report}"));
    assert!(warnings.is_empty());
    let mut cases = Vec::new();
    for file in files {
        let (rows, codes) = export::input_codes(&spec, &trained, file).unwrap_or_else(|report| panic!("{report}"));
        cases.push((file.display().to_string(), rows, codes, trained.read_inputs(file).unwrap()));
    }
    if files.is_empty() {
        let mut unscaled = spec.model().clone();
        unscaled.input.scaling = nnspec::ir::Scaling::None;
        let raw = nnspec::data::load(&unscaled).unwrap().dataset;
        cases.push(("generated rows".to_string(), raw.rows, raw.inputs.clone(), raw));
    }
    let plan = trained.plan();
    for (shown, rows, codes, slots) in cases {
        let at = format!("{} on {shown}", path.display());
        let expected = nnspec_predictions(plan, trained.params(), &slots, trained.scaler());
        let result = run_onnx(&bytes, rows, &codes);
        let output = result[0].to_plain_array_view::<f32>().unwrap();
        assert_eq!(output.len(), expected.len(), "{at}");
        let worst = output.iter().zip(&expected).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
        let worst_abs = output.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        // The figures, for `cargo test -- --nocapture` (the README quotes them).
        println!("tract vs nnspec, {at}: {rows} rows, max abs diff {worst_abs:.2e}, max rel diff {worst:.2e}");
        assert!(worst <= 1e-5, "{at}: ONNX and nnspec differ by {worst}");
        let first = output.iter().next().copied();
        assert!(output.iter().any(|&v| Some(v) != first), "{at}: a constant output tests nothing");
        if let Some(classes) = plan.class_count() {
            // tract may hold ArgMax's indices as its own integer type: cast them.
            let predicted = result[1].cast_to::<i64>().unwrap();
            let predicted = predicted.to_plain_array_view::<i64>().unwrap();
            let out_width = plan.output_width;
            for (row, &class) in predicted.iter().enumerate() {
                let p = &expected[row * out_width..(row + 1) * out_width];
                let probabilities = if out_width == 1 { vec![1.0 - p[0], p[0]] } else { p.to_vec() };
                assert_eq!(class as usize, nnspec::kernels::loss::argmax(&probabilities), "{at} row {row}");
                assert!((class as usize) < classes);
            }
        }
    }
}

/// What an exported model tells its caller: the raw columns and codes, the class names and
/// the whole encoding in the ONNX metadata; a row nnspec refuses (a missing cell in a `drop`
/// column) gives NaN outputs rather than a guess.
#[test]
fn onnx_metadata_and_refused_rows() {
    use prost::Message;
    let s = Scratch::new("onnx-metadata", &[]);
    for (path, input_width) in [(root().join("specs/penguins.nn"), 6), (mixed(), 6)] {
        let spec = nnspec::Spec::load(&path, &["train.epochs=2".to_string()]).unwrap();
        let run = nnspec::run::train(&spec, &nnspec::RunOptions::default(), &mut ()).unwrap();
        let weights = s.dir.join("w.safetensors");
        run.save_weights(&weights).unwrap();
        let (bytes, _) = export::onnx_for(&spec, &weights).unwrap();
        let model = export::onnx::proto::ModelProto::decode(bytes.as_slice()).unwrap();
        let meta = |key: &str| -> serde_json::Value {
            let entry = model.metadata_props.iter().find(|e| e.key.as_deref() == Some(key)).unwrap();
            serde_json::from_str(entry.value.as_deref().unwrap()).unwrap()
        };
        let inputs = meta("nnspec.inputs");
        assert_eq!(inputs["columns"].as_array().unwrap().len(), input_width);
        assert_eq!(inputs["unseen"], -1.0);
        let encoding = meta("nnspec.encoding");
        assert_eq!(encoding["format"], "nnspec-encoding-1");
        let graph = model.graph.unwrap();
        let dims = format!("{:?}", graph.input[0].r#type);
        assert!(dims.contains(&format!("DimValue({input_width})")), "{dims}");
        if path.ends_with("penguins.nn") {
            assert_eq!(meta("nnspec.labels"), serde_json::json!(["Adelie", "Chinstrap", "Gentoo"]));
            assert_eq!(inputs["columns"][0]["vocabulary"], serde_json::json!(["Biscoe", "Dream", "Torgersen"]));
            continue;
        }
        let trained = nnspec::Trained::load(&spec, &weights).unwrap();
        let new = root().join("tests/data/export-mixed/mixed_new.csv");
        let (_, codes) = export::input_codes(&spec, &trained, &new).unwrap();
        let mut row = codes[..input_width].to_vec();
        let result = run_onnx(&bytes, 1, &row);
        assert!(result[0].to_plain_array_view::<f32>().unwrap().iter().all(|v| v.is_finite()));
        row[input_width - 1] = f32::NAN; // `w`, whose missing cells drop the row
        let result = run_onnx(&bytes, 1, &row);
        assert!(result[0].to_plain_array_view::<f32>().unwrap().iter().all(|v| v.is_nan()));
    }
}

/// The generated Python reads a decimal into the float32 nnspec reads (Rust's correctly
/// rounded parse), also where Python's float64 lands exactly halfway between two float32
/// values; what nnspec does not read as a number is `None`.
#[test]
fn python_parses_numbers_to_the_same_float32() {
    if !python() {
        return;
    }
    let parser = std::fs::read_to_string(root().join("src/export/torch_number.py")).unwrap();
    let harness = format!(
        "import math, struct, sys\nfrom fractions import Fraction\n\n{parser}\n\
         for text in sys.argv[1:]:\n    value = float32_of(text)\n    \
         print('none' if value is None else struct.pack('<f', value).hex())\n"
    );
    let s = Scratch::new("python-numbers", &[("parse.py", &harness)]);
    let cases = [
        "1.0000000596046447753906250000000001", // float64: exactly 1 + 2^-24, a float32 tie
        "1.0000000596046447753906249999999999",
        "1.000000059604644775390625", // the tie itself: to even
        "0.1",
        "-2.5e-3",
        "16777217",
        "3.4028235e38",
        "3.4028236e38", // beyond the largest float32: infinite
        "1e-45",
        "7e-46",
        "-0",
        "+.5",
        "1.",
        "44.4",
        "1_0",
        "\u{0663}",
        "",
        "abc",
        "1e",
    ];
    let mut args = vec!["parse.py"];
    args.extend(cases);
    let out = python3(&s.dir, &args);
    for (case, line) in cases.iter().zip(out.lines()) {
        let expected = match case.parse::<f32>() {
            Ok(value) => value.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>(),
            Err(_) => "none".to_string(),
        };
        assert_eq!(line, expected, "{case:?}");
    }
    assert_eq!(out.lines().count(), cases.len());
}

/// The training scripts' shared runtime, tested once without PyTorch: its ChaCha8 streams
/// (several seeds and streams, across block boundaries), uniform, normal and bounded draws,
/// shuffles and `powi` give nnspec's numbers bit for bit (src/rng.rs, the schedules' powi).
#[test]
fn the_shared_runtime_draws_nnspec_random_numbers() {
    use nnspec::rng::{self, Stream};
    if !python() {
        return;
    }
    // The runtime's pure definitions, run alone (its other parts need torch and the spec).
    let harness = r#"
import ast, math, struct, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
wanted = {"MASK32", "MASK64", "ChaCha8", "f32", "powi"}
def named(node):
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
body = [node for node in tree.body if named(node) in wanted]
assert {named(node) for node in body} == wanted, "the runtime defines these once each"
space = {"math": math, "struct": struct}
exec(compile(ast.Module(body=body, type_ignores=[]), "torch_runtime.py", "exec"), space)
bits = lambda value: struct.pack("<d", value).hex()
for seed, stream in [(0, 1), (42, 2), (2**64 - 1, 4), (7, 5)]:
    rng = space["ChaCha8"](seed, stream)
    out = [bits(rng.uniform01()) for _ in range(20)]
    out += [str(rng.below(n)) for n in (1, 7, 1000, 2**40)]
    out += [bits(rng.normal()) for _ in range(3)] + [bits(rng.uniform(-0.5, 0.25))]
    items = list(range(12))
    rng.shuffle(items)
    out.append(",".join(map(str, items)))
    print(" ".join(out))
for x, n in [(0.9, 7), (0.5, 30), (1.1, 13), (0.95, 100)]:
    print(bits(space["powi"](x, n)))
"#;
    let runtime = root().join("src/export/torch_runtime.py");
    let s = Scratch::new("python-runtime", &[("draws.py", harness)]);
    let out = python3(&s.dir, &["draws.py", &runtime.display().to_string()]);
    let bits = |value: f64| value.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut expected = Vec::new();
    for (seed, stream) in [(0, Stream::Init), (42, Stream::Shuffle), (u64::MAX, Stream::Split), (7, Stream::Data)] {
        let mut r = rng::stream(seed, stream);
        let mut line: Vec<String> = (0..20).map(|_| bits(f64::from(rng::uniform01(&mut r)))).collect();
        line.extend([1, 7, 1000, 1 << 40].map(|n| rng::below(&mut r, n).to_string()));
        line.extend((0..3).map(|_| bits(rng::normal(&mut r))));
        line.push(bits(f64::from(rng::uniform(&mut r, -0.5, 0.25))));
        let mut items: Vec<usize> = (0..12).collect();
        rng::shuffle(&mut r, &mut items);
        line.push(items.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
        expected.push(line.join(" "));
    }
    for (x, n) in [(0.9f64, 7), (0.5, 30), (1.1, 13), (0.95, 100)] {
        expected.push(bits(std::hint::black_box(x).powi(std::hint::black_box(n))));
    }
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
}
