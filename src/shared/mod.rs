//! Helpers below every kernel family and above nothing but `numerics` and `error`: the
//! emulated arithmetic of an accumulator, fixed-point scales, exact integer lane
//! finalisation, the two-pass grid, order statistics and host-size checks. Families use
//! these instead of importing each other.

pub mod arith;
pub mod fixed;
pub mod gemm;
pub mod host;
pub mod lanes;
pub mod launch;
pub mod layout;
pub mod list;
pub mod ordering;
pub mod par;
pub mod stats;
pub mod uploads;
