#!/usr/bin/env bash
# Checks `nnspec export-torch` against nnspec itself, where PyTorch is installed (CI does not
# run this: it needs torch). For every bundled spec and the export fixtures
# (tests/data/export-mixed: every column kind, a binary classifier with every metric):
#   - the training script fits the same column encoding and input scaling on its training
#     rows as nnspec (its --save output records them): the same vocabularies, fills and
#     float32 statistics, exactly;
#   - the module (`export-torch SPEC --weights W`) applied to the raw rows of the data file
#     (through its `encode_rows` where it reads categories) gives `nnspec predict`'s outputs
#     within 1e-5 (|a - b| / max(|b|, 1)) and its classes;
# and for every spec without dropout:
#   - from the same weights (`--init`), with shuffling off and on, the one-process script's
#     trace agrees with `nnspec run`'s on every epoch's loss within the tolerance (relative);
#   - from the spec's own seeded initialisation (no `--init`) likewise;
#   - `torchrun --nproc_per_node 2` (DistributedDataParallel, gloo) likewise;
#   - nnspec reads the weights the script saved.
# The tolerance is 1e-5 for every optimizer: Adam, AdamW and RMSprop take `1 - beta` in f64,
# then rounded, as PyTorch does (penguins, Adam over 60 epochs, agrees within 3.5e-6).
# Specs with dropout are trained by the script as one and two processes and compared by their
# final metrics only (PyTorch draws its own dropout masks).
# Usage: [NNSPEC=BINARY] scripts/check-torch-export.sh [TOLERANCE]
# (exit 1 when a check fails)
set -euo pipefail
cd "$(dirname "$0")/.."
tolerance="${1:-1e-5}"
if ! python3 -c "import torch" 2>/dev/null; then
    echo "check-torch-export: PyTorch is not installed (pip install torch); nothing checked"
    exit 0
fi
# NNSPEC=path/to/nnspec checks that binary instead of building one.
if [ -z "${NNSPEC:-}" ]; then
    cargo build --release --quiet
fi
nnspec="$(realpath "${NNSPEC:-${CARGO_TARGET_DIR:-target}/release/nnspec}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Small models: one thread per process avoids torch's thread pool spinning (torchrun sets it too).
export OMP_NUM_THREADS=1
echo "torch $(python3 -c 'import torch; print(torch.__version__)'), tolerance $tolerance: relative, per epoch"
failed=0

# compare NNSPEC_TRACE SCRIPT_TRACE LABEL TOLERANCE [report-only]: the worst relative difference per key.
compare() {
    python3 - "$1" "$2" "$3" "$4" "${5:-}" <<'EOF' || failed=1
import json, sys
nn_path, py_path, label, tolerance, report_only = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
a = [json.loads(line) for line in open(nn_path)]
b = [json.loads(line) for line in open(py_path)]
if report_only:
    last_a, last_b = a[-1], b[-1]
    keys = [k for k in last_a if k not in ("epoch", "step", "lr", "elapsed_s") and k in last_b]
    shown = ", ".join(f"{k} {last_a[k]:.4f}/{last_b[k]:.4f}" for k in keys)
    print(f"  {label:<44} epochs {last_a['epoch']}/{last_b['epoch']} (nnspec/torch): {shown}")
    sys.exit(0)
if [x["epoch"] for x in a] != [y["epoch"] for y in b]:
    print(f"  {label:<44} FAIL: different epochs logged ({len(a)} and {len(b)} lines)")
    sys.exit(1)
worst = {}
for x, y in zip(a, b):
    if list(x) != list(y):
        print(f"  {label:<44} FAIL: epoch {x['epoch']} has keys {list(y)} in the script's trace, {list(x)} in nnspec's")
        sys.exit(1)
    for key, value in x.items():
        if key == "elapsed_s":
            continue
        d = abs(value - y[key]) / max(abs(value), 1e-12)
        if d >= worst.get(key, (-1.0, 0))[0]:
            worst[key] = (d, x["epoch"])
loss, epoch = worst["loss"]
others = max((d for k, (d, _) in worst.items() if k != "loss"), default=0.0)
verdict = "ok" if loss <= tolerance else "FAIL"
print(f"  {label:<44} {len(a):>5} epochs  loss max rel diff {loss:.2e} (epoch {epoch}), other keys {others:.2e}  {verdict}")
sys.exit(0 if verdict == "ok" else 1)
EOF
}

