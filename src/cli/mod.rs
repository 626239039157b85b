//! The `nnspec` command line: argument parsing (clap), then one function per command. Errors
//! are rendered here, against the spec they point into, and mapped to exit codes.

mod bench;
mod commands;
mod export;
mod fmt;
mod golden;
mod init;
mod interrupt;
mod predict;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diagnostic::ColorChoice;
use crate::report::{Kind, Report};
use crate::run::RunOptions;
use crate::spec::{LoadOptions, Spec};

#[derive(Parser, Debug)]
#[command(
    name = "nnspec",
    version,
    about = "Compile, check and train declarative neural-network specs",
    after_help = "Examples:\n  \
    nnspec run specs/iris.nn --trace iris.jsonl --save iris.safetensors\n  \
    nnspec check specs/iris.nn\n  \
    nnspec plan specs/iris.nn\n  \
    nnspec predict specs/iris.nn --weights iris.safetensors --input new.csv\n  \
    nnspec eval specs/iris.nn --weights iris.safetensors --data test.csv --json\n  \
    nnspec export-torch specs/iris.nn --script iris_torch.py\n  \
    nnspec export-onnx specs/iris.nn --weights iris.safetensors --output iris.onnx\n  \
    nnspec test --bless\n  \
    nnspec init my_model\n  \
    nnspec fmt --check specs/*.nn\n  \
    nnspec plot iris.jsonl --output iris.svg\n  \
    nnspec bench benches/w2_mnist.nn --threads 2\n  \
    nnspec explain E0002\n  \
    nnspec completions bash\n\n\
    Exit codes: 0 success, 1 data, file or run failure, 2 invalid spec or usage."
)]
pub struct Cli {
    /// Colour in diagnostics.
    #[arg(long, value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// `--max-memory` before the command's name, as older versions took it everywhere.
    #[arg(long, hide = true, value_parser = crate::data::memory::parse_size)]
    pub max_memory: Option<f64>,
    /// `--allow-path` before the command's name, as older versions took it everywhere.
    #[arg(long = "allow-path", value_name = "DIR", hide = true)]
    pub allow_paths: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--max-memory`: on the commands that load data or train.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Memory {
    /// The most memory a run may use (e.g. 512M, 8G); default: the memory available. A spec
    /// estimated to need more is refused before anything is allocated.
    #[arg(long, value_parser = crate::data::memory::parse_size)]
    pub max_memory: Option<f64>,
}

/// `--allow-path`: on the commands that read the files a spec or nnspec.toml names.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Paths {
    /// Let paths in specs and nnspec.toml lead into DIR, outside the project (repeatable). By
    /// default they must stay inside the project root: the nearest folder above the spec holding
    /// nnspec.toml or .git.
    #[arg(long = "allow-path", value_name = "DIR")]
    pub allow_paths: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a spec: print its summary and one line per logged epoch.
    ///
    /// Example: nnspec run specs/xor.nn --trace xor.jsonl --threads 2
    Run(RunArgs),
    /// Predict with trained weights: a header and one row per input row, to stdout or a file.
    ///
    /// Example: nnspec predict specs/iris.nn --weights iris.safetensors --input new.csv
    Predict {
        /// The spec the weights were trained from (.nn).
        spec: PathBuf,
        /// Weights saved by `nnspec run --save`.
        #[arg(long)]
        weights: PathBuf,
        /// A CSV file with the spec's feature columns (target columns are ignored).
        #[arg(long)]
        input: PathBuf,
        /// Write the predictions here (atomically) instead of to stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        memory: Memory,
        #[command(flatten)]
        paths: Paths,
    },
    /// Evaluate trained weights on a labelled CSV file: loss, metrics, confusion matrix.
    ///
    /// Example: nnspec eval specs/iris.nn --weights iris.safetensors --data specs/data/iris.csv
    Eval {
        /// The spec the weights were trained from (.nn).
        spec: PathBuf,
        /// Weights saved by `nnspec run --save`.
        #[arg(long)]
        weights: PathBuf,
        /// A CSV file with the spec's feature and target columns.
        #[arg(long)]
        data: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        memory: Memory,
        #[command(flatten)]
        paths: Paths,
    },
    /// Train the specs that nnspec.toml lists and compare their traces with golden files.
    ///
    /// Example: nnspec test            (exit 1 and a diff when a trace drifted)
    /// Example: nnspec test --bless    (rewrite the golden files)
    Test {
        /// The configuration (specs and golden traces; format in docs/language.md); default:
        /// nnspec.toml in this folder or the nearest folder above it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Rewrite the golden traces instead of comparing.
        #[arg(long)]
        bless: bool,
        /// Worker threads (default and at most: one per core). The traces are identical for any value.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        #[command(flatten)]
        memory: Memory,
        #[command(flatten)]
        paths: Paths,
    },
    /// Create a starter project: NAME/NAME.nn and NAME/nnspec.toml.
    ///
    /// Example: nnspec init my_model
    Init {
        /// The project's folder and model name.
        name: String,
    },
    /// Print a shell completion script.
    ///
    /// Example: nnspec completions bash > /etc/bash_completion.d/nnspec
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Rewrite specs in canonical form, keeping comments; with --check, only report.
    ///
    /// Example: nnspec fmt specs/*.nn
    /// Example: nnspec fmt --check specs/*.nn   (exit 1 and the names of files to format)
    Fmt {
        /// The spec files to format in place.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Change nothing: print the files that are not in canonical form, and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Draw the loss and metric curves of a trace (JSON lines) as SVG or PNG.
    ///
    /// Example: nnspec plot iris.jsonl --output iris.svg
    Plot {
        /// A trace written by `nnspec run --trace` (JSON lines).
        trace: PathBuf,
        /// The image to write (atomically): SVG or PNG, by the file's extension.
        #[arg(long)]
        output: PathBuf,
        /// Draw the loss on a logarithmic axis.
        #[arg(long)]
        log_loss: bool,
        /// The plot's title (default: the trace file's name).
        #[arg(long)]
        title: Option<String>,
    },
    /// Explain an error code, with an example.
    ///
    /// Example: nnspec explain E0002
    Explain {
        /// The code, as in `error[E0002]` (`E0002`, or `2`).
        code: String,
    },
    /// Print the PyTorch module whose `load_state_dict` takes the weights `--save` writes (with
    /// the input scaling built in), or write a PyTorch training script for the spec.
    ///
    /// Example: nnspec export-torch specs/iris.nn
    /// Example: nnspec export-torch specs/iris.nn --script iris_torch.py   (then python iris_torch.py,
    /// or torchrun --nproc_per_node 2 iris_torch.py)
    ExportTorch {
        /// The spec to export (.nn).
        spec: PathBuf,
        /// Write a self-contained PyTorch training script (one process or torchrun) to this file.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Take the module's input scaling from these weights (default: fitted on the spec's
        /// training rows, as a run would fit it).
        #[arg(long, conflicts_with = "script")]
        weights: Option<PathBuf>,
        /// Change a setting without editing the spec (as `run --set`).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        paths: Paths,
    },
    /// Write trained weights as an ONNX model (opset 17) that takes raw rows and gives what
    /// `predict` prints (and, for classifiers, the class).
    ///
    /// Example: nnspec export-onnx specs/iris.nn --weights iris.safetensors --output iris.onnx
    ExportOnnx {
        /// The spec the weights were trained from (.nn).
        spec: PathBuf,
        /// Weights saved by `nnspec run --save` (their input scaling is built in).
        #[arg(long)]
        weights: PathBuf,
        /// The ONNX file to write (atomically).
        #[arg(long)]
        output: PathBuf,
        #[command(flatten)]
        paths: Paths,
    },
    /// Check a spec and its data header without training; print the inferred shapes.
    ///
    /// Example: nnspec check specs/iris_petal_width.nn
    /// Example: nnspec check --json specs/iris.nn   (diagnostics as JSON, for editors and CI)
    Check {
        /// The spec to check (.nn).
        spec: PathBuf,
        /// Print one JSON object: `{"file", "valid", "diagnostics": [...]}`, each diagnostic
        /// with its code, severity, message, file, line and column.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        memory: Memory,
        #[command(flatten)]
        paths: Paths,
    },
    /// Train benchmark specs and print one JSON line each with samples per second, timed as
    /// the NumPy and PyTorch baselines in benches/ time themselves (see benches/compare.py).
    ///
    /// Example: nnspec bench benches/w2_mnist.nn --threads 2
    Bench {
        /// The benchmark specs to train (.nn).
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Worker threads (default and at most: one per core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        /// Rows per parallel chunk instead of the plan's own choice (for experiments).
        #[arg(long, hide = true)]
        chunk_rows: Option<usize>,
        #[command(flatten)]
        memory: Memory,
    },
    /// Print the execution plan: one line per kernel, with shapes and spec lines.
    ///
    /// Example: nnspec plan specs/seed.nn
    Plan {
        /// The spec to compile (.nn).
        spec: PathBuf,
        #[command(flatten)]
        memory: Memory,
        #[command(flatten)]
        paths: Paths,
    },
}

impl Command {
    /// The command's `--max-memory` and `--allow-path`, where it takes them.
    fn limits(&self) -> (Option<&Memory>, Option<&Paths>) {
        match self {
            Command::Run(args) => (Some(&args.memory), Some(&args.paths)),
            Command::Predict { memory, paths, .. }
            | Command::Eval { memory, paths, .. }
            | Command::Test { memory, paths, .. }
            | Command::Check { memory, paths, .. }
            | Command::Plan { memory, paths, .. } => (Some(memory), Some(paths)),
            Command::ExportTorch { paths, .. } | Command::ExportOnnx { paths, .. } => (None, Some(paths)),
            Command::Bench { memory, .. } => (Some(memory), None),
            Command::Init { .. }
            | Command::Completions { .. }
            | Command::Fmt { .. }
            | Command::Plot { .. }
            | Command::Explain { .. } => (None, None),
        }
    }
}

/// The arguments of `nnspec run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The spec to train (.nn).
    pub spec: PathBuf,
    /// Write the trace as JSON lines (one object per logged epoch) to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Worker threads (default and at most: one per core). Results are identical for any value.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Save the trained weights (safetensors, PyTorch state_dict names) to this file.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Start from these weights (a file `--save` wrote) instead of the seeded initialisation.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Write a checkpoint every N epochs (and after the last, or after Ctrl-C) into
    /// `--checkpoint-dir`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Where checkpoints go, as epoch-NNNNNN.ckpt, with the run's trace.jsonl beside them;
    /// default: SPEC.checkpoints beside the --save file (else --trace, --summary-json, or here).
    #[arg(long, requires = "checkpoint_every")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Keep the newest N checkpoints and remove older ones.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_checkpoints: u64,
    /// Continue from a checkpoint, or from the newest complete checkpoint in a directory.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Change a setting without editing the spec, e.g. `--set train.epochs=5 --set optimizer.lr=0.1`
    /// (values as in a spec; where a string is expected, the text is the string: `--set data.target=y`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write a JSON summary of the run: final and best metrics, epochs, stop reason, parameters, time.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Draw the loss and metric curves at the end, as SVG or PNG (by the file's extension).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub memory: Memory,
    #[command(flatten)]
    pub paths: Paths,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = cli.color;
    // The command's own `--max-memory` and `--allow-path`, or those given before its name.
    let (memory, paths) = cli.command.limits();
    let memory = memory.and_then(|m| m.max_memory).or(cli.max_memory);
    let mut allow_paths = cli.allow_paths;
    allow_paths.extend(paths.iter().flat_map(|p| p.allow_paths.iter().cloned()));
    let context = Context { color, max_memory: memory, allow_paths };
    let ctx = &context;
    let result = match cli.command {
        Command::Run(args) => commands::run(&args, ctx),
        Command::Predict { spec, weights, input, output, .. } => {
            predict::predict(&spec, &weights, &input, output.as_deref(), ctx)
        }
        Command::Eval { spec, weights, data, json, .. } => predict::eval(&spec, &weights, &data, json, ctx),
        Command::Explain { code } => explain(&code),
        Command::Fmt { specs, check } => fmt::fmt(&specs, check),
        Command::Plot { trace, output, log_loss, title } => {
            crate::plot::plot_file(&trace, &output, &crate::plot::Style { title, log_loss })
        }
        Command::Test { config, bless, threads, .. } => {
            let options = RunOptions { threads: threads.map(usize::from), max_memory: memory, ..RunOptions::default() };
            golden::test(config, bless, &options, ctx)
        }
        Command::Init { name } => init::init(&name),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "nnspec", &mut text);
            emit(&String::from_utf8_lossy(&text))
        }
        Command::ExportTorch { spec, script, weights, set, .. } => {
            let args = export::TorchArgs {
                spec: &spec,
                script: script.as_deref(),
                weights: weights.as_deref(),
                overrides: &set,
            };
            export::export_torch(&args, ctx)
        }
        Command::ExportOnnx { spec, weights, output, .. } => export::export_onnx(&spec, &weights, &output, ctx),
        Command::Check { spec, json, .. } => commands::check(&spec, json, ctx),
        Command::Bench { specs, threads, chunk_rows, .. } => {
            let options = RunOptions {
                threads: threads.map(usize::from),
                chunk_rows,
                max_memory: memory,
                ..RunOptions::default()
            };
            bench::bench(&specs, &options)
        }
        Command::Plan { spec, .. } => commands::plan(&spec, ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            eprint!("{}", report.render(color));
            ExitCode::from(report.exit_code())
        }
    }
}

