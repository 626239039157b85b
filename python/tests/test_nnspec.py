"""The Python package against the library and the command line: every call, the errors, the
GIL and Ctrl-C, and the README's example."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import nnspec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def cli() -> Path:
    """The command line built by `cargo build --release` (CI builds it before these tests)."""
    binary = Path(os.environ.get("NNSPEC_BIN", ROOT / "target" / "release" / "nnspec"))
    assert binary.exists(), f"build the command line first (cargo build --release): {binary}"
    return binary


def without_time(lines):
    return [{k: v for k, v in line.items() if k != "elapsed_s"} for line in lines]


def test_check_lists_nothing_for_a_clean_spec():
    assert nnspec.check(SPECS / "iris.nn") == []


def test_check_gives_each_diagnostic_with_its_location(tmp_path):
    spec = (SPECS / "xor.nn").read_text().replace("dense 8 tanh", "dense 8 tanhh")
    (tmp_path / "bad.nn").write_text(spec)
    shutil.copytree(SPECS / "data", tmp_path / "data")
    diagnostics = nnspec.check(tmp_path / "bad.nn")
    assert len(diagnostics) == 1
    found = diagnostics[0]
    assert (found["code"], found["severity"], found["message"]) == ("E0002", "error", "unknown activation `tanhh`")
    assert (found["line"], found["column"]) == (4, 13)
    assert found["file"].endswith("bad.nn")
    assert found["help"] == "did you mean `tanh`?"


def test_an_invalid_spec_raises_spec_error_with_the_rendering_and_diagnostics():
    with pytest.raises(nnspec.SpecError) as raised:
        nnspec.train(SPECS / "xor.nn", overrides={"train.epochs": 0})
    error = raised.value
    assert "error[E0005]" in str(error) and "xor.nn:10:" in str(error)
    assert error.diagnostics[0]["code"] == "E0005"
    assert isinstance(error, nnspec.Error)


def test_a_missing_data_file_raises_data_error(tmp_path):
    (tmp_path / "m.nn").write_text((SPECS / "iris.nn").read_text())
    with pytest.raises(nnspec.DataError) as raised:
        nnspec.train(tmp_path / "m.nn")
    assert raised.value.diagnostics[0]["code"] == "E0100"
    assert "data/iris.csv" in str(raised.value)


def test_the_trace_equals_the_command_lines_bit_for_bit(tmp_path):
    trace = tmp_path / "trace.jsonl"
    subprocess.run(
        [cli(), "run", SPECS / "digits.nn", "--set", "train.epochs=12", "--threads", "2", "--trace", trace, "--quiet"],
        check=True,
    )
    from_cli = [json.loads(line) for line in trace.read_text().splitlines()]
    run = nnspec.train(SPECS / "digits.nn", threads=1, overrides={"train.epochs": 12})
    assert len(run.trace) == 2
    # Equal floats parsed from the same shortest decimal text: equal bits.
    assert without_time(run.trace) == without_time(from_cli)
    assert list(run.trace[0]) == list(from_cli[0]), "the same keys, in the same order"


def test_weights_are_numpy_arrays_by_state_dict_name(tmp_path):
    run = nnspec.train(SPECS / "digits.nn", overrides={"train.epochs": 1})
    weights = run.weights
    assert weights["layers.0.weight"].shape == (64, 64) and weights["layers.0.weight"].dtype == np.float32
    assert weights["layers.1.running_var"].shape == (64,)
    assert weights["layers.1.num_batches_tracked"].dtype == np.int64
    assert weights["layers.4.weight"].shape == (10, 64)
    run.save(tmp_path / "w.safetensors")
    # The file the command line reads, with the same tensors.
    out = subprocess.run(
        [cli(), "eval", SPECS / "digits.nn", "--weights", tmp_path / "w.safetensors", "--data", SPECS / "data/digits.csv", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["rows"] == 1797
    assert run.summary["epochs_run"] == 1


def test_predictions_equal_the_command_lines(tmp_path):
    run = nnspec.train(SPECS / "iris.nn", overrides={"train.epochs": 30})
    run.save(tmp_path / "w.safetensors")
    model = nnspec.load(SPECS / "iris.nn", tmp_path / "w.safetensors")
    out = subprocess.run(
        [cli(), "predict", SPECS / "iris.nn", "--weights", tmp_path / "w.safetensors", "--input", SPECS / "data/iris.csv"],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = out.stdout.splitlines()[1:]
    expected_classes = np.array([int(line.split(",")[0]) for line in lines])
    expected_probabilities = np.array([[float(v) for v in line.split(",")[1:]] for line in lines], dtype=np.float32)
    table = np.loadtxt(SPECS / "data/iris.csv", delimiter=",", skiprows=1)
    features = table[:, :4]
    assert (model.predict(features) == expected_classes).all()
    assert np.array_equal(model.predict_proba(features), expected_probabilities)
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(SPECS / "data/iris.csv")
    assert (model.predict(frame) == expected_classes).all(), "columns picked by name, the target ignored"


def test_regression_predictions_are_one_column():
    run = nnspec.train(SPECS / "seed.nn", overrides={"train.epochs": 10})
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"nnspec-seed-{os.getpid()}.safetensors"
    run.save(path)
    try:
        model = nnspec.load(SPECS / "seed.nn", path)
        predictions = model.predict(np.array([[0.5], [1.5]]))
        assert predictions.shape == (2,) and predictions.dtype == np.float32
        with pytest.raises(nnspec.RunError):
            model.predict_proba([[0.5]])
    finally:
        path.unlink()


def test_rows_of_the_wrong_width_raise_data_error(tmp_path):
    nnspec.train(SPECS / "xor.nn", overrides={"train.epochs": 1}).save(tmp_path / "w.safetensors")
    model = nnspec.load(SPECS / "xor.nn", tmp_path / "w.safetensors")
    with pytest.raises(nnspec.DataError):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(nnspec.DataError):
        model.predict(np.array([[np.nan, 1.0]]))
    with pytest.raises(nnspec.DataError):
        nnspec.load(SPECS / "xor.nn", tmp_path / "missing.safetensors")


def test_training_releases_the_gil():
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        started = time.perf_counter()
        # Long enough to tell on a fast machine (digits.nn's early stop ended it within 40 ms
        # on one): XOR's four rows for 500,000 epochs, about 0.4 s there.
        nnspec.train(SPECS / "xor.nn", threads=1, overrides={"train.epochs": 500_000})
        finished = time.perf_counter()
    finally:
        done.set()
        ticker.join()
    # A thread holding the GIL for the whole run would leave the ticker no turn while it ran;
    # a few turns suffice (a loaded machine gives the ticker fewer than one per millisecond).
    during = [t for t in ticks if started < t < finished]
    assert finished - started > 0.05 and len(during) >= 3, (len(during), finished - started)


def test_ctrl_c_stops_training_and_raises_keyboard_interrupt():
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        nnspec.train(SPECS / "xor.nn", overrides={"train.epochs": 10_000_000})
    assert time.perf_counter() - started < 10, "stopped after the epoch in progress, not at the end"


def test_the_readmes_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shutil.copytree(SPECS, tmp_path / "specs")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "iris.safetensors").exists()
