//! `nnspec explain CODE`: what each error code means, with an example, as `rustc --explain`.

use super::Code;

/// Every code, in order.
pub const ALL: [Code; 15] = [
    Code::Syntax,
    Code::UnknownName,
    Code::Duplicate,
    Code::WrongType,
    Code::OutOfRange,
    Code::Missing,
    Code::LossMismatch,
    Code::TooLarge,
    Code::PathPolicy,
    Code::Width,
    Code::DataFile,
    Code::DataShape,
    Code::Runtime,
    Code::Output,
    Code::Interrupted,
];

/// The explanation of a code: a paragraph, then an example that triggers it and its fix.
pub fn explain(code: Code) -> &'static str {
    match code {
        Code::Syntax => {
            "The text does not follow nnspec's grammar. Statements (`model`, `loss`, `optimizer`,\n\
             `data`, `train`) and layers end at the end of a line or at `;`; arguments are\n\
             `name: value`, separated by commas. Exit code 2.\n\n\
             Example:\n    optimizer sgd(lr = 0.1)\nFix:\n    optimizer sgd(lr: 0.1)\n"
        }
        Code::UnknownName => {
            "A keyword, layer, activation, loss, optimizer, initialiser, data source or argument\n\
             that nnspec does not know. The message lists the names that exist and suggests the\n\
             closest one, or nnspec's name for another framework's (`learning_rate` is `lr`).\n\
             Exit code 2.\n\n\
             Example:\n    dense 16 rleu\nFix:\n    dense 16 relu\n"
        }
        Code::Duplicate => {
            "The same statement or argument is given twice, or two settings contradict each\n\
             other (validation rows from both a file and a split). A spec says each thing once.\n\
             Exit code 2.\n\n\
             Example:\n    train { epochs: 10, epochs: 20 }\nFix:\n    train { epochs: 20 }\n"
        }
        Code::WrongType => {
            "A value of the wrong kind: a string where a number is expected, a named argument\n\
             where only positional ones are allowed, an item a layer does not take. Exit code 2.\n\n\
             Example:\n    train { epochs: \"ten\" }\nFix:\n    train { epochs: 10 }\n"
        }
        Code::OutOfRange => {
            "A value outside its allowed range: a learning rate that is not positive, zero units,\n\
             a dropout probability outside [0, 1), zero epochs, a split that leaves no training\n\
             rows, or a number that f32 cannot hold. Exit code 2.\n\n\
             Example:\n    dropout 1.5\nFix:\n    dropout 0.5\n"
        }
        Code::Missing => {
            "Something required is absent: one of the five statements, the `input` line, a\n\
             layer's unit count, a required argument, the class count that `cross_entropy`\n\
             needs, validation data for early stopping, or any layer with weights to train.\n\
             Exit code 2.\n\n\
             Example (no `loss` statement):\n    model m { input 2; dense 1 }\nFix: add\n    loss mse\n"
        }
        Code::LossMismatch => {
            "The loss cannot be computed on what the model outputs: `bce` needs a final\n\
             `sigmoid`, `cross_entropy` a final `softmax` as wide as the number of classes.\n\
             As a warning: a regression loss after a `softmax`. Exit code 2.\n\n\
             Example:\n    dense 2 softmax   # with classes: 3\nFix:\n    dense 3 softmax\n"
        }
        Code::TooLarge => {
            "The run would need more memory than allowed (`--max-memory`, by default the\n\
             memory available). nnspec estimates the data, the batch buffers and the parameters\n\
             with their optimizer state before allocating anything. Exit code 2.\n\n\
             Example:\n    data random(rows: 1e12, inputs: 100)\nFix: use fewer rows, a smaller batch or narrower layers.\n"
        }
        Code::PathPolicy => {
            "A path nnspec will not use. Every path a spec or nnspec.toml names must lead inside the\n\
             project (the nearest folder above the spec holding nnspec.toml or .git, else the spec's\n\
             own folder), links followed, so that a spec from a stranger cannot read or write the\n\
             rest of the machine; `--allow-path DIR` widens it. And no output may be one of the\n\
             command's inputs or another of its outputs. Exit code 2.\n\n\
             Example:\n    data csv(\"../../secrets.csv\", target: \"y\")\nFix: copy the data into the project, or run with\n    nnspec run spec.nn --allow-path ../..\n"
        }
        Code::Width => {
            "The model's input or output width does not match what the spec itself says of its\n\
             data: a generated source's `inputs` or `targets`, the number of `target` columns, or\n\
             the one output a two-class `bce` needs. The spec alone shows it, before any data is\n\
             read (the same mismatch found in a CSV file's header is E0101). Exit code 2.\n\n\
             Example:\n    dense 2 sigmoid   # but `target: \"y\"` names one column\nFix:\n    dense 1 sigmoid\n"
        }
        Code::DataFile => {
            "A data, weights or checkpoint file cannot be read or is malformed: missing, empty,\n\
             rows with the wrong number of fields, cells that are not finite numbers. The message\n\
             names the file, the row (as a line of the file) and the column. Exit code 1.\n\n\
             Example:\n    data csv(\"missing.csv\", target: \"y\")\nFix: check the path, which is relative to the spec file.\n"
        }
        Code::DataShape => {
            "The data does not match the spec: a named column is not in the header, the number\n\
             of feature columns differs from the input width, a class target is out of range, or\n\
             saved weights have other shapes than the spec's layers. Exit code 1.\n\n\
             Example:\n    input 3   # but the CSV has 2 feature columns\nFix:\n    input 2\n"
        }
        Code::Runtime => {
            "Training failed while running: the loss became NaN or infinite (the message gives the\n\
             epoch, the batch and the last finite loss). Exit code 1.\n\n\
             Example:\n    optimizer sgd(lr: 1000)\nFix: lower the learning rate, clip gradients with `clip_norm: 1`, or scale the inputs.\n"
        }
        Code::Output => {
            "An output (trace, weights, checkpoint, predictions, stdout) cannot be written.\n\
             nnspec checks output paths before training starts. Exit code 1.\n\n\
             Example:\n    nnspec run spec.nn --trace /no/such/dir/trace.jsonl\nFix: create the directory first.\n"
        }
        Code::Interrupted => {
            "The run was interrupted (Ctrl-C) and stopped cleanly after the epoch in progress: the\n\
             trace holds every finished epoch and, with checkpointing on, a final checkpoint was\n\
             written, so `--resume` continues the run exactly. Exit code 130.\n\n\
             Example:\n    nnspec run spec.nn --checkpoint-every 10   # then Ctrl-C\nFix: resume with\n    nnspec run spec.nn --resume checkpoints/\n"
        }
    }
}

/// The code with this name (`E0002`, or `e2`).
pub fn find(name: &str) -> Option<Code> {
    let digits: String = name.trim().trim_start_matches(['E', 'e']).to_string();
    let number: u32 = digits.parse().ok()?;
    ALL.into_iter().find(|code| code.as_str()[1..].parse::<u32>().ok() == Some(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_explained_and_found_by_name() {
        for code in ALL {
            assert!(explain(code).contains("Example"), "{code:?}");
            assert_eq!(find(code.as_str()), Some(code));
        }
        assert_eq!(find("e2"), Some(Code::UnknownName));
        assert_eq!(find("E9999"), None);
    }
}
