//! One line of the training trace: a JSON object per logged epoch with the keys DESIGN.md
//! names, in order: `epoch`, `step`, the training metrics (`loss`, then `accuracy` or `mae`,
//! `rmse`, `r2`), the same with `val_` and `test_` prefixes where those splits exist, `lr`
//! and `elapsed_s`.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::metrics::Metrics;

#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Training metrics: the loss is the mean of the epoch's batch losses; the others count
    /// every training row once, each batch measured before its update.
    pub train: Metrics,
    pub validation: Option<Metrics>,
    /// Only on the final line, computed once on the final (or restored best) weights.
    pub test: Option<Metrics>,
    /// The learning rate of this epoch.
    pub lr: f64,
    /// Seconds from the start of the first step to the end of this epoch; the only key that
    /// varies between runs.
    pub elapsed_s: f64,
}

fn put_metrics<M: SerializeMap>(map: &mut M, prefix: &str, metrics: &Metrics) -> Result<(), M::Error> {
    map.serialize_entry(&format!("{prefix}loss"), &metrics.loss)?;
    for (key, value) in metrics.named() {
        if let Some(value) = value {
            map.serialize_entry(&format!("{prefix}{key}"), &value)?;
        }
    }
    Ok(())
}

impl Serialize for TraceLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("epoch", &self.epoch)?;
        map.serialize_entry("step", &self.step)?;
        put_metrics(&mut map, "", &self.train)?;
        if let Some(validation) = &self.validation {
            put_metrics(&mut map, "val_", validation)?;
        }
        if let Some(test) = &self.test {
            put_metrics(&mut map, "test_", test)?;
        }
        map.serialize_entry("lr", &self.lr)?;
        map.serialize_entry("elapsed_s", &self.elapsed_s)?;
        map.end()
    }
}

/// Read back from the object `Serialize` writes (checkpoints hold trace lines).
impl<'de> serde::Deserialize<'de> for TraceLine {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        TraceLine::from_json(&value).ok_or_else(|| serde::de::Error::custom(format!("not a trace line: {value}")))
    }
}

impl TraceLine {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace line always serialises")
    }

    /// Reads a line back from its JSON object (as a checkpoint stores it); `None` for `null`.
    pub fn from_json(value: &serde_json::Value) -> Option<TraceLine> {
        let object = value.as_object()?;
        let number = |key: &str| object.get(key).and_then(serde_json::Value::as_f64);
        let metrics = |prefix: &str| {
            Some(Metrics {
                loss: number(&format!("{prefix}loss"))?,
                accuracy: number(&format!("{prefix}accuracy")),
                mae: number(&format!("{prefix}mae")),
                rmse: number(&format!("{prefix}rmse")),
                r2: number(&format!("{prefix}r2")),
                precision: number(&format!("{prefix}precision")),
                recall: number(&format!("{prefix}recall")),
                f1: number(&format!("{prefix}f1")),
                auc: number(&format!("{prefix}auc")),
            })
        };
        Some(TraceLine {
            epoch: object.get("epoch")?.as_u64()? as usize,
            step: object.get("step")?.as_u64()?,
            train: metrics("")?,
            validation: metrics("val_"),
            test: metrics("test_"),
            lr: number("lr")?,
            elapsed_s: number("elapsed_s")?,
        })
    }

    /// The line without `elapsed_s`: what determinism and golden checks compare.
    pub fn without_time(&self) -> TraceLine {
        TraceLine { elapsed_s: 0.0, ..self.clone() }
    }
}
