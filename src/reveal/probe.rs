//! The crafted inputs and the kernels they run through.
//!
//! [`Craft`] picks the large value M and the unit u for a format pair; a [`Probe`] runs
//! one op's kernel on a backend with given terms and returns its result, and
//! [`ProbeOracle`] turns a probe into the pair queries of [`super::build`].

use super::build::{BuildError, Oracle};
use crate::backend::Backend;
use crate::error::{DetError, OpError};
use crate::inputs::InputSpec;
use crate::numerics::bounds::ceil_log2;
use crate::numerics::Precision;
use crate::ops::{Case, FamilyParams, Op};

/// The crafted values: +-`big` at the two inputs of a query, `unit` everywhere else.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Craft {
    pub big: f64,
    pub unit: f64,
}

/// Largest exponent e with 2^e finite in `p`.
fn emax(p: Precision) -> i32 {
    match p {
        Precision::F64 => 1023,
        Precision::F32 | Precision::Bf16 => 127,
        Precision::F16 => 15,
    }
}

impl Craft {
    /// M and u for `n` inputs stored in `input` and summed in `acc`: every partial sum of
    /// up to n units must vanish when added to M (n u < ulp_acc(M) / 2), every count of
    /// units must be exact in the accumulator (n <= 2^p), and M and u must be normal
    /// numbers of both formats (a device may flush subnormals). Err says why `n` is too
    /// large for the pair.
    pub fn new(n: usize, input: Precision, acc: Precision) -> Result<Craft, String> {
        let p = acc.mantissa_bits() as i32;
        if n < 2 {
            return Err("a reduction of fewer than 2 inputs has no order to reveal".into());
        }
        if n as u64 > 1u64 << p {
            return Err(format!(
                "n = {n} units cannot be counted exactly in the {acc} accumulator (at most 2^{p})"
            ));
        }
        // M / u must reach 2^span.
        let span = p + ceil_log2(n as u64) as i32 + 1;
        let top = emax(input).min(emax(acc));
        let bottom = input.emin().max(acc.emin());
        let e_unit = if span <= top { 0 } else { top - span };
        if e_unit < bottom {
            let most = top - bottom - p - 1;
            return Err(format!(
                "{input} inputs with a {acc} accumulator can be revealed up to n = 2^{most}: M / unit \
                 must reach 2^(p + log2 n + 1) = 2^{span} for the units to vanish into M, and {input} \
                 holds normal powers of two only from 2^{bottom} to 2^{top}",
            ));
        }
        Ok(Craft {
            big: libm::ldexp(1.0, e_unit + span),
            unit: libm::ldexp(1.0, e_unit),
        })
    }

    /// The terms of query (i, j).
    pub fn terms(&self, n: usize, i: usize, j: usize) -> Vec<f64> {
        let mut x = vec![self.unit; n];
        x[i] = self.big;
        x[j] = -self.big;
        x
    }
}

/// One op's kernel on one backend, run on given terms.
pub trait Probe {
    /// Inputs of the reduction whose order is revealed.
    fn n(&self) -> usize;
    /// The kernel's result on `terms` (each entering the reduction as itself).
    fn run(&mut self, terms: &[f64]) -> Result<f64, BuildError>;
    /// The result of every probed output element on `terms` (element 0 is [`Probe::run`]'s).
    fn run_all(&mut self, terms: &[f64]) -> Result<Vec<f64>, BuildError> {
        Ok(vec![self.run(terms)?])
    }
    /// Whether each input of the reduction is a product x_i * y_i whose two operands
    /// [`Probe::run_products`] can set apart (dot, matmul, conv), so whether a step fused
    /// the product can be asked.
    fn products(&self) -> bool {
        false
    }
    /// The kernel's result with input i the product `x[i] * y[i]`.
    fn run_products(&mut self, _x: &[f64], _y: &[f64]) -> Result<f64, BuildError> {
        Err(BuildError::Kernel(
            "this probe's inputs are not products".into(),
        ))
    }
}

/// The pair queries of [`super::build`] through a probe.
pub struct ProbeOracle<'a> {
    pub probe: &'a mut dyn Probe,
    pub craft: Craft,
}

impl Oracle for ProbeOracle<'_> {
    fn n(&self) -> usize {
        self.probe.n()
    }
    fn query(&mut self, i: usize, j: usize) -> Result<f64, BuildError> {
        let n = self.probe.n();
        let r = self.probe.run(&self.craft.terms(n, i, j))?;
        Ok(r / self.craft.unit)
    }
}

