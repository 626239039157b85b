//! Running a plan: `Params` holds the weights, `State` the buffers a batch needs (allocated
//! once per run), and `State::step` executes the plan's kernels layer by layer over fixed-size
//! row chunks in parallel, summing per-chunk gradients in chunk order.

mod backward;
mod chunks;
mod forward;
mod params;
mod state;
mod update;

pub use params::Params;
pub use state::{Mode, State};
