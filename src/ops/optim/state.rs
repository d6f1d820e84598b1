//! The training loop's optimizer (`detbench train`): its state lives on the device across
//! steps. A fresh state is asked for through the one kernel lookup ([`StateInit`] is the
//! request, each backend's function below makes its own state), so `train` holds a
//! [`TrainState`] and names no backend.

use super::{cpu, cuda, wgpu, OptimVariant, StepScalars, Storage};
use crate::backend::cpu::CpuBackend;
use crate::backend::cuda::CudaBackend;
use crate::backend::wgpu::WgpuBackend;
use crate::error::OpError;
use std::any::Any;

/// Optimizer state kept on one device across steps.
pub trait TrainState {
    /// One step with gradient `grad` on `api` (the [`crate::backend::Backend::kernel_api`]
    /// the state was made for); returns the new parameters.
    fn step(&mut self, api: &dyn Any, s: &StepScalars, grad: &[f32]) -> Result<Vec<f32>, OpError>;
}

/// A request for fresh state (zero moments, master = `init`): its kernel lookup answers
/// with a `Box<dyn TrainState>` for the backend asked.
pub struct StateInit {
    pub variant: OptimVariant,
    pub storage: Storage,
    pub init: Vec<f32>,
}

crate::ops::family::family_kernel!(
    StateInit,
    |_s| "optimizer state",
    [cpu_state, wgpu_state, cuda_state]
);

/// `api` as the device type a state was made for.
fn device<T: Any>(api: &dyn Any) -> Result<&T, OpError> {
    api.downcast_ref::<T>()
        .ok_or_else(|| OpError::Failed("optimizer state used on another device".into()))
}

struct CpuState(cpu::OptimState, OptimVariant, Storage);

fn cpu_state(_: &CpuBackend, r: &StateInit) -> Result<Box<dyn TrainState>, OpError> {
    let st = cpu::OptimState::new(r.variant.rule, r.storage, &r.init);
    Ok(Box::new(CpuState(st, r.variant, r.storage)))
}

impl TrainState for CpuState {
    fn step(&mut self, api: &dyn Any, s: &StepScalars, grad: &[f32]) -> Result<Vec<f32>, OpError> {
        let b: &CpuBackend = device(api)?;
        let CpuState(st, v, storage) = self;
        cpu::step(v.rule, v.fma, *storage, s, st, grad, b.threads());
        Ok(st.params.clone())
    }
}

struct WgpuState(wgpu::DeviceState, OptimVariant, Storage);

fn wgpu_state(b: &WgpuBackend, r: &StateInit) -> Result<Box<dyn TrainState>, OpError> {
    let st = wgpu::DeviceState::new(b, r.variant.rule, r.storage, &r.init)?;
    Ok(Box::new(WgpuState(st, r.variant, r.storage)))
}

impl TrainState for WgpuState {
    fn step(&mut self, api: &dyn Any, s: &StepScalars, grad: &[f32]) -> Result<Vec<f32>, OpError> {
        let b: &WgpuBackend = device(api)?;
        self.0.step(b, self.1.rule, self.2, s, grad)
    }
}

fn cuda_state(b: &CudaBackend, r: &StateInit) -> Result<Box<dyn TrainState>, OpError> {
    let st = cuda::CudaState::new(b.device(), r.variant, r.storage, &r.init)?;
    Ok(Box::new(st))
}

impl TrainState for cuda::CudaState {
    fn step(&mut self, api: &dyn Any, s: &StepScalars, grad: &[f32]) -> Result<Vec<f32>, OpError> {
        let b: &CudaBackend = device(api)?;
        cuda::CudaState::step(self, b.device(), s, grad)
    }
}
