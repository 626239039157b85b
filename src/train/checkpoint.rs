//! Checkpoints: a session written down, so `--resume` continues exactly where it stopped.
//!
//! A checkpoint is a safetensors file: the weights (`params.` + state_dict name), the
//! optimizer's moments (`first.`, `second.`), early stopping's best weights (`best.`) and the
//! batch order (`order`, int64); its metadata holds the epoch, the step count, the positions of
//! the shuffle and dropout streams, early stopping's memory, and how many lines of the trace
//! file beside it (`trace.jsonl`, kept once for all checkpoints) are its own. Checkpoints are
//! written atomically, so the newest file in a directory is always complete; only the newest
//! few are kept.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::early_stop::EarlyStopping;
use super::plateau::Plateau;
use super::{Session, TraceLine};
use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::fingerprint::Fingerprint;
use crate::output;
use crate::plan::Plan;
use crate::rng::{self, Stream};
use crate::weights::{self, Decoded, Values};

const FORMAT: &str = "nnspec-checkpoint-3";

/// The training state a checkpoint's metadata holds (`nnspec.state`), beside the tensors.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedState {
    /// Epochs completed.
    epoch: usize,
    /// Optimizer steps taken.
    step: u64,
    /// The shuffle stream's position (a u128, as a decimal string: JSON numbers lose it).
    #[serde(with = "decimal")]
    shuffle_word_pos: u128,
    /// Dropout words drawn so far.
    #[serde(with = "decimal")]
    dropout_words: u128,
    /// Early stopping had asked to stop.
    stopped: bool,
    /// The best epoch so far (without early stopping).
    best: Option<TraceLine>,
    early_stop: Option<SavedEarlyStop>,
    /// `reduce_lr`'s scale, best score and wait (see `plateau::Plateau::to_json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reduce_lr: Option<serde_json::Value>,
    /// The trace so far: its first `trace_lines` lines in the trace file beside the
    /// checkpoint, whose text has this fingerprint.
    trace_lines: usize,
    trace_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedEarlyStop {
    best: Option<TraceLine>,
    waited: usize,
}

/// u128 as a decimal string.
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
    }
}

/// Everything about a run that a resume must not change, field by field so that a change can
/// be named: the layers and their parameters, loss, optimizer, schedule, clipping and batch (as
/// the plan prints them, without spec lines), the seed, shuffling, early stopping, and a hash of
/// the training data. The epoch count and logging may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    kernels: Vec<String>,
    optimizer: String,
    batch: String,
    seed: u64,
    shuffle: bool,
    early_stop: String,
    /// FNV-1a of the prepared rows (inputs and targets, after scaling) and of the split.
    data: String,
}

impl Signature {
    fn of(plan: &Plan, data: &Prepared) -> Signature {
        let text = plan.to_string().replace(&format!(" ({})", plan.file), "");
        let mut lines = text.lines().map(|line| line.split("  # ").next().unwrap_or(line).trim_end().to_string());
        let header = lines.next().unwrap_or_default();
        let optimizer = lines.next().unwrap_or_default();
        let kernels = lines.collect();
        Signature {
            kernels,
            optimizer,
            batch: header,
            seed: plan.train.seed,
            shuffle: plan.train.shuffle,
            early_stop: match plan.train.reduce_lr {
                None => format!("{:?}", plan.train.early_stop),
                Some(reduce_lr) => format!("{:?}; {reduce_lr:?}", plan.train.early_stop),
            },
            data: data_hash(data),
        }
    }

    /// The first setting that differs, as `(what, was, now)`: the named settings first, then
    /// the kernels (which an optimizer change also changes).
    fn difference(&self, now: &Signature) -> Option<(&'static str, String, String)> {
        let fields = [
            ("the optimizer", self.optimizer.clone(), now.optimizer.clone()),
            ("the model or batch", self.batch.clone(), now.batch.clone()),
            ("the seed", self.seed.to_string(), now.seed.to_string()),
            ("shuffling", self.shuffle.to_string(), now.shuffle.to_string()),
            ("early stopping or reduce_lr", self.early_stop.clone(), now.early_stop.clone()),
            ("the training data", format!("rows hashing to {}", self.data), format!("rows hashing to {}", now.data)),
        ];
        if let Some(found) = fields.into_iter().find(|(_, was, now)| was != now) {
            return Some(found);
        }
        if self.kernels == now.kernels {
            return None;
        }
        let count = |kernels: &[String]| format!("{} kernels", kernels.len());
        let (was, now) = self.kernels.iter().zip(&now.kernels).find(|(a, b)| a != b).map_or_else(
            || (count(&self.kernels), count(&now.kernels)),
            |(a, b)| (a.trim().to_string(), b.trim().to_string()),
        );
        Some(("the layers", was, now))
    }
}

