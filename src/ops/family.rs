//! The plug-in interface of a kernel family. A family is a module folder under `src/ops/`
//! (`mod.rs` with its job, its [`Family`] value and its [`JobSpec`]/[`Kernel`] impls; one
//! file per backend) plus one line in the registry of [`super`]. The runner, the report
//! code and the backends reach a family only through these traits.

use super::{Case, Launch, Op, Ordering, Prepared};
use crate::backend::Kernel;
use crate::error::DetError;
use crate::numerics::Precision;
use serde_json::Value;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

/// A family's own case parameters (bins and index source, a shape, a step count...), as a
/// type the family defines in its own module. [`Case`] carries them as [`FamilyParams`]
/// and the family reads them back with [`FamilyParams::get`]; nothing else needs to know
/// the type, so a new family's parameters are a change inside its folder.
pub trait CaseParams: Any + Debug + Send + Sync {
    /// The report row's `bins` column.
    fn bins(&self) -> Option<u64> {
        None
    }
    /// The report row's `shape` column.
    fn shape(&self) -> Option<Value> {
        None
    }
}

/// No family parameters: what the runner gives a case before its family expands it, and
/// what families without parameters keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoParams;

impl CaseParams for NoParams {}

/// The family part of a [`Case`]: one family's [`CaseParams`], shared between clones.
#[derive(Clone, Debug)]
pub struct FamilyParams(Arc<dyn CaseParams>);

impl Default for FamilyParams {
    fn default() -> Self {
        FamilyParams(Arc::new(NoParams))
    }
}

impl FamilyParams {
    pub fn new(p: impl CaseParams) -> Self {
        FamilyParams(Arc::new(p))
    }

    /// The parameters as the family's type, or None if the case carries another type
    /// (e.g. [`NoParams`]: then the family uses its defaults).
    pub fn get<T: CaseParams>(&self) -> Option<&T> {
        let any: &dyn Any = &*self.0;
        any.downcast_ref::<T>()
    }

    /// The report row's `bins` column.
    pub fn bins(&self) -> Option<u64> {
        self.0.bins()
    }

    /// The report row's `shape` column.
    pub fn shape(&self) -> Option<Value> {
        self.0.shape()
    }
}

/// A family's own `detbench run` flags: a clap [`clap::Args`] struct in the family's
/// folder, named on the family's registry line, which flattens it into `run`'s arguments
/// ([`super::FamilyArgs`]). A new flag is an edit inside the family's folder: the CLI, the
/// run configuration and the runner carry the parsed [`FamilyFlags::Options`] without
/// knowing their type, and the family reads them back in [`Family::expand`].
pub trait FamilyFlags {
    /// The flags parsed and checked: what [`Family::expand`] reads from [`FamilyOptions`].
    type Options: Any + Debug + Send + Sync;
    /// Input files the flags name, as (flag, path): checked with the run's other files
    /// (regular files, not an output of the run) before any of them is read.
    fn input_files(&self) -> Vec<(&'static str, &Path)> {
        Vec::new()
    }
    /// Parses and checks the flags, once the files passed those checks; `ops` are the ops
    /// of the run. A bad value is a one-line input error (exit 2), before any work.
    fn options(&self, ops: &[Op]) -> Result<Self::Options, DetError>;
}

/// The parsed flags of every family ([`FamilyFlags::Options`]), as one run carries them to
/// the families' [`Family::expand`]. Each family finds its own by type.
#[derive(Clone, Debug, Default)]
pub struct FamilyOptions(Vec<Arc<dyn OptionSet>>);

/// What [`FamilyOptions`] holds: any family's options type.
pub trait OptionSet: Any + Debug + Send + Sync {}

impl<T: Any + Debug + Send + Sync> OptionSet for T {}

impl FamilyOptions {
    /// Adds one family's options.
    pub fn push<T: OptionSet>(&mut self, options: T) {
        self.0.push(Arc::new(options));
    }

    /// The options of type `T`, or None when the run carries none (then the family uses
    /// its defaults).
    pub fn get<T: OptionSet>(&self) -> Option<&T> {
        self.0.iter().find_map(|o| {
            let any: &dyn Any = &**o;
            any.downcast_ref::<T>()
        })
    }
}

/// What the bandwidth baseline of a run is sized by.
#[derive(Clone, Copy, Debug)]
pub struct BaselineSpec {
    /// The run's largest size.
    pub size: usize,
    /// The run's widest format.
    pub precision: Precision,
    pub seed: u64,
    /// Runs the user asked for.
    pub runs: usize,
}

