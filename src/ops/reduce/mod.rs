//! The reduction family: `sum` and `dot`.
//!
//! Every variant shares one launch shape, fixed in [`prepare`]: pass 1 runs `workgroups`
//! workgroups of `workgroup_size` threads; thread t (global id) accumulates elements
//! t, t + T, t + 2T, ... (T = all threads) in increasing order, then each workgroup
//! combines its threads in a pairwise tree (stride wg/2, wg/4, ..., 1). Pass 2 is one
//! workgroup: thread l accumulates partials l, l + wg, ... in order, then the same tree.
//! [`cpu`] emulates this shape exactly, so GPU bits can be compared with it.
//!
//! Arithmetic in an accumulator format narrower than f32 (f16, bf16) is done in f32 and
//! rounded to the format after every operation; since 24 >= 2*11 + 2, this double
//! rounding equals native correctly rounded half arithmetic for + and x (Figueroa,
//! "When is double rounding innocuous?", SIGNUM 1995).

pub mod cpu;
pub mod cuda;
mod family;
pub use family::FAMILY;
pub mod wgpu;

use super::{Case, Job, Launch, Op, Ordering, Prepared};
use crate::error::{DetError, OpError};
use crate::inputs;
use crate::numerics::bounds::{ceil_log2, gamma};
use crate::numerics::exact::{ExactAcc, ExactRest, Wide};
use crate::numerics::repro::ReproParams;
use crate::numerics::{Precision, Values};
use std::sync::{Arc, Mutex, OnceLock};

/// Variant names, in report order.
pub const VARIANTS: &[&str] = ReduceVariant::NAMES;

pub use crate::shared::launch::MAX_WORKGROUPS;

crate::ops::family::variant_enum! {
    /// A reduction variant.
    pub enum ReduceVariant("reduction") {
        /// One native float atomic add per element.
        Atomic = "atomic",
        /// One compare-exchange loop per element.
        AtomicCas = "atomic_cas",
        /// Workgroup tree, then one atomic add per workgroup.
        BlockAtomic = "block_atomic",
        /// Two passes, fixed-order trees.
        Tree = "tree",
        /// Two passes of compensated (TwoSum) accumulation.
        Kahan = "kahan",
        /// int64 atomics on values scaled by 2^scale.
        FixedPoint = "fixed_point",
        /// Binned pre-rounded accumulation ([`crate::numerics::repro`]).
        Reproducible = "reproducible",
    }
}

impl ReduceVariant {
    /// Variants whose result depends on the order atomics land in.
    pub fn is_atomic(self) -> bool {
        matches!(
            self,
            ReduceVariant::Atomic | ReduceVariant::AtomicCas | ReduceVariant::BlockAtomic
        )
    }

    /// Variants that promise the same bits on every run.
    pub fn is_deterministic(self) -> bool {
        !self.is_atomic()
    }
}

/// A reduction job.
#[derive(Clone, Debug)]
pub struct ReduceJob {
    pub op: Op,
    /// Storage format of x and y.
    pub precision: Precision,
    /// Accumulation and output format.
    pub accumulator: Precision,
    pub variant: ReduceVariant,
    pub ordering: Ordering,
    /// Input values, exactly representable in `precision`. Shared by every variant, run
    /// and backend of one input (see [`prepare`]): a job is cloned per ordering and run.
    pub x: Arc<Values>,
    /// Second operand for `dot`.
    pub y: Option<Arc<Values>>,
    pub launch: Launch,
    pub runs: usize,
    /// fixed_point: values are scaled by 2^fixed_scale and rounded to integers.
    pub fixed_scale: i32,
    /// reproducible: the bin layout (None for other variants).
    pub repro: Option<ReproParams>,
    /// The largest |term| once scanned ([`ReduceJob::max_abs_term`]). Shared, like x and
    /// y, by every variant and run of one input: the scan costs as much as a kernel run.
    pub max_abs: Arc<OnceLock<f64>>,
}

impl ReduceJob {
    pub fn n(&self) -> usize {
        self.x.len()
    }

