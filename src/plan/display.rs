//! The plan as stable text (what `nnspec plan` prints and the plan snapshots hold): a header,
//! then one line per kernel with its shapes and the spec line it came from.

use std::fmt;

use super::{Kernel, Node, Op, Phase, Plan};
use crate::ir::Batch;

impl Plan {
    fn buffer(&self, id: usize) -> String {
        let buffer = &self.buffers[id];
        format!("{}[b,{}]", buffer.name, buffer.width)
    }

    fn param(&self, id: usize) -> String {
        let param = &self.params[id];
        let dims: Vec<String> = param.shape.iter().map(usize::to_string).collect();
        format!("{}[{}]", param.name, dims.join(","))
    }

    fn params_of(&self, op: &Op) -> Vec<usize> {
        match op {
            Op::Dense { weight, bias, .. } | Op::LayerNorm { weight, bias, .. } => vec![*weight, *bias],
            Op::BatchNorm { weight, bias, .. } => vec![*weight, *bias],
            Op::Activation { .. } | Op::Dropout { .. } => vec![],
        }
    }

    fn op_name(op: &Op) -> String {
        match op {
            Op::Dense { .. } => "dense".into(),
            Op::Activation { activation, .. } => activation.describe(),
            Op::Dropout { p, .. } => format!("dropout({p})"),
            Op::BatchNorm { .. } => "batch_norm".into(),
            Op::LayerNorm { .. } => "layer_norm".into(),
        }
    }

    /// Settings shown after a forward kernel's operands.
    fn op_settings(op: &Op) -> String {
        match op {
            Op::BatchNorm { eps, momentum, .. } => format!(" (eps {eps}, momentum {momentum})"),
            Op::LayerNorm { eps, .. } => format!(" (eps {eps})"),
            _ => String::new(),
        }
    }

    fn forward(&self, node: &Node) -> (String, String) {
        let name = Self::op_name(&node.op);
        let mut text = if node.input == node.output {
            format!("{} in place", self.buffer(node.input))
        } else {
            format!("{} -> {}", self.buffer(node.input), self.buffer(node.output))
        };
        let params: Vec<String> = self.params_of(&node.op).into_iter().map(|p| self.param(p)).collect();
        if !params.is_empty() {
            text += &format!("  with {}", params.join(", "));
        }
        if let Op::BatchNorm { running_mean, running_var, .. } = node.op {
            text += &format!("; updates {}, {}", self.param(running_mean), self.param(running_var));
        }
        (name, text + &Self::op_settings(&node.op))
    }

    fn backward(&self, node: &Node) -> (String, String) {
        let name = format!("{}'", Self::op_name(&node.op));
        let mut outputs: Vec<String> =
            self.params_of(&node.op).into_iter().map(|p| format!("d{}", self.param(p))).collect();
        if node.input != 0 {
            outputs.push(format!("d{}", self.buffer(node.input)));
        }
        let text = if node.input == node.output {
            format!("d{} in place", self.buffer(node.output))
        } else {
            format!("d{} -> {}", self.buffer(node.output), outputs.join(", "))
        };
        (name, text)
    }

