//! detbench: how far GPU results drift from run to run, from device to device and from
//! the exact answer, and what determinism costs.
//!
//! - [`backend`]: cpu, cuda and wgpu behind one trait;
//! - [`ops`]: one module per kernel family;
//! - [`numerics`]: formats, the exact oracle, ULP distances, bounds, binned summation;
//! - [`runner`]: the experiment matrix and metrics;
//! - [`report`]: the JSON schema and renderers;
//! - [`reveal`]: a kernel's accumulation order from crafted inputs;
//! - [`cli`]: the command line.

pub mod backend;
pub mod check;
pub mod cli;
pub mod error;
pub mod help;
pub mod history;
pub mod inputs;
pub mod inspect;
pub mod interrupt;
pub mod kernels;
pub mod merge;
pub mod numerics;
pub mod ops;
pub mod report;
pub mod reveal;
pub mod runner;
pub mod safety;
pub mod shared;
pub mod store;
pub mod tolerance;
pub mod train;
