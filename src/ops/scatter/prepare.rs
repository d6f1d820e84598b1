//! A scatter-add case's job, per-bin exact values and bounds: from its drawn inputs, or
//! from given values (what `reveal` probes a bin with).

use super::*;
use crate::numerics::Values;
use std::sync::Arc;

/// Builds the job, per-bin references and bounds of one scatter-add case.
pub fn prepare(case: &Case) -> Result<Prepared, DetError> {
    if case.op != Op::ScatterAdd {
        return Err(DetError::input(format!("{} is not scatter_add", case.op)));
    }
    // A bad variant is refused before any input is drawn.
    case.variant
        .parse::<ScatterVariant>()
        .map_err(DetError::input)?;
    let bins = case
        .params
        .get::<ScatterParams>()
        .map_or(DEFAULT_BINS, |p| p.bins);
    if !(1..=MAX_BINS).contains(&bins) {
        return Err(DetError::input(format!(
            "--bins {bins} is outside 1..={MAX_BINS}"
        )));
    }
    if case.size == 0 {
        return Err(DetError::input("size must be at least 1"));
    }
    let x = inputs::generate(&case.input, case.precision, case.size, case.seed, 0)?;
    let n = x.len();
    if n > u32::MAX as usize {
        return Err(DetError::input(format!(
            "size {n} exceeds 2^32 - 1 elements"
        )));
    }
    let source = index_source(case);
    let idx = load_indices(&source, n, bins, case.seed)?;
    prepare_given(case, x, idx, bins, &source.label())
}

/// [`prepare`] on given values and bins (`reveal` probes a bin with crafted values):
/// `x` representable in the case's precision, every index below `bins`; `index` names
/// where the indices came from in the note.
pub fn prepare_given(
    case: &Case,
    x: Vec<f64>,
    idx: Vec<u32>,
    bins: usize,
    index: &str,
) -> Result<Prepared, DetError> {
    let variant: ScatterVariant = case.variant.parse().map_err(DetError::input)?;
    let n = x.len();
    if n == 0 || idx.len() != n || idx.iter().any(|&i| i as usize >= bins) {
        return Err(DetError::input(format!(
            "scatter_add: {n} values and {} indices below {bins} bins (at least one value)",
            idx.len()
        )));
    }
    let acc = case.accumulator;
    let launch = crate::shared::launch::launch_for(n, case.workgroup_size);
    let (perm, offsets) = stable_order(&idx, bins);
    // Compute format of the kernels (f32 for half formats): a device that flushes
    // subnormals drops values below its smallest normal and every subnormal result.
    let compute = if acc == Precision::F64 || case.precision == Precision::F64 {
        Precision::F64
    } else {
        Precision::F32
    };
    let stats = BinStats::of(&x, &perm, &offsets, acc, compute);
    let max_count = stats.counts.iter().copied().max().unwrap_or(0);
    let max_abs = x.iter().fold(0.0f64, |m, v| m.max(acc.round(*v).abs()));
    // A value wider than the accumulator is rounded by its first addition.
    let widen = u64::from(case.precision.mantissa_bits() > acc.mantissa_bits());
    let chunk = chunk_for(n);
    let mut job = ScatterJob {
        precision: case.precision,
        accumulator: acc,
        variant,
        ordering: Ordering::initial(variant.is_atomic()),
        x,
        idx,
        bins,
        launch,
        runs: case.runs,
        chunk,
        fixed_scale: 0,
        repro: None,
        repro_bins: Vec::new(),
        max_count,
    };
    let mut note = format!("index {index}; largest bin holds {max_count} of {n}");
    if variant == ScatterVariant::FixedPoint {
        let k = crate::shared::fixed::fixed_scale(max_count.max(1), max_abs);
        job.fixed_scale = k;
        note.push_str(&format!("; fixed-point scale 2^{k}"));
    }
    if variant == ScatterVariant::Reproducible {
        match ReproParams::new(acc, max_abs) {
            Ok(p) => {
                job.repro = Some(p);
                // Every bin's max is at most the global one: its layout exists too.
                job.repro_bins = bin_layouts(acc, &job.x, &perm, &offsets)
                    .map_err(|e| DetError::input(e.to_string()))?;
                note.push_str(&format!(
                    "; a layout per bin from that bin's own max |x| (order-independent): {} folds at 2^{:?} and precision floor {:e} in the bin of the largest value, finer in bins of smaller values; each value's part below its bin's floor is dropped (counted in error_bound)",
                    p.folds,
                    &p.a[..p.folds],
                    p.floor()
                ));
            }
            Err(e) => note.push_str(&format!("; {e}")),
        }
    }
    if variant.sorts() {
        note.push_str(&format!("; segment chunk {chunk}"));
    }
    let bounds = bin_bounds(&job, &stats, compute, widen);
    if job.repro.is_some() {
        note.push_str(&repro_dropped_note(
            &job.repro_bins,
            &job.x,
            &perm,
            &offsets,
        ));
    }
    drop(perm);
    // The indices as values, for the checksum (over their f64 encoding) and `--dump`: held
    // as f32 where every index is exact in it (bins <= 2^24; MAX_BINS is 2^20), half the
    // bytes, and no second copy for the checksum.
    let index_values = match bins <= 1 << 24 {
        true => Values::F32(job.idx.iter().map(|&i| i as f32).collect()),
        false => Values::F64(job.idx.iter().map(|&i| i as f64).collect()),
    };
    let sha = format!(
        "{}+{}",
        inputs::checksum(case.precision, &job.x),
        inputs::checksum_values(Precision::F64, &index_values)
    );
    let x_values = Values::copy_of(case.precision, &job.x);
    Ok(Prepared {
        phases: Vec::new(),
        job: Job::Scatter(job),
        exact: stats.exact.into(),
        exact_out: stats.exact_out.into(),
        exact_rest: stats.rest.into(),
        bounds: bounds.into(),
        condition_number: None,
        bytes_moved: n as f64 * (case.precision.bytes() + 4) as f64
            + bins as f64 * acc.bytes() as f64,
        input_sha256: sha,
        out_precision: acc,
        scalar: false,
        dumps: vec![
            ("x".to_string(), case.precision, Arc::new(x_values)),
            ("index".to_string(), Precision::F64, Arc::new(index_values)),
        ],
        note,
    })
}
