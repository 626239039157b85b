#!/usr/bin/env python3
"""Side-by-side speed of nnspec, NumPy and PyTorch on the four workloads (workloads.py),
measured in one run on this machine and printed as a Markdown table for the README.

    cargo build --release
    pip install numpy torch        # the baselines' only needs; a missing one is skipped
    python3 benches/compare.py [--repeat 3] [--workloads W2 W3] [--threads 1 2 8] [--json runs.jsonl]

Every run is its own process. Runs are interleaved: each round runs every workload, thread
count and system once, the systems in a rotating order, so that a disturbance on a shared
machine hits all of them alike. A cell is the median of the rounds' steady-state samples/s;
the ratio is nnspec's median over the better peer's, with the lowest and highest ratio of
single rounds in brackets (their spread is the noise of the run). Peers run only at 1 and 2
threads; other thread counts run nnspec alone (to check that extra threads cost nothing).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from workloads import WORKLOADS  # noqa: E402

PEERS = {"numpy": "baseline_numpy.py", "torch": "baseline_torch.py"}
NAMES = {"nnspec": "nnspec", "numpy": "NumPy", "torch": "PyTorch"}


def nnspec_binary(given):
    candidates = [given] if given else []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "nnspec"))
    candidates.append(os.path.join(ROOT, "target", "release", "nnspec"))
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    sys.exit("compare.py: no nnspec binary; run `cargo build --release` first (or pass --nnspec PATH)")


def run_process(command):
    """Runs `command` from the repository root; returns its last stdout line as JSON, with the
    process's wall time and peak resident memory (MiB, from wait4's resource usage) added."""
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        if process.returncode != 0:
            err.seek(0)
            last = (err.read().strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}: {last}")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_wall_s_measured"] = wall
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def command_for(system, workload, threads, binary):
    if system == "nnspec":
        return [binary, "bench", os.path.join("benches", WORKLOADS[workload].spec), "--threads", str(threads)]
    return [sys.executable, os.path.join(HERE, PEERS[system]), "--workload", workload, "--threads", str(threads)]


def available(system):
    if system == "nnspec":
        return True
    module = {"numpy": "numpy", "torch": "torch"}[system]
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    if probe.returncode != 0:
        print(f"# {NAMES[system]} skipped: `import {module}` failed (pip install {module})", file=sys.stderr)
    return probe.returncode == 0


def median(values):
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--systems", nargs="+", default=["nnspec", "numpy", "torch"], choices=list(NAMES))
    parser.add_argument("--nnspec", help="the nnspec binary (default: target/release/nnspec)")
    parser.add_argument("--json", help="also write every run as a JSON line to this file")
    args = parser.parse_args()
    binary = nnspec_binary(args.nnspec) if "nnspec" in args.systems else None
    systems = [s for s in args.systems if available(s)]
    runs = {}  # (workload, threads, system) -> [result per round]
    for round_index in range(args.repeat):
        for workload in args.workloads:
            for threads in args.threads:
                present = [s for s in systems if s == "nnspec" or threads in (1, 2)]
                shift = round_index % len(present)
                for system in present[shift:] + present[:shift]:
                    try:
                        result = run_process(command_for(system, workload, threads, binary))
                    except (RuntimeError, ValueError) as error:
                        print(f"# {system} {workload} {threads}t failed: {error}", file=sys.stderr)
                        continue
                    result.update(round=round_index, system=system, workload=workload, threads=threads)
                    runs.setdefault((workload, threads, system), []).append(result)
                    print(f"# {workload} {threads}t {system}: {result['steady_samples_per_s']:,.0f} samples/s",
                          file=sys.stderr)
    if args.json:
        with open(args.json, "w") as out:
            for results in runs.values():
                for result in results:
                    out.write(json.dumps(result) + "\n")
    print_table(runs, args, systems)


def rate(runs, key):
    return median([r["steady_samples_per_s"] for r in runs.get(key, [])])


def round_ratios(runs, workload, threads, peers):
    """nnspec / better peer within each round."""
    ratios = []
    for mine in runs.get((workload, threads, "nnspec"), []):
        theirs = [r["steady_samples_per_s"] for p in peers for r in runs.get((workload, threads, p), [])
                  if r["round"] == mine["round"]]
        if theirs:
            ratios.append(mine["steady_samples_per_s"] / max(theirs))
    return ratios


def print_table(runs, args, systems):
    peers = [s for s in systems if s != "nnspec"]
    shown = [s for s in ["nnspec"] + peers if s in systems]
    header = ["W", "threads"] + [f"{NAMES[s]} samples/s" for s in shown]
    if "nnspec" in shown and peers:
        header.append("nnspec / better peer")
    if "nnspec" in shown:
        header.append("nnspec peak RSS MiB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for workload in args.workloads:
        for threads in args.threads:
            cells = [workload, str(threads)]
            for system in shown:
                value = rate(runs, (workload, threads, system))
                cells.append(f"{value:,.0f}" if value else "-")
            if "nnspec" in shown and peers:
                mine = rate(runs, (workload, threads, "nnspec"))
                best = max((rate(runs, (workload, threads, p)) or 0 for p in peers), default=0)
                ratios = round_ratios(runs, workload, threads, peers)
                if mine and best:
                    spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
                    cells.append(f"{mine / best:.2f}x{spread}")
                else:
                    cells.append("-")
            if "nnspec" in shown:
                rss = median([r["peak_rss_mib"] for r in runs.get((workload, threads, "nnspec"), [])])
                cells.append(f"{rss:,.0f}" if rss else "-")
            print("| " + " | ".join(cells) + " |")
    print()
    print(f"Median of {args.repeat} interleaved rounds; the ratio's range is over single rounds.")
    for workload in args.workloads:
        base = rate(runs, (workload, 1, "nnspec"))
        notes = []
        for threads in args.threads:
            value = rate(runs, (workload, threads, "nnspec"))
            if threads != 1 and base and value:
                notes.append(f"{threads}t/1t {value / base:.2f}x")
        two = rate(runs, (workload, 2, "nnspec"))
        for threads in args.threads:
            value = rate(runs, (workload, threads, "nnspec"))
            if threads > 2 and two and value:
                notes.append(f"{threads}t/2t {value / two:.2f}x")
        if notes:
            print(f"- {workload} nnspec threads: " + ", ".join(notes))
    w0 = {s: runs.get(("W0", 1, s)) for s in systems}
    if w0.get("nnspec") and w0.get("numpy"):
        mine = median([r["train_wall_s"] for r in w0["nnspec"]])
        theirs = median([r["train_wall_s"] for r in w0["numpy"]])
        print(f"- W0, 1000 epochs (train_wall_s): nnspec {mine * 1e3:.2f} ms, NumPy {theirs * 1e3:.1f} ms"
              f" ({theirs / mine:.0f}x)")


if __name__ == "__main__":
    main()