/// A fingerprint of the prepared rows and of which rows each split holds.
fn data_hash(data: &Prepared) -> String {
    let mut hash = Fingerprint::default();
    let dataset = &data.dataset;
    for value in dataset.inputs.iter().chain(&dataset.targets) {
        hash.add(&value.to_bits().to_le_bytes());
    }
    for rows in [&data.splits.train, &data.splits.validation, &data.splits.test] {
        hash.add(&(rows.len() as u64).to_le_bytes());
        for &row in rows {
            hash.add(&(row as u64).to_le_bytes());
        }
    }
    hash.hex()
}

/// The trace of a checkpointed run, kept once for all its checkpoints: `trace.jsonl` beside
/// them, one line per logged epoch, appended as the run goes. Each checkpoint records how many
/// of its lines are its own, and their fingerprint.
pub const TRACE_FILE: &str = "trace.jsonl";

/// The text of trace lines as the trace file holds them, and its fingerprint.
fn trace_text(lines: &[TraceLine]) -> String {
    lines.iter().map(|line| line.to_json() + "\n").collect()
}

/// The file name of the checkpoint after `epoch` epochs.
pub fn file_name(epoch: usize) -> String {
    format!("epoch-{epoch:06}.ckpt")
}

/// Writes the session as a checkpoint at `path`, atomically. Its trace must already be in the
/// trace file beside it (`Writer` sees to that).
fn save(session: &Session, path: &Path) -> Result<(), Diagnostic> {
    let plan = session.plan;
    let mut tensors = weights::named_tensors(plan, &session.params, "params.");
    for (info, moments) in plan.params.iter().zip(session.state.moments()) {
        for (prefix, values) in [("first.", &moments.first), ("second.", &moments.second)] {
            if !values.is_empty() {
                tensors.push((format!("{prefix}{}", info.name), info.shape.clone(), Values::F32(values)));
            }
        }
    }
    if let Some(tracker) = &session.early_stop {
        tensors.extend(weights::named_tensors(plan, tracker.best_params(), "best."));
    }
    let order: Vec<i64> = session.order.iter().map(|&r| r as i64).collect();
    tensors.push(("order".to_string(), vec![order.len()], Values::I64(order)));
    let state = SavedState {
        epoch: session.epoch,
        step: session.state.step,
        shuffle_word_pos: session.shuffle_rng.get_word_pos(),
        dropout_words: session.state.dropout_words,
        stopped: session.stopped,
        best: session.best.clone(),
        early_stop: session
            .early_stop
            .as_ref()
            .map(|tracker| SavedEarlyStop { best: tracker.best_line().cloned(), waited: tracker.waited() }),
        reduce_lr: session.plateau.as_ref().map(Plateau::to_json),
        trace_lines: session.trace.len(),
        trace_hash: Fingerprint::default().add(trace_text(&session.trace).as_bytes()).hex(),
    };
    let signature = Signature::of(plan, session.data);
    let mut metadata = weights::metadata(plan, &session.data.scaler);
    metadata.insert("nnspec.checkpoint".to_string(), FORMAT.to_string());
    metadata.insert("nnspec.run".to_string(), serde_json::to_string(&signature).expect("serialisable"));
    metadata.insert("nnspec.state".to_string(), serde_json::to_string(&state).expect("serialisable"));
    output::write_atomic(path, &weights::encode(tensors, metadata))
}

/// A checkpoint read from disk, ready to restore.
pub struct Checkpoint {
    path: PathBuf,
    decoded: Decoded,
    state: SavedState,
    signature: Signature,
    trace: Vec<TraceLine>,
}

/// Reads a checkpoint file, or the newest complete checkpoint in a directory.
pub fn load(path: &Path) -> Result<Checkpoint, Diagnostic> {
    if path.is_dir() {
        let mut files = checkpoints_in(path)?;
        files.sort_by_key(|(epoch, _)| *epoch);
        // Newest first; a file that does not load (it cannot be half-written, but it may be
        // damaged) is skipped for the one before it.
        for (_, file) in files.iter().rev() {
            if let Ok(checkpoint) = load_file(file) {
                return Ok(checkpoint);
            }
        }
        return Err(Diagnostic::error(Code::DataFile, format!("`{}` holds no complete checkpoint", path.display()))
            .help("checkpoints are written as epoch-NNNNNN.ckpt by `--checkpoint-every N --checkpoint-dir DIR`"));
    }
    load_file(path)
}

