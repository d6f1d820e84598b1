//! `--ordering` is a capability every backend answers (issue 25): each value must be an
//! ordering some backend of the run offers, `all` is every ordering of the run's backends,
//! and a value no backend offers exits 2 with one line naming the valid values per backend.
//! A run sweeps exactly the orderings asked for.

use crate::common;
use detbench::backend::{parse_orderings, BackendKind};
use detbench::ops::Ordering;
use detbench::report::Status;

/// Each backend's own orderings parse for it; `all` is the union, in registry order; one
/// no backend offers is refused, naming each backend's values.
#[test]
fn every_backend_answers_its_orderings() {
    for kind in BackendKind::EVERY {
        let own = kind.capabilities().orderings;
        assert!(!own.is_empty(), "{kind} declares no ordering");
        assert_eq!(parse_orderings("all", &[kind]).unwrap(), own.to_vec());
        for o in own {
            assert_eq!(parse_orderings(o.name(), &[kind]).unwrap(), vec![*o]);
        }
        // An ordering of another backend is refused, with this backend's values.
        let other = BackendKind::EVERY
            .iter()
            .flat_map(|k| k.capabilities().orderings.iter())
            .find(|o| !own.contains(o));
        if let Some(o) = other {
            let e = parse_orderings(o.name(), &[kind]).unwrap_err();
            assert!(
                e.contains(&format!("backend {kind}")) && e.contains(own[0].name()),
                "{kind} {o}: {e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }
    let cpu_cuda = [BackendKind::Cpu, BackendKind::Cuda];
    let all = parse_orderings("all", &cpu_cuda).unwrap();
    assert_eq!(all[0], Ordering::Relaxed);
    assert_eq!(all[1..], Ordering::CUDA);
    // Valid for one backend of the run: kept (the other runs its one ordering).
    assert_eq!(
        parse_orderings("seq_cst.cta,relaxed", &cpu_cuda).unwrap(),
        vec![Ordering::SeqCstCta, Ordering::Relaxed]
    );
    let e = parse_orderings("none", &cpu_cuda).unwrap_err();
    assert!(
        e.contains("cpu: relaxed") && e.contains("cuda: relaxed.gpu"),
        "{e}"
    );
    let e = parse_orderings("bogus", &[BackendKind::Wgpu]).unwrap_err();
    assert!(
        e.contains("'bogus'") && e.contains("expected relaxed"),
        "{e}"
    );
    assert!(parse_orderings("relaxed,,relaxed", &[BackendKind::Cpu]).is_err());
}

/// The CLI: a value the chosen backend lacks exits 2 with one line naming its valid values,
/// before any device or adapter is touched.
#[test]
fn an_ordering_the_backend_lacks_exits_2_naming_its_values() {
    for (backend, ordering, valid) in [
        ("cpu", "relaxed.gpu", "relaxed"),
        ("wgpu", "seq_cst.cta", "relaxed"),
        ("cuda", "relaxed", "relaxed.gpu"),
        ("cuda-emu", "acq_rel", "acq_rel.gpu"),
        ("external", "relaxed", "none"),
    ] {
        let args = [
            "run",
            "--backend",
            backend,
            "--external",
            "no-such-adapter.toml",
            "--ordering",
            ordering,
            "--op",
            "sum",
            "--quiet",
        ];
        // --external only where the backend is external (else it is its own error).
        let args: Vec<&str> = if backend == "external" {
            args.to_vec()
        } else {
            [&args[..3], &args[5..]].concat()
        };
        let out = common::cli::bin().args(&args).output().unwrap();
        common::cli::check_bad_input(&args, &out, valid);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("backend {backend}")), "{err}");
    }
}

/// A cpu and cuda-emu run of the compare-and-swap atomic sum with one PTX ordering: cuda-emu runs exactly
/// that one, the cpu its only one (relaxed). The emulator's rows are labelled with its
/// timer and, as its blocks run on this process's threads, carry the process CPU time.
#[test]
fn cuda_emu_sweeps_exactly_the_orderings_asked_for() {
    let json = common::report::dir().join("orderings_cuda_emu.json");
    let mut cmd = common::cli::bin();
    cmd.env(
        detbench::backend::cuda::emu::CACHE_ENV,
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda_emu"),
    )
    .args(["run", "--backend", "cpu,cuda-emu", "--op", "sum"])
    .args([
        "--variant",
        "atomic_cas",
        "--precision",
        "f32",
        "--size",
        "3001",
    ])
    .args(["--ordering", "acq_rel.cta", "--runs", "2", "--warmup", "0"])
    .args(["--no-copy-baseline", "--quiet", "--json"])
    .arg(&json);
    common::report::run_ok(&mut cmd);
    let report = common::report::load(&json);
    let rows = |b: &str| -> Vec<_> { report.results.iter().filter(|r| r.backend == b).collect() };
    let (cpu, emu) = (rows("cpu"), rows("cuda-emu"));
    assert_eq!(cpu.len(), 1, "{cpu:?}");
    assert_eq!(cpu[0].ordering, Ordering::Relaxed);
    assert_eq!(emu.len(), 1, "{emu:?}");
    let r = emu[0];
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert_eq!(r.ordering, Ordering::AcqRelCta);
    assert_eq!(r.timer, detbench::backend::cuda::emu::TIMER);
    assert!(
        r.cpu_ms_per_run.is_some_and(|c| c > 0.0),
        "cuda-emu row without process CPU time: {:?}",
        r.cpu_ms_per_run
    );
    assert!(cpu[0].cpu_ms_per_run.is_some());
    // The emulator's capabilities say its times are not a device's.
    let caps = BackendKind::CudaEmu.capabilities();
    assert!(!caps.timer.device_time && caps.timer.host_threads);
}
