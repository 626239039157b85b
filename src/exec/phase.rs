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
//! still in its own cache when it reads it again. (The forward pass's packing lists the
//! batch before the weight, which balances the blocks' sizes: `tiled::forward_jobs`.) With
//! one shared counter the two threads took alternate tasks, and half of every read came from
//! the other core's cache. In four alternating runs of the two builds (4-8 rounds each) W3
//! with two threads ran 0.95x-1.09x as fast with blocks (median of the four 1.065x), W2
//! 1.01x-1.03x.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `run` on every task, on this thread and the pool's other workers; returns when all
/// are done. A panic in a task propagates once the others are finished.
pub fn run_tasks<T: Send>(tasks: impl IntoIterator<Item = T>, run: impl Fn(T) + Sync) {
    let threads = rayon::current_num_threads();
    if threads <= 1 || rayon::current_thread_index().is_none() {
        tasks.into_iter().for_each(run);
        return;
    }
    let slots: Vec<Mutex<Option<T>>> = tasks.into_iter().map(|task| Mutex::new(Some(task))).collect();
    let helpers = threads.min(slots.len()).saturating_sub(1);
    if helpers == 0 {
        slots.into_iter().filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner())).for_each(run);
        return;
    }
    // Participant `p` starts with block `p` of the tasks, then helps with the others' blocks.
    let parts = helpers + 1;
    let bounds = |part: usize| part * slots.len() / parts..(part + 1) * slots.len() / parts;
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
