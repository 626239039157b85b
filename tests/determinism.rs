//! The same spec gives a bit-identical trace (all but `elapsed_s`) and identical weights with
//! 1, 2 and 4 threads: for every shipped spec, and again with chunks small enough that every
//! batch is split across threads.

use crate::support::{all_specs, train_spec};

#[test]
fn traces_and_weights_do_not_depend_on_the_thread_count() {
    for spec in all_specs() {
        for chunk_rows in [None, Some(3)] {
            let runs: Vec<_> = [1, 2, 4]
                .into_iter()
                .map(|threads| {
                    let outcome = train_spec(&spec, threads, chunk_rows).outcome;
                    let trace: Vec<_> = outcome.trace.iter().map(|line| line.without_time().to_json()).collect();
                    (trace, outcome.params.to_bits())
                })
                .collect();
            assert!(!runs[0].0.is_empty());
            for (threads, run) in [2, 4].into_iter().zip(&runs[1..]) {
                assert_eq!(run.0, runs[0].0, "{}: trace with {threads} threads differs", spec.display());
                assert_eq!(run.1, runs[0].1, "{}: weights with {threads} threads differ", spec.display());
            }
        }
    }
}
