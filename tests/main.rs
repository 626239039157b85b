//! Integration tests, built as one binary.

// Diagnostics travel on cold paths only (see src/lib.rs).
#![allow(clippy::result_large_err)]

mod support;

mod cli;
mod determinism;
mod diagnostics;
mod export;
mod gradients;
mod malformed;
mod overrides;
mod persistence;
mod robustness;
mod safety;
mod specs;
mod suggestions;
mod tables;
mod training;
