//! `report`, `tolerance`, `check` and `merge` through the CLI binary, on small reports made
//! by the CPU backend.

use crate::common;

use common::cli::bin;
use common::report::{check_with, dir, load, run_ok, text, write};
use detbench::report::ResultRecord;
use detbench::shared::stats::median;
use detbench::tolerance::{empirical_band, runs_needed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// One CPU report shared by the tests: sum and dot, two precisions, two inputs, 6 runs
/// (enough for the Mann-Whitney test to reach alpha = 0.01: 1 / C(12, 6) < 0.01).
pub(crate) fn sample() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = dir().join("base.json");
        run_ok(
            bin()
                .args([
                    "run",
                    "--backend",
                    "cpu",
                    "--op",
                    "sum,dot",
                    "--precision",
                    "f32,f16",
                    "--size",
                    "1000,20011",
                    "--input",
                    "normal,illcond:1e6",
                    "--runs",
                    "6",
                    "--quiet",
                    "--json",
                ])
                .arg(&p),
        );
        p
    })
}

/// `check` with every note shown (`--verbose`): these tests read the notes.
fn check(base: &Path, cur: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--verbose"];
    args.extend_from_slice(extra);
    check_with(bin(), base, cur, &args)
}

pub(crate) fn is_det_ok(r: &ResultRecord) -> bool {
    r.status == "ok" && r.deterministic_variant && r.bitwise_reproducible == Some(true)
}

#[test]
fn check_passes_a_report_against_itself() {
    let junit = dir().join("self.xml");
    let o = check(sample(), sample(), &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("0 regressed"), "{}", text(&o));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (cases, failures) = parse_junit(&xml);
    assert_eq!(cases, load(sample()).results.len());
    assert_eq!(failures, 0);
}

#[test]
fn check_catches_a_changed_fingerprint() {
    let mut r = load(sample());
    let victim = r.results.iter_mut().find(|r| is_det_ok(r)).unwrap();
    victim.fingerprint = Some("0".repeat(64));
    let label = format!(
        "{} {}/{} {}",
        victim.op, victim.precision, victim.accumulator, victim.variant
    );
    let cur = write("fp.json", &r);
    let junit = dir().join("fp.xml");
    let o = check(sample(), &cur, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("REGRESSION") && t.contains(&label), "{t}");
    assert!(t.contains("fingerprint"), "{t}");
    let (_, failures) = parse_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(failures, 1);
}

