//! One parallel phase of a step: a list of independent tasks that the leader and the other
//! workers take in turn, and whose end the leader waits for by spinning.
//!
//! rayon's `par_iter` splits a phase by halves and waits for stolen halves on a latch that puts
//! the waiting thread to sleep after a few microseconds; a phase's tasks differ by tens of
//! microseconds, so most phases ended in a futex sleep and wake-up. Here each thread takes
//! tasks one at a time from counters (the slowest task, not the slowest half, bounds the
//! wait), and the leader spins for the tasks in flight: with the other workers kept awake
//! (`awake`), a phase costs no system call at all. Which thread runs a task never changes what
//! it computes, so results are the same for any thread count.
//!
//! Each participant starts with its own contiguous block of the tasks (the leader the
//! first), in order, and then helps with what is left of the others' blocks. A phase's tasks
//! are listed in the order of the rows they cover, so the same rows tend to stay with the
//! same thread from phase to phase (a weight's rows in the fused optimizer step, the next
//! step's packing of them, the tiles that read that packing), and what a thread wrote is
//! still in its own cache when it reads it again. With one shared counter the two threads took
//! alternate tasks, and half of every read came from the other core's cache. In four
//! alternating runs of the two builds (4-8 rounds each) W3 with two threads ran 0.95x-1.09x as
//! fast with blocks (median of the four 1.065x), W2 1.01x-1.03x.
//!
//! The blocks hold equal shares of the phase's work where its tasks say how much they do
//! (packing jobs by the values they write, product tiles by their multiply-adds:
//! `run_weighted_tasks`), else equal counts. By count, W2's first forward packing (jobs of
//! 100K, 50K, 75K and 75K values) split 150K/150K in that order but 125K/175K in the other.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `run` on every task, on this thread and the pool's other workers; returns when all
/// are done. A panic in a task propagates once the others are finished.
pub fn run_tasks<T: Send>(tasks: impl IntoIterator<Item = T>, run: impl Fn(T) + Sync) {
    run_weighted_tasks(tasks, |_| 1, run);
}

/// `run_tasks` for tasks of unequal work: each participant's first block holds an equal share
/// of the tasks' total `weight` (values packed, multiply-adds), not an equal count.
pub fn run_weighted_tasks<T: Send>(
    tasks: impl IntoIterator<Item = T>,
    weight: impl Fn(&T) -> usize,
    run: impl Fn(T) + Sync,
) {
    let threads = rayon::current_num_threads();
    if threads <= 1 || rayon::current_thread_index().is_none() {
        tasks.into_iter().for_each(run);
        return;
    }
    let tasks: Vec<T> = tasks.into_iter().collect();
    let helpers = threads.min(tasks.len()).saturating_sub(1);
    if helpers == 0 {
        tasks.into_iter().for_each(run);
        return;
    }
    // Participant `p` starts with block `p` of the tasks, then helps with the others' blocks.
    let parts = helpers + 1;
    let starts = block_starts(tasks.iter().map(weight), parts);
    let slots: Vec<Mutex<Option<T>>> = tasks.into_iter().map(|task| Mutex::new(Some(task))).collect();
    let bounds = |part: usize| starts[part]..starts[part + 1];
    let cursors: Vec<AtomicUsize> = (0..parts).map(|part| AtomicUsize::new(bounds(part).start)).collect();
    let (joined, finished) = (AtomicUsize::new(1), AtomicUsize::new(0));
    let take_tasks = |me: usize| {
        for part in (me..parts).chain(0..me) {
            let end = bounds(part).end;
            loop {
                let index = cursors[part].fetch_add(1, Ordering::Relaxed);
                if index >= end {
                    break;
                }
                let task = slots[index].lock().unwrap_or_else(|e| e.into_inner()).take();
                // Counted even if the task panics, so the leader's wait below ends.
                let _counted = Counted(&finished);
                if let Some(task) = task {
                    run(task);
                }
            }
        }
    };
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| take_tasks(joined.fetch_add(1, Ordering::Relaxed)));
        }
        take_tasks(0);
        while finished.load(Ordering::Acquire) < slots.len() {
            std::hint::spin_loop();
        }
    });
}