fn load_file(path: &Path) -> Result<Checkpoint, Diagnostic> {
    let decoded = weights::read(path)?;
    let invalid = |why: &str| {
        Diagnostic::error(Code::DataFile, format!("`{}` is not an nnspec checkpoint: {why}", path.display()))
    };
    match decoded.metadata.get("nnspec.checkpoint").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(invalid(&format!("its format `{other}` is not `{FORMAT}` (another nnspec version?)")));
        }
        None => return Err(invalid("no checkpoint format marker")),
    }
    let json = |key: &str| decoded.metadata.get(key).ok_or_else(|| invalid(&format!("no `{key}` metadata")));
    let state: SavedState =
        serde_json::from_str(json("nnspec.state")?).map_err(|e| invalid(&format!("its training state: {e}")))?;
    let signature: Signature =
        serde_json::from_str(json("nnspec.run")?).map_err(|e| invalid(&format!("its run signature: {e}")))?;
    let trace = read_trace(path, &state)?;
    Ok(Checkpoint { path: path.to_path_buf(), decoded, state, signature, trace })
}

/// The checkpoint's trace: the first lines of the trace file beside it, checked against the
/// fingerprint it recorded.
fn read_trace(path: &Path, state: &SavedState) -> Result<Vec<TraceLine>, Diagnostic> {
    let file = path.with_file_name(TRACE_FILE);
    let shown = file.display().to_string();
    let missing = |why: String| {
        Diagnostic::error(Code::DataFile, format!("cannot resume from `{}`: its trace {why}", path.display()))
            .help(format!("a checkpoint's trace is kept in `{TRACE_FILE}` beside it; keep the two together"))
    };
    if state.trace_lines == 0 {
        return Ok(Vec::new());
    }
    let bytes = crate::input::read(&file, "trace", &shown, 1 << 32)
        .map_err(|e| missing(format!("cannot be read ({})", e.message)))?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.split_inclusive('\n').take(state.trace_lines).collect();
    let own: String = lines.concat();
    if lines.len() < state.trace_lines || Fingerprint::default().add(own.as_bytes()).hex() != state.trace_hash {
        return Err(missing(format!("in `{shown}` is not the one it was saved with")));
    }
    lines
        .iter()
        .map(|line| serde_json::from_str::<TraceLine>(line))
        .collect::<Result<_, _>>()
        .map_err(|e| missing(format!("in `{shown}` does not read back: {e}")))
}

impl Checkpoint {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The trace lines of the run up to this checkpoint.
    pub fn trace(&self) -> &[TraceLine] {
        &self.trace
    }