/// What a probe needs to know of the kernel to run.
#[derive(Clone, Debug)]
pub struct Target {
    pub op: Op,
    /// The family variant the job is prepared as.
    pub variant: String,
    /// The name the backend runs it as (an adapter's mode; else the variant).
    pub mode: String,
    pub precision: Precision,
    pub accumulator: Precision,
    pub n: usize,
    pub workgroup_size: u32,
    /// Why one tree over a few runs promises nothing about the next: the variant
    /// accumulates with atomics, or its backend does not call the mode deterministic (an
    /// adapter's word). `None` for a variant that promises the same bits on every run.
    pub unpromised: Option<String>,
    /// Output elements probed side by side, each reducing the same terms (1: the single
    /// reduction; more for the ops of [`ELEMENTS`]).
    pub elements: usize,
}

impl Target {
    /// `unpromised` for a variant of detbench's own of `op`: set when it accumulates with
    /// atomics (its order is then the device's schedule). Asked of the job the probe would
    /// run (`Job::is_atomic`, what the runner sweeps orderings by), on two unit terms; the
    /// formats and launch do not change whether a variant is atomic.
    pub fn unpromised_internal(op: Op, variant: &str) -> Option<String> {
        let t = Target {
            op,
            variant: variant.to_string(),
            mode: variant.to_string(),
            precision: Precision::F32,
            accumulator: Precision::F32,
            n: 2,
            workgroup_size: 64,
            unpromised: None,
            elements: 1,
        };
        let atomic = prepare_terms(&t, &[1.0, 1.0]).is_ok_and(|p| p.job.is_atomic());
        atomic.then(|| "the variant accumulates with atomics".to_string())
    }

    /// The case a probe prepares its jobs from (one run, the target's launch).
    pub fn case(&self) -> Case {
        Case {
            op: self.op,
            precision: self.precision,
            accumulator: self.accumulator,
            variant: self.variant.clone(),
            size: self.n,
            input: InputSpec::Uniform,
            seed: 0,
            runs: 1,
            workgroup_size: self.workgroup_size,
            params: FamilyParams::default(),
        }
    }
}

/// The ops `reveal` can probe in this build.
pub const OPS: &[Op] = &[
    Op::Sum,
    Op::Dot,
    Op::ScatterAdd,
    Op::Conv2dFwd,
    Op::Conv2dBwdData,
    Op::Conv2dBwdWeight,
    Op::RowSum,
    Op::Mean,
    Op::Matmul,
    Op::Addmm,
];

/// The ops with several outputs whose reductions a probe can run side by side
/// ([`Target::elements`]): matmul's rows, a conv op's channels, scatter's bins, row_sum's
/// rows.
pub const ELEMENTS: &[Op] = &[
    Op::ScatterAdd,
    Op::Conv2dFwd,
    Op::Conv2dBwdData,
    Op::Conv2dBwdWeight,
    Op::RowSum,
    Op::Mean,
    Op::Matmul,
    Op::Addmm,
];

/// One op's kernel on given terms, each of which enters the reduction as itself:
/// - `sum`, `dot` (y = 1, so each product is its term exactly);
/// - `scatter_add`: every term into one bin (bin 0 of 1);
/// - the conv ops: the K reduction of one output element (C, K or N of n, the rest 1);
/// - `row_sum`: one row of n terms (log_softmax runs the same row passes);
/// - `mean`: the same row, its sum S read back from the mean fl(fl(S * fl(1/n))) (see
///   [`mean_sum`]);
/// - `matmul`: the K reduction of C = A B with M = N = 1 and K = n, A the terms and B ones;
/// - `addmm`: the same with K = n - 1 and the last term the bias (not a product, so the
///   fused-step probe does not apply to it).
pub struct KernelProbe<'a> {
    pub target: Target,
    pub backend: &'a dyn Backend,
}

/// Whether `op`'s reduction adds products whose operands a probe can set (its second
/// operand is ones in [`prepare_terms`]).
pub fn has_products(op: Op) -> bool {
    matches!(
        op,
        Op::Dot | Op::Matmul | Op::Conv2dFwd | Op::Conv2dBwdData | Op::Conv2dBwdWeight
    )
}

/// The job of `t`'s kernel on `terms` (each entering the reduction as itself).
fn prepare_terms(t: &Target, terms: &[f64]) -> Result<crate::ops::Prepared, DetError> {
    prepare_products(t, terms, None)
}

