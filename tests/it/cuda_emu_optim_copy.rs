//! kernels/cuda/optim.cu and kernels/cuda/copy.cu run on the host emulation of CUDA
//! (tests/it/cuda_emu), launched as src/ops/optim/cuda.rs and src/ops/copy/cuda.rs launch them.
//!
//! Optimizers: every rule (SGD with momentum and Nesterov, Adam, AdamW), every storage (f32,
//! bf16 with an f32 master copy, bf16 with stochastic rounding) and both modules
//! (`--fmad=false` for `no_fma`, `--fmad=true` for `fma` and `stochastic_rounding`, built on
//! the host with -ffp-contract=off and with -ffp-contract=fast -mfma) must give the CPU
//! emulation's bits after several steps, including the scalar tail of an n that is not a
//! multiple of 4. Copy must reproduce its input.

use crate::common;
use crate::cuda_emu;

use cuda_emu::{f32_arg, Module};
use detbench::backend::BackendKind;
use detbench::inputs::InputSpec;
use detbench::numerics::Precision;
use detbench::ops::optim::{self, OptimJob, Rule, Storage};
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

/// One run: every step launched as cuda.rs's `run` launches it.
fn run_optim(m: &Module, j: &OptimJob) -> Vec<f64> {
    let n = j.n();
    let enc = |v: &[f32]| optim::wgpu::encode(j.storage, v);
    let params = m.upload(&enc(&j.init));
    let grads: Vec<_> = j.grads.iter().map(|g| m.upload(&enc(g))).collect();
    let mom = m.alloc(4 * n);
    let v = match j.variant.rule {
        Rule::Sgd { .. } => m.alloc(16),
        _ => m.alloc(4 * n),
    };
    let master_init: Vec<u8> = j.init.iter().flat_map(|f| f.to_le_bytes()).collect();
    let master = match j.storage {
        Storage::Bf16Master => m.upload(&master_init),
        _ => m.alloc(16),
    };
    for (s, g) in j.steps.iter().zip(&grads) {
        m.launch(
            &j.entry(),
            (j.launch.workgroups, 1, 1),
            j.launch.workgroup_size,
            0,
            &[
                params.addr(),
                g.addr(),
                mom.addr(),
                v.addr(),
                master.addr(),
                n as u64,
                f32_arg(s.neg_step),
                f32_arg(s.a),
                f32_arg(s.b),
                f32_arg(s.isb),
                f32_arg(s.eps),
                f32_arg(s.decay),
                s.step as u64,
                s.key as u64,
            ],
        );
    }
    optim::wgpu::decode(j.storage, &params.read(), n)
        .into_iter()
        .map(f64::from)
        .collect()
}

fn optim_job(prep: &Prepared) -> &OptimJob {
    match &prep.job {
        Job::Optim(j) => j,
        _ => unreachable!(),
    }
}

#[test]
fn optimizers_match_the_cpu_emulation() {
    let modules: Vec<(bool, Module)> = cuda_emu::module_builds(optim::cuda::SOURCE)
        .into_iter()
        .map(|b| {
            let m = cuda_emu::load(&b.spec);
            cuda_emu::assert_entries(&m, &b);
            (b.spec.fmad, m)
        })
        .collect();
    assert_eq!(
        modules.len(),
        2,
        "an --fmad=true and an --fmad=false module"
    );
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
                    let m = &modules.iter().find(|(f, _)| *f == j.variant.fma).unwrap().1;
                    let got = run_optim(m, j);
                    let want = common::run_or_unsupported(BackendKind::Cpu, &prep)
                        .expect("cpu")
                        .outputs
                        .remove(0);
                    assert_eq!(got.len(), want.len());
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{op} {variant} {p} n={n}: element {i}: emulated CUDA {g:e}, CPU emulation {w:e}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 30, "only {checked} optimizer cases ran");
}

#[test]
fn copy_reproduces_its_input() {
    let b = cuda_emu::module_builds(detbench::ops::copy::cuda::SOURCE).remove(0);
    let m = cuda_emu::load(&b.spec);
    cuda_emu::assert_entries(&m, &b);
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
        let words = j.words() as u64;
        let src = m.upload(&j.padded_bytes());
        let dst = m.alloc(words as usize * 16);
        m.launch(
            detbench::ops::copy::cuda::ENTRY,
            (j.launch.workgroups, 1, 1),
            j.launch.workgroup_size,
            0,
            &[src.addr(), dst.addr(), words],
        );
        let got = j.decode(&dst.read());
        assert_eq!(got.len(), n);
        assert!(
            got.iter()
                .zip(&j.x)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "copy {p} n={n}: output differs from input"
        );
    }
}