    /// Threads in pass 1.
    pub fn total_threads(&self) -> u64 {
        self.launch.workgroups as u64 * self.launch.workgroup_size as u64
    }

    /// The values an atomic or binned kernel accumulates: x, or fl_acc(x*y) for dot.
    pub fn terms(&self) -> Vec<f64> {
        self.terms_iter().collect()
    }

    /// Term `i` of [`ReduceJob::terms`].
    #[inline]
    pub fn term(&self, i: usize) -> f64 {
        match self.y.as_deref() {
            None => self.x.get(i),
            Some(y) => self.accumulator.round(self.x.get(i) * y.get(i)),
        }
    }

    /// [`ReduceJob::terms`] one by one, without a copy of x.
    pub fn terms_iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.n()).map(|i| self.term(i))
    }

    /// The largest |term|: NaN when a term is NaN, infinite when one is infinite. What the
    /// fixed-point scale, the binned layout and the kernels' finite-input check read, in
    /// one pass over the input on every core (a plain scan of a sum's native values), made
    /// once per input.
    pub fn max_abs_term(&self) -> f64 {
        *self.max_abs.get_or_init(|| self.scan_max_abs())
    }

    fn scan_max_abs(&self) -> f64 {
        let threads = crate::shared::par::threads();
        let parts = crate::shared::par::map_ranges(self.n(), threads, |r| {
            match (self.x.as_ref(), self.y.is_none()) {
                (Values::F32(xs), true) => {
                    // Written as compare-and-select with a separate NaN flag (not
                    // f32::max, whose NaN rule does not vectorise).
                    let (mut m, mut nan) = (0.0f32, false);
                    for &v in &xs[r] {
                        let a = v.abs();
                        nan |= a.is_nan();
                        m = if a > m { a } else { m };
                    }
                    if nan {
                        f64::NAN
                    } else {
                        m as f64
                    }
                }
                _ => r.map(|i| self.term(i).abs()).fold(0.0, nan_max),
            }
        });
        parts.into_iter().fold(0.0, nan_max)
    }
}

pub use crate::shared::launch::launch_for;

/// Longest chain of roundings any element goes through in the two-pass tree.
pub fn tree_height(n: usize, launch: Launch) -> u64 {
    let threads = launch.workgroups as u64 * launch.workgroup_size as u64;
    let per_thread = (n as u64).div_ceil(threads);
    let per_thread2 = (launch.workgroups as u64).div_ceil(launch.workgroup_size as u64);
    let lg = ceil_log2(launch.workgroup_size as u64) as u64;
    per_thread.saturating_sub(1) + lg + per_thread2.saturating_sub(1) + lg
}

/// Longest chain for block_atomic: per-thread loop, tree, then a chain of atomics.
pub fn block_atomic_height(n: usize, launch: Launch) -> u64 {
    let threads = launch.workgroups as u64 * launch.workgroup_size as u64;
    let per_thread = (n as u64).div_ceil(threads);
    per_thread.saturating_sub(1)
        + ceil_log2(launch.workgroup_size as u64) as u64
        + launch.workgroups as u64
        - 1
}

pub use crate::shared::fixed::fixed_scale;

/// The underflow terms of the standard model fl(a op b) = (a op b)(1 + d) + e, summed over
/// every operation of a reduction of n terms whose compute format is `compute` and whose
/// accumulator is `acc`:
/// - with gradual underflow, an addition is exact when its result is subnormal (e = 0),
///   and each product (or fused multiply-add) of a dot adds |e| <= 2^(emin - p), half the
///   accumulator's smallest subnormal;
/// - a device that flushes subnormals to zero (results and operands) loses up to the
///   smallest normal of the compute format per operation, plus every product or term with
///   a subnormal operand (`flushed_mag`, its magnitude).
///
/// The bound must hold on every backend and prepare does not know which will run it, so
/// both terms are included: they only matter when the data reach the subnormal range.
pub fn underflow_terms(
    n: usize,
    is_dot: bool,
    acc: Precision,
    compute: Precision,
    flushed_mag: f64,
) -> f64 {
    let ops = if is_dot { 3.0 } else { 2.0 } * n as f64;
    let gradual = if is_dot {
        n as f64 * acc.min_subnormal() / 2.0
    } else {
        0.0
    };
    gradual + ops * compute.min_normal() + flushed_mag
}

