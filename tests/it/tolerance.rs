//! Tolerance bands against data they were not fitted on: cross-seed coverage, exact-zero
//! sums, lambda for the actual n, and LaTeX that pdflatex compiles. Reports come from the
//! CPU backend (the bit-exact emulation of every ordered kernel) at small sizes.

use crate::common;

use common::cli::bin;
use common::report::{dir, run_ok};
use detbench::tolerance::theory::{hm_gamma, hm_lambda, hm_q};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The confidence of the coverage test. 10 fitted seeds are too few for an empirical band
/// at C (Wilks needs 22: the max of 10 covers 0.909 on average, and a single fitted band
/// falls below C about a third of the time), so the bands must come from the theory.
const C: f64 = 0.9;
const INPUTS: &str = "uniform,normal,wide,illcond:1e8";

fn run_report(name: &str, seeds: &str, input: &str) -> PathBuf {
    let p = dir().join(name);
    run_ok(
        bin()
            .args([
                "run",
                "--backend",
                "cpu",
                "--op",
                "sum,dot",
                "--precision",
                "f32,bf16",
                "--size",
                "2000",
                "--runs",
                "2",
                "--quiet",
                "--no-copy-baseline",
                "--seed",
                seeds,
                "--input",
                input,
                "--json",
            ])
            .arg(&p),
    );
    p
}

/// Seeds 1-10 of each input class (fitted) and 11-30 (held out).
fn reports() -> &'static (PathBuf, PathBuf) {
    static R: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    R.get_or_init(|| {
        (
            run_report("fit.json", "1..10", INPUTS),
            run_report("held.json", "11..30", INPUTS),
        )
    })
}

fn tolerance(args: &[&str], input: &Path) -> String {
    let out = run_ok(bin().arg("tolerance").args(args).arg(input));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json(args: &[&str], input: &Path) -> Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_str(&tolerance(&a, input)).expect("json")
}

