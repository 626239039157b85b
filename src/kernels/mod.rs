//! The numerical kernels, one concept per file, each with its forward and backward side by side.
//! Matrices are column-major f32 slices with one column per sample (so a chunk of rows is a
//! contiguous range of columns) and weights are row-major `[out, in]` as PyTorch stores them.

pub mod activation;
pub mod dense;
pub mod dropout;
pub mod gemm;
pub mod init;
pub mod loss;
pub mod math;
pub mod narrow;
pub mod norm;
pub mod optim;
pub mod schedule;
pub mod tiled;