# same_encoding NNSPEC_WEIGHTS SCRIPT_WEIGHTS: both files record the same fitted encoding.
same_encoding() {
    python3 - "$1" "$2" <<'EOF' || failed=1
import json, struct, sys

def encoding(path):
    blob = open(path, "rb").read()
    header = json.loads(blob[8:8 + struct.unpack("<Q", blob[:8])[0]])
    return json.loads(header["__metadata__"]["nnspec.encoding"])

def as_f32(value):
    """Numbers as the float32 they stand for (nnspec writes the shortest form, Python the float64 one)."""
    if isinstance(value, float):
        return struct.unpack("<f", struct.pack("<f", value))[0]
    if isinstance(value, list):
        return [as_f32(v) for v in value]
    if isinstance(value, dict):
        return {k: as_f32(v) for k, v in value.items()}
    return value

a, b = as_f32(encoding(sys.argv[1])), as_f32(encoding(sys.argv[2]))
slots = sum(len(f["slots"]) for f in a["features"])
if a != b:
    print(f"  {'the script fits the same encoding':<44} FAIL:\n    nnspec: {json.dumps(a)}\n    script: {json.dumps(b)}")
    sys.exit(1)
print(f"  {'the script fits the same encoding':<44} {len(a['features'])} columns, {slots} slots, identical  ok")
EOF
}

# same_predictions SPEC WEIGHTS DATA: the module's outputs on the raw rows of DATA are nnspec
# predict's (abs: |a - b|; rel: |a - b| / max(|b|, 1)), and so are its classes.
same_predictions() {
    "$nnspec" export-torch "$1" --weights "$2" > "$dir/module.py"
    "$nnspec" predict "$1" --weights "$2" --input "$3" > "$dir/predicted.csv"
    python3 - "$dir/module.py" "$2" "$3" "$dir/predicted.csv" <<'EOF' || failed=1
import csv, importlib.util, json, struct, sys
import torch

module_path, weights, data, predicted = sys.argv[1:]
spec = importlib.util.spec_from_file_location("exported", module_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module) and v is not torch.nn.Module]
model = classes[0]()
blob = open(weights, "rb").read()
size = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + size])
encoding = json.loads(header["__metadata__"]["nnspec.encoding"])
state = {}
for name, info in header.items():
    if name != "__metadata__" and info["dtype"] == "F32":
        start, end = info["data_offsets"]
        values = struct.unpack(f"<{(end - start) // 4}f", blob[8 + size + start:8 + size + end])
        state[name] = torch.tensor(values).reshape(info["shape"])
model.load_state_dict(state, strict=False)
model.eval()
rows = list(csv.DictReader(open(data, newline="")))
if hasattr(model, "encode_rows"):
    x, how = model.encode_rows(rows), "encode_rows"
else:
    # Plain number columns: a raw row is the feature cells as they are.
    names = [f["column"] for f in encoding["features"]]
    x, how = torch.tensor([[float(r[n]) for n in names] for r in rows], dtype=torch.float32), "plain rows"
with torch.no_grad():
    out = model(x).double()
expected = list(csv.DictReader(open(predicted, newline="")))
if "class" in expected[0]:
    # A classifier: predict prints the class and one probability per class, in output order.
    if out.shape[1] == 1:
        out = torch.cat([1 - out, out], dim=1)
    names = [k[len("prob_"):] for k in expected[0] if k.startswith("prob_")]
    want = torch.tensor([[float(e[f"prob_{n}"]) for n in names] for e in expected], dtype=torch.float64)
    same = sum(e["class"] == names[int(out[i].argmax())] for i, e in enumerate(expected))
    classes = f"class {same}/{len(expected)}"
else:
    want = torch.tensor([[float(e[n]) for n in encoding["target"]["columns"]] for e in expected], dtype=torch.float64)
    same, classes = len(expected), "regression"
diff = (out - want).abs()
worst_abs, worst = diff.max().item(), (diff / want.abs().clamp(min=1.0)).max().item()
verdict = "ok" if worst <= 1e-5 and same == len(expected) else "FAIL"
label = f"module on raw rows ({how})"
print(f"  {label:<44} {len(rows)} rows, max abs diff {worst_abs:.2e}, rel {worst:.2e}, {classes}  {verdict}")
sys.exit(0 if verdict == "ok" else 1)
EOF
}

