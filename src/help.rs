//! The text `--help` shows after the flags: examples for every command, and for `run` the
//! ops with their variants and what each one means. Both come from the families
//! ([`crate::ops::Family::variants`] and [`crate::ops::Family::describe`]), so a new op or
//! variant shows up here without an edit.

use crate::ops::Op;

/// `run --help`'s list of ops and variants.
pub fn variants() -> String {
    let mut s = String::from("Ops and their variants (--op, --variant):\n");
    for &op in Op::ALL {
        let vs = op.variants();
        if vs.is_empty() {
            continue;
        }
        s.push_str(&format!("  {op}\n"));
        let w = vs.iter().map(|v| v.len()).max().unwrap_or(0);
        for v in vs {
            s.push_str(&format!(
                "    {v:<w$}  {}\n",
                op.family().and_then(|f| f.describe(op, v)).unwrap_or("")
            ));
        }
    }
    s
}

/// `run --help`: the variants, then examples.
pub fn run() -> String {
    format!(
        "{}\nExamples:\n  \
         detbench run                                     # sum and dot, f32/f16/bf16, every device\n  \
         detbench run --op all --backend cpu,wgpu --size 2^16,2^20 --runs 20\n  \
         detbench run --op scatter_add --index-dist uniform,zipf --bins 64,4096\n  \
         detbench run --op sum --input data.npy          # the file's own dtype\n  \
         detbench run --seed 1..20 --json - | jq '.results[0]'\n",
        variants()
    )
}

pub const DEVICES: &str = "Examples:
  detbench devices
  detbench devices --json - | jq '.devices[] | select(.available)'
  detbench devices --json devices.json
";

pub const REPORT: &str = "Examples:
  detbench report detbench-report.json                  # Markdown to stdout
  detbench report detbench-report.json --html report.html --md report.md
  detbench report detbench-report.json detbench-train.json --html all.html
  detbench report detbench-report.json --figures figs/  # one SVG + CSV per figure
";

pub const TOLERANCE: &str = "Examples:
  detbench tolerance detbench-report.json
  detbench tolerance fit.json --validate held-out.json --confidence 0.999
  detbench tolerance detbench-report.json --format latex --bib refs.bib > bands.tex
  detbench tolerance detbench-report.json --format json | jq '.bands[0]'
";

pub const CHECK: &str = "Exit codes: 0 no regression, 1 regression, 2 bad input.

Examples:
  detbench check --baseline base.json --current detbench-report.json --junit junit.xml
  detbench check --baseline a.json,b.json,c.json --current cur.json   # measured timing noise
  detbench check --baseline base.json --current cur.json --no-timing
  detbench check --baseline base.json --current cur.json --accept     # adopt the new baseline
";

pub const STORE: &str =
    "A URL is a SQLite file path (created if missing) or postgres://USER@HOST:PORT/DB.
Reports are stored by the SHA-256 of their canonical bytes, never changed; adding one
again is a no-op that says so.

Examples:
  detbench store add results.db h100.json a100.json
  detbench run --op sum --store results.db
  detbench store info postgres://bench@db.lab:5432/detbench
";

pub const HISTORY: &str = "Kinds:
  nondeterministic   op/variant groups whose runs differed, per device, with run counts
  changes            result keys whose fingerprint changed, with the report and what changed
                     in the environment; a change with no environment change is flagged
  first-change       the first stored run where --key's fingerprint or timing changed
  cost               the cost of determinism per device over time

Examples:
  detbench history nondeterministic results.db --device H100
  detbench history changes results.db --json -
  detbench history first-change results.db --key 'sum f32/f32 tree' --threshold 0.05
  detbench history cost results.db
";

pub const MERGE: &str = "Examples:
  detbench merge h100.json a100.json laptop.json
  detbench merge h100.json a100.json --md agreement.md
";

pub const TRAIN: &str = "Examples:
  detbench train                                   # cpu, both modes, 3 replicas each
  detbench train --backend cpu,wgpu --replicas 5
  detbench train --backend wgpu --mode nondeterministic --steps 120 --json wgpu-train.json
  detbench train --json - --quiet | jq '.modes[] | {backend, mode, spread}'
";

pub const KERNELS: &str = "Examples:
  detbench kernels --arch sm_90 --out kernels-sm90/
  detbench kernels --arch 8.0 --op sum,dot --precision f16 --out k/
";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant of every built op is listed with a meaning of its own.
    #[test]
    fn every_variant_is_explained() {
        let text = variants();
        for &op in Op::ALL {
            for v in op.variants() {
                assert!(text.contains(&format!("    {v} ")), "{op} {v} missing");
                assert_ne!(
                    op.family().and_then(|f| f.describe(op, v)).unwrap_or(""),
                    "see the README's table of variants",
                    "{op} {v} has no meaning"
                );
            }
        }
    }
}
