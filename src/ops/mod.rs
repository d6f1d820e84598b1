//! Kernel families. Each family module turns a [`Case`] (one cell of the experiment
//! matrix) into a [`Prepared`] job: the inputs, the launch shape, the exact reference
//! and the a-priori bound. Backends run the job; the runner turns the outputs into
//! metrics. The launch shape is fixed here, once, so every backend and the CPU
//! emulation of an ordered variant use the same accumulation tree.

pub mod common;
pub mod conv;
pub mod copy;
pub mod external;
pub mod family;
pub mod matmul;
pub mod optim;
pub mod reduce;
pub mod rows;
pub mod scatter;
pub mod wgsl;

pub use crate::backend::{Kernel, RunSet};
use crate::error::{DetError, OpError};
use crate::inputs::InputSpec;
use crate::numerics::Precision;
pub use external::{own_variants, reference_variant};
pub use family::{
    BaselineSpec, CaseParams, Family, FamilyFlags, FamilyOptions, FamilyParams, JobSpec, NoParams,
    SummationModel,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

impl Op {
    /// The family that owns this op, if it is built.
    pub fn family(self) -> Option<&'static dyn Family> {
        FAMILIES.iter().copied().find(|f| f.ops().contains(&self))
    }

    /// The variants this op offers, in report order.
    pub fn variants(self) -> &'static [&'static str] {
        self.family().map_or(&[], |f| f.variants(self))
    }

    /// Whether the family is built in this version of detbench.
    pub fn implemented(self) -> bool {
        !self.variants().is_empty()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Op::ALL
            .iter()
            .copied()
            .find(|o| o.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = Op::ALL.iter().map(|o| o.name()).collect();
                format!(
                    "unknown op '{}' (expected one of {})",
                    s.trim(),
                    names.join(", ")
                )
            })
    }
}

pub use crate::shared::launch::Launch;

pub use crate::shared::ordering::Ordering;

/// One cell of the experiment matrix, before it is bound to a backend: the fields every
/// family reads, plus the family's own typed parameters.
#[derive(Clone, Debug)]
pub struct Case {
    pub op: Op,
    pub precision: Precision,
    pub accumulator: Precision,
    pub variant: String,
    pub size: usize,
    pub input: InputSpec,
    pub seed: u64,
    pub runs: usize,
    /// Threads per workgroup; a power of two.
    pub workgroup_size: u32,
    /// The family's own parameters (scatter's bins and index source, conv's shape, the
    /// optimizers' steps); [`NoParams`] until the family expands the case.
    pub params: FamilyParams,
}

/// A case turned into a job plus everything needed to judge its outputs.
#[derive(Clone, Debug)]
pub struct Prepared {
    // The reference (exact values, their roundings and rests, the bounds) is shared: the
    // runner judges outputs as backends read them back, through `Arc` clones of it.
    /// What backends run.
    pub job: Job,
    /// Exact reference per output element, correctly rounded to f64.
    pub exact: Arc<Vec<f64>>,
    /// The same exact values rounded once, directly, to `out_precision` (ULP errors are
    /// measured against these, never against `exact` rounded a second time). Empty when
    /// the family's reference is itself an f64 value: then `exact` rounded to the output.
    pub exact_out: Arc<Vec<f64>>,
    /// What each exact value holds beyond its f64 rounding in `exact`
    /// ([`crate::numerics::exact::ExactRest`]): errors are measured against the real exact
    /// value `exact + rest`, rounded upward. Empty when every exact value is an f64 (or
    /// the family's reference is an f64 value, whose own error its bound counts).
    pub exact_rest: Arc<Vec<crate::numerics::exact::ExactRest>>,
    /// A-priori bound per output element (`None`: no finite bound). Length 1 means the
    /// same bound for every element.
    pub bounds: Arc<Vec<Option<f64>>>,
    /// Condition number of the problem, where defined.
    pub condition_number: Option<f64>,
    /// Bytes the kernel must move at least, for GB/s.
    pub bytes_moved: f64,
    /// SHA-256 of each input's device bytes, joined with '+'.
    pub input_sha256: String,
    /// Format of the output values.
    pub out_precision: Precision,
    /// Whether the output is one scalar (then `exact` is reported).
    pub scalar: bool,
    /// Arrays written by `--dump`: (name, format, values). Shared, so that a family whose
    /// job holds the same values (a reduction's x) keeps no second copy for a dump that is
    /// rarely asked for.
    pub dumps: Vec<(String, Precision, std::sync::Arc<crate::numerics::Values>)>,
    /// Seconds of the host's own work preparing the case, by phase, where the family
    /// times it (`--verbose` shows them); empty for an input shared with the case before.
    pub phases: Vec<(&'static str, f64)>,
    /// A note for the report (e.g. the fixed-point scale).
    pub note: String,
}

/// The registry: every family, with its job type, its ops (variant name and report name,
/// in report order) and, if it has any, its own `run` flags ([`FamilyFlags`]). A new family
/// is one entry here; `Op`, `Op::ALL`, `Op::name`, `Job`, `FAMILIES` and [`FamilyArgs`] are
/// generated from it.
macro_rules! registry {
    ($(
        $variant:ident($job:ty) => $family:expr,
        [$($op:ident = $name:literal),+ $(,)?]
        $(, flags: $flags:ty)?
    );* $(;)?) => {
        /// An operation detbench measures.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Op {
            $($(#[serde(rename = $name)] $op,)+)*
        }

        impl Op {
            /// Every op, in report order.
            pub const ALL: &'static [Op] = &[$($(Op::$op,)+)*];

            pub fn name(self) -> &'static str {
                match self {
                    $($(Op::$op => $name,)+)*
                }
            }
        }

        /// A job for a backend: one variant of one family, with its inputs.
        #[derive(Clone, Debug)]
        pub enum Job {
            $($variant($job)),*
        }

        impl Job {
            /// The job's runner-facing facts.
            pub fn spec(&self) -> &dyn JobSpec {
                match self {
                    $(Job::$variant(j) => j),*
                }
            }

            fn spec_mut(&mut self) -> &mut dyn JobSpec {
                match self {
                    $(Job::$variant(j) => j),*
                }
            }
        }

        /// Every kernel family, in report order.
        pub static FAMILIES: &[&dyn Family] = &[$(&$family),*];

        /// The ops the registry line of the family named `family` declares, in report
        /// order ([`Family::ops`]).
        fn registry_ops(family: &str) -> &'static [Op] {
            $(
                if Family::name(&$family) == family {
                    return &[$(Op::$op),+];
                }
            )*
            &[]
        }

        /// The `run` flags of every family that has its own ([`FamilyFlags`]), flattened
        /// into `run`'s arguments; one field per such family, named after its job.
        #[derive(clap::Args, Clone, Debug)]
        #[allow(non_snake_case)]
        pub struct FamilyArgs {
            $($(
                #[command(flatten)]
                pub $variant: $flags,
            )?)*
        }

        impl FamilyArgs {
            /// Every input file the families' flags name, as (flag, path).
            pub fn input_files(&self) -> Vec<(&'static str, &std::path::Path)> {
                #[allow(unused_mut)]
                let mut files = Vec::new();
                $($(
                    files.extend(<$flags as FamilyFlags>::input_files(&self.$variant));
                )?)*
                files
            }

            /// Every family's flags parsed and checked, for a run of `ops`.
            pub fn options(&self, ops: &[Op]) -> Result<FamilyOptions, DetError> {
                #[allow(unused_mut)]
                let mut options = FamilyOptions::default();
                $($(
                    options.push(<$flags as FamilyFlags>::options(&self.$variant, ops)?);
                )?)*
                Ok(options)
            }
        }
    };
}