/// Where each of `parts` consecutive blocks of tasks starts (and, last, the task count): block
/// `p` starts at the task boundary whose weight before it is nearest `p / parts` of the total,
/// so the blocks' weights are as equal as whole tasks in order allow (with equal weights, as
/// equal counts).
fn block_starts(weights: impl Iterator<Item = usize>, parts: usize) -> Vec<usize> {
    let before: Vec<usize> = std::iter::once(0)
        .chain(weights.scan(0usize, |sum, weight| {
            *sum = sum.saturating_add(weight.max(1));
            Some(*sum)
        }))
        .collect();
    let (count, total) = (before.len() - 1, before[before.len() - 1]);
    (0..=parts)
        .map(|part| {
            let share = (total as u128 * part as u128 / parts as u128) as usize;
            let after = before.partition_point(|&weight| weight < share).min(count);
            // The boundary at or after the share, or the one before it if that is nearer.
            if after > 0 && share - before[after - 1] < before[after] - share { after - 1 } else { after }
        })
        .collect()
}

/// Counts one finished task when dropped.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A pool of exactly `threads` workers (more than the cores, too: the tests want them).
    pub(in crate::exec) fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool")
    }

    #[test]
    fn every_task_runs_once_with_any_number_of_threads() {
        for threads in [1, 2, 4, 7] {
            for tasks in [0, 1, 2, 3, 50] {
                let mut out = vec![0u32; tasks];
                pool(threads).install(|| run_tasks(out.iter_mut().enumerate(), |(i, slot)| *slot += i as u32 + 1));
                assert_eq!(out, (1..=tasks as u32).collect::<Vec<_>>(), "{threads} threads, {tasks} tasks");
            }
        }
    }

    #[test]
    fn blocks_of_equal_tasks_differ_by_at_most_one_task() {
        for parts in 1..6 {
            for count in 0..40 {
                let starts = block_starts(std::iter::repeat_n(7, count), parts);
                assert_eq!((starts.len(), starts[0], starts[parts]), (parts + 1, 0, count));
                let sizes: Vec<usize> = starts.windows(2).map(|w| w[1] - w[0]).collect();
                let (least, most) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(most - least <= 1, "{count} tasks in {parts}: {sizes:?}");
            }
        }
    }

    #[test]
    fn blocks_of_unequal_tasks_split_by_weight() {
        // W2's first forward packing: the batch's job, then the weight's three.
        assert_eq!(block_starts([100, 50, 75, 75].into_iter(), 2), [0, 2, 4]);
        // The other order: 125 | 175 is nearer the half than 200 | 100.
        assert_eq!(block_starts([50, 75, 75, 100].into_iter(), 2), [0, 2, 4]);
        // One heavy task takes a block to itself; zero weights count as one.
        assert_eq!(block_starts([1000, 1, 1, 1].into_iter(), 2), [0, 1, 4]);
        assert_eq!(block_starts([0, 0, 0, 0].into_iter(), 2), [0, 2, 4]);
        assert_eq!(block_starts([5, 5, 5, 5, 5, 5, 30].into_iter(), 3), [0, 4, 6, 7]);
    }

    #[test]
    fn weighted_tasks_each_run_once() {
        for threads in [1, 2, 3, 8] {
            let mut out = vec![0usize; 30];
            pool(threads).install(|| {
                run_weighted_tasks(out.iter_mut().enumerate(), |(i, _)| i * i % 17, |(i, slot)| *slot += i + 1)
            });
            assert_eq!(out, (1..=30).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn a_panicking_task_panics_the_phase_after_the_others_finish() {
        let finished = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool(3).install(|| {
                run_tasks(0..20, |i| {
                    if i == 5 {
                        panic!("task 5");
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                })
            })
        }));
        assert!(result.is_err(), "the panic reaches the caller");
        assert_eq!(finished.load(Ordering::Relaxed), 19, "every other task ran");
    }
}