    /// The session this checkpoint recorded, for `plan` and `data` (which must be the ones it
    /// was saved from: a different architecture or training set is an error).
    pub fn restore<'a>(&self, plan: &'a Plan, data: &'a Prepared) -> Result<Session<'a>, Diagnostic> {
        let invalid = |why: String| {
            Diagnostic::error(Code::DataFile, format!("cannot resume from `{}`: {why}", self.path.display()))
        };
        if let Some((what, was, now)) = self.signature.difference(&Signature::of(plan, data)) {
            return Err(Diagnostic::error(
                Code::DataShape,
                format!(
                    "cannot resume from `{}`: the spec differs from the run it was saved from ({what} changed)",
                    self.path.display()
                ),
            )
            .note(format!("was: {was}"))
            .note(format!("now: {now}"))
            .help("a resumed run must keep its layers, loss, optimizer, batch, seed and data; only `epochs` and logging may change"));
        }
        let state = &self.state;
        // A crafted file could claim any counts: they must be those of whole epochs of this data.
        let steps_per_epoch = plan.steps_per_epoch(data.splits.train.len()) as u64;
        if Some(state.step) != (state.epoch as u64).checked_mul(steps_per_epoch)
            || self.trace.iter().any(|line| line.epoch > state.epoch)
        {
            return Err(invalid(format!(
                "its epoch ({}) and step ({}) counts are not those of whole epochs of {steps_per_epoch} step(s)",
                state.epoch, state.step
            )));
        }
        let params = weights::params_from(plan, &self.decoded, "params.", &self.path)?;
        let mut session = Session::new(plan, data, Some(params));
        let order: Vec<usize> = match self.decoded.ints.get("order") {
            Some((_, values)) => values.iter().map(|&v| usize::try_from(v).unwrap_or(usize::MAX)).collect(),
            None => return Err(invalid("it has no batch order".into())),
        };
        let mut sorted = order.clone();
        sorted.sort_unstable();
        if sorted != data.splits.train {
            return Err(invalid(
                "its training rows differ from this spec's data (another file, split or seed?)".into(),
            ));
        }
        session.order = order;
        for (info, moments) in plan.params.iter().zip(session.state.moments_mut()) {
            for (prefix, values) in [("first.", &mut moments.first), ("second.", &mut moments.second)] {
                if values.is_empty() {
                    continue;
                }
                match self.decoded.tensors.get(&format!("{prefix}{}", info.name)) {
                    Some((_, saved)) if saved.len() == values.len() => values.copy_from_slice(saved),
                    _ => {
                        return Err(invalid(format!(
                            "optimizer state of `{}` is missing; was the optimizer changed?",
                            info.name
                        )));
                    }
                }
            }
        }
        session.epoch = state.epoch;
        session.state.step = state.step;
        session.state.dropout_words = state.dropout_words;
        let mut shuffle = rng::stream(plan.train.seed, Stream::Shuffle);
        shuffle.set_word_pos(state.shuffle_word_pos);
        session.shuffle_rng = shuffle;
        session.stopped = state.stopped;
        session.trace = self.trace.clone();
        session.best = state.best.clone();
        session.elapsed_offset = session.trace.last().map_or(0.0, |l| l.elapsed_s);
        if let Some(settings) = plan.train.reduce_lr {
            let saved = state.reduce_lr.as_ref().and_then(|value| Plateau::from_json(settings, value));
            session.plateau = Some(saved.ok_or_else(|| invalid("reduce_lr's state is missing".into()))?);
        }
        if let Some(settings) = plan.train.early_stop {
            let best_params = weights::params_from(plan, &self.decoded, "best.", &self.path)?;
            let early = state.early_stop.as_ref().ok_or_else(|| invalid("early stopping's state is missing".into()))?;
            session.early_stop = Some(EarlyStopping::restore(settings, best_params, early.best.clone(), early.waited));
        }
        Ok(session)
    }
}

/// Checkpoints every `every` epochs into `dir`, and after the last epoch; keeps the newest
/// `keep` checkpoints and removes older ones, so a long run's disk use stays bounded.
pub struct Writer {
    every: usize,
    dir: PathBuf,
    keep: usize,
    /// Lines of the trace file written so far (`None` until the first checkpoint, which writes
    /// the file whole: a resumed run's trace may differ from what a killed run appended).
    traced: Option<usize>,
}

impl Writer {
    pub fn new(every: usize, dir: PathBuf, keep: usize) -> Writer {
        Writer { every: every.max(1), dir, keep: keep.max(1), traced: None }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the checkpoint of an epoch that is due (or the last, or the one a run was
    /// `interrupted` after): first the trace's new lines, then the checkpoint, then removes
    /// checkpoints beyond the newest `keep`.
    pub fn after_epoch(&mut self, session: &Session, interrupted: bool) -> Result<(), Diagnostic> {
        let epoch = session.epochs_done();
        if !(epoch.is_multiple_of(self.every) || session.finished() || interrupted) {
            return Ok(());
        }
        let trace = self.dir.join(TRACE_FILE);
        match self.traced {
            Some(written) if written <= session.trace.len() => {
                output::append(&trace, trace_text(&session.trace[written..]).as_bytes())?
            }
            _ => output::write_atomic(&trace, trace_text(&session.trace).as_bytes())?,
        }
        self.traced = Some(session.trace.len());
        save(session, &self.dir.join(file_name(epoch)))?;
        self.prune()
    }

    /// Removes all but the newest `keep` checkpoints of the directory.
    fn prune(&self) -> Result<(), Diagnostic> {
        let mut files = checkpoints_in(&self.dir)?;
        files.sort_by_key(|(epoch, _)| *epoch);
        let excess = files.len().saturating_sub(self.keep);
        for (_, path) in &files[..excess] {
            std::fs::remove_file(path).map_err(|e| {
                Diagnostic::error(Code::Output, format!("cannot remove the old checkpoint `{}`: {e}", path.display()))
            })?;
        }
        Ok(())
    }
}

/// The checkpoint files of a directory with their epochs (by number: epoch-1000000 comes after
/// epoch-999999).
fn checkpoints_in(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Diagnostic> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::error(Code::DataFile, format!("cannot read `{}`: {e}", dir.display())))?;
    Ok(entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let epoch = name.strip_prefix("epoch-")?.strip_suffix(".ckpt")?.parse().ok()?;
            Some((epoch, path))
        })
        .collect())
}
