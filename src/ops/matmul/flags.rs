//! matmul's own `detbench run` flags (see [`crate::ops::FamilyFlags`]).

use crate::error::DetError;
use crate::ops::{FamilyFlags, Op};
use crate::shared::list::parse_shapes;

/// The flags, as clap reads them.
#[derive(clap::Args, Clone, Debug)]
pub struct MatmulFlags {
    /// Matmul shape M,N,K (C = A·B, A is M x K); several separated by ';'.
    #[arg(long)]
    pub mm_shape: Option<String>,
}

/// The flags parsed: the shapes every matmul case runs at (empty: the default shape).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatmulOptions {
    pub shapes: Vec<Vec<usize>>,
}

impl FamilyFlags for MatmulFlags {
    type Options = MatmulOptions;

    fn options(&self, _ops: &[Op]) -> Result<MatmulOptions, DetError> {
        Ok(MatmulOptions {
            shapes: parse_shapes("mm-shape", self.mm_shape.as_deref(), parse_mm_shape)?,
        })
    }
}

/// Parses M,N,K (three positive integers; the family checks the shape itself).
pub fn parse_mm_shape(s: &str) -> Result<Vec<usize>, DetError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(DetError::input(format!(
            "--mm-shape needs 3 integers M,N,K, got '{s}'"
        )));
    }
    parts
        .iter()
        .map(|p| match p.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(DetError::input(format!(
                "--mm-shape: '{p}' is not a positive integer"
            ))),
        })
        .collect()
}
