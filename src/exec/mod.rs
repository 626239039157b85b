//! Running a plan: `Params` holds the weights, `State` the buffers a batch needs (allocated
//! once per run), and `State::step` executes the plan's kernels layer by layer, each as one or
//! two parallel phases (`phase`: row chunks, packing jobs, product tiles, update ranges),
//! summing per-chunk gradients in chunk order; `awake` keeps the workers ready between phases.

mod awake;
mod backward;
mod chunks;
mod forward;
mod params;
mod phase;
mod state;
mod update;

pub use awake::with_workers_awake;
pub use params::Params;
pub use state::{Mode, State};

/// The worker threads to start for `requested` threads (`None`: one per core): never more
/// than the cores this process may use. Results are the same for any count (work is split by
/// the shapes alone), so extra threads could only compete with the working ones for the
/// cores; `--threads 8` on a 2-core machine therefore runs on 2.
pub fn worker_threads(requested: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    requested.unwrap_or(cores).clamp(1, cores)
}
