//! The plan as stable text (what `nnspec plan` prints and the plan snapshots hold): a header,
//! then one line per kernel with its shapes and the spec line it came from.

use std::fmt;

use super::{Kernel, Phase, Plan};
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

    /// The kernel's name and its operands.
    fn describe(&self, kernel: &Kernel) -> (String, String) {
        match kernel {
            Kernel::Dense {
                input,
                output,
                weight,
                bias,
                ..
            } => (
                "dense".into(),
                format!(
                    "{} -> {}  with {}, {}",
                    self.buffer(*input),
                    self.buffer(*output),
                    self.param(*weight),
                    self.param(*bias)
                ),
            ),
            Kernel::Activation { activation, buffer } => (
                activation.keyword().into(),
                format!("{} in place", self.buffer(*buffer)),
            ),
            Kernel::Loss { kernel, output, fused } => {
                let name = serde_json::to_value(kernel)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let fused = fused
                    .map(|a| format!("  ({} fused into the loss)", a.keyword()))
                    .unwrap_or_default();
                (
                    name,
                    format!("{}, y[b,{}] -> loss{fused}", self.buffer(*output), self.output_width),
                )
            }
            Kernel::ActivationBackward { activation, buffer } => (
                format!("{}'", activation.keyword()),
                format!("d{} in place", self.buffer(*buffer)),
            ),
            Kernel::DenseBackward {
                input,
                output,
                weight,
                bias,
                input_grad,
                ..
            } => {
                let mut outs = vec![format!("d{}", self.param(*weight)), format!("d{}", self.param(*bias))];
                if *input_grad {
                    outs.push(format!("d{}", self.buffer(*input)));
                }
                (
                    "dense'".into(),
                    format!("d{} -> {}", self.buffer(*output), outs.join(", ")),
                )
            }
            Kernel::Update { optimizer, params } => (
                optimizer.describe(),
                params.iter().map(|p| self.param(*p)).collect::<Vec<_>>().join(", "),
            ),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<String> = self.buffers.iter().map(|b| b.width.to_string()).collect();
        let batch = match self.train.batch {
            Batch::Full => "full".to_string(),
            Batch::Rows(rows) => rows.to_string(),
        };
        writeln!(
            f,
            "plan {} ({}): {}, {} parameters, batch {batch} (b rows), chunks of {} rows",
            self.name,
            self.file,
            widths.join(" -> "),
            self.parameter_count(),
            self.chunk_rows
        )?;
        let rows: Vec<(Phase, String, String, usize)> = self
            .steps
            .iter()
            .map(|step| {
                let (name, operands) = self.describe(&step.kernel);
                (step.phase, name, operands, step.line)
            })
            .collect();
        let name_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let operand_width = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
        let mut phase = None;
        for (step_phase, name, operands, line) in rows {
            if phase != Some(step_phase) {
                let title = match step_phase {
                    Phase::Forward => "forward",
                    Phase::Loss => "loss",
                    Phase::Backward => "backward",
                    Phase::Update => "update",
                };
                writeln!(f, "{title}")?;
                phase = Some(step_phase);
            }
            writeln!(
                f,
                "  {name:<name_width$}  {operands:<operand_width$}  # {}:{line}",
                self.file
            )?;
        }
        Ok(())
    }
}