/// How an op's error follows the Higham-Mary summation model (`detbench tolerance`): its
/// scalar result is a float sum of n terms, each addition rounded once, so the
/// probabilistic bound gamma_{n-1+extra} applies to the variants that round each addition
/// in float.
#[derive(Clone, Copy, Debug)]
pub struct SummationModel {
    /// Roundings per term beyond the n - 1 additions (dot rounds each product: 1).
    pub extra_roundings: u64,
    /// Variants that do not round each addition in float: their own bound, of the form
    /// (u + eps) |exact| + R, is their deterministic basis, and the model does not apply.
    pub own_bound_variants: &'static [&'static str],
    /// The terms' magnitude sum, the scale of the normwise band, as (numpy, torch, rust)
    /// float64 expressions over the inputs `x` (and `y`) for the paste-ready assertions.
    pub magnitudes: [&'static str; 3],
}

impl SummationModel {
    /// The magnitude sum of a plain sum's terms, sum|x_i|: the scale of a normwise band
    /// whose family says nothing more specific.
    pub const ABS_SUM_MAGNITUDES: [&'static str; 3] = [
        "numpy.abs(x.astype(numpy.float64)).sum()",
        "x.double().abs().sum().item()",
        "x.iter().map(|v| (*v as f64).abs()).sum::<f64>()",
    ];

    /// Whether `variant` has its own bound instead of the model's.
    pub fn own_bound(&self, variant: &str) -> bool {
        self.own_bound_variants.contains(&variant)
    }
}

/// One kernel family: its ops and variants, how a case becomes a job with an exact
/// reference and bound, and what its report rows carry beyond the common fields.
pub trait Family: Sync {
    /// The family's name (e.g. "reduce").
    fn name(&self) -> &'static str;
    /// Ops of this family, in report order: those its registry line names (the one place
    /// a family's ops are declared).
    fn ops(&self) -> &'static [Op] {
        super::registry_ops(self.name())
    }
    /// Variants of one of its ops, in report order.
    fn variants(&self, op: Op) -> &'static [&'static str];
    /// What `variant` of `op` does, in one line for `run --help`: its order and whether its
    /// bits can change from run to run. Written here, with the family, for every variant
    /// [`Family::variants`] lists (tests/it/cli.rs checks none is missing).
    fn describe(&self, op: Op, variant: &str) -> Option<&'static str>;
    /// Builds the job, the exact reference and the a-priori bound of a case.
    fn prepare(&self, case: &Case) -> Result<Prepared, DetError>;
    /// The accumulators a case of `precision` runs with, given those the user asked for
    /// (already narrowed to those at least as wide as the input).
    fn accumulators(&self, _precision: Precision, wanted: Vec<Precision>) -> Vec<Precision> {
        wanted
    }
    /// Expands the matrix's cases of one op (in matrix order) with the family's own
    /// parameters (bins, index distributions, shapes), from its flags' options in
    /// `options` (see [`FamilyFlags`]). The default keeps the cases as they are.
    fn expand(&self, cases: Vec<Case>, _options: &FamilyOptions) -> Result<Vec<Case>, DetError> {
        Ok(cases)
    }
    /// The flag that sizes this family's cases when `--size` does not (e.g. `--mm-shape`):
    /// then an explicit `--size` is refused or named, never silently ignored. None: the
    /// family's cases take `--size`.
    fn sized_by(&self) -> Option<&'static str> {
        None
    }
    /// The workgroup size this case's kernel launches with when it does not take
    /// `--workgroup-size` (a fixed tile, a fixed row launch). The matrix then holds the
    /// case once, at that size: one case per `--workgroup-size` would be one result key
    /// run several times. None: the case runs at its `workgroup_size`.
    fn own_workgroup_size(&self, _case: &Case) -> Option<u32> {
        None
    }
    /// The non-finite input values `op` defines, i.e. its definition of exact covers
    /// them (log_softmax: -inf, a masked logit). A user's file with any other non-finite
    /// value is refused (exit 2) naming the file, the element and the op. Empty: finite
    /// inputs only.
    fn non_finite_inputs(&self, _op: Op) -> &'static [f64] {
        &[]
    }
    /// Host bytes a case of `op` in `precision` holds at its peak, per element of its
    /// `--size`: inputs as f64, their encoded copies on the way to a device, outputs. A
    /// size whose need exceeds the host's available memory is refused before any input is
    /// drawn. The default, six f64 words, is a bound for any family.
    fn host_bytes_per_element(&self, _op: Op, _precision: Precision) -> u64 {
        48
    }
    /// The `input` label of a report row.
    fn input_label(&self, case: &Case) -> String {
        case.input.label()
    }
    /// Family figures a row carries before it runs.
    fn extras(&self, _case: &Case) -> BTreeMap<String, Value> {
        BTreeMap::new()
    }
    /// Family figures added once the runs are measured: `elements_differing` and
    /// `max_ulp_run_to_run` as the runner computed them.
    fn finish_extras(
        &self,
        _extra: &mut BTreeMap<String, Value>,
        _elements_differing: u64,
        _max_ulp_run_to_run: u64,
    ) {
    }
    /// The kernel modules the family builds for a [`crate::backend::BuildTarget`] (e.g. each
    /// CUDA module for a compute capability, with the entry points its host code looks
    /// up): what `detbench kernels` and the compile tests build without a device. The one
    /// lookup, by the target's type: chain [`crate::backend::module_entry`] per target
    /// type the family builds for; None for the others. Callers use [`super::modules`].
    fn modules(&self, _target: &dyn Any) -> Option<Box<dyn Any>> {
        None
    }
    /// Whether the first-run outputs of every backend are compared with each other (the
    /// outputs of deterministic element-wise kernels should agree across devices).
    fn compare_across_backends(&self) -> bool {
        false
    }
    /// The variant whose job and bound stand for an external program's kernel of `op`
    /// (`--backend external`): its bound must hold whatever order the program accumulates
    /// in. None: the family's jobs cannot be handed to external programs.
    fn external_variant(&self, _op: Op) -> Option<&'static str> {
        None
    }
    /// The batch axis (`--batch-sizes`): `case` with its batch dimension set to `batch`, and
    /// the output elements of one batch row, when the op has a batch axis whose rows are
    /// drawn independently of the batch size (so the first rows are the same at every
    /// size and their outputs can be compared). None: the op has no batch axis.
    fn with_batch(&self, _case: &Case, _batch: usize) -> Result<Option<(Case, usize)>, DetError> {
        Ok(None)
    }
    /// The bandwidth baseline case this family offers a run, if it is the baseline family.
    fn baseline(&self, _spec: BaselineSpec) -> Option<Case> {
        None
    }
    /// The summation model of `op` for `detbench tolerance`. None: the op's results are not
    /// one float sum, and tolerance fits their band without the model.
    fn summation_model(&self, _op: Op) -> Option<SummationModel> {
        None
    }
}