#[test]
fn bands_fitted_on_ten_seeds_cover_twenty_held_out_seeds() {
    let (fit, held) = reports();
    let c = C.to_string();
    let t = json(
        &["--confidence", &c, "--validate", held.to_str().unwrap()],
        fit,
    );
    assert_eq!(t["schema"], "detbench.tolerance.v1");
    let rows = t["rows"].as_array().unwrap();
    // sum and dot, two formats, every CPU-supported variant.
    assert!(rows.len() >= 16, "{} rows", rows.len());
    let v = &t["validation"];
    assert_eq!(
        v["shared_inputs"], 0,
        "held-out seeds must draw other inputs"
    );
    assert_eq!(v["unmatched"], 0);
    for (row, val) in rows.iter().zip(v["rows"].as_array().unwrap()) {
        let name = format!(
            "{} {}/{} {}",
            row["op"], row["precision"], row["accumulator"], row["variant"]
        );
        assert_eq!(row["form"], "normwise", "{name}");
        assert_eq!(row["seeds"], 10, "{name}");
        // 4 classes x 10 seeds, one device.
        assert_eq!(row["results"], 40, "{name}");
        assert_eq!(row["empirical"]["runs"], 10, "{name}");
        let tau = row["tau"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: no band"));
        assert!(tau.is_finite() && tau > 0.0, "{name}");
        // Never below what it was fitted on.
        assert!(tau >= row["tau_observed"].as_f64().unwrap(), "{name}");
        // Held out: 4 classes x 20 seeds.
        assert_eq!(val["results"], 80, "{name}");
        let cov = val["coverage"].as_f64().unwrap();
        assert!(cov >= C, "{name}: coverage {cov} on held-out seeds ({val})");
        let stated = row["stated_coverage"].as_f64().unwrap();
        assert!(stated >= C, "{name}");
        // The deterministic bound holds on every result.
        if let Some(d) = val["coverage_deterministic"].as_f64() {
            assert_eq!(d, 1.0, "{name}");
        }
        assert_ne!(
            row["basis"], "empirical",
            "{name}: 10 seeds cannot support it"
        );
        let elementwise = val["covered_elementwise"].as_f64().unwrap() / 80.0;
        assert!(
            elementwise >= C,
            "{name}: elementwise coverage {elementwise}"
        );
    }
}

#[test]
fn lambda_follows_higham_and_mary_for_the_actual_n() {
    // sqrt(2 ln(2n / (1 - C))) / (1 - u), evaluated separately (Python's math module).
    let cases = [
        (100_000u64, 0.9, 2f64.powi(-24), 5.386_772_589_982_086),
        (1_000_000, 0.99, 2f64.powi(-53), 6.182_851_756_998_92),
        (1 << 20, 0.999, 2f64.powi(-11), 6.555_123_525_923_746),
        (1, 0.5, 2f64.powi(-24), 1.665_109_321_563_645),
    ];
    for (n, c, u, want) in cases {
        let l = hm_lambda(n, c, u);
        assert!(
            (l - want).abs() < 1e-12 * want,
            "n {n} C {c}: {l} vs {want}"
        );
        // And it solves Q(lambda, n) = 1 - n (1 - P(lambda)) = C.
        // 1 - P(lambda) = 2 exp(-lambda^2 (1 - u)^2 / 2), taken directly (1 - P loses digits).
        let escape = 2.0 * (-(l * (1.0 - u)).powi(2) / 2.0).exp();
        assert!((1.0 - n as f64 * escape - c).abs() < 1e-12);
        assert!((hm_q(l, n, u) - c).abs() < 1e-12);
    }
    // The old constant sqrt(2 ln(2 / (1 - C))) = 2.45 at C = 0.9 ignored n.
    assert!(hm_lambda(100_000, 0.9, 2f64.powi(-24)) > 5.38);
    // gamma~ to first order is lambda sqrt(k) u.
    let g = hm_gamma(99_999, 2f64.powi(-24), 5.39);
    let first = 5.39 * 99_999f64.sqrt() * 2f64.powi(-24);
    assert!(g > first && g < first * 1.001);
    // The printed lambda is the one for the row's n.
    let (fit, _) = reports();
    let t = json(&["--confidence", "0.9"], fit);
    for row in t["rows"].as_array().unwrap() {
        if let Some(l) = row["lambda"].as_f64() {
            let n = row["n_max"].as_u64().unwrap();
            let u = if row["accumulator"] == "f32" {
                2f64.powi(-24)
            } else {
                2f64.powi(-53)
            };
            assert!((l - hm_lambda(n, 0.9, u)).abs() < 1e-12, "{row}");
        }
    }
}

/// A vector whose exact sum is 0: pairs v, -v in a shuffled order.
fn zero_sum_file(name: &str, seed: u64, n: usize) -> PathBuf {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f64> = Vec::with_capacity(n);
    for _ in 0..n / 2 {
        // Wide magnitudes make the float sums err.
        let x = (rng.random::<f64>() - 0.5) * 2f64.powi(rng.random_range(-8..8));
        let x = x as f32 as f64;
        v.push(x);
        v.push(-x);
    }
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    let p = dir().join(name);
    detbench::inputs::write_npy(
        &p,
        detbench::numerics::Precision::F32,
        &v,
        &[v.len() as u64],
    )
    .expect("write npy");
    p
}

fn run_file(name: &str, file: &Path) -> PathBuf {
    let p = dir().join(name);
    run_ok(
        bin()
            .args([
                "run",
                "--backend",
                "cpu",
                "--op",
                "sum",
                "--precision",
                "f32",
                "--runs",
                "2",
                "--quiet",
                "--no-copy-baseline",
                "--input",
            ])
            .arg(file)
            .arg("--json")
            .arg(&p),
    );
    p
}

#[test]
fn exact_zero_sums_get_finite_covering_bands() {
    let a = run_file("zero_a.json", &zero_sum_file("zero_a.npy", 1, 4000));
    let b = run_file("zero_b.json", &zero_sum_file("zero_b.npy", 2, 4000));
    let report = detbench::report::load_report(&a).unwrap();
    let ok: Vec<_> = report.results.iter().filter(|r| r.status == "ok").collect();
    assert!(!ok.is_empty());
    assert!(ok
        .iter()
        .all(|r| r.exact == Some(0.0) && r.abs_sum.is_some_and(|s| s > 0.0)));
    // Some variant errs, or the test shows nothing.
    assert!(ok.iter().any(|r| r.max_abs_err.unwrap() > 0.0));
    let t = json(&["--validate", b.to_str().unwrap()], &a);
    for (row, val) in t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(t["validation"]["rows"].as_array().unwrap())
    {
        let tau = row["tau"]
            .as_f64()
            .unwrap_or_else(|| panic!("no band: {row}"));
        let atol = row["atol"].as_f64().unwrap();
        assert!(tau.is_finite() && atol.is_finite(), "{row}");
        // Covers what it was fitted on, in both forms.
        assert!(atol >= row["max_abs_err"].as_f64().unwrap(), "{row}");
        // One input is one seed: no empirical coverage claim, the band is a theory bound.
        assert_ne!(row["basis"], "empirical", "{row}");
        // ... and covers the other zero-sum vector.
        assert_eq!(val["coverage"].as_f64(), Some(1.0), "{val}");
        assert_eq!(val["covered_elementwise"], val["results"], "{val}");
        // No looser than the theory warrants: at most the variant's own bound.
        assert!(
            tau <= row["tau_deterministic"].as_f64().unwrap() * (1.0 + 1e-12),
            "{row}"
        );
    }
}

#[test]
fn too_few_seeds_say_how_many_more() {
    let (fit, _) = reports();
    // C = 0.99 needs 459 seeds per configuration (Wilks); the fit has 10.
    let t = json(&["--confidence", "0.99"], fit);
    for row in t["rows"].as_array().unwrap() {
        assert_ne!(row["basis"], "empirical", "{row}");
        assert_eq!(row["empirical"]["sufficient"], false);
        let notes = row["notes"].to_string();
        assert!(notes.contains("run 449 more seeds"), "{notes}");
    }
    let md = tolerance(&["--confidence", "0.99"], fit);
    assert!(md.contains("run 449 more seeds"));
    // The elementwise form gives allclose-style assertions.
    let md = tolerance(&["--form", "elementwise"], fit);
    assert!(
        md.contains("numpy.testing.assert_allclose(actual, desired, rtol=")
            && md.contains("approx::assert_relative_eq!(")
    );
    assert!(!md.contains("rtol=0, atol="));
}

/// The output convention every command shares: `--md`, `--latex` and `--json` write files
/// (the same text `--format` prints), `-` means stdout, and two of them on stdout is an error.
#[test]
fn output_flags_write_each_rendering() {
    let (fit, _) = reports();
    let out = dir().join("tol-out");
    std::fs::create_dir_all(&out).unwrap();
    let (md, tex, js) = (out.join("t.md"), out.join("t.tex"), out.join("t.json"));
    let o = run_ok(
        bin()
            .arg("tolerance")
            .arg(fit)
            .arg("--md")
            .arg(&md)
            .arg("--latex")
            .arg(&tex)
            .arg("--json")
            .arg(&js),
    );
    assert!(o.stdout.is_empty(), "files only, nothing on stdout");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(read(&md), tolerance(&["--format", "md"], fit));
    assert_eq!(read(&tex), tolerance(&["--format", "latex"], fit));
    let doc: Value = serde_json::from_str(&read(&js)).unwrap();
    assert_eq!(doc["schema"], "detbench.tolerance.v1");
    let piped: Value = serde_json::from_str(&tolerance(&["--json", "-"], fit)).unwrap();
    assert_eq!(piped, doc);
    let two = bin()
        .args(["tolerance", "--json", "-", "--md", "-"])
        .arg(fit)
        .output()
        .unwrap();
    assert_eq!(two.status.code(), Some(2));
    assert!(two.stdout.is_empty());
}

#[test]
#[cfg_attr(
    not(detbench_pdflatex),
    ignore = "pdflatex not found when detbench was built (CI installs it: texlive-latex-recommended)"
)]
fn latex_compiles_with_pdflatex() {
    let (fit, held) = reports();
    let bib = dir().join("refs.bib");
    let tex = tolerance(
        &[
            "--format",
            "latex",
            "--validate",
            held.to_str().unwrap(),
            "--bib",
            bib.to_str().unwrap(),
        ],
        fit,
    );
    assert!(tex.contains("\\begin{table*}") && tex.contains("\\toprule"));
    assert!(tex.contains("\\cite{higham2019probabilistic}"));
    assert!(!tex.contains("10.00\\times"));
    let bibtext = std::fs::read_to_string(&bib).unwrap();
    assert!(bibtext.contains("@article{higham2019probabilistic"));
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("bands.tex"), &tex).unwrap();
    std::fs::copy(&bib, work.path().join("refs.bib")).unwrap();
    std::fs::write(
        work.path().join("paper.tex"),
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\usepackage{longtable}\n\\begin{document}\n\\input{bands}\n\\bibliographystyle{plain}\n\\bibliography{refs}\n\\end{document}\n",
    )
    .unwrap();
    let out = std::process::Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "paper.tex"])
        .current_dir(work.path())
        .output()
        .expect("pdflatex must be installed (CI installs texlive-latex-recommended)");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pdflatex failed:\n{log}");
    assert!(work.path().join("paper.pdf").is_file());
    // No overfull table wider than the page by more than a few points.
    for line in log.lines().filter(|l| l.starts_with("Overfull \\hbox")) {
        let pts: f64 = line
            .trim_start_matches("Overfull \\hbox (")
            .split("pt")
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0.0);
        assert!(pts < 20.0, "{line}");
    }
}

