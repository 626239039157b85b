//! Stage 2, check: `ast::Spec` -> `ir::Model`. Every semantic error of a spec is reported at
//! once, each with its span and, where there is one, a fix.

mod args;
mod check;
mod model;

pub use check::check;
pub use model::*;
