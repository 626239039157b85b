//! How a trace moved from its golden file: epochs matched by their number (a changed
//! `log_every` shows as missing and extra epochs, not as every line shifted), a summary first
//! (the first epoch that moved, the largest relative drift of each key), then the changed
//! numbers at the precision the tolerance asks for, the listing capped.

use serde_json::{Map, Value};

/// One number (or key) that moved in one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub epoch: u64,
    pub key: String,
    /// `None` where the key is absent on that side.
    pub golden: Option<f64>,
    pub now: Option<f64>,
    /// Both sides are integers in the JSON (`step`): shown without decimals.
    pub whole: bool,
}

impl Change {
    /// `(now - golden) / |golden|`, where both are numbers and the golden one is not zero.
    pub fn relative(&self) -> Option<f64> {
        let (a, b) = (self.golden?, self.now?);
        (a != 0.0).then(|| (b - a) / a.abs())
    }
}

/// The difference between a golden trace and the trace a run gives now.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// The relative tolerance it was measured with.
    pub tolerance: f64,
    /// Epochs logged in both traces.
    pub matched: usize,
    /// Epochs in the golden trace that the run no longer logs, and epochs it logs that the
    /// golden trace lacks, ascending.
    pub missing: Vec<u64>,
    pub extra: Vec<u64>,
    /// Every change beyond the tolerance in the epochs of both, by epoch then key order.
    pub changes: Vec<Change>,
}

/// The changes a report lists before it says how many more there are.
pub const LISTED: usize = 20;

/// The epochs named in full in a list of missing or extra epochs.
const EPOCHS_NAMED: usize = 10;

