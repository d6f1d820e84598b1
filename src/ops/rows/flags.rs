//! The row reductions' own `detbench run` flags (see [`crate::ops::FamilyFlags`]).

use crate::error::DetError;
use crate::ops::{FamilyFlags, Op};
use crate::shared::list::parse_sizes;

/// The flags, as clap reads them.
#[derive(clap::Args, Clone, Debug)]
pub struct RowsFlags {
    /// Row lengths N of the batched row reductions (row_sum, mean, log_softmax), comma-separated.
    #[arg(long)]
    pub row_len: Option<String>,
}

/// The flags parsed: the row lengths every case runs at (empty: the default length).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowsOptions {
    pub lens: Vec<usize>,
}

impl FamilyFlags for RowsFlags {
    type Options = RowsOptions;

    fn options(&self, _ops: &[Op]) -> Result<RowsOptions, DetError> {
        Ok(RowsOptions {
            lens: match &self.row_len {
                Some(s) => parse_sizes("row-len", s)?,
                None => Vec::new(),
            },
        })
    }
}
