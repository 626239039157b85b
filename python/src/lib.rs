//! `nnspec._native`: the Python front end's bridge to the library's façade (`Spec`,
//! `run::train`, `Trained`). It only maps Python arguments onto the façade and results back;
//! the pipeline itself is the library's. Values cross as plain Python objects, bytes and JSON
//! text; the package in `python/nnspec` turns them into numpy arrays, dicts and exceptions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use nnspec::data::{Cells, Frame};
use nnspec::{Observer, Predictions, Report, RunOptions, Spec, Trained};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "A failure of nnspec: (kind, rendered text, diagnostics as JSON)."
);

/// A report as the `NativeError` the Python package turns into `SpecError`, `DataError`...
fn error(report: Report) -> PyErr {
    let kind = serde_json::to_value(report.kind()).ok().and_then(|v| v.as_str().map(str::to_string));
    let diagnostics = serde_json::to_string(report.diagnostics()).unwrap_or_else(|_| "[]".into());
    NativeError::new_err((kind.unwrap_or_default(), report.to_string(), diagnostics))
}

/// Overrides given as `key=value` texts.
fn load(path: PathBuf, overrides: Vec<String>) -> PyResult<Spec> {
    Spec::load(&path, &overrides).map_err(error)
}

/// Every diagnostic of a spec (errors and warnings) as JSON; `[]` for a clean spec.
#[pyfunction]
#[pyo3(signature = (path, overrides = Vec::new()))]
fn check(path: PathBuf, overrides: Vec<String>) -> PyResult<String> {
    let diagnostics = match Spec::load(&path, &overrides).and_then(|spec| spec.validate(None).map(|_| spec)) {
        Ok(spec) => spec.warnings().to_vec(),
        Err(report) => report.diagnostics().to_vec(),
    };
    serde_json::to_string(&diagnostics).map_err(|e| PyException::new_err(e.to_string()))
}

/// Tells the training thread to stop after the epoch in progress when Python asks (Ctrl-C).
struct StopFlag<'a>(&'a AtomicBool);

impl Observer for StopFlag<'_> {
    fn stop_requested(&mut self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A finished training run.
#[pyclass(frozen)]
struct Run {
    run: nnspec::Run,
    spec: Spec,
}

/// Trains a spec without holding the GIL. The run goes on a thread of its own while this one
/// waits in short slices, checking for Python signals between them: Ctrl-C stops training
/// after the epoch in progress and raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (path, threads = None, overrides = Vec::new()))]
fn train(py: Python<'_>, path: PathBuf, threads: Option<usize>, overrides: Vec<String>) -> PyResult<Run> {
    let spec = load(path, overrides)?;
    let options = RunOptions { threads, ..RunOptions::default() };
    let stop = AtomicBool::new(false);
    let (done, finished) = mpsc::channel();
    // Borrowed by closures that run without the GIL, which must be `Send`: a receiver is not `Sync`.
    let finished = Mutex::new(finished);
    let wait = |timeout: Option<Duration>| {
        let finished = finished.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match timeout {
            Some(timeout) => finished.recv_timeout(timeout),
            None => finished.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        }
    };
    let outcome = std::thread::scope(|scope| {
        scope.spawn(|| {
            let result = nnspec::run::train(&spec, &options, &mut StopFlag(&stop));
            let _ = done.send(result);
        });
        loop {
            match py.detach(|| wait(Some(Duration::from_millis(50)))) {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyException::new_err("the training thread ended without a result"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Err(interrupt) = py.check_signals() {
                stop.store(true, Ordering::Relaxed);
                // The run ends after its epoch; wait for it (the thread is scoped), then raise.
                let _ = py.detach(|| wait(None));
                return Err(interrupt);
            }
        }
    })?;
    Ok(Run { run: outcome.map_err(error)?, spec })
}

#[pymethods]
impl Run {
    /// The trace as JSON lines, as `nnspec run --trace` writes it.
    fn trace_jsonl(&self) -> String {
        self.run.trace_jsonl()
    }

    /// The run's summary as JSON (as `--summary-json` writes it).
    fn summary_json(&self) -> String {
        self.run.summary_json(&self.spec).to_string()
    }

    /// The weights as a safetensors file's bytes.
    fn weights_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.run.weights_bytes())
    }

    /// Saves the weights (safetensors, PyTorch state_dict names), atomically.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.run.save_weights(&path).map_err(error)
    }
}

