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

#[test]
fn torch_module_and_script_of_every_spec() {
    insta::glob!("../specs", "*.nn", |path| {
        insta::assert_snapshot!("torch_module", module_of(path));
        insta::assert_snapshot!("torch_script", script_of(path, "specs"));
    });
}

/// The modules take the width the data's columns give (penguins writes `input` alone) and
/// build the fitted encoding in: penguins' 6 raw columns become 9 slots.
#[test]
fn modules_resolve_the_width_and_carry_the_encoding() {
    let penguins = module_of(&root().join("specs/penguins.nn"));
    assert!(penguins.contains("nn.Linear(9, 16),  # layers.0"), "{penguins}");
    assert!(penguins.contains(r#"{"name": "island", "kind": "category", "vocabulary": ["Biscoe", "Dream", "Torgersen"]}"#));
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
    for path in all_specs().into_iter().chain([mixed()]) {
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

/// Every bundled spec, the fixture with every column kind, and a spec with every other layer
/// and activation, trained for a few epochs (so batch norm's running statistics move), saved,
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
    check_onnx(&mixed(), &[root().join("tests/data/export-mixed/new.csv")], &s.dir);
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
        let new = root().join("tests/data/export-mixed/new.csv");
        let (_, codes) = export::input_codes(&spec, &trained, &new).unwrap();
        let mut row = codes[..input_width].to_vec();
        let result = run_onnx(&bytes, 1, &row);
        assert!(result[0].to_plain_array_view::<f32>().unwrap().iter().all(|v| v.is_finite()));
        row[input_width - 1] = f32::NAN; // `w`, whose missing cells drop the row
        let result = run_onnx(&bytes, 1, &row);
        assert!(result[0].to_plain_array_view::<f32>().unwrap().iter().all(|v| v.is_nan()));
    }
}
