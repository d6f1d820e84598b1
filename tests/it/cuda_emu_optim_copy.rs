//! kernels/cuda/optim.cu and kernels/cuda/copy.cu run on the host emulation of CUDA
//! (tests/it/cuda_emu), through the cuda-emu backend: src/ops/optim/cuda.rs and
//! src/ops/copy/cuda.rs launch them on the host emulator.
//!
//! Optimizers: every rule (SGD with momentum and Nesterov, Adam, AdamW), every storage (f32,
//! bf16 with an f32 master copy, bf16 with stochastic rounding) and both modules
//! (`--fmad=false` for `no_fma`, `--fmad=true` for `fma` and `stochastic_rounding`, built on
//! the host with -ffp-contract=off and with -ffp-contract=fast -mfma) must give the CPU
//! emulation's bits after several steps, including the scalar tail of an n that is not a
//! multiple of 4. Copy must reproduce its input.

use crate::common;
use crate::cuda_emu;

use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::optim::{self, OptimJob};
use detbench::ops::{Case, FamilyParams, Job, Op, Prepared};

const STEPS: usize = 5;

fn optim_case(op: Op, p: Precision, variant: &str, n: usize, wg: u32) -> Case {
    Case {
        op,
        precision: p,
        accumulator: Precision::F32,
        variant: variant.into(),
        size: n,
        input: InputSpec::Normal,
        seed: 3,
        runs: 1,
        workgroup_size: wg,
        params: FamilyParams::new(optim::OptimParams { steps: STEPS }),
    }
}

fn optim_job(prep: &Prepared) -> &OptimJob {
    match &prep.job {
        Job::Optim(j) => j,
        _ => unreachable!(),
    }
}

#[test]
fn optimizers_match_the_cpu_emulation() {
    let fmads: Vec<bool> = detbench::ops::cuda_modules(&detbench::backend::cuda::emu::TARGET, &[])
        .iter()
        .filter(|b| b.spec.path == optim::cuda::SOURCE)
        .map(|b| b.spec.fmad)
        .collect();
    assert_eq!(fmads.len(), 2, "an --fmad=true and an --fmad=false module");
    let mut fmads_run = Vec::new();
    let mut checked = 0;
    for op in [Op::Sgd, Op::Adam, Op::Adamw] {
        for &variant in op.variants() {
            for p in [Precision::F32, Precision::Bf16] {
                if variant.ends_with("stochastic_rounding") && p != Precision::Bf16 {
                    continue;
                }
                // n = 4 * 257 + 3: a ragged last block and a scalar tail.
                for (n, wg) in [(1usize, 64u32), (1031, 64)] {
                    let prep = detbench::runner::prepare(&optim_case(op, p, variant, n, wg))
                        .expect("prepare");
                    let j = optim_job(&prep);
                    if j.unsupported.is_some() {
                        continue;
                    }
                    fmads_run.push(j.variant.fma);
                    let got = cuda_emu::outputs(&prep.job);
                    let want = common::run_or_unsupported(BackendKind::Cpu, &prep)
                        .expect("cpu")
                        .outputs
                        .into_first()
                        .expect("one run");
                    assert_eq!(got.len(), want.len());
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{op} {variant} {p} n={n}: element {i}: cuda-emu {g:e}, CPU emulation {w:e}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} optimizer cases ran");
    for f in fmads {
        assert!(fmads_run.contains(&f), "no case ran the --fmad={f} module");
    }
}

#[test]
fn copy_reproduces_its_input() {
    for (p, n, wg) in [
        (Precision::F32, 1usize, 64u32),
        (Precision::F16, 4099, 64),
        (Precision::F64, 70_001, 32),
    ] {
        let case = Case {
            op: Op::Copy,
            precision: p,
            accumulator: p,
            variant: "copy".into(),
            size: n,
            input: InputSpec::Normal,
            seed: 1,
            runs: 1,
            workgroup_size: wg,
            params: Default::default(),
        };
        let prep = detbench::runner::prepare(&case).expect("prepare");
        let Job::Copy(j) = &prep.job else {
            unreachable!()
        };
        let got = cuda_emu::outputs(&prep.job);
        assert_eq!(got.len(), n);
        assert!(
            got.iter()
                .zip(j.x.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "copy {p} n={n}: output differs from input"
        );
    }
}