registry! {
    Reduce(reduce::ReduceJob) => reduce::FAMILY, [Sum = "sum", Dot = "dot"];
    Scatter(scatter::ScatterJob) => scatter::FAMILY, [ScatterAdd = "scatter_add"],
        flags: scatter::ScatterFlags;
    Conv(conv::ConvJob) => conv::FAMILY, [
        Conv2dFwd = "conv2d_fwd",
        Conv2dBwdData = "conv2d_bwd_data",
        Conv2dBwdWeight = "conv2d_bwd_weight",
    ], flags: conv::ConvFlags;
    Optim(optim::OptimJob) => optim::FAMILY, [Sgd = "sgd", Adam = "adam", Adamw = "adamw"],
        flags: optim::OptimFlags;
    // A plain copy: the device's bandwidth baseline.
    Copy(copy::CopyJob) => copy::FAMILY, [Copy = "copy"];
    Matmul(matmul::MatmulJob) => matmul::FAMILY, [Matmul = "matmul", Addmm = "addmm"], flags: matmul::MatmulFlags;
    Rows(rows::RowsJob) => rows::FAMILY, [RowSum = "row_sum", Mean = "mean", LogSoftmax = "log_softmax"],
        flags: rows::RowsFlags;
}

impl Job {
    /// Atomic orderings this job can be run with on a CUDA device.
    pub fn is_atomic(&self) -> bool {
        self.spec().is_atomic()
    }

    /// Sets the ordering for a backend run.
    pub fn with_ordering(&self, ordering: Ordering) -> Job {
        let mut j = self.clone();
        j.spec_mut().set_ordering(ordering);
        j
    }

    pub fn ordering(&self) -> Ordering {
        self.spec().ordering()
    }

    pub fn launch(&self) -> Launch {
        self.spec().launch()
    }
}

impl Kernel for Job {
    fn kernel_name(&self) -> String {
        self.spec().kernel_name()
    }
    fn kernel(&self, api: &dyn std::any::Any) -> Option<Result<Box<dyn std::any::Any>, OpError>> {
        self.spec().kernel(api)
    }
}

/// Checks a workgroup size given by the user.
pub fn check_workgroup_size(wg: u32) -> Result<u32, DetError> {
    if !(32..=1024).contains(&wg) || !wg.is_power_of_two() {
        return Err(DetError::input(format!(
            "workgroup size {wg} must be a power of two between 32 and 1024"
        )));
    }
    Ok(wg)
}

/// Every module the families build for `target` ([`Family::modules`]), family by family;
/// only the families of `ops` unless `ops` is empty.
pub fn modules<T: crate::backend::BuildTarget>(target: &T, ops: &[Op]) -> Vec<T::Module> {
    FAMILIES
        .iter()
        .filter(|f| ops.is_empty() || f.ops().iter().any(|o| ops.contains(o)))
        .filter_map(|f| f.modules(target))
        .filter_map(|m| m.downcast::<Vec<T::Module>>().ok())
        .flat_map(|m| *m)
        .collect()
}

/// Every module configuration the CUDA backend can build for `target` ([`modules`]), with
/// the entry points each family's host code looks up.
pub fn cuda_modules(
    target: &crate::backend::cuda::CudaTarget,
    ops: &[Op],
) -> Vec<crate::backend::cuda::ModuleBuild> {
    modules(target, ops)
}