/// Builds the job, reference and bound for one reduction case. The input, its exact
/// value and its bound ingredients are built once per (op, input, precision, accumulator,
/// size, seed) and shared by every variant of it (the matrix puts them next to each other).
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    case.variant
        .parse::<ReduceVariant>()
        .map_err(DetError::input)?;
    if case.size == 0 {
        return Err(DetError::input("size must be at least 1"));
    }
    // One input at a time: the last one is kept for the next variant, and dropped before
    // the next input is drawn so that two never coexist.
    static LAST: Mutex<Option<(InputKey, Arc<SharedInput>)>> = Mutex::new(None);
    let key: InputKey = (
        case.op,
        case.input.label(),
        case.precision,
        case.accumulator,
        case.size,
        case.seed,
    );
    // A user's file is read again (an edited file is never served stale).
    let cacheable = !matches!(case.input, inputs::InputSpec::File(_));
    let hit = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        match last.take() {
            Some((k, v)) if cacheable && k == key => {
                *last = Some((k, Arc::clone(&v)));
                Some(v)
            }
            _ => None,
        }
    };
    let mut phases = Vec::new();
    let shared = match hit {
        Some(v) => v,
        None => {
            let t = std::time::Instant::now();
            let (x, y) = draw(case)?;
            phases.push(("input", t.elapsed().as_secs_f64()));
            let t = std::time::Instant::now();
            let v = Arc::new(shared_input(case, x, y)?);
            phases.push((
                "exact value, bound ingredients and checksum",
                t.elapsed().as_secs_f64(),
            ));
            if cacheable {
                *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, Arc::clone(&v)));
            }
            v
        }
    };
    let mut prep = prepare_shared(case, &shared)?;
    prep.phases = phases;
    Ok(prep)
}

/// What identifies one drawn input and its reference.
type InputKey = (Op, String, Precision, Precision, usize, u64);

/// One input with what every variant needs of it: the operands, the oracle's results and
/// the bound ingredients, and the input's checksum.
struct SharedInput {
    x: Arc<Values>,
    y: Option<Arc<Values>>,
    reference: Reference,
    sha: String,
    /// The largest |term|, scanned when a variant first needs it.
    max_abs: Arc<OnceLock<f64>>,
}

/// The operands of a case, drawn from its seed.
fn draw(case: &Case) -> Result<(Values, Option<Values>), DetError> {
    let n = case.size;
    let x = inputs::draw_values(&case.input, case.precision, n, case.seed, 0)?;
    let n = x.len();
    let y = match case.op {
        Op::Dot => {
            let spec = match &case.input {
                // A user's file gives x; y is drawn normal from the seed.
                inputs::InputSpec::File(_) => inputs::InputSpec::Normal,
                other => other.clone(),
            };
            let y = match case.input {
                // Ill-conditioned dot: y = 1 keeps x's condition number.
                inputs::InputSpec::IllConditioned(_) => {
                    Values::from_f64(case.precision, vec![1.0; n])
                }
                _ => inputs::draw_values(&spec, case.precision, n, case.seed, 1)?,
            };
            Some(y)
        }
        Op::Sum => None,
        other => return Err(DetError::input(format!("{other} is not a reduction"))),
    };
    Ok((x, y))
}