    /// The kernel's name and its operands.
    fn describe(&self, kernel: &Kernel) -> (String, String) {
        match kernel {
            Kernel::Forward { node, activation } => {
                let (mut name, text) = self.forward(&self.nodes[*node]);
                if let Some(activation) = activation {
                    name += &format!("+{}", self.forward(&self.nodes[*activation]).0);
                }
                (name, text)
            }
            Kernel::Backward { node, activation, then } => {
                let (mut name, text) = self.backward(&self.nodes[*node]);
                if let Some(activation) = activation {
                    name = format!("{}+{name}", self.backward(&self.nodes[*activation]).0);
                }
                if let Some(then) = then {
                    name += &format!("+{}", self.backward(&self.nodes[*then]).0);
                }
                (name, text)
            }
            Kernel::Loss { output } => {
                let name = serde_json::to_value(self.loss_kernel)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_object()?.keys().next().cloned()))
                    .unwrap_or_default();
                let fused = self.fused.map(|a| format!("  ({} fused into the loss)", a.keyword())).unwrap_or_default();
                let weighted = if self.class_weights.is_empty() {
                    String::new()
                } else {
                    let weights: Vec<String> = self.class_weights.iter().map(f32::to_string).collect();
                    format!("  (class weights {})", weights.join(", "))
                };
                (name, format!("{}, y[b,{}] -> loss{fused}{weighted}", self.buffer(*output), self.target_width))
            }
            Kernel::Update => {
                let description = self.optimizer.describe();
                let name = description.split('(').next().unwrap_or_default().to_string();
                let trained: Vec<String> =
                    self.params.iter().enumerate().filter(|(_, p)| p.trainable).map(|(i, _)| self.param(i)).collect();
                (name, trained.join(", "))
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<String> = self.buffers.iter().map(|b| b.width.to_string()).collect();
        let mut batch = match self.train.batch {
            Batch::Full => "full (b rows)".to_string(),
            Batch::Rows(rows) => format!("{rows} (b rows)"),
        };
        if self.train.drop_last {
            batch = batch.replace(')', ", a short last batch dropped)");
        }
        // Tasks per kernel, shown when a batch's size is known and some kernel is split.
        let tasks = |kernel: &Kernel| match self.train.batch {
            Batch::Rows(rows) => self.tasks(kernel, rows),
            Batch::Full => vec![1],
        };
        let total: usize = self.steps.iter().map(|step| tasks(&step.kernel).iter().sum::<usize>()).sum();
        let parallel = total > self.steps.len();
        write!(
            f,
            "plan {} ({}): buffers {}, {} parameters, batch {batch}, {}",
            self.name,
            self.file,
            widths.join(", "),
            self.parameter_count(),
            match self.train.batch {
                Batch::Rows(rows) => format!("chunks of {} rows", self.chunk_rows(rows)),
                Batch::Full => "chunks sized with the data".to_string(),
            }
        )?;
        if parallel {
            write!(f, ", {total} tasks per step (tasks column: one count per parallel phase)")?;
        }
        writeln!(f)?;
        let mut optimizer = format!("optimizer {}", self.optimizer.describe());
        if self.schedule != crate::kernels::schedule::Schedule::Constant {
            optimizer += &format!(", schedule {}", self.schedule.describe());
        }
        if let Some(clip) = self.clip_norm {
            optimizer += &format!(", clip_norm {clip}");
        }
        writeln!(f, "{optimizer}")?;
        let trained: Vec<usize> = (0..self.params.len()).filter(|&i| self.params[i].trainable).collect();
        let rows: Vec<(Phase, String, String, String, usize)> = self
            .steps
            .iter()
            .flat_map(|step| {
                let (name, operands) = self.describe(&step.kernel);
                let counts = tasks(&step.kernel);
                let joined = |counts: &[usize]| counts.iter().map(usize::to_string).collect::<Vec<_>>().join("+");
                if step.kernel == Kernel::Update {
                    // One line per updated tensor keeps the columns narrow.
                    let whole = self.optimizer_pass_len() <= crate::plan::UPDATE_RANGE;
                    operands
                        .split(", ")
                        .zip(&trained)
                        .map(|(p, &id)| {
                            let ranges = match () {
                                _ if self.update_fused(id) => "in dense'".to_string(),
                                _ if whole => "1".to_string(),
                                _ => self.params[id].len().div_ceil(crate::plan::UPDATE_RANGE).to_string(),
                            };
                            (step.phase, name.clone(), p.to_string(), ranges, step.line)
                        })
                        .collect::<Vec<_>>()
                } else {
                    vec![(step.phase, name, operands, joined(&counts), step.line)]
                }
            })
            .collect();
        let name_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let operand_width = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let task_width = rows.iter().map(|r| r.3.len()).max().unwrap_or(0).max("tasks".len());
        let mut phase = None;
        for (step_phase, name, operands, count, line) in rows {
            if phase != Some(step_phase) {
                let title = match step_phase {
                    Phase::Forward => "forward",
                    Phase::Loss => "loss",
                    Phase::Backward => "backward",
                    Phase::Update => "update",
                };
                if parallel && phase.is_none() {
                    let pad = 2 + name_width + 2 + operand_width + 2 - title.len();
                    writeln!(f, "{title}{:pad$}{:>task_width$}", "", "tasks")?;
                } else {
                    writeln!(f, "{title}")?;
                }
                phase = Some(step_phase);
            }
            if parallel {
                writeln!(
                    f,
                    "  {name:<name_width$}  {operands:<operand_width$}  {count:>task_width$}  # {}:{line}",
                    self.file
                )?;
            } else {
                writeln!(f, "  {name:<name_width$}  {operands:<operand_width$}  # {}:{line}", self.file)?;
            }
        }
        Ok(())
    }
}
