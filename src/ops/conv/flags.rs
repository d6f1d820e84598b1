//! The convolutions' own `detbench run` flags (see [`crate::ops::FamilyFlags`]).

use crate::error::DetError;
use crate::ops::{FamilyFlags, Op};
use crate::shared::list::parse_shapes;

/// The flags, as clap reads them.
#[derive(clap::Args, Clone, Debug)]
pub struct ConvFlags {
    /// Convolution shape N,C,H,W,K,R,S,STRIDE,PAD,DILATION; several separated by ';'.
    #[arg(long)]
    pub conv_shape: Option<String>,
}

/// The flags parsed: the shapes every conv case runs at (empty: the default shape).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvOptions {
    pub shapes: Vec<Vec<usize>>,
}

impl FamilyFlags for ConvFlags {
    type Options = ConvOptions;

    fn options(&self, _ops: &[Op]) -> Result<ConvOptions, DetError> {
        Ok(ConvOptions {
            shapes: parse_shapes("conv-shape", self.conv_shape.as_deref(), parse_conv_shape)?,
        })
    }
}

/// Parses N,C,H,W,K,R,S,STRIDE,PAD,DILATION (ten non-negative integers; the family checks
/// the shape itself when it prepares a case).
pub fn parse_conv_shape(s: &str) -> Result<Vec<usize>, DetError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(DetError::input(format!(
            "--conv-shape: empty entry in '{s}' (expected N,C,H,W,K,R,S,STRIDE,PAD,DILATION)"
        )));
    }
    if parts.len() != 10 {
        return Err(DetError::input(format!(
            "--conv-shape needs 10 integers N,C,H,W,K,R,S,STRIDE,PAD,DILATION, got {}",
            parts.len()
        )));
    }
    parts
        .iter()
        .map(|p| {
            p.parse::<usize>().map_err(|_| {
                DetError::input(format!("--conv-shape: '{p}' is not a non-negative integer"))
            })
        })
        .collect()
}
