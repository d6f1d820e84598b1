//! scatter_add's own `detbench run` flags (see [`crate::ops::FamilyFlags`]).

use super::{check_index_dist, IndexSource, INDEX_DISTS};
use crate::error::DetError;
use crate::ops::{FamilyFlags, Op};
use crate::shared::list::{dedup, parse_sizes, split_list};
use std::path::{Path, PathBuf};

/// The flags, as clap reads them.
#[derive(clap::Args, Clone, Debug)]
pub struct ScatterFlags {
    /// Index .npy (int32 or int64) for scatter_add.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Output bins for scatter_add, comma-separated.
    #[arg(long, default_value = "1024")]
    pub bins: String,
    /// Generated scatter_add index distributions (when --index is not given): uniform, zipf, sorted, single, or `all`; comma-separated.
    #[arg(long, default_value = "uniform")]
    pub index_dist: String,
}

/// The flags parsed: every case of scatter_add runs with each bin count and index source.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterOptions {
    pub bins: Vec<usize>,
    /// The user's index file, else each generated distribution asked for.
    pub sources: Vec<IndexSource>,
}

impl FamilyFlags for ScatterFlags {
    type Options = ScatterOptions;

    fn input_files(&self) -> Vec<(&'static str, &Path)> {
        self.index
            .iter()
            .map(|p| ("--index", p.as_path()))
            .collect()
    }

    fn options(&self, ops: &[Op]) -> Result<ScatterOptions, DetError> {
        let bins = parse_sizes("bins", &self.bins)?;
        let dists = parse_index_dists(&self.index_dist)?;
        let sources = match &self.index {
            Some(_) if !ops.contains(&Op::ScatterAdd) => {
                return Err(DetError::input(
                    "--index is only used by --op scatter_add, which this run does not include",
                ))
            }
            Some(file) => {
                // Validated now (format, dtype, shape), not after the other cases ran.
                crate::inputs::read_npy_index(file)?;
                vec![IndexSource::File(file.clone())]
            }
            None => dists.into_iter().map(IndexSource::Dist).collect(),
        };
        Ok(ScatterOptions { bins, sources })
    }
}

/// `--index-dist`: checked distribution names, or all of them.
fn parse_index_dists(s: &str) -> Result<Vec<String>, DetError> {
    let index_dists: Vec<String> = if s.trim() == "all" {
        INDEX_DISTS.iter().map(|s| s.to_string()).collect()
    } else {
        dedup(
            split_list("index-dist", s, ',')?
                .into_iter()
                .map(String::from)
                .collect(),
        )
    };
    for d in &index_dists {
        check_index_dist(d)?;
    }
    Ok(index_dists)
}
