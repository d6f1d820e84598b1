//! The scatter family (scatter_add) as a plug-in.

use super::{
    index_source, input_label, IndexSource, ScatterJob, ScatterOptions, ScatterParams, VARIANTS,
};
use crate::backend::external::{Describe, ExternalArray, ExternalCall};
use crate::error::{DetError, OpError};
use crate::ops::{Case, Family, FamilyOptions, FamilyParams, Op, Prepared};
use serde_json::Value;
use std::collections::BTreeMap;

/// scatter_add.
pub struct Scatter;

/// The registry entry.
pub const FAMILY: Scatter = Scatter;

impl Family for Scatter {
    fn modules(&self, target: &dyn std::any::Any) -> Option<Box<dyn std::any::Any>> {
        crate::backend::module_entry(target, super::cuda::modules)
    }
    fn name(&self) -> &'static str {
        "scatter"
    }
    fn variants(&self, _op: Op) -> &'static [&'static str] {
        VARIANTS
    }
    fn describe(&self, _op: Op, variant: &str) -> Option<&'static str> {
        Some(match variant {
            "atomic" => "float atomic adds, in whatever order threads arrive: nondeterministic",
            "atomic_cas" => "atomic add as a compare-and-swap loop (devices without float atomics): nondeterministic",
            "privatized" => "private bins per workgroup, merged with atomic adds: nondeterministic",
            "sort_segmented" => "sort by index, then ordered segment sums: deterministic",
            "fixed_point" => "integer (fixed-point) atomics: the same bits in any order; reports the bits lost below its scale",
            "reproducible" => "binned pre-rounded sums (ReproBLAS style): the same bits on any device, launch shape or order",
            _ => return None,
        })
    }
    // atomic's per-bin bound holds for any order of each bin's terms.
    fn external_variant(&self, _op: Op) -> Option<&'static str> {
        Some("atomic")
    }
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError> {
        super::prepare(case)
    }
    /// One case per bin count and index source: the user's index file, else each generated
    /// distribution (`--bins`, `--index`, `--index-dist`: [`super::ScatterFlags`]).
    fn expand(&self, cases: Vec<Case>, options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        let default = ScatterOptions {
            bins: vec![super::DEFAULT_BINS],
            sources: vec![IndexSource::Dist("uniform".into())],
        };
        let o = options.get::<ScatterOptions>().unwrap_or(&default);
        Ok(cases
            .into_iter()
            .flat_map(|c| {
                o.bins.iter().flat_map(move |&bins| {
                    let c = c.clone();
                    o.sources.iter().map(move |index| Case {
                        params: FamilyParams::new(ScatterParams {
                            bins,
                            index: index.clone(),
                        }),
                        ..c.clone()
                    })
                })
            })
            .collect())
    }
    fn input_label(&self, case: &Case) -> String {
        input_label(case)
    }
    fn extras(&self, case: &Case) -> BTreeMap<String, Value> {
        BTreeMap::from([("index_dist".into(), index_source(case).label().into())])
    }
    /// Bins are the elements of a scatter: name the figures for what they are.
    fn finish_extras(
        &self,
        extra: &mut BTreeMap<String, Value>,
        elements_differing: u64,
        max_ulp_run_to_run: u64,
    ) {
        extra.insert("bins_differing".into(), elements_differing.into());
        extra.insert("worst_bin_ulp_spread".into(), max_ulp_run_to_run.into());
    }
}

crate::ops::family::atomic_job_spec!(ScatterJob);

crate::ops::family::family_kernel!(
    ScatterJob,
    |_j| "scatter_add",
    [
        super::cpu::run,
        super::wgpu::run,
        super::cuda::run,
        external_call
    ]
);

fn external_call(_: &Describe, j: &ScatterJob) -> Result<ExternalCall, OpError> {
    let n = j.x.len() as u64;
    Ok(ExternalCall {
        op: "scatter_add".into(),
        precision: j.precision,
        accumulator: j.accumulator,
        params: serde_json::json!({ "size": n, "bins": j.bins }),
        index_inputs: vec![(
            "index".into(),
            vec![n],
            j.idx.iter().map(|&i| i64::from(i)).collect(),
        )],
        inputs: vec![ExternalArray::new(
            "values",
            j.precision,
            vec![n],
            j.x.clone(),
        )],
        out_dtype: j.accumulator,
        out_shape: vec![j.bins as u64],
        runs: j.runs,
    })
}