/// Predictions as they cross to Python: the values as f32 bytes, values per row, the predicted
/// classes (classifiers) and the values' names.
type Prediction<'py> = (Bound<'py, PyBytes>, usize, Option<Vec<usize>>, Vec<String>);

/// A spec's model with trained weights.
#[pyclass(frozen)]
struct Model {
    trained: Trained,
}

/// Loads a spec and weights saved by a run.
#[pyfunction]
#[pyo3(signature = (spec, weights, overrides = Vec::new()))]
fn load_model(spec: PathBuf, weights: PathBuf, overrides: Vec<String>) -> PyResult<Model> {
    let spec = load(spec, overrides)?;
    let trained = Trained::load(&spec, &weights).map_err(error)?;
    Ok(Model { trained })
}

#[pymethods]
impl Model {
    /// The feature columns the model reads, in order.
    #[getter]
    fn features(&self) -> Vec<String> {
        self.trained.features().to_vec()
    }

    /// The names of the prediction columns (`prob_K` for classifiers, else the targets).
    #[getter]
    fn targets(&self) -> Vec<String> {
        self.trained.targets().to_vec()
    }

    /// Predictions for `rows` rows of raw features given as little-endian f32 bytes, row-major:
    /// `(values as f32 bytes, values per row, predicted classes or None, value names)`.
    fn predict<'py>(&self, py: Python<'py>, inputs: &[u8], rows: usize) -> PyResult<Prediction<'py>> {
        let values: Vec<f32> = inputs.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if !inputs.len().is_multiple_of(4) || values.len() != rows * self.trained.features().len() {
            return Err(PyException::new_err(format!(
                "{} bytes are not {rows} rows of {} f32 features",
                inputs.len(),
                self.trained.features().len()
            )));
        }
        let data = self.trained.dataset(values, Vec::new()).map_err(error)?;
        let predictions = py.detach(|| self.trained.predict(&data)).map_err(error)?;
        Ok(prediction(py, predictions))
    }

    /// The columns of a table the model reads (its feature columns, in order).
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.trained.columns()
    }

    /// The class names of a classifier, and whether they are indices `0..K-1`; `None` for a
    /// regressor.
    #[getter]
    fn classes(&self) -> Option<(Vec<String>, bool)> {
        self.trained.class_names().map(|names| (names.to_vec(), self.trained.classes_are_indices()))
    }

    /// Predictions for a raw table: `names` of its columns and, per column, either its numbers
    /// as little-endian f64 bytes (NaN where missing) or a list of texts (`None` where
    /// missing). The table is encoded with the saved encoding, as `nnspec predict` encodes a
    /// file.
    fn predict_table<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        columns: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Prediction<'py>> {
        let columns = columns.iter().map(column).collect::<PyResult<Vec<Cells>>>()?;
        let frame = Frame { names, columns };
        let predictions = py
            .detach(|| {
                let rows = self.trained.frame_rows(&frame)?;
                self.trained.predict(&rows.dataset)
            })
            .map_err(error)?;
        Ok(prediction(py, predictions))
    }
}

/// A column of a table as it crosses from Python: f64 bytes, or a list of optional texts.
fn column(cells: &Bound<'_, PyAny>) -> PyResult<Cells> {
    if let Ok(bytes) = cells.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        if !bytes.len().is_multiple_of(8) {
            return Err(PyException::new_err(format!("{} bytes are not whole f64 values", bytes.len())));
        }
        let values = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect();
        return Ok(Cells::Numbers(values));
    }
    Ok(Cells::Texts(cells.extract::<Vec<Option<String>>>()?))
}

/// Predictions as they cross to Python.
fn prediction(py: Python<'_>, predictions: Predictions) -> Prediction<'_> {
    let bytes: Vec<u8> = predictions.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    (PyBytes::new(py, &bytes), predictions.width, predictions.classes, predictions.names)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("NativeError", module.py().get_type::<NativeError>())?;
    module.add_function(wrap_pyfunction!(check, module)?)?;
    module.add_function(wrap_pyfunction!(train, module)?)?;
    module.add_function(wrap_pyfunction!(load_model, module)?)?;
    module.add_class::<Run>()?;
    module.add_class::<Model>()?;
    Ok(())
}
