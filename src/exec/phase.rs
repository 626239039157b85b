//! One parallel phase of a step: a list of independent tasks that the leader and the other
//! workers take in turn, and whose end the leader waits for by spinning.
//!
//! rayon's `par_iter` splits a phase by halves and waits for stolen halves on a latch that puts
//! the waiting thread to sleep after a few microseconds; a phase's tasks differ by tens of
//! microseconds, so most phases ended in a futex sleep and wake-up. Here each thread takes
//! the next task from a shared counter (the slowest task, not the slowest half, bounds the
//! wait), and the leader spins for the tasks in flight: with the other workers kept awake
//! (`awake`), a phase costs no system call at all. Which thread runs a task never changes what
//! it computes, so results are the same for any thread count.

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
    let (next, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let take_tasks = || {
        while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed)) {
            let task = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            // Counted even if the task panics, so the leader's wait below ends.
            let _counted = Counted(&finished);
            if let Some(task) = task {
                run(task);
            }
        }
    };
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| take_tasks());
        }
        take_tasks();
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