#[test]
fn check_catches_a_threefold_slowdown() {
    let mut r = load(sample());
    let victim = r
        .results
        .iter_mut()
        // A variant with steady times. (Atomic variants on the CPU race threads, and their
        // bimodal times can hide even a 3x shift from the rank test, which is the test
        // doing its job.)
        .find(|r| r.status == "ok" && r.variant == "tree" && r.times_ms.len() >= 6)
        .unwrap();
    // Steady sub-millisecond times (what a quiet machine measures for this small row), so
    // the test does not depend on how busy the machine was when the sample ran.
    let n = victim.times_ms.len();
    let steady =
        |scale: f64| -> Vec<f64> { (0..n).map(|k| scale * (1.0 + 0.01 * k as f64)).collect() };
    victim.times_ms = steady(0.5);
    victim.median_ms = median(&victim.times_ms);
    victim.cpu_ms_per_run = victim.cpu_ms_per_run.map(|_| 0.5);
    let base = write("steady_sample.json", &r);
    let victim = r
        .results
        .iter_mut()
        .find(|r| r.status == "ok" && r.variant == "tree" && r.times_ms.len() >= 6)
        .unwrap();
    victim.times_ms = steady(1.5);
    victim.median_ms = median(&victim.times_ms);
    // A slower kernel does more work: its CPU time per run grows with its wall time.
    victim.cpu_ms_per_run = victim.cpu_ms_per_run.map(|_| 1.5);
    let cur = write("slow.json", &r);
    // A row of well under a millisecond on the host's clock: x3 adds less than one
    // scheduler time slice, but its CPU time grew with its wall time, so the host floor
    // (which is for preemption) does not excuse it (issue 24 item 7).
    let o = check(&base, &cur, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("CPU time per run grew x3.00"),
        "{}",
        text(&o)
    );
    // The same wall time with the CPU time unchanged is within the host floor.
    let mut loaded = load(&cur);
    for x in loaded.results.iter_mut() {
        if x.status == "ok" && x.variant == "tree" && x.times_ms.len() >= 6 {
            x.cpu_ms_per_run = x.cpu_ms_per_run.map(|_| 0.5);
            break;
        }
    }
    let loaded = write("slow_loaded.json", &loaded);
    let o = check(&base, &loaded, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("within the host floor"), "{}", text(&o));
    let o = check(&base, &cur, &["--host-floor-ms", "0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("slower") && t.contains("Mann-Whitney"), "{t}");
    // x3: the stated median slowdown.
    assert!(t.contains("x3.00"), "{t}");
    assert!(t.contains("[performance]"), "{t}");
}

#[test]
fn check_says_when_runs_are_too_few_for_timing() {
    let mut r = load(sample());
    for x in r.results.iter_mut() {
        x.times_ms.truncate(3);
        x.runs = x.runs.min(3);
        x.median_ms = median(&x.times_ms);
    }
    let base = write("few.json", &r);
    for x in r.results.iter_mut() {
        x.times_ms.iter_mut().for_each(|t| *t *= 3.0);
        x.median_ms = median(&x.times_ms);
    }
    let cur = write("few_slow.json", &r);
    let o = check(&base, &cur, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("timing not judged"), "{}", text(&o));
}

#[test]
fn check_reports_a_vanished_deterministic_result() {
    let mut r = load(sample());
    let i = r.results.iter().position(is_det_ok).unwrap();
    r.results.remove(i);
    let cur = write("vanished.json", &r);
    let o = check(sample(), &cur, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("missing from the current report"));
}

#[test]
fn check_exits_2_on_bad_baselines() {
    let bytes = std::fs::read(sample()).unwrap();
    let truncated = dir().join("truncated.json");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let wrong = dir().join("wrong.json");
    std::fs::write(&wrong, br#"{"schema": "something.else", "results": []}"#).unwrap();
    for p in [truncated, wrong, dir().join("missing.json")] {
        let o = check(&p, sample(), &[]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", p.display(), text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!err.contains("panick"), "{err}");
    }
}

/// Counts <testcase> and <failure> elements; panics if the XML does not parse.
fn parse_junit(xml: &str) -> (usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("JUnit XML parses") {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"testcase" => cases += 1,
                b"failure" => failures += 1,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    (cases, failures)
}

#[test]
fn tolerance_formats_and_bad_confidence() {
    for fmt in ["md", "latex", "json"] {
        let o = bin()
            .args(["tolerance", "--format", fmt, "--confidence", "0.95"])
            .arg(sample())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        match fmt {
            "md" => {
                assert!(t.contains("numpy.testing.assert_allclose(actual, desired, rtol="));
                assert!(t.contains("torch.testing.assert_close("));
                assert!(t.contains("approx::assert_abs_diff_eq!("));
            }
            "latex" => {
                assert!(t.contains("\\begin{tabular}") && t.contains("\\end{table*}"));
                assert!(t.contains("\\lambda"));
            }
            _ => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                let rows = v["rows"].as_array().unwrap();
                assert!(!rows.is_empty());
                // Wilks: 1 - 0.95^m >= 0.95 from m = 59.
                assert_eq!(v["runs_needed"], 59);
                // Every recommendation covers what was observed.
                for r in rows {
                    let tau = r["tau"].as_f64().unwrap();
                    assert!(tau >= r["tau_observed"].as_f64().unwrap(), "{r}");
                    assert!(r["atol"].as_f64().unwrap() >= 0.0, "{r}");
                }
            }
        }
    }
    for c in ["0", "1", "1.5", "-0.1"] {
        let o = bin()
            .args(["tolerance", "--confidence", c])
            .arg(sample())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "confidence {c}: {}", text(&o));
    }
}

/// The empirical band (max of m = C/(1-C) runs) covers held-out runs with probability >= C.
/// Errors come from a real nondeterministic process: f32 sums of one fixed vector in random
/// orders (as atomics would give), against the exact sum.
#[test]
fn tolerance_empirical_coverage_holds_on_held_out_runs() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let xs: Vec<f32> = (0..200).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let exact: f64 = xs.iter().map(|&x| x as f64).sum();
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut one_run = |rng: &mut ChaCha8Rng| {
        // Fisher-Yates shuffle: a random arrival order.
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        let s: f32 = order.iter().map(|&i| xs[i]).sum();
        (s as f64 - exact).abs()
    };
    for confidence in [0.8, 0.9, 0.95] {
        let m = runs_needed(confidence) as usize;
        let (trials, held_out) = (300, 200);
        let mut covered = 0usize;
        for _ in 0..trials {
            let sample: Vec<f64> = (0..m).map(|_| one_run(&mut rng)).collect();
            let band = empirical_band(&sample, confidence);
            assert!(band.sufficient && band.coverage >= confidence - 1e-12);
            covered += (0..held_out)
                .filter(|_| one_run(&mut rng) <= band.value)
                .count();
        }
        let coverage = covered as f64 / (trials * held_out) as f64;
        // Sampling error of the estimate over 300 bands is about 0.01 at C = 0.8.
        assert!(
            coverage >= confidence - 0.02,
            "C = {confidence}: coverage {coverage} with m = {m}"
        );
    }
    // The same with a continuous distribution whose coverage is known exactly: m/(m+1).
    let confidence = 0.9;
    let m = runs_needed(confidence) as usize;
    let mut covered = 0usize;
    let (trials, held_out) = (2000, 100);
    for _ in 0..trials {
        let sample: Vec<f64> = (0..m).map(|_| -rng.random::<f64>().ln()).collect();
        let band = empirical_band(&sample, confidence);
        covered += (0..held_out)
            .filter(|_| -rng.random::<f64>().ln() <= band.value)
            .count();
    }
    let coverage = covered as f64 / (trials * held_out) as f64;
    assert!(coverage >= confidence - 0.01, "{coverage}");
}

#[test]
fn merge_reports_agreement() {
    let md = dir().join("merge.md");
    let o = bin()
        .arg("merge")
        .arg(sample())
        .arg(sample())
        .arg("--md")
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = std::fs::read_to_string(&md).unwrap();
    // The same device twice: deterministic variants agree bit for bit.
    assert!(
        t.contains("| sum | f32 | f32 | tree | 1000 | normal | 7 | all 2 agree |"),
        "{t}"
    );
    // Scalar outputs are recorded so distances can be measured (the copy baseline's
    // output is the whole array, not a scalar).
    assert!(load(sample())
        .results
        .iter()
        .filter(|r| r.status == "ok" && r.op != "copy")
        .all(|r| r.output_first.is_some()));
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let html = dir().join("report.html");
    let md = dir().join("report.md");
    let o = bin()
        .arg("report")
        .arg(sample())
        .arg("--html")
        .arg(&html)
        .arg("--md")
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h = std::fs::read_to_string(&html).unwrap();
    let svgs = h.matches("<svg").count();
    assert!(svgs >= 4, "{svgs} charts");
    assert!(
        h.matches("<circle").count() > 50,
        "charts carry data points"
    );
    assert!(
        h.contains("<polyline") || h.contains("<path"),
        "bound lines drawn"
    );
    // Self-contained: nothing fetched from anywhere.
    for bad in ["<script", "<link", "src=\"http", "url(http", "@import"] {
        assert!(!h.contains(bad), "HTML contains {bad}");
    }
    // `run` recorded the copy baseline: throughput is a fraction of it.
    assert!(h.contains("fraction of copy bandwidth"));
    assert!(!h.contains("copy baseline is missing"));
    let m = std::fs::read_to_string(&md).unwrap();
    assert!(m.contains("| op | prec | acc | variant | kind |"));
    assert!(m.contains("git commit"));

    let png = dir().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,3000")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium must be installed (apt-get install -y chromium)");
    assert!(png.is_file(), "no screenshot: {}", text(&o));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1400, 3000));
    let channels = info.color_type.samples();
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    for px in buf[..info.buffer_size()].chunks(channels) {
        let rgb = (px[0], px[1], px[2]);
        if rgb != (255, 255, 255) {
            non_white += 1;
        }
        colours.insert(rgb);
    }
    let total = (info.width * info.height) as usize;
    assert!(
        colours.len() > 200,
        "only {} distinct colours: the page did not render",
        colours.len()
    );
    assert!(
        non_white > total / 50,
        "{non_white} of {total} pixels drawn"
    );
    // The palette's blue and vermilion points are present, so plots rendered.
    let near = |c: (u8, u8, u8), t: (u8, u8, u8)| {
        (c.0 as i32 - t.0 as i32).abs() < 30
            && (c.1 as i32 - t.1 as i32).abs() < 30
            && (c.2 as i32 - t.2 as i32).abs() < 30
    };
    for target in [(0, 114, 178), (213, 94, 0)] {
        assert!(
            colours.iter().any(|&c| near(c, target)),
            "plot colour {target:?} missing"
        );
    }
}