/// The job of `t`'s kernel with input i of the reduction `terms[i] * second[i]` (`second`
/// ones when absent; only for ops with [`has_products`]).
fn prepare_products(
    t: &Target,
    terms: &[f64],
    second: Option<&[f64]>,
) -> Result<crate::ops::Prepared, DetError> {
    let n = terms.len();
    let e = t.elements.max(1);
    if second.is_some() && !has_products(t.op) {
        return Err(DetError::input(format!("{} adds no products", t.op)));
    }
    if e > 1 && !ELEMENTS.contains(&t.op) {
        return Err(DetError::input(format!(
            "{} has one output: --elements must be 1",
            t.op
        )));
    }
    let ones = || second.map_or_else(|| vec![1.0; n], <[f64]>::to_vec);
    // `terms` once per probed element, element-major (element r's copy at r * n).
    let rows = || terms.repeat(e);
    match t.op {
        Op::Sum | Op::Dot => {
            let y = (t.op == Op::Dot).then(ones);
            crate::ops::reduce::prepare_values(&t.case(), terms.to_vec(), y)
        }
        Op::RowSum | Op::Mean => {
            if t.op == Op::Mean {
                mean_fits(n, t.accumulator, t.precision)?;
            }
            let variant = t.variant.parse().map_err(DetError::input)?;
            let job = crate::ops::rows::RowsJob::new(
                t.op,
                e,
                n,
                t.precision,
                t.accumulator,
                variant,
                rows(),
                1,
            )?;
            crate::ops::rows::prepare_job(job)
        }
        // Bins interleaved, as a scatter's indices usually are: value i of bin b is at
        // position i * e + b, so a bin's values are spread over the whole input.
        Op::ScatterAdd => crate::ops::scatter::prepare_given(
            &t.case(),
            terms
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, e))
                .collect(),
            (0..n * e).map(|p| (p % e) as u32).collect(),
            e,
            "given (value i of bin b at position i * bins + b)",
        ),
        Op::Conv2dFwd | Op::Conv2dBwdData | Op::Conv2dBwdWeight => {
            // Output elements whose reduction runs over n: C for fwd (x the terms, w the
            // second operand, K = e output channels), K for bwd_data (dy the terms, w the
            // second operand, C = e), N for bwd_weight (dy the terms, x the second
            // operand, K = e); every other extent is 1.
            let (nn, c, k) = match t.op {
                Op::Conv2dFwd => (1, n, e),
                Op::Conv2dBwdData => (1, e, n),
                _ => (n, 1, e),
            };
            let (first, other) = match t.op {
                // w (K, C): w[k * n + c] = second[c].
                Op::Conv2dFwd => (terms.to_vec(), ones().repeat(e)),
                // w (K, C): w[k * e + c] = second[k].
                Op::Conv2dBwdData => (
                    terms.to_vec(),
                    ones()
                        .iter()
                        .flat_map(|&v| std::iter::repeat_n(v, e))
                        .collect(),
                ),
                // dy (N, K): dy[m * e + k] = terms[m].
                _ => (
                    terms
                        .iter()
                        .flat_map(|&v| std::iter::repeat_n(v, e))
                        .collect(),
                    ones(),
                ),
            };
            let shape = crate::ops::conv::ConvShape::new(&[nn, c, 1, 1, k, 1, 1, 1, 0, 1])?;
            let variant = t.variant.parse().map_err(DetError::input)?;
            let job = crate::ops::conv::ConvJob::new(
                t.op,
                shape,
                t.precision,
                t.accumulator,
                variant,
                first,
                other,
                t.workgroup_size,
                1,
            )?;
            crate::ops::conv::prepare_job(job)
        }
        Op::Matmul => {
            // C = A B with M = e rows of A each the terms, B (K x 1) the second operand.
            let variant = t.variant.parse().map_err(DetError::input)?;
            let shape = crate::ops::matmul::MmShape::new(&[e, 1, n])?;
            let job = crate::ops::matmul::MatmulJob::new(
                shape,
                t.precision,
                t.accumulator,
                variant,
                rows(),
                ones(),
                1,
            )?;
            Ok(crate::ops::matmul::prepare_job(job))
        }
        Op::Addmm => {
            // C = A B + bias: the first n - 1 terms are the K reduction (as matmul's, B
            // ones), the last is every row's bias, so the tree shows where it is added.
            let variant = t.variant.parse().map_err(DetError::input)?;
            let (k_terms, bias) = terms.split_at(n - 1);
            let shape = crate::ops::matmul::MmShape::new(&[e, 1, n - 1])?;
            let job = crate::ops::matmul::MatmulJob::new(
                shape,
                t.precision,
                t.accumulator,
                variant,
                k_terms.repeat(e),
                vec![1.0; n - 1],
                1,
            )?
            .with_bias(vec![bias[0]; e])?;
            Ok(crate::ops::matmul::prepare_job(job))
        }
        other => Err(not_probed(other)),
    }
}

