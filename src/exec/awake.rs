//! Keeping the pool's other threads awake through an epoch's steps.
//!
//! A step runs a dozen or more short parallel phases (pack, tiles, element-wise passes) with
//! a little sequential work between them. Left alone, rayon puts an idle worker to sleep on a
//! futex after some tens of microseconds and wakes it for the next phase: at batch 128 that was
//! a sleep and a wake per phase, 13 context switches per step, and with two threads W2 ran no
//! faster than with one. For the length of a span of steps each other worker instead runs a
//! loop that takes work the moment a phase offers it (`rayon::yield_now`), as OpenMP runtimes
//! spin between parallel regions. Results do not change: which thread runs a task never
//! changes what it computes.
//!
//! A waiting loop must start on an idle worker, never nested inside a job the leader waits
//! for (it would then hold that job until it gave up). So the leader waits until every loop
//! has started before it offers any work, and loops that start later are turned away.
//!
//! A loop that finds no work for `MOST_IDLE` (the leader in a long sequential stretch, or
//! preempted by another process) stops spinning and naps, in steps that grow to `MOST_NAP`,
//! until work comes again; it leaves only when the span ends. It once left at the first such
//! stretch instead, and the rest of the epoch went back to a futex sleep and wake-up per
//! phase: a helper arriving 12-90 us late in a quarter of W2's phases, with about two
//! sleeps per step, in one to three of three epochs depending on the run.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a worker spins without work before it naps between polls: a guard against a
/// long sequential stretch (the loop would only burn a core).
const MOST_IDLE: Duration = Duration::from_millis(2);
/// The first nap after `MOST_IDLE`; each further one doubles, up to `MOST_NAP`.
const FIRST_NAP: Duration = Duration::from_micros(50);
/// The longest nap: how late a worker can be for the first phase after a long stretch.
const MOST_NAP: Duration = Duration::from_millis(1);
/// How long the leader waits for the other workers' loops to start.
const MOST_START: Duration = Duration::from_millis(5);
/// Set in `Span::admitted` once the leader stops waiting: later loops return at once.
const CLOSED: usize = 1 << (usize::BITS - 1);

thread_local! {
    /// Whether this thread is already leading a span with the other workers kept awake.
    static LEADING: Cell<bool> = const { Cell::new(false) };
}

/// What the leader and the waiting loops of one span share.
struct Span {
    /// Loops started, with `CLOSED` set once the leader no longer waits for more.
    admitted: AtomicUsize,
    done: AtomicBool,
}

/// Runs `work` on this thread while the pool's other workers wait for its parallel phases
/// awake, if `wanted` (work without parallel phases would only keep them spinning). With one
/// thread, outside a pool, or inside another such call, it just runs `work`.
pub fn with_workers_awake<R>(wanted: bool, work: impl FnOnce() -> R) -> R {
    let (threads, leader) = (rayon::current_num_threads(), rayon::current_thread_index());
    let Some(leader) = leader.filter(|_| wanted && threads > 1 && !LEADING.get()) else {
        return work();
    };
    let span = Span { admitted: AtomicUsize::new(0), done: AtomicBool::new(false) };
    rayon::in_place_scope(|scope| {
        scope.spawn_broadcast(|_, context| {
            if context.index() != leader {
                span.wait_for_work();
            }
        });
        // Reset even if the work panics, so the loops return and the panic propagates.
        let _finished = Finished(&span);
        LEADING.set(true);
        span.admit(threads - 1);
        work()
    })
}

impl Span {
    /// Waits until `loops` loops have started (or `MOST_START` has passed), then turns later
    /// ones away.
    fn admit(&self, loops: usize) {
        let start = Instant::now();
        while self.admitted.load(Ordering::Acquire) < loops && start.elapsed() < MOST_START {
            std::hint::spin_loop();
        }
        self.admitted.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Runs the work other threads offer until the span is done: spinning between phases,
    /// napping once none has come for `MOST_IDLE`.
    fn wait_for_work(&self) {
        let admitted = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |count| (count & CLOSED == 0).then_some(count + 1));
        if admitted.is_err() {
            return;
        }
        let mut idle = Idle::default();
        while !self.done.load(Ordering::Acquire) {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => idle = Idle::default(),
                Some(rayon::Yield::Idle) => idle.wait(),
                None => return,
            }
        }
    }
}

/// A waiting loop's time without work: spin polls first, then naps of growing length.
#[derive(Default)]
struct Idle {
    polls: u32,
    since: Option<Instant>,
    nap: Option<Duration>,
}

impl Idle {
    /// Waits a little before the next poll.
    fn wait(&mut self) {
        if let Some(nap) = self.nap {
            std::thread::sleep(nap);
            self.nap = Some((nap * 2).min(MOST_NAP));
            return;
        }
        // The clock is read only now and then: it is a cost of its own.
        if self.polls.is_multiple_of(256) {
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() >= MOST_IDLE {
                self.nap = Some(FIRST_NAP);
            }
        }
        self.polls = self.polls.wrapping_add(1);
        std::hint::spin_loop();
    }
}

/// Ends the span when dropped.
struct Finished<'a>(&'a Span);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        LEADING.set(false);
        self.0.done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::phase::run_tasks;
    use crate::exec::phase::tests::pool;

    #[test]
    fn work_runs_with_its_phases_and_returns_its_value() {
        for threads in [1, 2, 5] {
            let total = pool(threads).install(|| {
                with_workers_awake(true, || {
                    let mut sum = 0u64;
                    for phase in 0..100u64 {
                        let mut parts = [0u64; 8];
                        run_tasks(parts.iter_mut().enumerate(), |(i, p)| *p = phase * 8 + i as u64);
                        // Nested spans run inline.
                        sum += with_workers_awake(true, || parts.iter().sum::<u64>());
                    }
                    sum
                })
            });
            assert_eq!(total, (0..800).sum::<u64>(), "{threads} threads");
        }
    }

    #[test]
    fn an_idle_loop_naps_in_growing_steps_and_never_gives_up() {
        let mut idle = Idle::default();
        idle.wait();
        assert_eq!(idle.nap, None, "it spins first");
        // As if the last work came `MOST_IDLE` ago.
        idle.since = Some(Instant::now() - MOST_IDLE);
        idle.polls = 256;
        idle.wait();
        let mut naps = vec![];
        for _ in 0..7 {
            naps.push(idle.nap.expect("napping"));
            idle.wait();
        }
        assert_eq!(naps[0], FIRST_NAP);
        assert!(naps.windows(2).all(|pair| pair[1] == (pair[0] * 2).min(MOST_NAP)), "{naps:?}");
        assert_eq!(*naps.last().unwrap(), MOST_NAP);
    }

    #[test]
    fn a_panic_in_the_work_ends_the_span_and_reaches_the_caller() {
        let pool = pool(3);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| with_workers_awake(true, || panic!("in the work")))
        }));
        assert!(result.is_err());
        // The workers are free again: a later span runs.
        assert_eq!(pool.install(|| with_workers_awake(true, || 7)), 7);
        assert!(!pool.install(|| LEADING.get()), "the leader mark is cleared");
    }
}