/// A training report (as the training workload will write it) is drawn and compared.
#[test]
fn train_report_is_rendered_and_compared() {
    use detbench::report::train::*;
    let mode = |name: &str, spread: f64| {
        let replicas: Vec<Replica> = (0..5)
            .map(|i| Replica {
                replica: i,
                loss: (1..=20)
                    .map(|s| 2.0 / s as f64 + spread * (0.05 + 1e-3 * i as f64) * s as f64 / 20.0)
                    .collect(),
                final_accuracy: 0.9 - spread * i as f64 * 0.01,
                final_eval_loss: None,
                weights_fingerprint: if spread == 0.0 {
                    "aa".into()
                } else {
                    format!("b{i}")
                },
            })
            .collect();
        TrainMode {
            mode: name.into(),
            replicas,
            steps: (1..=20)
                .map(|s| StepStats {
                    step: s,
                    max_abs_loss_delta: spread * s as f64 * 4e-3,
                    weight_divergence: spread * s as f64 * 1e-4,
                    max_weight_ulp: (spread * s as f64) as u64,
                })
                .collect(),
            first_divergence_step: (spread > 0.0).then_some(1),
            ..Default::default()
        }
    };
    let t = TrainReport {
        schema: TRAIN_SCHEMA.into(),
        env: load(sample()).env,
        config: TrainConfig {
            backend: "cpu".into(),
            device: "test <device>".into(),
            steps: 20,
            replicas: 5,
            seed: 7,
            lr: 0.1,
            dataset_sha256: "00".repeat(32),
            model: "mlp".into(),
        },
        modes: vec![mode("deterministic", 0.0), mode("nondeterministic", 1.0)],
        partial: false,
    };
    let p = dir().join("train.json");
    std::fs::write(&p, serde_json::to_vec(&t).unwrap()).unwrap();
    assert_eq!(load_train_report(&p).unwrap().modes.len(), 2);
    let html = dir().join("train.html");
    let o = bin()
        .arg("report")
        .arg(sample())
        .arg(&p)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let h = std::fs::read_to_string(&html).unwrap();
    assert!(h.contains("Training loss per replica") && h.contains("Divergence between replicas"));
    assert!(h.contains("test &lt;device&gt;"), "text is escaped");
    let o = bin()
        .args(["tolerance", "--format", "json", "--train"])
        .arg(&p)
        .arg(sample())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let train = v["train"].as_array().unwrap();
    assert_eq!(train.len(), 2);
    // Nondeterministic replicas end with higher loss: the one-sided Welch test sees it.
    assert!(train[0]["p"].as_f64().unwrap() < 0.01, "{}", train[0]);
    // A run report is not a training report.
    let o = bin()
        .args(["tolerance", "--train"])
        .arg(sample())
        .arg(sample())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Issue 24 item 6: a changed fingerprint is printed in full, with the first differing
/// element (index, both values, ULP distance), in the text and in JUnit.
#[test]
fn check_shows_full_fingerprints_and_the_first_differing_element() {
    let base = load(sample());
    let mut r = base.clone();
    let victim = r
        .results
        .iter_mut()
        .find(|x| is_det_ok(x) && x.precision == "f32" && x.output_first.is_some())
        .unwrap();
    let old_fp = victim.fingerprint.clone().unwrap();
    let x = victim.output_first.unwrap() as f32;
    let y = f32::from_bits(x.to_bits() + 3);
    victim.fingerprint = Some("c".repeat(64));
    victim.output_first = Some(y as f64);
    let cur = write("fp_elem.json", &r);
    let junit = dir().join("fp_elem.xml");
    let o = check_with(bin(), sample(), &cur, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = [
        format!("fingerprint {old_fp} -> {}", "c".repeat(64)),
        format!(
            "index 0 (the scalar output), {:e} -> {:e} (bits 0x{:08x} -> 0x{:08x}), 3 ULP apart in f32",
            x as f64,
            y as f64,
            x.to_bits(),
            y.to_bits()
        ),
    ];
    let xml = std::fs::read_to_string(&junit)
        .unwrap()
        .replace("&gt;", ">");
    for w in &want {
        assert!(text(&o).contains(w.as_str()), "{w} not in {}", text(&o));
        assert!(xml.contains(w.as_str()), "{w} not in {xml}");
    }
    // The first line is the verdict, the regression right after it.
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    assert!(
        lines.next().unwrap().starts_with("detbench check: FAIL: "),
        "{out}"
    );
    assert!(lines.next().unwrap().starts_with("REGRESSION "), "{out}");
}

/// A passing check prints its one-line summary first and its notes only with --verbose.
#[test]
fn a_passing_check_prints_one_line_and_notes_behind_verbose() {
    let o = check_with(bin(), sample(), sample(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("detbench check: pass: ") && out.contains("0 regressed"),
        "{out}"
    );
    let v = check_with(bin(), sample(), sample(), &["--verbose"]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let vout = String::from_utf8_lossy(&v.stdout).to_string();
    let head = |s: &str| {
        s.split(" with notes")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        head(vout.lines().next().unwrap()),
        head(out.lines().next().unwrap())
    );
    if out.contains("with notes (--verbose") {
        assert!(vout.contains("\nnote "), "{vout}");
    }
}

/// Issue 24 item 8: rows whose fields contradict each other are bad input (exit 2, one
/// line), never a pass.
#[test]
fn check_refuses_rows_that_contradict_themselves() {
    let bad = |name: &str, edit: &dyn Fn(&mut ResultRecord)| {
        let mut r = load(sample());
        let victim = r.results.iter_mut().find(|x| is_det_ok(x)).unwrap();
        edit(victim);
        let cur = write(name, &r);
        let o = check_with(bin(), sample(), &cur, &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        err
    };
    // One time of 1e308 ms, the median left as it was.
    let e = bad("t1e308.json", &|x| x.times_ms[0] = 1e308);
    assert!(e.contains("times_ms"), "{e}");
    // Every time 1e308 ms, the median left as it was.
    let e = bad("tall.json", &|x| {
        x.times_ms.iter_mut().for_each(|t| *t = 1e308)
    });
    assert!(e.contains("times_ms"), "{e}");
    // A median that is not the times'.
    let e = bad("median.json", &|x| {
        x.median_ms = x.median_ms.map(|m| m * 3.0)
    });
    assert!(e.contains("median_ms"), "{e}");
    // 10^6 ULP of error with the absolute error unchanged.
    let e = bad("ulp.json", &|x| x.max_ulp_err = Some(1_000_000));
    assert!(e.contains("max_ulp_err"), "{e}");
    // The same bits and inputs, another absolute error.
    let e = bad("abs.json", &|x| {
        x.max_abs_err = x.max_abs_err.map(|a| a / 2.0 + f64::MIN_POSITIVE);
        x.max_rel_err = x.max_rel_err.map(|a| a / 2.0)
    });
    assert!(e.contains("max_abs_err"), "{e}");
}

/// Issue 24 item 9: `--accept` refuses a current report whose deterministic variant stopped
/// being reproducible, says so, and leaves the baseline alone; `--force` accepts it.
#[test]
fn accept_refuses_lost_determinism_unless_forced() {
    let base = dir().join("acc_force_base.json");
    std::fs::copy(sample(), &base).unwrap();
    let mut r = load(sample());
    let victim = r.results.iter_mut().find(|x| is_det_ok(x)).unwrap();
    victim.bitwise_reproducible = Some(false);
    victim.distinct_outputs = Some(2);
    victim.max_ulp_run_to_run = Some(1);
    let cur = write("acc_force_cur.json", &r);
    let before = std::fs::read(&base).unwrap();
    let o = check_with(bin(), &base, &cur, &["--accept"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("NOT accepted") && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&base).unwrap(), before);
    // A fresh baseline is refused the same way.
    let fresh = dir().join("acc_force_fresh.json");
    let o = check_with(bin(), &fresh, &cur, &["--accept"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!fresh.exists());
    let o = check_with(bin(), &base, &cur, &["--accept", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(&base).unwrap(), std::fs::read(&cur).unwrap());
}

/// Issue 30: `--accept` refuses a symlinked baseline and a read-only one (exit 2, one line,
/// nothing written), and an accepted baseline keeps its mode.
#[cfg(unix)]
#[test]
fn accept_refuses_symlinked_and_read_only_baselines_and_keeps_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let one_line_2 = |o: &Output, needle: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", text(o));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    };
    let mut r = load(sample());
    r.results
        .iter_mut()
        .find(|x| is_det_ok(x))
        .unwrap()
        .fingerprint = Some("d".repeat(64));
    let cur = write("acc_mode_cur.json", &r);
    let target = dir().join("acc_link_target.json");
    std::fs::copy(sample(), &target).unwrap();
    let link = dir().join("acc_link.json");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let before = std::fs::read(&target).unwrap();
    one_line_2(
        &check_with(bin(), &link, &cur, &["--accept"]),
        "symbolic link",
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), before);
    let ro = dir().join("acc_ro.json");
    let _ = std::fs::remove_file(&ro);
    std::fs::copy(sample(), &ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    one_line_2(&check_with(bin(), &ro, &cur, &["--accept"]), "read-only");
    assert_eq!(std::fs::read(&ro).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&ro).unwrap().permissions().mode() & 0o777,
        0o444
    );
    let kept = dir().join("acc_mode.json");
    std::fs::copy(sample(), &kept).unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = check_with(bin(), &kept, &cur, &["--accept"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(&cur).unwrap());
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o640
    );
}