/// Checks the operands and computes what every variant shares.
fn shared_input(case: &Case, x: Values, y: Option<Values>) -> Result<SharedInput, DetError> {
    let n = x.len();
    if n == 0 {
        return Err(DetError::input("size must be at least 1"));
    }
    if y.as_ref().is_some_and(|y| y.len() != n) {
        return Err(DetError::input("x and y differ in length"));
    }
    let acc = case.accumulator;
    if acc.mantissa_bits() < case.precision.mantissa_bits()
        || (acc == Precision::F16 && case.precision == Precision::Bf16)
    {
        return Err(DetError::input(format!(
            "accumulator {acc} is narrower than the {} input (use the input's format, f32 or f64)",
            case.precision
        )));
    }
    // SHA-256 is one sequential stream per vector: it runs on its own thread while the
    // oracle streams over the cores, so a case costs the longer of the two, not the sum.
    let (reference, sha) = std::thread::scope(|s| {
        let sha = s.spawn(|| {
            let mut sha = inputs::checksum_values(case.precision, &x);
            if let Some(y) = &y {
                sha = format!("{sha}+{}", inputs::checksum_values(case.precision, y));
            }
            sha
        });
        let reference = reference(case, &x, y.as_ref());
        (
            reference,
            sha.join().expect("the checksum thread does not panic"),
        )
    });
    Ok(SharedInput {
        x: Arc::new(x),
        y: y.map(Arc::new),
        max_abs: Arc::new(reference.max_abs.map(OnceLock::from).unwrap_or_default()),
        reference,
        sha,
    })
}

/// [`prepare`] for given operands (each exactly representable in `case.precision`):
/// what the edge-case property tests build their inputs with.
pub fn prepare_values(case: &Case, x: Vec<f64>, y: Option<Vec<f64>>) -> Result<Prepared, DetError> {
    case.variant
        .parse::<ReduceVariant>()
        .map_err(DetError::input)?;
    let x = Values::from_f64(case.precision, x);
    let y = y.map(|y| Values::from_f64(case.precision, y));
    prepare_shared(case, &shared_input(case, x, y)?)
}

/// The job, bound and record fields of one variant of a shared input.
fn prepare_shared(case: &Case, input: &SharedInput) -> Result<Prepared, DetError> {
    let variant: ReduceVariant = case.variant.parse().map_err(DetError::input)?;
    let n = input.x.len();
    let acc = case.accumulator;
    let launch = launch_for(n, case.workgroup_size);
    let r = &input.reference;
    let (exact, mag) = (r.exact, r.mag);
    let exact_out = r.exact_out;
    let is_dot = input.y.is_some();
    let mut job = ReduceJob {
        op: case.op,
        precision: case.precision,
        accumulator: acc,
        variant,
        ordering: Ordering::initial(variant.is_atomic()),
        x: Arc::clone(&input.x),
        y: input.y.clone(),
        launch,
        runs: case.runs,
        fixed_scale: 0,
        repro: None,
        max_abs: Arc::clone(&input.max_abs),
    };
    let mut note = String::new();
    let bound = variant_bound(&mut job, r, &mut note);
    // A bound that is not finite is no bound.
    let bound = bound.filter(|b| b.is_finite());
    let condition_number = if exact != 0.0 {
        Some(mag / exact.abs())
    } else {
        None
    };
    let mut dumps = vec![("x".to_string(), case.precision, Arc::clone(&input.x))];
    if let Some(y) = &input.y {
        dumps.push(("y".to_string(), case.precision, Arc::clone(y)));
    }
    let operands = if is_dot { 2.0 } else { 1.0 };
    Ok(Prepared {
        job: Job::Reduce(job),
        exact: vec![exact].into(),
        exact_out: vec![exact_out].into(),
        exact_rest: vec![r.rest].into(),
        bounds: vec![bound].into(),
        condition_number,
        bytes_moved: operands * n as f64 * case.precision.bytes() as f64,
        input_sha256: input.sha.clone(),
        out_precision: acc,
        scalar: true,
        dumps,
        phases: Vec::new(),
        note,
    })
}

/// The oracle of a reduction and the magnitudes its bounds scale with.
struct Reference {
    /// The exact result rounded once to f64 (reported).
    exact: f64,
    /// The exact result rounded once, separately, to the accumulator (for ULP errors).
    exact_out: f64,
    /// The exact result beyond `exact`: errors are taken against `exact + rest`.
    rest: ExactRest,
    /// Sum of magnitudes in a format that cannot overflow (products of f64 reach 2^2046),
    /// and rounded up to f64.
    mag_w: Wide,
    mag: f64,
    /// What underflow and flushing can lose, summed over the terms.
    eta: f64,
    /// The largest |term|, where the oracle's pass found it (a sum of finite f32-held
    /// values): [`ReduceJob::max_abs_term`] then needs no scan of its own.
    max_abs: Option<f64>,
}