fn explain(name: &str) -> Result<(), Report> {
    use crate::diagnostic::{Code, Diagnostic, explain};
    match explain::find(name) {
        Some(code) => emit(&format!("{}\n\n{}", code.as_str(), explain::explain(code))),
        None => {
            let codes: Vec<&str> = explain::ALL.iter().map(|c| c.as_str()).collect();
            Err(Report::of_kind(
                Kind::Spec,
                vec![
                    Diagnostic::error(Code::UnknownName, format!("no error code `{name}`"))
                        .note(format!("the codes are {}", codes.join(", "))),
                ],
            ))
        }
    }
}

/// Writes to stdout; a failure to write (a full disk, say) is an output error, exit 1. When
/// the reader has gone away (`nnspec predict ... | head`), the process ends quietly, as it would
/// by SIGPIPE.
fn emit(text: &str) -> Result<(), Report> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(BROKEN_PIPE_EXIT),
        Err(error) => Err(Report::from(crate::diagnostic::Diagnostic::error(
            crate::diagnostic::Code::Output,
            format!("cannot write the output: {error}"),
        ))),
    }
}

/// The exit status a shell reports for a process ended by SIGPIPE (128 + 13).
const BROKEN_PIPE_EXIT: i32 = 141;

/// Prints warnings (they do not change the exit code).
fn warn(report: Option<Report>, color: ColorChoice) {
    if let Some(report) = report {
        eprint!("{}", report.render(color));
    }
}

/// The global options every command sees.
pub struct Context {
    pub color: ColorChoice,
    pub max_memory: Option<f64>,
    pub allow_paths: Vec<PathBuf>,
}

/// Loads a spec for a command (with `--set` overrides) and prints its warnings.
fn load(path: &std::path::Path, overrides: &[String], ctx: &Context) -> Result<Spec, Report> {
    let options = LoadOptions { overrides: overrides.to_vec(), allow_paths: ctx.allow_paths.clone() };
    let spec = Spec::load_with(path, &options)?;
    warn(spec.warnings_report(), ctx.color);
    Ok(spec)
}
