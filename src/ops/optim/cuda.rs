//! The optimizer family on CUDA (`kernels/cuda/optim.cu`). The module is compiled once with
//! `--fmad=true` (`fma`, `stochastic_rounding`) and once with `--fmad=false` (`no_fma`);
//! the backend's module cache keys on that option.

use super::{OptimJob, OptimVariant, Rule, StepScalars, Storage};
use crate::backend::cuda::{
    CudaBackend, CudaBuf, CudaDevice, CudaFn, CudaTarget, LaunchConfig, ModuleBuild, ModuleSpec,
};
use crate::error::OpError;
use crate::ops::RunSet;

/// Kernel source of this family.
pub const SOURCE: &str = "kernels/cuda/optim.cu";

/// The module for an `--fmad` choice.
/// The declared module of the `fma` choice (what the device looks entry points up in).
fn declared(dev: &CudaDevice, fma: bool) -> Result<ModuleBuild, OpError> {
    crate::ops::common::cuda_declared(modules(&dev.target()), &module_spec(fma))
}

pub fn module_spec(fma: bool) -> ModuleSpec {
    ModuleSpec {
        path: SOURCE,
        fmad: fma,
        defines: Vec::new(),
    }
}

/// Both modules (`--fmad=true` and `false`) and the entry points [`run`] looks up: every
/// rule with every storage, `{rule}_{storage}`.
pub fn modules(_target: &CudaTarget) -> Vec<ModuleBuild> {
    let rules = [
        Rule::Sgd { nesterov: false },
        Rule::Sgd { nesterov: true },
        Rule::Adam,
        Rule::AdamW,
    ];
    let storages = [Storage::F32, Storage::Bf16Master, Storage::Bf16Sr];
    [false, true]
        .into_iter()
        .map(|fma| ModuleBuild {
            spec: module_spec(fma),
            entries: rules
                .iter()
                .flat_map(|r| {
                    storages
                        .iter()
                        .map(move |s| format!("{}_{}", r.stem(), s.suffix()))
                })
                .collect(),
        })
        .collect()
}

fn encode(storage: Storage, values: &[f32]) -> Vec<u8> {
    super::wgpu::encode(storage, values)
}

/// Runs an optimizer job `job.runs` times on one GPU; each run starts from the initial
/// parameters and zero state, and times all its steps between two events.
pub fn run(backend: &CudaBackend, job: &OptimJob) -> Result<RunSet, OpError> {
    if let Some(why) = &job.unsupported {
        return Err(OpError::Unsupported(why.clone()));
    }
    let dev: &CudaDevice = backend.device();
    let n = job.n();
    let f = dev.function(&declared(dev, job.variant.fma)?, &job.entry())?;
    let init = encode(job.storage, &job.init);
    let grads: Vec<CudaBuf> = job
        .grads
        .iter()
        .map(|g| dev.upload(&encode(job.storage, g)))
        .collect::<Result<_, _>>()?;
    let mut params = dev.upload(&init)?;
    let mut m = dev.zeros(4 * n)?;
    let mut v = match job.variant.rule {
        Rule::Sgd { .. } => dev.zeros(16)?,
        _ => dev.zeros(4 * n)?,
    };
    let master_init: &[u8] = bytemuck::cast_slice(job.init.as_slice());
    let mut master = match job.storage {
        Storage::Bf16Master => dev.upload(master_init)?,
        _ => dev.zeros(16)?,
    };
    let wg = job.launch.workgroup_size;
    let cfg = LaunchConfig {
        grid_dim: (job.launch.workgroups, 1, 1),
        block_dim: (wg, 1, 1),
        shared_mem_bytes: 0,
    };
    let n64 = n as u64;
    let mut set = RunSet {
        timer: dev.timer().into(),
        message: format!("NVRTC --fmad={}", job.variant.fma),
        ..Default::default()
    };
    for run in 0..job.runs {
        if run > 0 {
            params = dev.upload(&init)?;
            dev.zero(&mut m)?;
            if !matches!(job.variant.rule, Rule::Sgd { .. }) {
                dev.zero(&mut v)?;
            }
            if job.storage == Storage::Bf16Master {
                master = dev.upload(master_init)?;
            }
        }
        let ms = dev.timed(|stream| {
            for (s, g) in job.steps.iter().zip(&grads) {
                let mut bufs = Buffers {
                    params: &mut params,
                    m: &mut m,
                    v: &mut v,
                    master: &mut master,
                };
                launch_step(stream, &f, cfg, &mut bufs, g, n64, s)?;
            }
            Ok(())
        })?;
        let bytes = dev.read(&params)?;
        set.times_ms.push(ms);
        set.outputs.push(
            super::wgpu::decode(job.storage, &bytes, n)
                .into_iter()
                .map(f64::from)
                .collect(),
        );
    }
    Ok(set)
}