impl Reference {
    /// gamma * mag + (1 + gamma) * eta, in the wide format; infinite means no finite bound.
    fn model(&self, g: f64) -> f64 {
        self.mag_w
            .mul_up(g)
            .add_up(Wide::from_f64(self.eta).mul_up(1.0 + g))
            .to_f64_up()
    }
}

/// The exact value, the sum of magnitudes and the magnitude a flush-to-zero device could
/// drop at the inputs (|x_i|, or |x_i y_i|, for every i with a subnormal operand in the
/// compute format), in one pass over the input, streamed over the host's cores. Each part
/// of the input is accumulated exactly and the parts are merged exactly, so the result is
/// the same for every split.
fn reference(case: &Case, x: &Values, y: Option<&Values>) -> Reference {
    let acc = case.accumulator;
    // Compute format of the kernels (f32 for half formats, as in `Arith`).
    let compute = if acc == Precision::F64 || case.precision == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let tiny = |v: f64| v != 0.0 && v.abs() < compute.min_normal();
    let threads = crate::shared::par::threads();
    let parts = crate::shared::par::map_ranges(x.len(), threads, |r| {
        // A sum of f32-held values by exponent (a value is subnormal in the compute
        // format exactly when it is an f32 subnormal and the compute format is f32).
        if let (Values::F32(xs), None) = (x, y) {
            if let Some(f) = crate::numerics::exact::f32_sums(&xs[r.clone()]) {
                let flush = if compute == Precision::F32 {
                    f.sub
                } else {
                    ExactAcc::new()
                };
                return (f.sum, f.abs, flush, Some(f.max_abs as f64));
            }
        }
        let (mut oracle, mut abs, mut flush) = (ExactAcc::new(), ExactAcc::new(), ExactAcc::new());
        match y {
            None => {
                for i in r {
                    let v = x.get(i);
                    oracle.add(v);
                    abs.add(v.abs());
                    if tiny(v) {
                        flush.add(v.abs());
                    }
                }
            }
            Some(y) => {
                for i in r {
                    let (a, b) = (x.get(i), y.get(i));
                    oracle.add_product(a, b);
                    abs.add_product(a.abs(), b.abs());
                    if tiny(a) || tiny(b) {
                        flush.add_product(a.abs(), b.abs());
                    }
                }
            }
        }
        (oracle, abs, flush, None)
    });
    let mut parts = parts.into_iter();
    let (mut oracle, mut abs, mut flush, mut max_abs) = parts.next().expect("one part at least");
    for (o, a, f, m) in parts {
        oracle.merge(&o);
        abs.merge(&a);
        flush.merge(&f);
        max_abs = max_abs.zip(m).map(|(a, b)| a.max(b));
    }
    // Sum of |terms| in a format that cannot overflow (products of f64 reach 2^2046),
    // rounded upward.
    let mag_w: Wide = abs.wide().mul_up(1.0);
    let eta = underflow_terms(x.len(), y.is_some(), acc, compute, flush.value().next_up());
    let (exact, rest) = oracle.split();
    Reference {
        exact,
        rest,
        exact_out: oracle.value_in(acc),
        mag: mag_w.to_f64_up(),
        mag_w,
        eta,
        max_abs,
    }
}

/// The exact value (correctly rounded to f64) and sum of magnitudes (rounded upward) of a
/// reduction case's operands, as [`prepare`] computes them: what the host benches time.
pub fn reference_figures(case: &Case, x: &Values, y: Option<&Values>) -> (f64, f64) {
    let r = reference(case, x, y);
    (r.exact, r.mag)
}

