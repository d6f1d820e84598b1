//! Numerics: formats, the exact oracle, ULP distances, error bounds and the
//! reproducible (binned) summation shared by every backend.

pub mod bounds;
pub mod error;
pub mod exact;
pub mod precision;
pub mod repro;
pub mod ulp;
pub mod values;

pub use precision::Precision;
pub use values::Values;