/// Every rendering of `detbench tolerance` for sum and dot (both forms; markdown, LaTeX and
/// JSON), pinned byte for byte in `tests/it/golden/tolerance_sum_dot.txt`: the Higham-Mary model,
/// dot's extra product term and the magnitude expressions come from the reduce family, and
/// moving that knowledge must not change a byte. A deliberate change re-blesses the file with
/// `DETBENCH_BLESS=1 cargo test --test it -- tolerance::sum_and_dot_renderings_are_pinned` and says why in the commit.
#[test]
fn sum_and_dot_renderings_are_pinned() {
    // Only the deterministic variants: the CPU's atomic variants add in the order its
    // threads land, so their errors (and bands) differ from run to run.
    let report = dir().join("pinned.json");
    run_ok(
        bin()
            .args([
                "run",
                "--backend",
                "cpu",
                "--op",
                "sum,dot",
                "--precision",
                "f32",
                "--size",
                "300",
                "--runs",
                "2",
                "--quiet",
                "--no-copy-baseline",
                "--seed",
                "1..3",
                "--input",
                "uniform,illcond:1e8",
                "--variant",
                "tree,kahan,fixed_point,reproducible",
                "--json",
            ])
            .arg(&report),
    );
    let mut text = String::new();
    for form in ["normwise", "elementwise"] {
        for format in ["md", "latex", "json"] {
            let out = tolerance(&["--form", form, "--format", format], &report);
            // The source command names this build's binary and this run's temporary report.
            let out = out
                .replace(&report.display().to_string(), "REPORT")
                .replace(env!("CARGO_BIN_EXE_detbench"), "DETBENCH");
            text.push_str(&format!("==== --form {form} --format {format}\n{out}\n"));
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/tolerance_sum_dot.txt");
    if std::env::var_os("DETBENCH_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write golden");
        eprintln!("blessed {}", path.display());
    }
    let want = std::fs::read_to_string(&path).expect("golden file (bless with DETBENCH_BLESS=1)");
    if want != text {
        let line = want
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(text.lines().count()));
        panic!(
            "tolerance output differs from {} at line {}:\nwant: {:?}\ngot:  {:?}",
            path.display(),
            line + 1,
            want.lines().nth(line),
            text.lines().nth(line)
        );
    }
}

