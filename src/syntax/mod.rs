//! Stage 1, parse: source text -> `ast::Spec`. pest's `Rule` and `Pair` never leave this
//! module; a syntax error becomes a `Diagnostic` with the span where parsing stopped.

pub mod ast;
pub mod format;
pub mod overrides;
mod parser;
pub mod shift;

pub use parser::{Recovered, parse, parse_tolerant, parse_value};
