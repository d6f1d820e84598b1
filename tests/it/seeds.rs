//! `run --seed A..B`: the matrix once per seed, in work linear in the number of seeds.
//! Sizes that used to blow up (a full copy of the report per case made 16,000 seeds take
//! minutes; the batch axis compared every record with every other after every case) run
//! here in-process, and every seed has its record.

use clap::Parser;
use detbench::cli::{run_config, Cli, Command as CliCommand};
use detbench::runner::{self, seeds::parse_seeds, seeds::MAX_SEEDS};
use std::collections::BTreeSet;

fn run(args: &[&str]) -> detbench::report::Report {
    let argv: Vec<&str> = ["detbench", "run", "--backend", "cpu", "--no-copy-baseline"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let cli = Cli::try_parse_from(argv).expect("flags");
    let CliCommand::Run(a) = cli.command else {
        panic!("not run")
    };
    runner::run(&run_config(&a, "test".into()).expect("config")).expect("run")
}

#[test]
fn twenty_thousand_seeds_each_have_their_record() {
    let n = 20_000u64;
    let seeds = format!("1..{n}");
    let report = run(&[
        "--op",
        "sum",
        "--variant",
        "tree",
        "--precision",
        "f32",
        "--size",
        "8",
        "--runs",
        "1",
        "--seed",
        &seeds,
    ]);
    assert_eq!(report.results.len() as u64, n);
    let got: BTreeSet<u64> = report.results.iter().map(|r| r.seed).collect();
    assert_eq!(got, (1..=n).collect());
    for r in &report.results {
        assert_eq!(r.status.to_string(), "ok", "{r:?}");
    }
    // Different seeds draw different inputs.
    let inputs: BTreeSet<&str> = report
        .results
        .iter()
        .map(|r| r.input_sha256.as_str())
        .collect();
    assert_eq!(inputs.len() as u64, n);
}

#[test]
fn the_batch_axis_over_many_seeds_pairs_each_seed_with_itself() {
    let n = 1_500u64;
    let seeds = format!("1..{n}");
    let report = run(&[
        "--op",
        "row_sum",
        "--variant",
        "batch_invariant",
        "--precision",
        "f32",
        "--row-len",
        "16",
        "--runs",
        "1",
        "--batch-sizes",
        "1,2",
        "--seed",
        &seeds,
    ]);
    assert_eq!(report.results.len() as u64, 2 * n);
    for r in &report.results {
        assert_eq!(r.status.to_string(), "ok", "{r:?}");
        // Each seed's two batch sizes form a group of their own: compared, and equal.
        assert_eq!(r.batch_invariant, Some(true), "{r:?}");
        assert_eq!(r.max_ulp_across_batches, Some(0), "{r:?}");
    }
}

#[test]
fn the_seed_limit_parses_at_once() {
    let all = parse_seeds(&format!("0..{}", MAX_SEEDS - 1)).expect("at the limit");
    assert_eq!(all.len() as u64, MAX_SEEDS);
    assert!(parse_seeds(&format!("0..{MAX_SEEDS}")).is_err());
    // Overlapping ranges: duplicates dropped, order kept.
    let mixed = parse_seeds(&format!("5..{},0..9", MAX_SEEDS / 2)).expect("overlap");
    assert_eq!(mixed.len() as u64, MAX_SEEDS / 2 - 5 + 1 + 5);
    assert_eq!(&mixed[..2], &[5, 6]);
}
