//! The same spec gives a bit-identical trace (all but `elapsed_s`) and identical weights with
//! any number of threads: for every shipped spec, again with chunks small enough that every
//! batch is split across threads, and for a spec whose large layers run split by output tiles
//! into many tasks. The product kernels (AVX-512, AVX2, scalar) give the same bits too.

use std::path::Path;
use std::process::Command;

use nnspec::plan::Kernel;

use crate::support::{Scratch, all_specs, root};

/// The plan and data of a spec, as the façade prepares them.
fn prepare(spec: &Path, chunk_rows: Option<usize>) -> (nnspec::plan::Plan, nnspec::data::Prepared) {
    let spec = nnspec::Spec::load(spec, &[]).expect("valid spec");
    let options = nnspec::RunOptions { chunk_rows, ..nnspec::RunOptions::default() };
    nnspec::run::prepare(&spec, &options).unwrap_or_else(|report| panic!("{report}"))
}

/// The trace lines without their times, and every weight's bits, trained on a pool of exactly
/// `threads` threads (the façade would start no more than one per core).
fn run(spec: &Path, chunk_rows: Option<usize>, threads: usize) -> (Vec<String>, Vec<u32>) {
    let (plan, data) = prepare(spec, chunk_rows);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let outcome = pool.install(|| nnspec::train::train(&plan, &data, &mut ())).expect("training succeeds");
    let trace = outcome.trace.iter().map(|line| line.without_time().to_json()).collect();
    (trace, outcome.params.to_bits())
}

#[test]
fn traces_and_weights_do_not_depend_on_the_thread_count() {
    for spec in all_specs() {
        for chunk_rows in [None, Some(3)] {
            let one = run(&spec, chunk_rows, 1);
            assert!(!one.0.is_empty());
            for threads in [2, 3, 4, 16] {
                let other = run(&spec, chunk_rows, threads);
                assert_eq!(other.0, one.0, "{}: trace with {threads} threads differs", spec.display());
                assert_eq!(other.1, one.1, "{}: weights with {threads} threads differ", spec.display());
            }
        }
    }
}

/// Heavy enough that every large product splits into many tiles and packing jobs, with the
/// light kernels (dropout, layer norm, loss) in several row chunks.
const TILED: &str = "
model tiled {
    input 256
    dense 512 relu
    dropout 0.1
    dense 256 tanh
    layer_norm
    dense 10 softmax
}
loss cross_entropy
optimizer adam(lr: 0.001)
data random(rows: 1024, inputs: 256, classes: 10, seed: 5)
train { epochs: 2, batch: 256, seed: 3 }
";

#[test]
fn tiled_layers_give_the_same_bits_with_1_to_16_threads() {
    let scratch = Scratch::new("tiled", &[("tiled.nn", TILED)]);
    let spec = scratch.dir.join("tiled.nn");
    let (plan, _) = prepare(&spec, None);
    let split = plan.steps.iter().filter(|s| matches!(s.kernel, Kernel::Forward { .. } | Kernel::Backward { .. }));
    let most = split.map(|s| plan.tasks(&s.kernel, 256).into_iter().max().unwrap()).max().unwrap();
    assert!(most >= 16, "the biggest phase has {most} tasks: too few to occupy 16 threads");
    assert!(plan.chunk_rows(256) < 256, "the light kernels run in several chunks");
    let one = run(&spec, None, 1);
    for threads in 2..=16 {
        let other = run(&spec, None, threads);
        assert_eq!(other.0, one.0, "trace with {threads} threads differs");
        assert_eq!(other.1, one.1, "weights with {threads} threads differ");
    }
}

/// `NNSPEC_KERNELS` forces the AVX2 or the portable scalar kernels (on a CPU without AVX-512
/// or AVX2, the request falls back to the best present): the trace of a spec with a tiled
/// layer stays the same, bit for bit, and equal to the default kernels'.
#[test]
fn every_product_kernel_gives_the_same_trace() {
    let scratch = Scratch::new("kernels", &[]);
    let traces: Vec<String> = ["", "avx512", "avx2", "scalar"]
        .iter()
        .map(|kernels| {
            let trace = scratch.dir.join(format!("trace-{kernels}.jsonl"));
            let output = Command::new(env!("CARGO_BIN_EXE_nnspec"))
                .args(["run", "specs/digits.nn", "--quiet", "--threads", "2", "--trace"])
                .arg(&trace)
                .current_dir(root())
                .env("NNSPEC_KERNELS", kernels)
                .output()
                .expect("nnspec runs");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let text = std::fs::read_to_string(trace).unwrap();
            let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert!(!lines.is_empty());
            lines
                .into_iter()
                .map(|mut line| {
                    line.as_object_mut().unwrap().remove("elapsed_s");
                    line.to_string()
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    for (kernels, trace) in ["avx512", "avx2", "scalar"].iter().zip(&traces[1..]) {
        assert_eq!(trace, &traces[0], "NNSPEC_KERNELS={kernels} changes the trace");
    }
}

/// Class weights (`balanced`, resolved from the training rows) weigh each chunk's loss and
/// gradient by a scale that every chunk shares: the same bits for any thread count, and a
/// different run than without them.
#[test]
fn class_weights_give_the_same_bits_with_any_thread_count() {
    let weighted = TILED
        .replace("loss cross_entropy", "loss cross_entropy(class_weights: balanced)")
        .replace("dense 512 relu", "dense 32 relu")
        .replace("dense 256 tanh", "dense 16 tanh");
    let plain = weighted.replace("(class_weights: balanced)", "");
    let scratch = Scratch::new("weighted", &[("weighted.nn", weighted.as_str()), ("plain.nn", plain.as_str())]);
    let spec = scratch.dir.join("weighted.nn");
    let (plan, _) = prepare(&spec, Some(16));
    assert_eq!(plan.class_weights.len(), 10, "balanced weights resolved from the data");
    assert!(plan.class_weights.iter().any(|&w| w != 1.0));
    let one = run(&spec, Some(16), 1);
    for threads in [2, 3, 4] {
        assert_eq!(run(&spec, Some(16), threads), one, "{threads} threads differ");
    }
    assert_ne!(run(&scratch.dir.join("plain.nn"), Some(16), 2).0, one.0, "the weights change the run");
}
