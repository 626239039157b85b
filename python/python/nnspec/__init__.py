"""nnspec from Python: check, train, save, load and predict with declarative model specs.

The work is done by the same Rust library as the ``nnspec`` command line, through its façade;
this module maps Python values onto it and its results back (numpy arrays, dicts, exceptions).

    import nnspec
    errors = nnspec.check("model.nn")                 # [] for a clean spec
    run = nnspec.train("model.nn", threads=2, overrides={"train.epochs": 5})
    run.trace                                         # list of dicts, as `nnspec run --trace`
    run.weights                                       # dict: state_dict name -> numpy array
    run.save("w.safetensors")
    model = nnspec.load("model.nn", "w.safetensors")
    model.predict(x)                                  # numpy array or DataFrame in, numpy out
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

from . import _native

__all__ = [
    "Error",
    "SpecError",
    "DataError",
    "RunError",
    "Run",
    "Model",
    "check",
    "train",
    "load",
]

PathLike = Union[str, "os.PathLike[str]"]


class Error(Exception):
    """A failure of nnspec. ``str()`` is the rendered diagnostic (as the command line prints
    it); ``diagnostics`` is the list of dicts ``check`` returns."""

    def __init__(self, message: str, diagnostics: List[Dict[str, Any]]):
        super().__init__(message)
        self.diagnostics = diagnostics


class SpecError(Error):
    """The spec (or an override) is invalid: the command line's exit code 2."""


class DataError(Error):
    """A data, weights or checkpoint file is missing, malformed or does not match the spec."""


class RunError(Error):
    """Training failed (divergence) or an output could not be written."""


_KINDS = {"spec": SpecError, "data": DataError, "run": RunError}


def _native_call(function, *args):
    try:
        return function(*args)
    except _native.NativeError as error:
        kind, message, diagnostics = error.args
        raise _KINDS.get(kind, Error)(message, json.loads(diagnostics)) from None


def _overrides(overrides: Optional[Mapping[str, Any]]) -> List[str]:
    """``{"train.epochs": 5, "loss": "mae"}`` as ``--set`` texts: numbers and booleans as
    nnspec writes them, strings as given: where the spec expects a string the text is that
    string (``{"data.target": "y"}``); elsewhere a string is a name (``{"loss": "mae"}``)."""
    texts = []
    for key, value in (overrides or {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, (list, tuple)):
            text = "[" + ", ".join(json.dumps(v) if isinstance(v, str) else repr(v) for v in value) + "]"
        else:
            text = str(value)
        texts.append(f"{key}={text}")
    return texts


def check(spec: PathLike, overrides: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Every error and warning of a spec and its data header, as dicts with ``code``,
    ``severity``, ``message``, ``file``, ``line``, ``column`` (where they point into the spec),
    ``end_line``, ``end_column``, ``label``, ``notes`` and ``help``. ``[]`` for a clean spec."""
    return json.loads(_native.check(os.fspath(spec), _overrides(overrides)))


def _safetensors(data: bytes) -> Dict[str, np.ndarray]:
    """The tensors of a safetensors file's bytes (F32 and I64, the dtypes nnspec writes)."""
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(body[start:end], dtype=np.dtype(dtypes[info["dtype"]]).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(dtypes[info["dtype"]])
    return tensors


class Run:
    """A finished training run."""

    def __init__(self, native: Any):
        self._native = native
        self.trace: List[Dict[str, Any]] = [json.loads(line) for line in native.trace_jsonl().splitlines()]
        """One dict per logged epoch, with the keys of ``nnspec run --trace``."""

    @property
    def summary(self) -> Dict[str, Any]:
        """Final and best metrics, epochs run, why it stopped, parameters, wall time."""
        return json.loads(self._native.summary_json())

    @property
    def weights(self) -> Dict[str, np.ndarray]:
        """The trained weights by PyTorch state_dict name (``layers.0.weight`` as [out, in])."""
        return _safetensors(self._native.weights_bytes())

    def save(self, path: PathLike) -> None:
        """Saves the weights as safetensors (atomically), loadable by ``nnspec.load``,
        ``nnspec predict`` and PyTorch's ``load_state_dict``."""
        _native_call(self._native.save, os.fspath(path))


def train(
    spec: PathLike,
    threads: Optional[int] = None,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Run:
    """Trains a spec (as ``nnspec run``) and returns the run. The GIL is released while
    training; Ctrl-C stops after the epoch in progress and raises KeyboardInterrupt."""
    native = _native_call(_native.train, os.fspath(spec), threads, _overrides(overrides))
    return Run(native)


class Model:
    """A spec's model with trained weights."""

    def __init__(self, native: Any):
        self._native = native

    @property
    def features(self) -> List[str]:
        """The feature columns the model reads, in order."""
        return list(self._native.features)

    def _rows(self, x: Any) -> np.ndarray:
        if hasattr(x, "columns") and hasattr(x, "to_numpy"):
            missing = [name for name in self.features if name not in x.columns]
            if missing:
                raise DataError(f"the data has no column(s) {', '.join(missing)}", [])
            x = x[self.features].to_numpy()
        rows = np.asarray(x, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise DataError(
                f"expected rows of {len(self.features)} features ({', '.join(self.features)}), "
                f"got an array of shape {rows.shape}",
                [],
            )
        if not np.all(np.isfinite(rows)):
            raise DataError("the rows hold NaN or infinite values", [])
        return np.ascontiguousarray(rows, dtype="<f4")

    def _predict(self, x: Any):
        rows = self._rows(x)
        values, width, classes, names = _native_call(self._native.predict, rows.tobytes(), rows.shape[0])
        values = np.frombuffer(values, dtype="<f4").astype(np.float32).reshape(rows.shape[0], width)
        return values, classes

    def predict(self, x: Any) -> np.ndarray:
        """Predictions for rows of raw features (a 2-D array, or a DataFrame with the feature
        columns): class indices for classifiers, else the outputs (one column per target, or a
        1-D array for one target). The input scaling saved with the weights is applied."""
        values, classes = self._predict(x)
        if classes is not None:
            return np.asarray(classes, dtype=np.int64)
        return values[:, 0] if values.shape[1] == 1 else values

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities of a classifier, one row per input row."""
        values, classes = self._predict(x)
        if classes is None:
            raise RunError("predict_proba needs a classifier; this model is a regressor", [])
        return values


def load(
    spec: PathLike,
    weights: PathLike,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Model:
    """A spec's model with the weights a run saved (``run.save`` or ``nnspec run --save``)."""
    return Model(_native_call(_native.load_model, os.fspath(spec), os.fspath(weights), _overrides(overrides)))
