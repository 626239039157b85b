#!/usr/bin/env python3
"""How fast nnspec loads a CSV, side by side with np.loadtxt and pandas.read_csv (C engine),
measured in one run on this machine.

    cargo build --release
    python3 benches/loader.py [--repeat 3] [--threads 2] [--rows 60000] [--dir /tmp/nnspec-loader]

The file is an MNIST-sized synthetic table, written once (seeded, so every run reads the same
bytes): 60,000 rows of 784 integer pixels 0..255 and a label 0..9, with a header. Like MNIST,
about 81 % of the pixels are 0; the others are uniform in 1..255. No MNIST data is shipped.

nnspec is timed as a whole process, `nnspec check SPEC` (read, parse, split, fit and apply the
scaling: everything a run does before training) with RAYON_NUM_THREADS=--threads; NumPy and
pandas are timed in this process around the call alone (`np.loadtxt(..., dtype=float32)`,
`pd.read_csv(..., engine="c", dtype=float32)`, and pandas' default int64 parsing as well), so
the comparison favours them. With
--repeat N the fastest of N runs is kept for each (interference on a shared machine only
slows runs down). Each run's CPU time (user + system, of the nnspec process or of this one
around the call) is kept too: on a machine busy with other work, wall time measures the
machine's load as much as the loader, CPU time much less so. Prints a Markdown table with the
ratios of both. Needs numpy and pandas.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def nnspec_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "nnspec")


def write_table(path, rows, seed=0):
    """The synthetic MNIST-like CSV, written in blocks so memory stays small."""
    rng = np.random.default_rng(seed)
    header = ",".join([f"p{i}" for i in range(784)] + ["label"])
    with open(path, "w") as out:
        out.write(header + "\n")
        for start in range(0, rows, 5000):
            n = min(5000, rows - start)
            pixels = rng.integers(1, 256, size=(n, 784))
            pixels[rng.random((n, 784)) < 0.81] = 0
            labels = rng.integers(0, 10, size=(n, 1))
            block = np.hstack([pixels, labels])
            out.write("\n".join(",".join(map(str, row)) for row in block.tolist()) + "\n")


SPEC = """# The loader benchmark's spec: `nnspec check` reads the whole table.
model loader {
    input 784 minmax(0, 255)
    dense 10 softmax
}
loss cross_entropy
optimizer sgd(lr: 0.1)
data csv("mnist_synthetic.csv", target: "label", classes: 10)
train { epochs: 1 }
"""


def cpu_seconds():
    """User + system CPU time of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best_of(repeat, run):
    """The fastest of `repeat` runs: (wall seconds, CPU seconds), each the least seen."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu = cpu_seconds()
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return min(walls), min(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--dir", default="/tmp/nnspec-loader")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    csv = os.path.join(args.dir, "mnist_synthetic.csv")
    if not os.path.exists(csv) or sum(1 for _ in open(csv)) != args.rows + 1:
        print(f"writing {csv} ...", file=sys.stderr)
        write_table(csv, args.rows)
    spec = os.path.join(args.dir, "loader.nn")
    with open(spec, "w") as out:
        out.write(SPEC)
    size_mb = os.path.getsize(csv) / 1e6
    binary = nnspec_binary()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))

    def nnspec_check():
        subprocess.run([binary, "check", spec], check=True, capture_output=True, env=env)

    results = [(f"nnspec check ({args.threads} threads, whole process)", best_of(args.repeat, nnspec_check))]
    results.append(
        ("np.loadtxt", best_of(args.repeat, lambda: np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float32)))
    )
    try:
        import pandas as pd

        results.append(
            (
                "pandas.read_csv (C engine, float32)",
                best_of(args.repeat, lambda: pd.read_csv(csv, engine="c", dtype=np.float32)),
            )
        )
        # pandas' own fastest path: integers parsed as int64, no conversion.
        results.append(("pandas.read_csv (C engine, default dtypes)", best_of(args.repeat, lambda: pd.read_csv(csv, engine="c"))))
    except ImportError:
        print("pandas is not installed: skipped", file=sys.stderr)
    nnspec_wall, nnspec_cpu = results[0][1]
    print(f"{args.rows} rows x 785 columns, {size_mb:.0f} MB; fastest of {args.repeat}; load average {os.getloadavg()[0]:.1f}\n")
    print("| loader | seconds | MB/s | time / nnspec's | CPU seconds | CPU / nnspec's |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (wall, cpu) in results:
        print(
            f"| {name} | {wall:.3f} | {size_mb / wall:.0f} | {wall / nnspec_wall:.1f}x | {cpu:.3f} | {cpu / nnspec_cpu:.1f}x |"
        )


if __name__ == "__main__":
    main()
