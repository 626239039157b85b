//! Checkpoints: a session written down, so `--resume` continues exactly where it stopped.
//!
//! A checkpoint is a safetensors file: the weights (`params.` + state_dict name), the
//! optimizer's moments (`first.`, `second.`), early stopping's best weights (`best.`) and the
//! batch order (`order`, int64); its metadata holds the epoch, the step count, the positions of
//! the shuffle and dropout streams, early stopping's memory and the trace so far. Files are
//! written atomically, so the newest file in a directory is always complete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::early_stop::EarlyStopping;
use super::{Session, TraceLine};
use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::output;
use crate::plan::Plan;
use crate::rng::{self, Stream};
use crate::weights::{self, Decoded, Values};

const FORMAT: &str = "nnspec-checkpoint-2";

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
    /// The trace so far.
    trace: Vec<TraceLine>,
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
            early_stop: format!("{:?}", plan.train.early_stop),
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
            ("early stopping", self.early_stop.clone(), now.early_stop.clone()),
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

/// FNV-1a (64 bits) of the prepared rows and of which rows each split holds.
fn data_hash(data: &Prepared) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |bytes: &[u8]| {
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let dataset = &data.dataset;
    for value in dataset.inputs.iter().chain(&dataset.targets) {
        add(&value.to_bits().to_le_bytes());
    }
    for rows in [&data.splits.train, &data.splits.validation, &data.splits.test] {
        add(&(rows.len() as u64).to_le_bytes());
        for &row in rows {
            add(&(row as u64).to_le_bytes());
        }
    }
    format!("{hash:016x}")
}

/// The file name of the checkpoint after `epoch` epochs.
pub fn file_name(epoch: usize) -> String {
    format!("epoch-{epoch:06}.ckpt")
}

/// Writes the session as a checkpoint at `path`, atomically.
pub fn save(session: &Session, path: &Path) -> Result<(), Diagnostic> {
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
        trace: session.trace.clone(),
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
}

/// Reads a checkpoint file, or the newest complete checkpoint in a directory.
pub fn load(path: &Path) -> Result<Checkpoint, Diagnostic> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Diagnostic::error(Code::DataFile, format!("cannot read `{}`: {e}", path.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                    && p.extension().is_some_and(|e| e == "ckpt")
            })
            .collect();
        // By epoch number, not by name: epoch-1000000 comes after epoch-999999.
        let epoch_of = |p: &PathBuf| -> u64 {
            p.file_stem()
                .and_then(|s| s.to_string_lossy().strip_prefix("epoch-").and_then(|n| n.parse().ok()))
                .unwrap_or(0)
        };
        files.sort_by_key(epoch_of);
        // Newest first; a file that does not load (it cannot be half-written, but it may be
        // damaged) is skipped for the one before it.
        for file in files.iter().rev() {
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
    Ok(Checkpoint { path: path.to_path_buf(), decoded, state, signature })
}

impl Checkpoint {
    pub fn path(&self) -> &Path {
        &self.path
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
        let steps_per_epoch = data.splits.train.len().div_ceil(plan.batch_rows(data.splits.train.len())) as u64;
        if Some(state.step) != (state.epoch as u64).checked_mul(steps_per_epoch)
            || state.trace.iter().any(|line| line.epoch > state.epoch)
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
        session.trace = state.trace.clone();
        session.best = state.best.clone();
        session.elapsed_offset = session.trace.last().map_or(0.0, |l| l.elapsed_s);
        if let Some(settings) = plan.train.early_stop {
            let best_params = weights::params_from(plan, &self.decoded, "best.", &self.path)?;
            let early = state.early_stop.as_ref().ok_or_else(|| invalid("early stopping's state is missing".into()))?;
            session.early_stop = Some(EarlyStopping::restore(settings, best_params, early.best.clone(), early.waited));
        }
        Ok(session)
    }
}

/// Checkpoints every `every` epochs into `dir`, and after the last epoch.
pub struct Writer {
    pub every: usize,
    pub dir: PathBuf,
}

impl Writer {
    /// Writes the checkpoint of an epoch that is due (or the last, or the one a run was
    /// `interrupted` after).
    pub fn after_epoch(&self, session: &Session, interrupted: bool) -> Result<(), Diagnostic> {
        let epoch = session.epochs_done();
        if epoch.is_multiple_of(self.every) || session.finished() || interrupted {
            save(session, &self.dir.join(file_name(epoch)))?;
        }
        Ok(())
    }
}
