#!/usr/bin/env bash
# Checks `nnspec export-onnx` with onnxruntime, where it is installed (CI does not run this: the
# test suite runs the same models with tract). For every bundled spec with a CSV file and the
# export fixtures (tests/data/export-mixed): train, export, check the model with onnx.checker,
# make the raw rows from the model's own metadata (`nnspec.inputs`: one number per raw column,
# categories and binary values as codes), run them with onnxruntime and compare with
# `nnspec predict` on the same file (abs: |a - b|; rel: |a - b| / max(|b|, 1), as the tests hold
# tract to 1e-5); and a row with a missing cell nnspec refuses gives NaN.
# Usage: [NNSPEC=BINARY] scripts/check-onnx-export.sh    (exit 1 when a check fails)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
    echo "check-onnx-export: onnx and onnxruntime are not installed (pip install onnx onnxruntime); nothing checked"
    exit 0
fi
if [ -z "${NNSPEC:-}" ]; then
    cargo build --release --quiet
fi
nnspec="$(realpath "${NNSPEC:-${CARGO_TARGET_DIR:-target}/release/nnspec}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for case in specs/iris.nn:specs/data/iris.csv specs/digits.nn:specs/data/digits.csv \
    specs/xor.nn:specs/data/xor.csv specs/iris_petal_width.nn:specs/data/iris.csv \
    specs/penguins.nn:specs/data/penguins.csv tests/data/export-mixed/mixed.nn:tests/data/export-mixed/mixed_new.csv \
    tests/data/export-mixed/penguins_sex.nn:specs/data/penguins.csv; do
    spec="${case%%:*}"
    data="${case#*:}"
    name="$(basename "$spec" .nn)"
    "$nnspec" run "$spec" -q --save "$work/$name.safetensors"
    "$nnspec" export-onnx "$spec" --weights "$work/$name.safetensors" --output "$work/$name.onnx"
    "$nnspec" predict "$spec" --weights "$work/$name.safetensors" --input "$data" > "$work/$name.csv"
    python3 - "$work/$name.onnx" "$data" "$work/$name.csv" "$name" <<'EOF' || failed=1
import csv, json, math, sys
import numpy as np, onnx, onnxruntime

model_path, data, predicted, name = sys.argv[1:]
model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
meta = {p.key: p.value for p in model.metadata_props}
inputs = json.loads(meta["nnspec.inputs"])
markers = {v.lower() for v in inputs["na_values"]} if inputs["na_ignore_case"] else set(inputs["na_values"])

def missing(text):
    return (text.isascii() and text.lower() in markers) if inputs["na_ignore_case"] else text in markers

def number(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    return value if math.isfinite(value) else math.nan

rows = []
for record in csv.DictReader(open(data, newline="")):
    row = []
    for column in inputs["columns"]:
        text = record[column["name"]].strip()
        if column["kind"] == "number":
            row.append(number(text))
        else:
            values = column.get("vocabulary", column.get("values"))
            row.append(math.nan if missing(text) else float(values.index(text)) if text in values else -1.0)
    rows.append(row)
x = np.array(rows, dtype=np.float32)
session = onnxruntime.InferenceSession(model_path)
outputs = session.run(None, {"input": x})
expected = list(csv.DictReader(open(predicted, newline="")))
out = outputs[0].astype(np.float64)
if "nnspec.labels" in meta:
    labels = json.loads(meta["nnspec.labels"])
    if out.shape[1] == 1:
        out = np.concatenate([1 - out, out], axis=1)
    want = np.array([[float(e[f"prob_{l}"]) for l in labels] for e in expected])
    same = sum(labels[c] == e["class"] for c, e in zip(outputs[1], expected))
else:
    names = [k for k in expected[0] if k not in ("id",)]
    want = np.array([[float(e[k]) for k in names] for e in expected])
    same = None
worst_abs = float(np.max(np.abs(out - want)))
worst = float(np.max(np.abs(out - want) / np.maximum(np.abs(want), 1.0)))
# A missing cell in every column: nnspec refuses the row where a column has no fill.
nan_row = session.run(None, {"input": np.full((1, x.shape[1]), np.nan, dtype=np.float32)})[0]
verdict = "ok" if worst <= 1e-5 and same in (None, len(expected)) else "FAIL"
classes = "regression" if same is None else f"class {same}/{len(expected)}"
print(f"{name:<17} onnxruntime {onnxruntime.__version__}: {x.shape[0]:>5} rows x {x.shape[1]:>2} columns, "
      f"max abs diff {worst_abs:.2e}, rel {worst:.2e}, {classes}, all-missing row -> "
      f"{'NaN' if np.isnan(nan_row).all() else 'numbers (every column has a fill)'}  {verdict}")
sys.exit(0 if verdict == "ok" else 1)
EOF
done
if [ "$failed" -ne 0 ]; then
    echo "check-onnx-export: FAILED"
    exit 1
fi
echo "check-onnx-export: all checks passed"