/// The per-job facts the runner needs, whatever the family.
pub trait JobSpec: Kernel + Send {
    /// Launch shape, recorded in every result.
    fn launch(&self) -> Launch;
    /// Whether the variant accumulates with atomics (run with every CUDA ordering).
    fn is_atomic(&self) -> bool {
        false
    }
    /// The atomic ordering the job runs with.
    fn ordering(&self) -> Ordering {
        Ordering::None
    }
    /// Sets the atomic ordering; jobs without atomics ignore it.
    fn set_ordering(&mut self, _ordering: Ordering) {}
}

/// [`JobSpec`] for a job with `launch` and `ordering` fields and a `variant` that knows
/// whether it is atomic: the families with atomic variants share this one definition.
macro_rules! atomic_job_spec {
    ($job:ty) => {
        impl $crate::ops::JobSpec for $job {
            fn launch(&self) -> $crate::ops::Launch {
                self.launch
            }
            fn is_atomic(&self) -> bool {
                self.variant.is_atomic()
            }
            fn ordering(&self) -> $crate::ops::Ordering {
                self.ordering
            }
            fn set_ordering(&mut self, ordering: $crate::ops::Ordering) {
                self.ordering = ordering;
            }
        }
    };
}
pub(crate) use atomic_job_spec;

/// The [`Kernel`] impl of a family's job: `kernel_name` from the given expression, and the
/// one kernel lookup from the listed functions, each `fn(&Api, &Job) -> Result<Api::Output,
/// OpError>` for one [`crate::backend::KernelApi`] (usually `super::<backend>::run`). An API
/// with no function listed gets `Unsupported`. The macro names no backend: a family gains a
/// backend's kernels by listing one more function.
///
/// `family_kernel!(ReduceJob, |j| j.op.name(), [super::cpu::run, super::wgpu::run]);`
macro_rules! family_kernel {
    ($job:ty, |$j:ident| $name:expr, [$($run:path),* $(,)?]) => {
        impl $crate::backend::Kernel for $job {
            fn kernel_name(&self) -> String {
                let $j = self;
                ($name).into()
            }
            fn kernel(
                &self,
                api: &dyn std::any::Any,
            ) -> Option<Result<Box<dyn std::any::Any>, $crate::error::OpError>> {
                None$(.or_else(|| $crate::backend::kernel_entry(api, self, $run)))*
            }
        }
    };
}
pub(crate) use family_kernel;

/// A family's variant enum with its report names written once: the enum, `ALL` and `NAMES`
/// (report order), `name()` and `FromStr` (whose error names the family and lists the
/// names).
macro_rules! variant_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident ($what:literal) {
            $($(#[$vmeta:meta])* $v:ident = $name:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $ty {
            $($(#[$vmeta])* $v),+
        }

        impl $ty {
            /// Every variant, in report order.
            pub const ALL: &'static [$ty] = &[$($ty::$v),+];
            /// The report names of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name written in reports and taken by `--variant`.
            pub const fn name(self) -> &'static str {
                match self {
                    $($ty::$v => $name),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    format!(
                        "unknown {} variant '{s}' (expected {})",
                        $what,
                        Self::NAMES.join(", ")
                    )
                })
            }
        }
    };
}
pub(crate) use variant_enum;
