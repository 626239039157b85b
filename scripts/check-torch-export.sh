#!/usr/bin/env bash
# Checks `nnspec export-torch --script` against nnspec itself, where PyTorch is installed (CI
# does not run this: it needs torch). For every bundled spec without dropout:
#   - from the same weights (`--init`), with shuffling off and on, the one-process script's
#     trace agrees with `nnspec run`'s within 1e-5 relative on every epoch's loss;
#   - from the spec's own seeded initialisation (no `--init`) likewise;
#   - `torchrun --nproc_per_node 2` (DistributedDataParallel, gloo) likewise;
#   - nnspec's eval reads the weights the script saved.
# Specs with dropout are trained by the script as one and two processes and compared by their
# final metrics only (PyTorch draws its own dropout masks).
# Usage: [NNSPEC=BINARY] scripts/check-torch-export.sh [TOLERANCE]    (exit 1 when a check fails)
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
nnspec="${NNSPEC:-${CARGO_TARGET_DIR:-target}/release/nnspec}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Small models: one thread per process avoids torch's thread pool spinning (torchrun sets it too).
export OMP_NUM_THREADS=1
echo "torch $(python3 -c 'import torch; print(torch.__version__)'), tolerance $tolerance (relative, per epoch)"
failed=0

# compare NNSPEC_TRACE SCRIPT_TRACE LABEL [report-only]: the worst relative difference per key.
compare() {
    python3 - "$1" "$2" "$3" "$tolerance" "${4:-}" <<'EOF' || failed=1
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
    for key, value in x.items():
        if key == "elapsed_s":
            continue
        if key not in y:
            print(f"  {label:<44} FAIL: epoch {x['epoch']} has no {key} in the script's trace")
            sys.exit(1)
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

for spec in specs/*.nn; do
    name="$(basename "$spec" .nn)"
    dir="$work/$name"
    mkdir -p "$dir"
    if grep -q '^\s*dropout' "$spec"; then
        echo "$name (dropout: PyTorch's masks, final metrics only)"
        "$nnspec" run "$spec" -q --trace "$dir/nn.jsonl"
        "$nnspec" export-torch "$spec" --script "$dir/train.py"
        python3 "$dir/train.py" --trace "$dir/py.jsonl" --save "$dir/py.safetensors" > /dev/null
        compare "$dir/nn.jsonl" "$dir/py.jsonl" "python, seeded init" report
        torchrun --nproc_per_node 2 "$dir/train.py" --trace "$dir/ddp.jsonl" > "$dir/ddp.log" 2>&1 \
            || { cat "$dir/ddp.log"; failed=1; }
        compare "$dir/nn.jsonl" "$dir/ddp.jsonl" "torchrun x2, seeded init" report
        "$nnspec" eval "$spec" --weights "$dir/py.safetensors" --data "$(dirname "$spec")/data/$name.csv" --json \
            > /dev/null 2>&1 || [ ! -f "$(dirname "$spec")/data/$name.csv" ] || { echo "  nnspec eval failed"; failed=1; }
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
        compare "$dir/nn-$shuffle.jsonl" "$dir/py-$shuffle.jsonl" "python, --init, shuffle $shuffle"
    done
    torchrun --nproc_per_node 2 "$dir/train-true.py" --init "$dir/init.safetensors" --trace "$dir/ddp.jsonl" \
        > "$dir/ddp.log" 2>&1 || { cat "$dir/ddp.log"; failed=1; }
    compare "$dir/nn-true.jsonl" "$dir/ddp.jsonl" "torchrun x2 (gloo), --init, shuffle true"
    "$nnspec" run "$spec" -q --set train.log_every=1 --trace "$dir/nn-seeded.jsonl"
    python3 "$dir/train-true.py" --trace "$dir/py-seeded.jsonl" > /dev/null
    compare "$dir/nn-seeded.jsonl" "$dir/py-seeded.jsonl" "python, seeded init (no --init)"
    # nnspec reads the weights the script saved.
    "$nnspec" run "$spec" -q --init "$dir/py-true.safetensors" --set train.epochs=1 \
        && echo "  nnspec run --init reads the script's --save output: ok" \
        || { echo "  nnspec run --init on the script's weights: FAIL"; failed=1; }
done
if [ "$failed" -ne 0 ]; then
    echo "check-torch-export: FAILED"
    exit 1
fi
echo "check-torch-export: all checks passed"
