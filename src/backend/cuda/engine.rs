//! The device seam under the CUDA host code: what `src/ops/*/cuda.rs` needs from a device
//! (allocate, upload, download, look up an entry point, launch with a grid, a block,
//! dynamic shared memory and arguments, time, synchronise) as one trait, [`Engine`], with
//! two implementations: [`super::driver`] (cudarc on a real GPU) and [`super::emu`] (the
//! g++ host emulator of `kernels/cuda/emu/`). The families see neither: they hold
//! [`CudaBuf`]s and [`CudaFn`]s and launch through [`LaunchArgs`], so the emulator runs
//! exactly the host code a GPU runs.

use super::{CudaTarget, ModuleBuild};
use crate::error::OpError;
use std::any::Any;
use std::sync::Arc;

/// A launch's shape, as CUDA takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid_dim: (u32, u32, u32),
    pub block_dim: (u32, u32, u32),
    pub shared_mem_bytes: u32,
}

/// A device buffer of either engine: `len` bytes, owned by the engine that made it (which
/// frees it on drop).
pub struct CudaBuf {
    len: usize,
    mem: Box<dyn Any + Send + Sync>,
}

impl CudaBuf {
    /// Wraps an engine's own buffer type.
    pub fn new(len: usize, mem: Box<dyn Any + Send + Sync>) -> Self {
        CudaBuf { len, mem }
    }

    /// Bytes the host asked for (the engine may have allocated more).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The engine's buffer, when it is of type `T` (an engine never sees another's).
    pub fn mem<T: 'static>(&self) -> Result<&T, OpError> {
        self.mem
            .downcast_ref()
            .ok_or_else(|| OpError::Failed("a device buffer of another CUDA engine".into()))
    }

    pub fn mem_mut<T: 'static>(&mut self) -> Result<&mut T, OpError> {
        self.mem
            .downcast_mut()
            .ok_or_else(|| OpError::Failed("a device buffer of another CUDA engine".into()))
    }
}

/// A kernel entry point of either engine.
#[derive(Clone)]
pub struct CudaFn {
    name: String,
    handle: Arc<dyn Any + Send + Sync>,
}

impl CudaFn {
    pub fn new(name: &str, handle: Arc<dyn Any + Send + Sync>) -> Self {
        CudaFn {
            name: name.to_string(),
            handle,
        }
    }

    /// The entry point's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine's handle, when it is of type `T`.
    pub fn handle<T: 'static>(&self) -> Result<&T, OpError> {
        self.handle.downcast_ref().ok_or_else(|| {
            OpError::Failed(format!(
                "{}: an entry point of another CUDA engine",
                self.name
            ))
        })
    }
}

/// One kernel argument: a device buffer or a scalar of the kernel parameter's own type.
#[derive(Clone, Copy)]
pub enum KernelArg<'a> {
    Buf(&'a CudaBuf),
    U64(u64),
    U32(u32),
    I32(i32),
    F32(f32),
    F64(f64),
}

impl KernelArg<'_> {
    /// The argument as one 64-bit word (the emulator's calling convention): a buffer's
    /// address is given by `addr`, integers are zero-extended from their own width, floats
    /// are their bit patterns.
    pub fn word(&self, addr: impl Fn(&CudaBuf) -> Result<u64, OpError>) -> Result<u64, OpError> {
        Ok(match *self {
            KernelArg::Buf(b) => addr(b)?,
            KernelArg::U64(v) => v,
            KernelArg::U32(v) => v as u64,
            KernelArg::I32(v) => v as u32 as u64,
            KernelArg::F32(v) => v.to_bits() as u64,
            KernelArg::F64(v) => v.to_bits(),
        })
    }
}

/// What a kernel argument can be made from (references, as cudarc's launch builder takes
/// them, so host code reads the same on either engine).
pub trait IntoKernelArg<'a> {
    fn into_arg(self) -> KernelArg<'a>;
}

impl<'a> IntoKernelArg<'a> for &'a CudaBuf {
    fn into_arg(self) -> KernelArg<'a> {
        KernelArg::Buf(self)
    }
}

impl<'a> IntoKernelArg<'a> for &'a mut CudaBuf {
    fn into_arg(self) -> KernelArg<'a> {
        KernelArg::Buf(self)
    }
}

macro_rules! scalar_arg {
    ($($t:ty => $v:ident),*) => {$(
        impl<'a> IntoKernelArg<'a> for &'a $t {
            fn into_arg(self) -> KernelArg<'a> {
                KernelArg::$v(*self)
            }
        }
    )*};
}
scalar_arg!(u64 => U64, u32 => U32, i32 => I32, f32 => F32, f64 => F64);

/// A device: everything the CUDA host code does with one.
pub trait Engine: Send + Sync {
    /// A new zeroed buffer of `len` bytes (at least one byte is allocated).
    fn alloc_zeros(&self, len: usize) -> Result<CudaBuf, OpError>;
    /// A new buffer holding `bytes`.
    fn upload(&self, bytes: &[u8]) -> Result<CudaBuf, OpError>;
    /// Zeroes a buffer (in stream order).
    fn zero(&self, buf: &mut CudaBuf) -> Result<(), OpError>;
    /// Copies a buffer back (after every launch before it has finished).
    fn read(&self, buf: &CudaBuf) -> Result<Vec<u8>, OpError>;
    /// The entry point `name` of `module` compiled for `target`, built on first use.
    fn function(
        &self,
        target: CudaTarget,
        module: &ModuleBuild,
        name: &str,
    ) -> Result<CudaFn, OpError>;
    /// Launches `f` on the stream.
    ///
    /// # Safety
    /// `args` match the kernel's parameter list in number, order and type, and with this
    /// configuration every access the kernel makes stays inside its buffers.
    unsafe fn launch(
        &self,
        f: &CudaFn,
        cfg: &LaunchConfig,
        args: &[KernelArg<'_>],
    ) -> Result<(), OpError>;
    /// Runs `launches` and returns how long they took on the device, in milliseconds.
    fn timed(&self, launches: &mut dyn FnMut() -> Result<(), OpError>) -> Result<f64, OpError>;
    /// Waits for everything launched so far.
    fn synchronize(&self) -> Result<(), OpError>;
    /// The timer name results carry (how [`Engine::timed`] measures).
    fn timer(&self) -> &'static str;
}

/// The arguments of one launch, collected like cudarc's launch builder collects them.
pub struct LaunchArgs<'a> {
    engine: &'a dyn Engine,
    f: &'a CudaFn,
    args: Vec<KernelArg<'a>>,
}

impl<'a> LaunchArgs<'a> {
    pub(super) fn new(engine: &'a dyn Engine, f: &'a CudaFn) -> Self {
        LaunchArgs {
            engine,
            f,
            args: Vec::new(),
        }
    }

    /// Appends the next argument.
    pub fn arg(&mut self, a: impl IntoKernelArg<'a>) -> &mut Self {
        self.args.push(a.into_arg());
        self
    }

    /// Launches the kernel with the collected arguments.
    ///
    /// # Safety
    /// As [`Engine::launch`]: the arguments match the kernel's signature and every access
    /// stays in bounds.
    pub unsafe fn launch(&mut self, cfg: LaunchConfig) -> Result<(), OpError> {
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.engine.launch(self.f, &cfg, &self.args) }
    }
}
