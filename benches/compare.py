#!/usr/bin/env python3
"""Side-by-side speed of nnspec, NumPy and PyTorch on the four workloads of
../shared/bench/workloads.py, measured in one run on this machine.

    cargo build --release
    python3 benches/compare.py [--repeat 3] [--workloads W0 W1 W2 W3] [--json out.jsonl]

Every configuration runs as its own process under /usr/bin/time -v, which gives its peak
resident memory (RSS) and whole-process wall time. Throughput is each system's own
steady-state samples/s (same timing rules for all three); with --repeat N the fastest of
N runs is kept for every system (interference on a shared machine only slows runs down). Prints a Markdown table with the ratios nnspec / best peer. Needs numpy,
threadpoolctl and torch for the peers (pip install numpy threadpoolctl torch); a missing
peer is reported and skipped.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(ROOT, "..", "shared", "bench")
NNSPEC = os.path.join(ROOT, "target", "release", "nnspec")
SPECS = {"W0": "w0_seed.nn", "W1": "w1_xor.nn", "W2": "w2_mnist.nn", "W3": "w3_wide.nn"}


def timed(cmd, env=None):
    """Runs cmd under /usr/bin/time -v; returns (stdout, peak RSS in MiB, wall seconds).
    The wall time is read with perf_counter around the run: /usr/bin/time rounds to 10 ms."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return proc.stdout, rss_kib / 1024, wall


def run_system(system, workload, threads):
    if system == "nnspec":
        cmd = [NNSPEC, "bench", os.path.join("benches", SPECS[workload]), "--threads", str(threads)]
        env = None
    else:
        script = {"numpy": "numpy_mlp.py", "torch": "torch_mlp.py"}[system]
        cmd = [sys.executable, os.path.join(PEERS, script), "--workload", workload, "--threads", str(threads)]
        env = dict(os.environ)
        # As the peer README says: current NumPy wheels run slower with these set.
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    out, rss, wall = timed(cmd, env)
    line = json.loads(out.strip().splitlines()[-1])
    line["peak_rss_mib"] = rss
    line["process_wall_s_measured"] = wall
    return line


def best_run(system, workload, threads, repeat):
    """The fastest of `repeat` runs: on a shared machine, interference only ever slows a run
    down, so the best run is the least disturbed one. Every system gets the same treatment."""
    runs = [run_system(system, workload, threads) for _ in range(repeat)]
    return max(runs, key=lambda r: r["steady_samples_per_s"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workloads", nargs="+", default=list(SPECS))
    ap.add_argument("--systems", nargs="+", default=["nnspec", "numpy", "torch"])
    ap.add_argument("--json", help="also write every result as JSON lines here")
    a = ap.parse_args()
    results = {}
    for workload in a.workloads:
        for threads in (1, 2):
            for system in a.systems:
                try:
                    results[(workload, threads, system)] = best_run(system, workload, threads, a.repeat)
                except Exception as error:  # a missing peer must not hide the others
                    print(f"# {system} {workload} {threads}t skipped: {error}".splitlines()[0], file=sys.stderr)
    if a.json:
        with open(a.json, "w") as out:
            for (workload, threads, system), r in sorted(results.items()):
                out.write(json.dumps(dict(r, workload=workload, threads=threads, system=system)) + "\n")

    def sps(key):
        r = results.get(key)
        return r["steady_samples_per_s"] if r else None

    print("| W | threads | nnspec samples/s | NumPy samples/s | PyTorch samples/s | nnspec / NumPy | nnspec / PyTorch | nnspec peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in a.workloads:
        for threads in (1, 2):
            n, p, t = (sps((workload, threads, s)) for s in ("nnspec", "numpy", "torch"))
            rss = results.get((workload, threads, "nnspec"), {}).get("peak_rss_mib")
            fmt = lambda v: f"{v:,.0f}" if v else "-"
            ratio = lambda x, y: f"{x / y:.2f}x" if x and y else "-"
            print(f"| {workload} | {threads} | {fmt(n)} | {fmt(p)} | {fmt(t)} | {ratio(n, p)} | {ratio(n, t)} | {fmt(rss)} |")
    print()
    for workload in a.workloads:
        one, two = sps((workload, 1, "nnspec")), sps((workload, 2, "nnspec"))
        if one and two:
            print(f"- {workload}: nnspec 2 threads / 1 thread = {two / one:.2f}x")
    w0 = {s: results.get(("W0", 1, s)) for s in ("nnspec", "numpy", "torch")}
    if w0["nnspec"] and w0["numpy"]:
        n, p = w0["nnspec"], w0["numpy"]
        print(f"- W0 1000 epochs (train_wall_s): nnspec {n['train_wall_s'] * 1e3:.2f} ms, NumPy {p['train_wall_s'] * 1e3:.2f} ms"
              f" ({p['train_wall_s'] / n['train_wall_s']:.1f}x)")
        # The whole `nnspec run` process (printing its summary and epochs), best of 5.
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([NNSPEC, "run", "benches/w0_seed.nn", "--threads", "1"], cwd=ROOT, capture_output=True, check=True)
            runs.append(time.perf_counter() - start)
        process = min(runs)
        peer = p["process_wall_s_measured"]
        print(f"- W0 whole process: `nnspec run` {process * 1e3:.1f} ms, NumPy script {peer * 1e3:.0f} ms ({peer / process:.1f}x)")
    for threads in (1, 2):
        w2 = results.get(("W2", threads, "nnspec"))
        if w2:
            data_mib = 60000 * 785 * 4 / 2**20
            print(f"- W2 {threads}t peak RSS {w2['peak_rss_mib']:.0f} MiB = dataset {data_mib:.0f} MiB + {w2['peak_rss_mib'] - data_mib:.0f} MiB")


if __name__ == "__main__":
    main()
