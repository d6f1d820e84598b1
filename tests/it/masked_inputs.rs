//! Issue 24: non-finite values in a user's .npy input. log_softmax defines -inf (a masked
//! logit; a fully masked row's answer is NaN) and judges such rows `ok`; every other op,
//! and every other non-finite value, is refused with exit 2 and one line naming the file,
//! the element and the op, before anything is written.

use crate::common;

use common::cli::bin;
use common::report::{dir, load, text};
use detbench::numerics::Precision;
use std::path::{Path, PathBuf};
use std::process::Output;

/// 8 rows of 8 f32 logits: row 1 fully masked, row 2 masked past its third element, the
/// others plain; `poison` replaces element 8 (row 1's first).
fn logits(name: &str, poison: Option<f64>) -> PathBuf {
    let ninf = f64::NEG_INFINITY;
    let mut s = detbench::inputs::Stream::new(11, 0);
    let mut x = Vec::new();
    for row in 0..8 {
        for j in 0..8 {
            let v = Precision::F32.round(s.normal());
            x.push(match row {
                1 => ninf,
                2 if j > 2 => ninf,
                _ => v,
            });
        }
    }
    if let Some(v) = poison {
        x[8] = v;
    }
    let p = dir().join(name);
    detbench::inputs::write_npy(&p, Precision::F32, &x, &[x.len() as u64]).unwrap();
    p
}

fn run(input: &Path, op: &str, json: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["run", "--backend", "cpu", "--op", op, "--runs", "2"])
        .args(["--no-copy-baseline", "--quiet", "--input"])
        .arg(input)
        .arg("--json")
        .arg(json)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn masked_logits_from_a_file_are_judged_ok() {
    let input = logits("masked.npy", None);
    let json = dir().join("masked.json");
    let o = run(
        &input,
        "log_softmax",
        &json,
        &["--row-len", "8", "--accumulator", "f32,f64"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = load(&json);
    let judged: Vec<_> = r.results.iter().filter(|x| x.variant != "atomic").collect();
    assert_eq!(judged.len(), 4, "two variants, two accumulators");
    for x in judged {
        assert_eq!(x.status, "ok", "{x:?}");
        assert_eq!(x.bound_violations, 0);
        let (e, b) = (x.max_abs_err.unwrap(), x.error_bound.unwrap());
        assert!(e.is_finite() && e <= b, "{x:?}");
        assert!(
            x.message.contains("1 rows fully masked") && x.message.contains("masked elements"),
            "{}",
            x.message
        );
    }
}

/// One exit-2 line naming the file, the element, its value and the op; no report.
fn refused(o: &Output, json: &Path, want: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for w in want {
        assert!(err.contains(w), "{w} not in {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!json.exists(), "nothing written");
}

#[test]
fn undefined_non_finite_inputs_are_refused_naming_file_element_and_op() {
    let masked = logits("masked_refused.npy", None);
    let path = masked.display().to_string();
    for op in ["sum", "row_sum", "mean", "scatter_add"] {
        let json = dir().join(format!("refused_{op}.json"));
        let o = run(&masked, op, &json, &[]);
        refused(
            &o,
            &json,
            &[
                &path,
                "element 8 is -inf",
                &format!("{op} takes finite values only"),
            ],
        );
    }
    // With log_softmax beside another op, the other op is named.
    let json = dir().join("refused_pair.json");
    let o = run(&masked, "log_softmax,row_sum", &json, &["--row-len", "8"]);
    refused(
        &o,
        &json,
        &["element 8 is -inf", "row_sum takes finite values only"],
    );
    // log_softmax defines -inf only.
    for (name, v, shown) in [
        ("nan.npy", f64::NAN, "NaN"),
        ("pinf.npy", f64::INFINITY, "inf"),
    ] {
        let input = logits(name, Some(v));
        let json = dir().join(format!("refused_{name}.json"));
        let o = run(&input, "log_softmax", &json, &["--row-len", "8"]);
        refused(
            &o,
            &json,
            &[
                &input.display().to_string(),
                &format!("element 8 is {shown}:"),
                "log_softmax takes finite values and -inf",
            ],
        );
    }
    // A finite value that overflows the precision asked for.
    let input = logits("big.npy", Some(1e6));
    let json = dir().join("refused_big.json");
    let o = run(
        &input,
        "log_softmax",
        &json,
        &["--row-len", "8", "--precision", "f16"],
    );
    refused(&o, &json, &["element 8 (1e6) overflows f16"]);
}
