//! Host glue the GPU families share: the CUDA module of an (input, accumulator) pair, the
//! atomic capabilities it is specialised on, and the PTX ordering of an entry point.
//!
//! reduce.cu and scatter.cu are built the same way (`DB_IN_T`/`DB_ACC_T` types and the same
//! capability flags), so one function says how; a family with other defines (conv, optim,
//! copy) keeps its own `module_spec`.

use crate::backend::cuda::{ComputeCapability, ModuleBuild, ModuleSpec};
use crate::error::DetError;
use crate::error::OpError;
use crate::numerics::Precision;
use crate::ops::Ordering;

/// Scoped atomics (`.relaxed`, `.acq_rel`, `fence.sc`) are the PTX memory model of sm_70+.
pub fn cuda_ordered_atomics(dev: &impl ComputeCapability) -> bool {
    dev.compute_capability().0 >= 7
}

/// Whether the accumulator has a native atomic add here, and if not, why.
pub fn cuda_native_atomic(dev: &impl ComputeCapability, acc: Precision) -> Result<(), String> {
    let (major, minor) = dev.compute_capability();
    if major < 7 {
        return Err(format!(
            "scoped atomics (.relaxed/.acq_rel, fence.sc) need sm_70 or newer; this device is sm_{major}{minor}"
        ));
    }
    match acc {
        Precision::Bf16 if major < 9 => Err(format!(
            "a native bf16 atomic add (atom.add.noftz.bf16) needs sm_90 or newer; this device is sm_{major}{minor}"
        )),
        _ => Ok(()),
    }
}

/// PTX ordering suffixes of the atomic entry points (one per CUDA ordering).
pub fn cuda_ordering_suffixes() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = crate::ops::Ordering::CUDA
        .iter()
        .map(|&o| cuda_ordering_suffix(o))
        .collect();
    v.dedup();
    v
}

/// PTX ordering suffix of an entry point. `Relaxed` (the ordering of non-CUDA runs) and
/// `None` map to relaxed at GPU scope, the default of CUDA's `atomicAdd`.
pub fn cuda_ordering_suffix(o: Ordering) -> &'static str {
    match o {
        Ordering::RelaxedCta => "relaxed_cta",
        Ordering::AcqRelCta => "acq_rel_cta",
        Ordering::AcqRelGpu => "acq_rel_gpu",
        Ordering::SeqCstCta => "seq_cst_cta",
        Ordering::SeqCstGpu => "seq_cst_gpu",
        Ordering::RelaxedGpu | Ordering::Relaxed | Ordering::None => "relaxed_gpu",
    }
}

/// Entry-point suffix of an (input, accumulator) pair, e.g. `f16_f32`.
pub fn pair_suffix(input: Precision, acc: Precision) -> String {
    format!("{}_{}", input.name(), acc.name())
}

/// The module of `path` for an (input, accumulator) pair on this device: the storage and
/// accumulator types, the entry-point suffix, and the atomic capabilities the atomic
/// entry points are compiled for.
pub fn cuda_pair_module(
    dev: &impl ComputeCapability,
    path: &'static str,
    input: Precision,
    acc: Precision,
) -> ModuleSpec {
    let in_t = match input {
        Precision::F32 => "InF32",
        Precision::F64 => "InF64",
        Precision::F16 => "InF16",
        Precision::Bf16 => "InBF16",
    };
    let acc_t = match acc {
        Precision::F32 => "AccF32",
        Precision::F64 => "AccF64",
        Precision::F16 => "AccF16",
        Precision::Bf16 => "AccBF16",
    };
    let mut defines = vec![
        ("DB_IN_T".to_string(), in_t.to_string()),
        ("DB_ACC_T".to_string(), acc_t.to_string()),
        ("DB_SUFFIX".to_string(), pair_suffix(input, acc)),
        (
            "DB_ORDERED_ATOMICS".to_string(),
            u8::from(cuda_ordered_atomics(dev)).to_string(),
        ),
        (
            "DB_NATIVE_ATOMIC".to_string(),
            u8::from(cuda_native_atomic(dev, acc).is_ok()).to_string(),
        ),
    ];
    // The binned (reproducible) kernels exist for the f32 and f64 accumulators only.
    if matches!(acc, Precision::F32 | Precision::F64) {
        defines.push(("DB_REPRO".to_string(), "1".to_string()));
    }
    if acc == Precision::Bf16 {
        defines.push(("DB_ACC_IS_BF16".to_string(), "1".to_string()));
    }
    ModuleSpec {
        path,
        fmad: false,
        defines,
    }
}

