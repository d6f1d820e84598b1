//! The optimizer family on wgpu (`kernels/wgsl/optim.wgsl`): one dispatch per step, all
//! steps of a run recorded in one command buffer.
//!
//! wgpu cannot select FMA contraction: WGSL has no way to forbid a driver from fusing a*b+c,
//! so `no_fma` is unsupported here, and `fma` fuses every multiply-add explicitly: SGD with
//! common.wgsl's exact emulation `fma32` (so its bits are the CPU emulation's whatever the
//! driver does with `fma()`), Adam with `fma()`.

use super::{OptimJob, Rule, StepScalars, Storage};
use crate::backend::wgpu::{Pass, WgpuBackend};
use crate::error::OpError;
use crate::ops::wgsl::specialise_family;
use crate::ops::RunSet;

/// The template, embedded once in [`crate::kernels::wgsl`] and hashed from there; modules are
/// [`crate::kernels::WGSL_PRELUDE`] and this, specialised together.
pub const TEMPLATE: &str = crate::kernels::wgsl::OPTIM;
/// The template files of a module, after the prelude (`kernels/wgsl/<stem>.wgsl`).
const PARTS: &[&str] = &["optim"];

/// Largest grid; bigger inputs are covered by the kernels' grid-stride loops.
const MAX_GROUPS: u32 = 65535;

/// Why `no_fma` cannot run on wgpu.
pub const NO_FMA_REASON: &str = "wgpu cannot choose FMA contraction: WGSL has no way to forbid a driver from fusing a*b+c into one fma (naga marks no operation NoContraction), so separate roundings cannot be promised; the fma variant uses explicit fma() calls";

/// Said in every wgpu SGD result's message.
pub const SGD_FMA_MESSAGE: &str = "every multiply-add is common.wgsl's exact fma emulation (fma32): one rounding whatever the driver does with fma(), so the bits are the CPU emulation's";

/// Said in every wgpu Adam/AdamW result's message.
pub const FMA_MESSAGE: &str = "wgpu cannot choose FMA contraction: every multiply-add is an explicit fma(), yet WGSL and Vulkan let a driver evaluate fma() as a multiply then an add (Mesa's lavapipe does: its bits equal the CPU's no_fma order), and WGSL allows 2.5 ULP for division and an inexact sqrt";

/// The uniform of one step (layout of `Prm` in optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Prm {
    s: StepScalars,
    n: u32,
    /// Always 0: common.wgsl's `opaque`.
    zero: u32,
    _pad: [u32; 2],
}

/// The specialised WGSL of a rule and storage with `wg` threads per workgroup; `f64`: the
/// device has SHADER_F64 and SHADER_INT64, so SGD's emulated fma goes through f64 (exact
/// near the subnormal range too).
pub fn module_source(rule: Rule, storage: Storage, wg: u32, f64: bool) -> Result<String, OpError> {
    let header = format!(
        "// specialised by detbench: {} {}\nalias C = f32;\nconst WG: u32 = {wg}u;\n",
        rule.stem(),
        storage.suffix()
    );
    // common.wgsl's opaque.
    let mut flags = vec!["OPAQUE"];
    flags.push(match storage {
        Storage::F32 => "ST_F32",
        Storage::Bf16Master => "ST_BF16",
        Storage::Bf16Sr => "ST_SR",
    });
    match rule {
        Rule::Sgd { nesterov } => {
            flags.push("SGD");
            if nesterov {
                flags.push("NESTEROV");
            }
            // common.wgsl's exact single-rounding fma32.
            flags.extend(["TWO_SUM32", "FMA32"]);
            if f64 {
                flags.extend(["FMA32_F64", "EFT64"]);
            }
        }
        Rule::Adam => flags.push("ADAM"),
        Rule::AdamW => flags.extend(["ADAM", "ADAMW"]),
    }
    specialise_family(&header, PARTS, &flags)
}

/// Encodes f32 values in the storage format's device bytes.
pub fn encode(storage: Storage, values: &[f32]) -> Vec<u8> {
    match storage {
        Storage::F32 => bytemuck::cast_slice(values).to_vec(),
        _ => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
    }
}

