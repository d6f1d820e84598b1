//! Arithmetic of an accumulator format as every CPU emulation does it, and the CPU's
//! atomic read-modify-write of a float.

use crate::error::OpError;
use crate::numerics::Precision;
use std::sync::atomic::{AtomicU64, Ordering as MemOrder};

/// Arithmetic in an accumulator format, carried in f64 and rounded after every step.
#[derive(Clone, Copy, Debug)]
pub struct Arith(pub Precision);

impl Arith {
    pub fn add(self, a: f64, b: f64) -> f64 {
        self.0.round(a + b)
    }
    pub fn sub(self, a: f64, b: f64) -> f64 {
        self.0.round(a - b)
    }
    pub fn mul(self, a: f64, b: f64) -> f64 {
        match self.0 {
            Precision::F64 => a * b,
            p => p.round(a * b),
        }
    }
    /// fl(a*b + c) with one rounding (f32, f64); two roundings for half formats, whose
    /// kernels never fuse.
    pub fn fma(self, a: f64, b: f64, c: f64) -> f64 {
        match self.0 {
            Precision::F64 => a.mul_add(b, c),
            Precision::F32 => (a as f32).mul_add(b as f32, c as f32) as f64,
            p => self.add(c, p.round(a * b)),
        }
    }
    /// One step of a dot-product chain: fma for f32/f64, round-multiply-round-add for halves.
    pub fn dot_step(self, acc: f64, x: f64, y: f64) -> f64 {
        self.fma(x, y, acc)
    }
    /// TwoSum: (s, e) with s = fl(a + b) and a + b = s + e exactly.
    pub fn two_sum(self, a: f64, b: f64) -> (f64, f64) {
        let s = self.add(a, b);
        let z = self.sub(s, a);
        let e = self.add(self.sub(a, self.sub(s, z)), self.sub(b, z));
        (s, e)
    }
    /// Error of fl(x*y): exact for f32/f64 via fma; for halves, fl(x*y - p) in the format.
    pub fn product_error(self, x: f64, y: f64, p: f64) -> f64 {
        match self.0 {
            Precision::F64 => x.mul_add(y, -p),
            Precision::F32 => (x as f32).mul_add(y as f32, -(p as f32)) as f64,
            h => h.round(x * y - p),
        }
    }
}

/// Why the `atomic` variants of every family are Unsupported on the CPU.
pub fn no_float_atomic() -> OpError {
    OpError::Unsupported(
        "the CPU has no native floating-point atomic add (x86-64 and AArch64 lack one); atomic_cas is the CPU's atomic variant".into(),
    )
}

/// Replaces the value held (as f64 bits) in `cell` with `f(value)` by compare-exchange,
/// the CPU's atomic read-modify-write of a float: every family's atomic_cas uses it.
pub fn cas_update(cell: &AtomicU64, f: impl Fn(f64) -> f64) {
    let mut cur = cell.load(MemOrder::Relaxed);
    loop {
        let new = f(f64::from_bits(cur)).to_bits();
        match cell.compare_exchange_weak(cur, new, MemOrder::Relaxed, MemOrder::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// word = round_A(word + v) by compare-exchange; the word holds the value's f64 bits.
pub fn cas_add(cell: &AtomicU64, ar: Arith, v: f64) {
    cas_update(cell, |c| ar.add(c, v));
}