/// What a paper author reads: the held-out verdict before anything else, the seeds advice
/// once (not once per row), one tau (the table's equals the pasted assertion's), and the
/// LaTeX states the validated coverage. The default confidence suits the README's recipe
/// (22 seeds).
#[test]
fn verdict_first_one_tau_and_the_latex_states_coverage() {
    let (fit, held) = reports();
    let md = tolerance(
        &["--format", "md", "--validate", held.to_str().unwrap()],
        fit,
    );
    let verdict = md.find("**Validation verdict:**").expect("verdict");
    let table = md.find("| op | in/acc |").expect("table");
    assert!(verdict < table, "the verdict must come first:\n{md}");
    assert!(md.matches("more seeds").count() <= 1, "{md}");
    assert!(
        md.contains("needs 22 seeds per configuration at C = 0.9"),
        "{md}"
    );
    // Each row's tau (bold cell) is the tau its normwise assertion pastes.
    let mut checked = 0;
    for line in md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| op |") && l.contains("| **"))
    {
        let cells: Vec<&str> = line.split(" | ").collect();
        let tau = cells
            .iter()
            .find(|c| c.starts_with("**") && c.ends_with("**") && c.len() > 4)
            .map(|c| c.trim_matches('*'))
            .unwrap();
        if tau == "-" {
            continue;
        }
        let label = format!(
            "### {} {} {}",
            cells[0].trim_start_matches("| "),
            cells[1],
            cells[2]
        );
        let block = md
            .split(&format!("{label}\n\n```"))
            .nth(1)
            .unwrap_or_else(|| panic!("no assertions for {label}"));
        // Rows with an absolute band paste atol, not tau.
        let Some(first) = block.lines().take(4).find(|l| l.contains("epsilon = ")) else {
            continue;
        };
        assert!(
            first.contains(&format!("epsilon = {tau} *")),
            "{line}\n{first}"
        );
        checked += 1;
    }
    assert!(checked > 0, "{md}");
    let tex = tolerance(
        &["--format", "latex", "--validate", held.to_str().unwrap()],
        fit,
    );
    assert!(tex.contains("held-out cov."), "{tex}");
    assert!(tex.contains("Held-out validation"), "{tex}");
}