/// The a-priori bound of the job's variant; sets the fixed-point scale or the binned
/// layout of the variants that need one, and says so in `note`.
fn variant_bound(job: &mut ReduceJob, r: &Reference, note: &mut String) -> Option<f64> {
    let (n, launch, acc) = (job.x.len(), job.launch, job.accumulator);
    let (mag, mag_w, eta) = (r.mag, r.mag_w, r.eta);
    // |exact| rounded upward (|x - hi| is at most half an ulp of hi): the final rounding's
    // u|x| must not use a value below the real one.
    let exact = r.exact.abs().next_up();
    // The final rounding to the accumulator where the result may be subnormal (or flushed).
    let last = crate::numerics::bounds::underflow_abs(acc, 0.0);
    let u = acc.unit_roundoff();
    let is_dot = job.y.is_some();
    let extra = if is_dot { 1 } else { 0 };
    let model = |g: f64| r.model(g);
    // Every partial sum of a chain of rounded adds is at most (1 + g) sum |terms| (plus the
    // underflow terms): past the accumulator's largest value one can round to infinity
    // while the exact sum and sum |terms| are finite (issue 24). No bound then.
    let why = std::cell::RefCell::new(String::new());
    let overflow = |g: f64| {
        let reach = r.model(1.0 + g);
        let ok = crate::numerics::bounds::fits(acc, reach);
        if !ok {
            *why.borrow_mut() = format!(
                "overflow possible: partial sums may reach (1 + gamma) sum |terms| = {reach:e}, past the {acc} maximum {:e}, and round to infinity; the error model assumes no overflow",
                acc.max_finite()
            );
        }
        ok
    };
    let bound = match job.variant {
        ReduceVariant::Atomic | ReduceVariant::AtomicCas => gamma(n as u64 - 1 + extra, u)
            .filter(|&g| overflow(g))
            .map(model),
        ReduceVariant::BlockAtomic => gamma(block_atomic_height(n, launch) + extra, u)
            .filter(|&g| overflow(g))
            .map(model),
        ReduceVariant::Tree => gamma(tree_height(n, launch) + extra, u)
            .filter(|&g| overflow(g))
            .map(model),
        // TwoSum's inner subtractions can overflow while every sum stays finite, and its
        // error-free property then fails (found by tests/it/edges.rs near f64::MAX): no bound
        // once the magnitudes reach the format's range.
        ReduceVariant::Kahan if mag > acc.max_finite() => None,
        ReduceVariant::Kahan => gamma(tree_height(n, launch) + extra + 1, u)
            .filter(|&g| overflow(g))
            .map(|g| {
                // The compensation terms can underflow as well: twice the eta terms.
                u * exact
                    + last
                    + mag_w
                        .mul_up(2.0 * g * g)
                        .add_up(Wide::from_f64(eta).mul_up(2.0 * (1.0 + g)))
                        .to_f64_up()
            }),
        ReduceVariant::FixedPoint => {
            let max_abs = job.max_abs_term();
            let k = fixed_scale(n, max_abs);
            job.fixed_scale = k;
            *note = format!("fixed-point scale 2^{k}");
            if max_abs.is_finite() {
                let quant = n as f64 * libm::ldexp(0.5, -k);
                // Products fl(x*y) rounded (and possibly underflowed) before quantizing.
                let prod = if is_dot { model(u) } else { 0.0 };
                // Rounded once from the exact integer total to the accumulator.
                let total = quant + prod + u * (exact + quant + prod) + last;
                (overflow(u) && crate::numerics::bounds::fits(acc, mag + total)).then_some(total)
            } else {
                None
            }
        }
        ReduceVariant::Reproducible => {
            let max_abs = job.max_abs_term();
            match ReproParams::new(acc, max_abs) {
                Ok(p) => {
                    job.repro = Some(p);
                    *note = format!(
                        "{} folds, bins at 2^{:?}; precision floor {:e}: each term's part below it is dropped (counted in error_bound)",
                        p.folds,
                        &p.a[..p.folds],
                        p.floor()
                    );
                    // Dot deposits fl(x*y): add the product roundings.
                    let prod = if is_dot && acc.mantissa_bits() < 2 * job.precision.mantissa_bits()
                    {
                        model(u)
                    } else if is_dot {
                        // Exact products can still underflow or be flushed.
                        model(0.0)
                    } else {
                        0.0
                    };
                    let total = p.bound(n as u64, exact) + prod + last;
                    (overflow(u) && crate::numerics::bounds::fits(acc, mag + total))
                        .then_some(total)
                }
                Err(e) => {
                    // Kept as a job: every backend reports the same reason.
                    *note = e.to_string();
                    None
                }
            }
        }
    };
    let why = why.into_inner();
    if !why.is_empty() {
        if !note.is_empty() {
            note.push_str("; ");
        }
        note.push_str(&why);
    }
    bound
}