/// Decodes `n` values from device bytes.
pub fn decode(storage: Storage, bytes: &[u8], n: usize) -> Vec<f32> {
    match storage {
        Storage::F32 => bytes
            .chunks_exact(4)
            .take(n)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        _ => bytes
            .chunks_exact(2)
            .take(n)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// Device buffers of one optimizer state, for callers that keep state across calls (the
/// training loop).
pub struct DeviceState {
    pub params: wgpu::Buffer,
    pub m: wgpu::Buffer,
    pub v: Option<wgpu::Buffer>,
    pub master: Option<wgpu::Buffer>,
    pub n: usize,
}

impl DeviceState {
    /// Uploads fresh state for `init` (zero moments, master = init).
    pub fn new(
        b: &WgpuBackend,
        rule: Rule,
        storage: Storage,
        init: &[f32],
    ) -> Result<Self, OpError> {
        let n = init.len();
        let params = b.storage_from_bytes("params", &encode(storage, init))?;
        let m = b.storage_zeroed("m", 4 * n as u64)?;
        let v = match rule {
            Rule::Sgd { .. } => None,
            _ => Some(b.storage_zeroed("v", 4 * n as u64)?),
        };
        let master = match storage {
            Storage::Bf16Master => {
                Some(b.storage_from_bytes("master", bytemuck::cast_slice(init))?)
            }
            _ => None,
        };
        Ok(Self {
            params,
            m,
            v,
            master,
            n,
        })
    }
}

impl DeviceState {
    /// One step with gradient `grad` (the training loop's optimizer); returns the new
    /// parameters.
    pub fn step(
        &self,
        b: &WgpuBackend,
        rule: Rule,
        storage: Storage,
        s: &StepScalars,
        grad: &[f32],
    ) -> Result<Vec<f32>, OpError> {
        let g = b.storage_from_bytes("grad", &encode(storage, grad))?;
        let steps = prepare_steps(b, rule, storage, 256, self, &[*s], &[&g])?;
        let pass = Pass::new(&steps.pipeline, &steps.groups[0], [steps.workgroups, 1, 1]);
        let out = b.execute(&[], &[pass], &[&self.params])?;
        Ok(decode(storage, &out.outputs[0], self.n))
    }
}

/// The pipeline and one bind group per step, ready to record.
pub struct Steps {
    pub pipeline: wgpu::ComputePipeline,
    pub groups: Vec<wgpu::BindGroup>,
    pub workgroups: u32,
}

/// Checks the device can run the variant.
pub fn check(fma: bool) -> Result<(), OpError> {
    if !fma {
        return Err(OpError::Unsupported(NO_FMA_REASON.into()));
    }
    Ok(())
}

/// Builds the bind groups of `steps` over `state`, with gradients `grads[i]` for step i.
#[allow(clippy::too_many_arguments)]
pub fn prepare_steps(
    b: &WgpuBackend,
    rule: Rule,
    storage: Storage,
    wg: u32,
    state: &DeviceState,
    steps: &[StepScalars],
    grads: &[&wgpu::Buffer],
) -> Result<Steps, OpError> {
    let f64 = b.has(wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64);
    let src = module_source(rule, storage, wg, f64)?;
    let pipeline = b.pipeline(&src, "step")?;
    let units = match storage {
        Storage::F32 => state.n,
        _ => state.n.div_ceil(2),
    } as u64;
    let workgroups = units.div_ceil(wg as u64).clamp(1, MAX_GROUPS as u64) as u32;
    let mut groups = Vec::with_capacity(steps.len());
    for (s, g) in steps.iter().zip(grads) {
        let prm = b.uniform(
            "step",
            &Prm {
                s: *s,
                n: state.n as u32,
                zero: 0,
                _pad: [0; 2],
            },
        )?;
        let mut e: Vec<(u32, &wgpu::Buffer)> =
            vec![(0, &prm), (1, &state.params), (2, g), (3, &state.m)];
        if let Some(v) = &state.v {
            e.push((4, v));
        }
        if let Some(ms) = &state.master {
            e.push((5, ms));
        }
        groups.push(b.bind_group(&pipeline, &e)?);
    }
    Ok(Steps {
        pipeline,
        groups,
        workgroups,
    })
}

/// Runs an optimizer job `job.runs` times; each run starts from the initial parameters.
pub fn run(b: &WgpuBackend, job: &OptimJob) -> Result<RunSet, OpError> {
    if let Some(why) = &job.unsupported {
        return Err(OpError::Unsupported(why.clone()));
    }
    check(job.variant.fma)?;
    let n = job.n();
    if n > u32::MAX as usize / 2 {
        return Err(OpError::BadInput(format!(
            "size {n} exceeds the 32-bit indices of the wgpu optimizer kernels"
        )));
    }
    b.check_storage(n, 4 * n as u64)?;
    let grads: Vec<wgpu::Buffer> = job
        .grads
        .iter()
        .map(|g| b.storage_from_bytes("grad", &encode(job.storage, g)))
        .collect::<Result<_, _>>()?;
    let grad_refs: Vec<&wgpu::Buffer> = grads.iter().collect();
    let mut set = RunSet {
        timer: b.timer().into(),
        message: match job.variant.rule {
            Rule::Sgd { .. } => SGD_FMA_MESSAGE,
            _ => FMA_MESSAGE,
        }
        .into(),
        ..Default::default()
    };
    for _ in 0..job.runs {
        let state = DeviceState::new(b, job.variant.rule, job.storage, &job.init)?;
        let steps = prepare_steps(
            b,
            job.variant.rule,
            job.storage,
            job.launch.workgroup_size,
            &state,
            &job.steps,
            &grad_refs,
        )?;
        let passes: Vec<Pass> = steps
            .groups
            .iter()
            .map(|g| Pass::new(&steps.pipeline, g, [steps.workgroups, 1, 1]))
            .collect();
        let out = b.execute(&[], &passes, &[&state.params])?;
        set.times_ms.push(out.ms);
        set.outputs.push(
            decode(job.storage, &out.outputs[0], n)
                .into_iter()
                .map(f64::from)
                .collect(),
        );
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// `Prm` nests the step scalars, so its fields are matched one by one.
    #[test]
    fn prm_matches_the_wgsl_struct() {
        let (fields, size) =
            crate::shared::layout::wgsl_scalar_struct(TEMPLATE, "Prm").expect("WGSL Prm");
        assert_eq!(std::mem::size_of::<Prm>(), size);
        let s = offset_of!(Prm, s);
        let rust = [
            ("neg_step", s + offset_of!(StepScalars, neg_step)),
            ("a", s + offset_of!(StepScalars, a)),
            ("b", s + offset_of!(StepScalars, b)),
            ("isb", s + offset_of!(StepScalars, isb)),
            ("eps", s + offset_of!(StepScalars, eps)),
            ("decay", s + offset_of!(StepScalars, decay)),
            ("step", s + offset_of!(StepScalars, step)),
            ("key", s + offset_of!(StepScalars, key)),
            ("n", offset_of!(Prm, n)),
            ("zero", offset_of!(Prm, zero)),
        ];
        let want: Vec<(String, usize)> = rust.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        assert_eq!(fields, want);
    }
}