impl Probe for KernelProbe<'_> {
    fn n(&self) -> usize {
        self.target.n
    }
    fn run(&mut self, terms: &[f64]) -> Result<f64, BuildError> {
        Ok(self.launch(terms, None)?[0])
    }
    fn run_all(&mut self, terms: &[f64]) -> Result<Vec<f64>, BuildError> {
        self.launch(terms, None)
    }
    fn products(&self) -> bool {
        has_products(self.target.op)
    }
    fn run_products(&mut self, x: &[f64], y: &[f64]) -> Result<f64, BuildError> {
        Ok(self.launch(x, Some(y))?[0])
    }
}

impl KernelProbe<'_> {
    /// Every output of the kernel (one per probed element).
    fn launch(&mut self, terms: &[f64], second: Option<&[f64]>) -> Result<Vec<f64>, BuildError> {
        let prep = prepare_products(&self.target, terms, second)
            .map_err(|e| BuildError::Kernel(e.to_string()))?;
        let set = self
            .backend
            .run_variant(&prep.job, &self.target.mode)
            .map_err(|e| match e {
                OpError::Unsupported(m) => BuildError::Kernel(format!("unsupported: {m}")),
                OpError::Failed(m) | OpError::BadInput(m) => BuildError::Kernel(m),
            })?;
        let e = self.target.elements.max(1);
        match set.outputs.first() {
            Some(o) if o.len() >= e && self.target.op == Op::Mean => {
                Ok(o[..e].iter().map(|&m| mean_sum(m, terms)).collect())
            }
            Some(o) if o.len() >= e => Ok(o[..e].to_vec()),
            _ => Err(BuildError::Kernel(format!(
                "the kernel returned fewer than the {e} output(s) probed"
            ))),
        }
    }
}

/// The row sum S behind a mean of the crafted `terms`: S is a whole multiple of the
/// smallest nonzero |term| q (every crafted term is q times a power of two), and the mean
/// is S times fl(1/n) with two roundings, so m * n is within a relative 2u_acc + u_out of
/// S. While that is under q / 2 for every |S| <= n q ([`mean_fits`]), rounding m * n to a
/// multiple of q gives S back exactly.
fn mean_sum(m: f64, terms: &[f64]) -> f64 {
    let q = terms
        .iter()
        .map(|v| v.abs())
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !q.is_finite() || !m.is_finite() {
        return m;
    }
    (m * terms.len() as f64 / q).round() * q
}

/// Whether a mean of `n` terms can be read back as its sum ([`mean_sum`]): n (2 u_acc +
/// u_out) < 1/2, so that the mean's two roundings move n q by less than q / 2.
fn mean_fits(n: usize, acc: Precision, out: Precision) -> Result<(), DetError> {
    let u = |p: Precision| libm::ldexp(1.0, -(p.mantissa_bits() as i32));
    let drift = n as f64 * (2.0 * u(acc) + u(out));
    if drift < 0.5 {
        Ok(())
    } else {
        let most = (0.5 / (2.0 * u(acc) + u(out))).ceil() as u64 - 1;
        Err(DetError::input(format!(
            "mean of n = {n} cannot be revealed with {out} outputs and a {acc} accumulator: the mean \
             is S * fl(1/n) rounded twice, and S can be read back from it only while n (2 u_acc + \
             u_out) < 1/2 (n up to {most})"
        )))
    }
}

fn not_probed(op: Op) -> DetError {
    DetError::input(format!(
        "reveal cannot probe {op} in this build (it probes {})",
        OPS.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
    ))
}

/// The probe of `target` on `backend`, or why its op cannot be revealed.
pub fn probe<'a>(
    target: Target,
    backend: &'a dyn Backend,
) -> Result<Box<dyn Probe + 'a>, DetError> {
    if !OPS.contains(&target.op) {
        return Err(not_probed(target.op));
    }
    Ok(Box::new(KernelProbe { target, backend }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_values_absorb_every_partial_sum_of_units() {
        for (n, inp, acc) in [
            (1000, Precision::F32, Precision::F32),
            (1 << 20, Precision::F64, Precision::F64),
            (16, Precision::F16, Precision::F32),
            (4096, Precision::Bf16, Precision::F32),
        ] {
            let c = Craft::new(n, inp, acc).unwrap();
            assert_eq!(inp.round(c.big), c.big);
            assert_eq!(inp.round(c.unit), c.unit);
            let k = (n - 2) as f64 * c.unit;
            assert_eq!(acc.round(c.big + k), c.big, "{n} {inp} {acc}");
            assert_eq!(acc.round(-c.big - k), -c.big);
            assert_eq!(acc.round(k), k);
        }
    }

    #[test]
    fn f16_inputs_cannot_reach_large_n_and_say_why() {
        let e = Craft::new(17, Precision::F16, Precision::F32).unwrap_err();
        assert!(e.contains("up to n = 2^4"), "{e}");
    }
}