/// [`cuda_pair_module`] for the families built on common.cuh's GEMM section (conv, matmul,
/// rows): `DB_GEMM`, and with `mma` the tensor-core input type `DB_MMA` where the
/// `tensor_core` kernels can run this pair on this device.
pub fn cuda_gemm_module(
    dev: &impl ComputeCapability,
    path: &'static str,
    input: Precision,
    acc: Precision,
    mma: bool,
) -> ModuleSpec {
    let mut spec = cuda_pair_module(dev, path, input, acc);
    spec.defines.push(("DB_GEMM".to_string(), "1".to_string()));
    let cc = dev.compute_capability();
    if mma && crate::shared::gemm::tensor_core_unsupported_for(input, acc, cc).is_none() {
        spec.defines
            .push(("DB_MMA".to_string(), input.name().to_string()));
    }
    spec
}

/// Whether a wgpu job computes in f64 on the device: an f64 input or accumulator.
pub fn wgpu_uses_f64(input: Precision, acc: Precision) -> bool {
    input == Precision::F64 || acc == Precision::F64
}

/// The WGSL specialisation flags for an (input, accumulator) pair, shared by the families
/// whose templates read `IN_*`, `ACC_*`, `ACC_HALF`, the half-rounding flags of
/// common.wgsl and `C64`.
pub fn wgpu_pair_flags(input: Precision, acc: Precision) -> Vec<&'static str> {
    let mut flags = vec![
        match input {
            Precision::F64 => "IN_F64",
            Precision::F32 => "IN_F32",
            Precision::F16 => "IN_F16",
            Precision::Bf16 => "IN_BF16",
        },
        match acc {
            Precision::F64 => "ACC_F64",
            Precision::F32 => "ACC_F32",
            Precision::F16 => "ACC_F16",
            Precision::Bf16 => "ACC_BF16",
        },
    ];
    if matches!(acc, Precision::F16 | Precision::Bf16) {
        flags.push("ACC_HALF");
        // common.wgsl's round_half, for the accumulator's format.
        flags.push("ROUND_HALF");
        flags.push(if acc == Precision::F16 {
            "HALF_F16"
        } else {
            "HALF_BF16"
        });
    }
    if wgpu_uses_f64(input, acc) {
        flags.push("C64");
    }
    flags
}

/// Row `i` of A: its own stream, so it does not depend on M (see the module docs).
pub const ROW_STREAM: u64 = 1 << 32;

/// Rows of a batched operand, row `i` drawn from stream `ROW_STREAM + i` (a user's file
/// gives its first `rows * len` values, row-major). Shared with the batched row reductions.
pub fn batch_rows(
    case: &crate::ops::Case,
    rows: usize,
    len: usize,
    what: &str,
) -> Result<Vec<f64>, DetError> {
    if let crate::inputs::InputSpec::File(_) = &case.input {
        let v = crate::inputs::generate(&case.input, case.precision, 0, case.seed, 0)?;
        if v.len() < rows * len {
            return Err(DetError::input(format!(
                "{}: the input file has {} values; {what} needs {rows} rows of {len}",
                case.op,
                v.len()
            )));
        }
        return Ok(v[..rows * len].to_vec());
    }
    let mut out = Vec::with_capacity(rows * len);
    for i in 0..rows {
        out.extend(crate::inputs::generate(
            &case.input,
            case.precision,
            len,
            case.seed,
            ROW_STREAM + i as u64,
        )?);
    }
    Ok(out)
}

/// How a WGSL atomic variant adds into its output cells on one adapter (common.wgsl's
/// `ATOMIC_CELLS`): a native f32 `atomicAdd` where the adapter has one, else a
/// compare-exchange loop on 32-bit words (f32 and the half formats) or on 64-bit words (f64).
/// One answer for every family with atomic cells (conv, matmul, rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicKind {
    Native,
    Cas32,
    Cas64,
}

impl AtomicKind {
    /// The kind this adapter gives an accumulator of this precision.
    pub fn of(b: &crate::backend::wgpu::WgpuBackend, acc: Precision) -> Self {
        match acc {
            Precision::F32 if b.has(wgpu::Features::SHADER_FLOAT32_ATOMIC) => AtomicKind::Native,
            Precision::F64 => AtomicKind::Cas64,
            _ => AtomicKind::Cas32,
        }
    }

    /// The common.wgsl flag that selects it.
    pub fn flag(self) -> &'static str {
        match self {
            AtomicKind::Native => "NATIVE_ATOMIC",
            AtomicKind::Cas32 => "CAS32",
            AtomicKind::Cas64 => "CAS64",
        }
    }
}

/// The module of `spec` as the family declares it in `declared` (its `modules(target)`):
/// what [`crate::backend::cuda::CudaDevice::function`] takes, so a device that builds its
/// entry table from the declaration (the host emulator) builds what the host code uses.
pub fn cuda_declared(
    declared: Vec<ModuleBuild>,
    spec: &ModuleSpec,
) -> Result<ModuleBuild, OpError> {
    declared
        .into_iter()
        .find(|m| &m.spec == spec)
        .ok_or_else(|| {
            OpError::Failed(format!(
                "the module {} {:?} is not among the modules its family declares",
                spec.path, spec.defines
            ))
        })
}