/// max that keeps NaN: a NaN anywhere makes the maximum NaN.
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Checks that the accumulator/variant pair can run at all, independent of device.
pub fn check_job(job: &ReduceJob) -> Result<(), OpError> {
    if matches!(
        job.variant,
        ReduceVariant::FixedPoint | ReduceVariant::Reproducible
    ) {
        let some_non_finite = !job.max_abs_term().is_finite();
        if let Some((i, v)) = some_non_finite
            .then(|| job.terms_iter().enumerate().find(|(_, v)| !v.is_finite()))
            .flatten()
        {
            let what = if job.y.is_some() { "x*y" } else { "x" };
            return Err(OpError::Failed(format!(
                "{}: term {i} ({what}) is {v} in {}, which no fixed-point scale or bin layout holds",
                job.variant.name(),
                job.accumulator
            )));
        }
    }
    if job.variant == ReduceVariant::Reproducible && job.repro.is_none() {
        return Err(ReproParams::new(job.accumulator, job.max_abs_term())
            .err()
            .map(|e| match e {
                crate::numerics::repro::ReproError::Accumulator(_) => {
                    OpError::Unsupported(e.to_string())
                }
                _ => OpError::Failed(e.to_string()),
            })
            .unwrap_or_else(|| OpError::Failed("reproducible layout missing".into())));
    }
    Ok(())
}

/// The message of a `reproducible` run set on a GPU backend (CUDA and wgpu run the same
/// guess, deposit, check, deposit scheme): `second_passes` of the `runs` runs found the
/// sampled maximum's layout wrong and deposited x again.
pub fn reproducible_message(second_passes: usize, runs: usize) -> String {
    let passes = match second_passes {
        0 => "one pass over x (the sampled maximum gave the true layout)".to_string(),
        k if k == runs => {
            "two passes over x (the sampled maximum missed the true layout's exponent)".to_string()
        }
        k => format!(
            "two passes over x in {k} of {runs} runs (the sampled maximum missed the true layout's exponent)"
        ),
    };
    format!("bin layout from max |term| on the device, {passes}; exact integer quanta per fold, per-workgroup lanes merged into global lanes by integer atomics; finalised on the host")
}

#[cfg(test)]
mod shared_input_tests {
    use super::*;
    use crate::inputs::InputSpec;

    fn case(variant: &str, seed: u64) -> Case {
        Case {
            op: Op::Sum,
            precision: Precision::F32,
            accumulator: Precision::F32,
            variant: variant.into(),
            size: 4099,
            input: InputSpec::Normal,
            seed,
            runs: 1,
            workgroup_size: 64,
            params: Default::default(),
        }
    }

    fn x_of(p: &Prepared) -> &Arc<Values> {
        match &p.job {
            Job::Reduce(j) => &j.x,
            _ => unreachable!("a reduction"),
        }
    }

    /// Every variant of one input runs on the same values, drawn once: one allocation,
    /// shared with the dump, and the same exact value and checksum.
    #[test]
    fn variants_of_one_input_share_it() {
        let a = prepare(&case("tree", 7)).unwrap();
        let b = prepare(&case("reproducible", 7)).unwrap();
        assert!(Arc::ptr_eq(x_of(&a), x_of(&b)));
        assert!(Arc::ptr_eq(x_of(&a), &a.dumps[0].2));
        assert_eq!(a.exact[0].to_bits(), b.exact[0].to_bits());
        assert_eq!(a.input_sha256, b.input_sha256);
        // Another seed is another input, with other values.
        let c = prepare(&case("tree", 8)).unwrap();
        assert!(!Arc::ptr_eq(x_of(&a), x_of(&c)));
        assert_ne!(a.input_sha256, c.input_sha256);
    }
}
