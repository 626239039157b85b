//! Checkpoints: a session written down, so `--resume` continues exactly where it stopped.
//!
//! A checkpoint is a safetensors file: the weights (`params.` + state_dict name), the
//! optimizer's moments (`first.`, `second.`), early stopping's best weights (`best.`) and the
//! batch order (`order`, int64); its metadata holds the epoch, the step count, the positions of
//! the shuffle and dropout streams, early stopping's memory and the trace so far. Files are
//! written atomically, so the newest file in a directory is always complete.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::early_stop::EarlyStopping;
use super::{Session, TraceLine};
use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::output;
use crate::plan::Plan;
use crate::rng::{self, Stream};
use crate::weights::{self, Decoded, Values};

const FORMAT: &str = "nnspec-checkpoint-1";

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
    let line = |line: Option<&TraceLine>| line.map_or(Value::Null, |l| serde_json::to_value(l).expect("serialisable"));
    let early = session.early_stop.as_ref().map_or(
        Value::Null,
        |tracker| serde_json::json!({ "best": line(tracker.best_line()), "waited": tracker.waited() }),
    );
    let state = serde_json::json!({
        "epoch": session.epoch,
        "step": session.state.step,
        "shuffle_word_pos": session.shuffle_rng.get_word_pos().to_string(),
        "dropout_words": session.state.dropout_words.to_string(),
        "stopped": session.stopped,
        "best": line(session.best.as_ref()),
        "early_stop": early,
        "trace": session.trace.iter().map(|l| line(Some(l))).collect::<Vec<_>>(),
    });
    let mut metadata = weights::metadata(plan, &session.data.scaler);
    metadata.insert("nnspec.checkpoint".to_string(), FORMAT.to_string());
    metadata.insert("nnspec.run".to_string(), run_signature(plan));
    metadata.insert("nnspec.state".to_string(), state.to_string());
    output::write_atomic(path, &weights::encode(tensors, metadata))
}

/// Everything about a run that a resume must not change: the plan (layers, their settings,
/// loss, optimizer and schedule, batch) and the seed, shuffling and early stopping; not the
/// epoch count or logging, which may grow. One line per setting, so a change can be named.
fn run_signature(plan: &Plan) -> String {
    let text = plan.to_string().replace(&format!(" ({})", plan.file), "");
    let mut lines: Vec<String> =
        text.lines().map(|line| line.split("  # ").next().unwrap_or(line).trim_end().to_string()).collect();
    lines.push(format!("seed {}, shuffle {}", plan.train.seed, plan.train.shuffle));
    lines.push(format!("early stopping {:?}", plan.train.early_stop));
    lines.join("\n")
}

/// A checkpoint read from disk, ready to restore.
pub struct Checkpoint {
    path: PathBuf,
    decoded: Decoded,
    state: Value,
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
    if decoded.metadata.get("nnspec.checkpoint").map(String::as_str) != Some(FORMAT) {
        return Err(invalid("no checkpoint format marker"));
    }
    let state: Value = decoded
        .metadata
        .get("nnspec.state")
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| invalid("no readable training state"))?;
    Ok(Checkpoint { path: path.to_path_buf(), decoded, state })
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
        if let Some(saved) = self.decoded.metadata.get("nnspec.run") {
            let now = run_signature(plan);
            if *saved != now {
                let changed = saved.lines().zip(now.lines()).find(|(a, b)| a != b);
                let mut error = Diagnostic::error(
                    Code::DataShape,
                    format!("cannot resume from `{}`: the spec differs from the run it was saved from", self.path.display()),
                )
                .help("a resumed run must keep its layers, loss, optimizer, batch and seed; only `epochs` and logging may change");
                if let Some((before, after)) = changed {
                    error = error.note(format!("was: {}", before.trim())).note(format!("now: {}", after.trim()));
                }
                return Err(error);
            }
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
        let number = |key: &str| self.state[key].as_u64().ok_or_else(|| invalid(format!("`{key}` is missing")));
        let big = |key: &str| {
            self.state[key]
                .as_str()
                .and_then(|s| s.parse::<u128>().ok())
                .ok_or_else(|| invalid(format!("`{key}` is missing")))
        };
        session.epoch = number("epoch")? as usize;
        session.state.step = number("step")?;
        session.state.dropout_words = big("dropout_words")?;
        let mut shuffle = rng::stream(plan.train.seed, Stream::Shuffle);
        shuffle.set_word_pos(big("shuffle_word_pos")?);
        session.shuffle_rng = shuffle;
        session.stopped = self.state["stopped"].as_bool().unwrap_or(false);
        session.trace = self.state["trace"]
            .as_array()
            .map(|lines| lines.iter().filter_map(TraceLine::from_json).collect())
            .unwrap_or_default();
        session.best = TraceLine::from_json(&self.state["best"]);
        session.elapsed_offset = session.trace.last().map_or(0.0, |l| l.elapsed_s);
        if let Some(settings) = plan.train.early_stop {
            let best_params = weights::params_from(plan, &self.decoded, "best.", &self.path)?;
            let early = &self.state["early_stop"];
            let waited = early["waited"].as_u64().ok_or_else(|| invalid("early stopping's state is missing".into()))?;
            session.early_stop = Some(EarlyStopping::restore(
                settings,
                best_params,
                TraceLine::from_json(&early["best"]),
                waited as usize,
            ));
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