for spec in specs/*.nn tests/data/export-mixed/*.nn; do
    name="$(basename "$spec" .nn)"
    dir="$work/$name"
    mkdir -p "$dir"
    data="$(python3 -c 'import re, sys, os; m = re.search(r"csv\(\"([^\"]+)\"", open(sys.argv[1]).read()); print(os.path.join(os.path.dirname(sys.argv[1]), m.group(1)) if m else "")' "$spec")"
    limit="$tolerance"
    if grep -q '^\s*dropout' "$spec"; then
        echo "$name (dropout: PyTorch's masks, final metrics only)"
        "$nnspec" run "$spec" -q --trace "$dir/nn.jsonl" --save "$dir/nn.safetensors"
        "$nnspec" export-torch "$spec" --script "$dir/train.py"
        python3 "$dir/train.py" --trace "$dir/py.jsonl" --save "$dir/py.safetensors" > /dev/null
        compare "$dir/nn.jsonl" "$dir/py.jsonl" "python, seeded init" "$limit" report
        same_encoding "$dir/nn.safetensors" "$dir/py.safetensors"
        torchrun --nproc_per_node 2 "$dir/train.py" --trace "$dir/ddp.jsonl" > "$dir/ddp.log" 2>&1 \
            || { cat "$dir/ddp.log"; failed=1; }
        compare "$dir/nn.jsonl" "$dir/ddp.jsonl" "torchrun x2, seeded init" "$limit" report
        "$nnspec" eval "$spec" --weights "$dir/py.safetensors" --data "$data" --json > /dev/null 2>&1 \
            || [ -z "$data" ] || { echo "  nnspec eval failed"; failed=1; }
        if [ -n "$data" ]; then
            same_predictions "$spec" "$dir/nn.safetensors" "$data"
        fi
        continue
    fi
    echo "$name"
    # Any weights will do as a common start: those after one epoch of nnspec.
    "$nnspec" run "$spec" -q --set train.epochs=1 --save "$dir/init.safetensors"
    for shuffle in false true; do
        sets=(--set train.log_every=1 --set "train.shuffle=$shuffle")
        "$nnspec" run "$spec" -q "${sets[@]}" --init "$dir/init.safetensors" --trace "$dir/nn-$shuffle.jsonl" \
            --save "$dir/nn-$shuffle.safetensors"
        "$nnspec" export-torch "$spec" "${sets[@]}" --script "$dir/train-$shuffle.py"
        python3 "$dir/train-$shuffle.py" --init "$dir/init.safetensors" --trace "$dir/py-$shuffle.jsonl" \
            --save "$dir/py-$shuffle.safetensors" > /dev/null
        compare "$dir/nn-$shuffle.jsonl" "$dir/py-$shuffle.jsonl" "python, --init, shuffle $shuffle" "$limit"
    done
    same_encoding "$dir/nn-true.safetensors" "$dir/py-true.safetensors"
    torchrun --nproc_per_node 2 "$dir/train-true.py" --init "$dir/init.safetensors" --trace "$dir/ddp.jsonl" \
        > "$dir/ddp.log" 2>&1 || { cat "$dir/ddp.log"; failed=1; }
    compare "$dir/nn-true.jsonl" "$dir/ddp.jsonl" "torchrun x2 (gloo), --init, shuffle true" "$limit"
    "$nnspec" run "$spec" -q --set train.log_every=1 --trace "$dir/nn-seeded.jsonl"
    python3 "$dir/train-true.py" --trace "$dir/py-seeded.jsonl" > /dev/null
    compare "$dir/nn-seeded.jsonl" "$dir/py-seeded.jsonl" "python, seeded init (no --init)" "$limit"
    # nnspec reads the weights the script saved.
    "$nnspec" run "$spec" -q --init "$dir/py-true.safetensors" --set train.epochs=1 \
        && echo "  nnspec run --init reads the script's --save output: ok" \
        || { echo "  nnspec run --init on the script's weights: FAIL"; failed=1; }
    # New rows where a fixture has them (mixed_new.csv: unseen values), else the training file.
    new="${spec%.nn}_new.csv"
    [ -f "$new" ] || new="$data"
    if [ -n "$new" ]; then
        same_predictions "$spec" "$dir/nn-true.safetensors" "$new"
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "check-torch-export: FAILED"
    exit 1
fi
echo "check-torch-export: all checks passed"
