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
    model.predict(frame)                              # DataFrame, dicts or rows of cells in
    model.classes                                     # class names of a classifier
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

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

    @property
    def columns(self) -> List[str]:
        """The columns of a table the model reads, in order (a category column is one
        column here and several input slots in ``features``)."""
        return list(self._native.columns)

    @property
    def classes(self) -> Optional[List[str]]:
        """A classifier's class names, in the order of ``predict_proba``'s columns (``"0"``,
        ``"1"``... for classes given as indices); ``None`` for a regressor."""
        classes = self._native.classes
        return None if classes is None else list(classes[0])

    def _slots(self, x: Any) -> Optional[np.ndarray]:
        """``x`` as rows of input slots, if it is a numeric array as wide as the slots; else
        ``None`` (a table)."""
        if _is_frame(x) or isinstance(x, Mapping) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], Mapping)):
            return None
        try:
            rows = np.asarray(x)
        except (ValueError, TypeError):
            return None
        if rows.dtype.kind not in "biuf":
            return None
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim == 2 and rows.shape[1] != len(self.features) and rows.shape[1] == len(self.columns):
            return None
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            raise DataError(
                f"expected rows of {len(self.features)} features ({', '.join(self.features)}), "
                f"got an array of shape {rows.shape}",
                [],
            )
        rows = rows.astype(np.float32)
        if not np.all(np.isfinite(rows)):
            raise DataError("the rows hold NaN or infinite values", [])
        return np.ascontiguousarray(rows, dtype="<f4")

    def _predict(self, x: Any, columns: Optional[Sequence[str]] = None):
        rows = None if columns is not None else self._slots(x)
        if rows is not None:
            values, width, classes, names = _native_call(self._native.predict, rows.tobytes(), rows.shape[0])
            count = rows.shape[0]
        else:
            names, cells = _table(x, list(columns) if columns is not None else self.columns)
            values, width, classes, names = _native_call(self._native.predict_table, names, cells)
            count = len(values) // (4 * width) if width else 0
        values = np.frombuffer(values, dtype="<f4").astype(np.float32).reshape(count, width)
        return values, classes

    def predict(self, x: Any, columns: Optional[Sequence[str]] = None) -> np.ndarray:
        """Predictions for rows: for a classifier its classes (names as strings, or indices
        for classes given as ``classes: K``), else the outputs (one column per target, or a
        1-D array for one target).

        ``x`` is a raw table, encoded with the encoding saved with the weights exactly as
        ``nnspec predict`` encodes a CSV file (categories, missing cells, scaling): a pandas
        DataFrame, a dict of columns, a list of dicts, or rows of cells (strings or numbers,
        ``None`` or a missing marker such as ``"NA"`` where missing) in the order of
        ``columns`` (by default ``model.columns``). Columns the model does not read are
        ignored. A numeric array as wide as ``model.features`` is taken as input slots as
        they are (scaled, not encoded)."""
        values, classes = self._predict(x, columns)
        if classes is not None:
            indices = np.asarray(classes, dtype=np.int64)
            native = self._native.classes
            if native is None or native[1]:
                return indices
            return np.asarray(native[0], dtype=object)[indices] if len(indices) else np.array([], dtype=object)
        return values[:, 0] if values.shape[1] == 1 else values

    def predict_proba(self, x: Any, columns: Optional[Sequence[str]] = None) -> np.ndarray:
        """Class probabilities of a classifier, one row per input row, in the order of
        ``classes``; ``x`` as for ``predict``."""
        values, classes = self._predict(x, columns)
        if classes is None:
            raise RunError("predict_proba needs a classifier; this model is a regressor", [])
        return values


def _is_frame(x: Any) -> bool:
    return hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "to_numpy")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas

        if value is pandas.NA or value is pandas.NaT:
            return True
    except ImportError:
        pass
    return isinstance(value, float) and value != value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _cells(values: Sequence[Any]) -> Any:
    """A column as it crosses to the library: f64 bytes when every present cell is a number,
    else texts (``None`` where missing)."""
    if all(_missing(v) or _is_number(v) for v in values):
        numbers = np.array([np.nan if _missing(v) else float(v) for v in values], dtype="<f8")
        return numbers.tobytes()
    return [None if _missing(v) else str(v) for v in values]


def _series(series: Any) -> Any:
    """A pandas column: numbers as f64 bytes, anything else as texts."""
    kind = getattr(series.dtype, "kind", "O")
    if kind in "iuf":
        return series.to_numpy(dtype="<f8", na_value=np.nan).tobytes()
    return _cells(series.astype(object).tolist())


def _table(x: Any, columns: List[str]):
    """``(names, cells per column)`` of a raw table: a DataFrame, a dict of columns, a list
    of dicts, or rows of cells in the order of ``columns``."""
    if _is_frame(x):
        names = [str(name) for name in x.columns]
        return names, [_series(x.iloc[:, i]) for i in range(len(names))]
    if isinstance(x, Mapping):
        names = [str(name) for name in x]
        return names, [_cells(list(x[name])) for name in x]
    rows = list(x)
    if rows and isinstance(rows[0], Mapping):
        names: List[str] = []
        for row in rows:
            if not isinstance(row, Mapping):
                raise DataError("a list of dicts must hold only dicts", [])
            names.extend(str(name) for name in row if str(name) not in names)
        return names, [_cells([row.get(name) for row in rows]) for name in names]
    if isinstance(x, np.ndarray) and x.ndim == 1:
        rows = [list(x)]
    elif rows and (isinstance(rows[0], str) or not hasattr(rows[0], "__len__")):
        rows = [rows]
    for number, row in enumerate(rows):
        if len(row) != len(columns):
            raise DataError(
                f"row {number} has {len(row)} cells, but the model reads {len(columns)} columns "
                f"({', '.join(columns)}); give the columns' names with `columns=`",
                [],
            )
    return list(columns), [_cells([row[i] for row in rows]) for i in range(len(columns))]


def load(
    spec: PathLike,
    weights: PathLike,
    overrides: Optional[Mapping[str, Any]] = None,
) -> Model:
    """A spec's model with the weights a run saved (``run.save`` or ``nnspec run --save``)."""
    return Model(_native_call(_native.load_model, os.fspath(spec), os.fspath(weights), _overrides(overrides)))