impl Drift {
    /// Compares two traces (JSON objects with an `epoch`) within `tolerance`, relative
    /// (absolute below 1e-12). `elapsed_s` varies between runs and is never compared.
    pub fn between(golden: &[Value], now: &[Value], tolerance: f64) -> Drift {
        let by_epoch = |lines: &[Value]| -> Vec<(u64, Map<String, Value>)> {
            let mut keyed: Vec<(u64, Map<String, Value>)> = lines
                .iter()
                .filter_map(|line| Some((line.get("epoch")?.as_u64()?, line.as_object()?.clone())))
                .collect();
            keyed.sort_by_key(|(epoch, _)| *epoch);
            keyed
        };
        let (golden, now) = (by_epoch(golden), by_epoch(now));
        let mut drift = Drift { tolerance, matched: 0, missing: Vec::new(), extra: Vec::new(), changes: Vec::new() };
        let (mut i, mut j) = (0, 0);
        while i < golden.len() || j < now.len() {
            match (golden.get(i), now.get(j)) {
                (Some((a, _)), Some((b, _))) if a < b => {
                    drift.missing.push(*a);
                    i += 1;
                }
                (Some((a, _)), Some((b, _))) if a > b => {
                    drift.extra.push(*b);
                    j += 1;
                }
                (Some((epoch, old)), Some((_, new))) => {
                    drift.matched += 1;
                    drift.changes.extend(changes(*epoch, old, new, tolerance));
                    i += 1;
                    j += 1;
                }
                (Some((a, _)), None) => {
                    drift.missing.push(*a);
                    i += 1;
                }
                (None, Some((b, _))) => {
                    drift.extra.push(*b);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        drift
    }

    /// Nothing moved: the same epochs, every number within the tolerance.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.changes.is_empty()
    }

    /// The first epoch with a change beyond the tolerance.
    pub fn first_drifted(&self) -> Option<u64> {
        self.changes.iter().map(|c| c.epoch).min()
    }

    /// Per key (in order of first appearance), the change with the largest relative size.
    pub fn largest(&self) -> Vec<&Change> {
        let mut largest: Vec<&Change> = Vec::new();
        for change in self.changes.iter().filter(|c| c.relative().is_some()) {
            let size = |c: &Change| c.relative().map_or(0.0, f64::abs);
            match largest.iter_mut().find(|c| c.key == change.key) {
                Some(held) if size(change) > size(held) => *held = change,
                Some(_) => {}
                None => largest.push(change),
            }
        }
        largest
    }

    /// Significant digits that show a difference of `tolerance` (relative): one more than
    /// the tolerance's decimal places, so two numbers that differ by more than the tolerance
    /// never print the same.
    pub fn digits(&self) -> usize {
        if self.tolerance > 0.0 { ((-self.tolerance.log10()).ceil().max(0.0) as usize + 1).clamp(2, 17) } else { 17 }
    }

    /// The report, indented by two spaces: the summary, missing and extra epochs, then at
    /// most `listed` changes and how many more there are.
    pub fn render(&self, listed: usize) -> String {
        let digits = self.digits();
        let mut out = String::new();
        if let Some(first) = self.first_drifted() {
            let epochs = {
                let mut epochs: Vec<u64> = self.changes.iter().map(|c| c.epoch).collect();
                epochs.dedup();
                epochs.len()
            };
            out += &format!(
                "  first drift at epoch {first}; {epochs} of {} matched epochs moved beyond the tolerance {}\n",
                self.matched, self.tolerance
            );
            let largest: Vec<String> = self
                .largest()
                .iter()
                .map(|c| format!("{} {} (epoch {})", c.key, percent(c.relative().unwrap_or(0.0)), c.epoch))
                .collect();
            if !largest.is_empty() {
                out += &format!("  largest drift per key: {}\n", largest.join(", "));
            }
        }
        if !self.missing.is_empty() {
            out += &format!("  missing epochs (in the golden trace, not logged now): {}\n", epoch_list(&self.missing));
        }
        if !self.extra.is_empty() {
            out += &format!("  extra epochs (logged now, not in the golden trace): {}\n", epoch_list(&self.extra));
        }
        for change in self.changes.iter().take(listed) {
            let number = |value: Option<f64>| {
                value.map_or("absent".to_string(), |v| {
                    if change.whole { format!("{v:.0}") } else { significant(v, digits) }
                })
            };
            let relative = change.relative().map(|r| format!(" ({})", percent(r))).unwrap_or_default();
            out += &format!(
                "  epoch {}: {} {} -> {}{relative}\n",
                change.epoch,
                change.key,
                number(change.golden),
                number(change.now)
            );
        }
        if self.changes.len() > listed {
            out += &format!("  ... and {} more changes\n", self.changes.len() - listed);
        }
        out
    }
}

/// The keys of one epoch that moved beyond `tolerance`, in the golden line's key order, then
/// the new line's.
fn changes(epoch: u64, old: &Map<String, Value>, new: &Map<String, Value>, tolerance: f64) -> Vec<Change> {
    let mut keys: Vec<&String> = old.keys().collect();
    keys.extend(new.keys().filter(|key| !old.contains_key(*key)));
    let mut out = Vec::new();
    for key in keys.into_iter().filter(|key| !matches!(key.as_str(), "epoch" | "elapsed_s")) {
        let (a, b) = (old.get(key).and_then(Value::as_f64), new.get(key).and_then(Value::as_f64));
        let moved = match (a, b) {
            (Some(a), Some(b)) => {
                let difference = (a - b).abs();
                difference > tolerance * a.abs().max(b.abs()) && difference > 1e-12
            }
            (a, b) => a.is_some() != b.is_some(),
        };
        if moved {
            let whole = [old.get(key), new.get(key)].into_iter().flatten().all(|v| v.is_i64() || v.is_u64());
            out.push(Change { epoch, key: key.clone(), golden: a, now: b, whole });
        }
    }
    out
}

/// `value` with `digits` significant digits: plain from 1e-4 to a million (and 0), else in
/// scientific notation.
pub fn significant(value: f64, digits: usize) -> String {
    let magnitude = value.abs();
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    if !(1e-4..1e6).contains(&magnitude) {
        return format!("{value:.*e}", digits.saturating_sub(1));
    }
    let decimals = (digits as i32 - 1 - magnitude.log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// A relative change as a signed percentage with three significant digits.
fn percent(relative: f64) -> String {
    let value = relative * 100.0;
    let decimals = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 10.0 {
        1
    } else if value.abs() >= 1.0 {
        2
    } else {
        3
    };
    if value != 0.0 && value.abs() < 0.001 {
        return format!("{value:+.2e}%");
    }
    format!("{value:+.decimals$}%")
}

/// Epoch numbers, the first few in full: `5, 15, 25 (3 epochs)`.
fn epoch_list(epochs: &[u64]) -> String {
    let named: Vec<String> = epochs.iter().take(EPOCHS_NAMED).map(u64::to_string).collect();
    let more = if epochs.len() > EPOCHS_NAMED { ", ..." } else { "" };
    format!("{}{more} ({} epoch{})", named.join(", "), epochs.len(), if epochs.len() == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trace(epochs: &[u64], loss: impl Fn(u64) -> f64) -> Vec<Value> {
        epochs.iter().map(|&e| json!({"epoch": e, "step": e * 4, "loss": loss(e), "lr": 0.01})).collect()
    }

    #[test]
    fn differences_beyond_the_tolerance_are_listed() {
        let golden = vec![json!({"epoch": 1, "loss": 1.0, "accuracy": 0.5})];
        let close = vec![json!({"epoch": 1, "loss": 1.00005, "accuracy": 0.5})];
        assert!(Drift::between(&golden, &close, 1e-4).is_empty());
        let moved = vec![json!({"epoch": 1, "loss": 1.1, "accuracy": 0.5, "elapsed_s": 3.0})];
        let drift = Drift::between(&golden, &moved, 1e-4);
        let loss = Change { epoch: 1, key: "loss".into(), golden: Some(1.0), now: Some(1.1), whole: false };
        assert_eq!(drift.changes, [loss]);
        assert!(
            drift.render(LISTED).contains("  epoch 1: loss 1.0000 -> 1.1000 (+10.0%)\n"),
            "{}",
            drift.render(LISTED)
        );
    }

    /// Logging every 10 epochs instead of every 5: the shared epochs still match, the others
    /// are named as missing (never "epoch 5: epoch 10 -> 5").
    #[test]
    fn epochs_are_matched_by_number() {
        let golden = trace(&[5, 10, 15, 20], |e| 1.0 / e as f64);
        let now = trace(&[10, 20, 25], |e| 1.0 / e as f64);
        let drift = Drift::between(&golden, &now, 1e-4);
        assert_eq!((drift.matched, drift.missing.as_slice(), drift.extra.as_slice()), (2, &[5, 15][..], &[25][..]));
        assert!(drift.changes.is_empty(), "{:?}", drift.changes);
        let text = drift.render(LISTED);
        assert!(text.contains("missing epochs (in the golden trace, not logged now): 5, 15 (2 epochs)"), "{text}");
        assert!(text.contains("extra epochs (logged now, not in the golden trace): 25 (1 epoch)"), "{text}");
        assert!(!text.contains("epoch 10 ->"), "{text}");
    }

    /// The summary comes first: the first epoch that moved and each key's largest drift.
    #[test]
    fn the_summary_leads_and_the_listing_is_capped() {
        let epochs: Vec<u64> = (1..=50).collect();
        let golden = trace(&epochs, |e| 1.0 / e as f64);
        // From epoch 7 on, the loss grows by 0.1% an epoch; `step` moves once, at epoch 30.
        let mut now = trace(&epochs, |e| 1.0 / e as f64 * (1.0 + 1e-3 * e.saturating_sub(6) as f64));
        now[29]["step"] = json!(121);
        let drift = Drift::between(&golden, &now, 1e-4);
        assert_eq!(drift.first_drifted(), Some(7));
        let largest: Vec<(&str, u64)> = drift.largest().iter().map(|c| (c.key.as_str(), c.epoch)).collect();
        assert_eq!(largest, [("loss", 50), ("step", 30)]);
        let text = drift.render(LISTED);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  first drift at epoch 7; 44 of 50 matched epochs moved beyond the tolerance 0.0001");
        assert_eq!(lines[1], "  largest drift per key: loss +4.40% (epoch 50), step +0.833% (epoch 30)");
        assert_eq!(lines.len(), 2 + LISTED + 1, "{text}");
        assert_eq!(lines.last(), Some(&"  ... and 25 more changes"));
        let whole = drift.render(usize::MAX);
        assert!(whole.contains("  epoch 30: step 120 -> 121 (+0.833%)\n"), "integers stay integers: {whole}");
    }

    /// A tolerance of 1e-4 shows five significant digits: enough to tell the numbers apart,
    /// not the 17 of a round trip.
    #[test]
    fn numbers_show_at_the_tolerance_precision() {
        let golden = vec![json!({"epoch": 3, "loss": 0.123456789012345, "val_loss": 2.5e-7})];
        let now = vec![json!({"epoch": 3, "loss": 0.123478901234567, "val_loss": 2.6e-7})];
        let text = Drift::between(&golden, &now, 1e-4).render(LISTED);
        assert!(text.contains("epoch 3: loss 0.12346 -> 0.12348 (+0.018%)"), "{text}");
        assert!(text.contains("epoch 3: val_loss 2.5000e-7 -> 2.6000e-7 (+4.00%)"), "{text}");
        assert_eq!(Drift::between(&golden, &now, 1e-2).digits(), 3);
        assert_eq!(significant(1.00011, 5), "1.0001");
        assert_eq!(significant(1.0, 5), "1.0000");
        assert_eq!(significant(-123.456789, 5), "-123.46");
    }

    #[test]
    fn keys_present_on_one_side_only_are_changes() {
        let golden = vec![json!({"epoch": 2, "loss": 1.0})];
        let now = vec![json!({"epoch": 2, "loss": 1.0, "test_loss": 0.5})];
        let drift = Drift::between(&golden, &now, 1e-4);
        assert!(drift.render(LISTED).contains("epoch 2: test_loss absent -> 0.50000\n"), "{}", drift.render(LISTED));
        assert!(drift.largest().is_empty());
    }
}