/// The device buffers one step updates.
struct Buffers<'a> {
    params: &'a mut CudaBuf,
    m: &'a mut CudaBuf,
    v: &'a mut CudaBuf,
    master: &'a mut CudaBuf,
}

/// Grid of the elementwise kernel: one thread per 4 elements.
fn grid(n: usize, wg: u32) -> LaunchConfig {
    let l = super::launch_for(n, wg);
    LaunchConfig {
        grid_dim: (l.workgroups, 1, 1),
        block_dim: (wg, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches one step of `f` on the stream.
fn launch_step(
    stream: &CudaDevice,
    f: &CudaFn,
    cfg: LaunchConfig,
    b: &mut Buffers<'_>,
    g: &CudaBuf,
    n: u64,
    s: &StepScalars,
) -> Result<(), OpError> {
    let mut l = stream.launch_builder(f);
    l.arg(&mut *b.params)
        .arg(g)
        .arg(&mut *b.m)
        .arg(&mut *b.v)
        .arg(&mut *b.master)
        .arg(&n)
        .arg(&s.neg_step)
        .arg(&s.a)
        .arg(&s.b)
        .arg(&s.isb)
        .arg(&s.eps)
        .arg(&s.decay)
        .arg(&s.step)
        .arg(&s.key);
    // SAFETY: the arguments match `{rule}_{storage}(void* params, const void* grad, float* m,
    // float* v, float* master, u64 n, float x6, u32, u32)` in optim.cu. params and grad hold n
    // elements of the storage format, m holds n f32, v holds n f32 for Adam (SGD never reads
    // it) and master n f32 for bf16 (never read otherwise). Thread t touches elements
    // 4t..4t+3 below n only, and the grid covers ceil(n/4) threads. Buffers come from
    // cuMemAlloc (256-byte aligned), so the 16- and 8-byte vector accesses are aligned.
    unsafe { l.launch(cfg) }?;
    Ok(())
}

/// Optimizer state kept on the GPU across calls (the training loop's optimizer).
pub struct CudaState {
    params: CudaBuf,
    m: CudaBuf,
    v: CudaBuf,
    master: CudaBuf,
    n: usize,
    variant: OptimVariant,
    storage: Storage,
}

impl CudaState {
    /// Uploads fresh state for `init`: zero moments, master = init.
    pub fn new(
        dev: &CudaDevice,
        variant: OptimVariant,
        storage: Storage,
        init: &[f32],
    ) -> Result<Self, OpError> {
        let n = init.len();
        Ok(Self {
            params: dev.upload(&encode(storage, init))?,
            m: dev.zeros(4 * n)?,
            v: match variant.rule {
                Rule::Sgd { .. } => dev.zeros(16)?,
                _ => dev.zeros(4 * n)?,
            },
            master: match storage {
                Storage::Bf16Master => dev.upload(bytemuck::cast_slice(init))?,
                _ => dev.zeros(16)?,
            },
            n,
            variant,
            storage,
        })
    }

    /// One step with gradient `grad`; returns the new parameters.
    pub fn step(
        &mut self,
        dev: &CudaDevice,
        s: &StepScalars,
        grad: &[f32],
    ) -> Result<Vec<f32>, OpError> {
        let f = dev.function(
            &declared(dev, self.variant.fma)?,
            &format!("{}_{}", self.variant.rule.stem(), self.storage.suffix()),
        )?;
        let g = dev.upload(&encode(self.storage, grad))?;
        let mut b = Buffers {
            params: &mut self.params,
            m: &mut self.m,
            v: &mut self.v,
            master: &mut self.master,
        };
        launch_step(dev, &f, grid(self.n, 256), &mut b, &g, self.n as u64, s)?;
        let bytes = dev.read(&self.params)?;
        Ok(super::wgpu::decode(self.storage, &bytes, self.n))
    }
}
