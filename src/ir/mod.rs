//! Stage 2, check: `ast::Spec` -> `ir::Model`. Every semantic error of a spec is reported at
//! once, each with its span and, where there is one, a fix.

mod args;
mod check;
mod columns;
mod data;
mod layers;
mod model;
mod optimizer;
mod train;

pub use check::{Checked, check, check_statements};
pub use model::*;
pub use train::one_row_batch_warning;
