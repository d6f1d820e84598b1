//! The batch axis through `check`, `merge` and the Markdown report: a kernel that kept its
//! shared rows' bits in the baseline and lost them now fails `check` (exit 1, named); the
//! same report against itself passes; `merge` and `report` show the batch columns.

use crate::common;

use common::report as rpt;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_detbench"))
}

#[test]
fn check_fails_a_kernel_that_lost_batch_invariance() {
    let base = rpt::dir().join("batch_base.json");
    rpt::run_ok(
        bin()
            .args([
                "run",
                "--op",
                "matmul",
                "--backend",
                "cpu",
                "--precision",
                "f32",
                "--mm-shape",
                "8,40,600",
                "--batch-sizes",
                "1,64",
                "--variant",
                "batch_invariant,split_k_deterministic",
                "--runs",
                "2",
                "--quiet",
                "--no-copy-baseline",
                "--json",
            ])
            .arg(&base),
    );
    let report = rpt::load(&base);
    assert!(report
        .results
        .iter()
        .all(|r| r.batch_size.is_some() && r.batch_invariant.is_some()));
    assert!(report
        .results
        .iter()
        .filter(|r| r.variant == "batch_invariant")
        .all(|r| r.batch_invariant == Some(true)));

    // The same report passes against itself.
    let same = rpt::check_with(bin(), &base, &base, &["--no-timing"]);
    assert_eq!(same.status.code(), Some(0), "{}", rpt::text(&same));

    // batch_invariant now batch variant: a numeric regression, named.
    let mut broken = report.clone();
    for r in broken
        .results
        .iter_mut()
        .filter(|r| r.variant == "batch_invariant")
    {
        r.batch_invariant = Some(false);
        r.max_ulp_across_batches = Some(7);
    }
    let cur = rpt::write("batch_cur.json", &broken);
    let out = rpt::check_with(bin(), &base, &cur, &["--no-timing"]);
    assert_eq!(out.status.code(), Some(1), "{}", rpt::text(&out));
    assert!(
        rpt::text(&out).contains("no longer batch invariant"),
        "{}",
        rpt::text(&out)
    );

    // merge and the Markdown report show the batch axis.
    let merged = rpt::run_ok(bin().arg("merge").arg(&base));
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(
        text.contains("(batch invariant)") && text.contains("(batch variant:"),
        "{text}"
    );
    let md = rpt::dir().join("batch.md");
    rpt::run_ok(bin().arg("report").arg(&base).arg("--md").arg(&md));
    let md = std::fs::read_to_string(&md).expect("markdown");
    assert!(
        md.contains("## Batch invariance") && md.contains("Cost of batch invariance"),
        "{md}"
    );
}
