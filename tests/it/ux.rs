//! What a person sees: the headline after `run`, the input file's dtype as the default
//! precision, exported figures, the published report schema.

use crate::common;

use common::cli::bin;
use std::path::Path;
use std::process::Output;

fn detbench(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .expect("run detbench")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `run --op sum --backend cpu --runs 2 --quiet EXTRA --json JSON`: the small report most
/// tests here start from.
fn cpu_sum(json: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--runs",
        "2",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--json", json.to_str().unwrap()]);
    ok(&detbench(&args))
}

fn precisions(json: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let mut p: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["op"] != "copy")
        .map(|r| r["precision"].as_str().unwrap().to_string())
        .collect();
    p.sort();
    p.dedup();
    p
}

#[test]
fn input_file_dtype_is_the_default_precision() {
    let dir = tempfile::tempdir().unwrap();
    // 1e5 overflows f16 (max 65504): measuring this file in f16 would be bad input.
    let values: Vec<f64> = (0..500).map(|i| 1e5 + i as f64).collect();
    for (p, name, want) in [
        (detbench::numerics::Precision::F32, "x32.npy", "f32"),
        (detbench::numerics::Precision::F64, "x64.npy", "f64"),
    ] {
        let npy = dir.path().join(name);
        detbench::inputs::write_npy(&npy, p, &values, &[values.len() as u64]).unwrap();
        assert_eq!(detbench::inputs::npy_precision(&npy).unwrap(), p);
        let json = dir.path().join(format!("{name}.json"));
        cpu_sum(&json, &["--input", npy.to_str().unwrap()]);
        assert_eq!(precisions(&json), vec![want.to_string()], "{name}");
    }
    // An explicit --precision still wins.
    let npy = dir.path().join("x32.npy");
    let json = dir.path().join("explicit.json");
    cpu_sum(
        &json,
        &["--precision", "f64", "--input", npy.to_str().unwrap()],
    );
    assert_eq!(precisions(&json), vec!["f64".to_string()]);
    // Generated inputs keep the three-format default.
    assert_eq!(
        detbench::cli::default_precisions(&[detbench::inputs::InputSpec::parse("normal").unwrap()])
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn run_prints_the_headline_with_each_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = ok(&detbench(&[
        "run",
        "--op",
        "sum",
        "--backend",
        "cpu",
        "--precision",
        "f32",
        "--size",
        "4096",
        "--runs",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]));
    assert!(out.contains("== cpu:"), "{out}");
    assert!(out.contains("Largest error vs exact:"), "{out}");
    // The headline agrees with the JSON: every variant whose runs differed is listed as
    // nondeterministic, and the deterministic ones are listed as reproducible.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let differing: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "ok" && r["distinct_outputs"].as_u64() > Some(1))
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    if differing.is_empty() {
        assert!(out.contains("Nondeterministic: none"), "{out}");
    } else {
        let table = out
            .split("Nondeterministic: runs gave different bits in these variants")
            .nth(1)
            .expect("nondeterministic table");
        for d in differing {
            assert!(table.contains(&format!("  {d} ")), "{d} missing: {out}");
        }
    }
    let repro = out
        .lines()
        .find(|l| l.starts_with("Reproducible by design, and held in every case:"))
        .expect("reproducible line");
    for det in [
        "sum tree",
        "sum kahan",
        "sum fixed_point",
        "sum reproducible",
    ] {
        assert!(repro.contains(det), "{det}: {repro}");
    }
    assert!(out.contains("ms min/med/max"), "{out}");
    // The same headline opens the Markdown report.
    let md = dir.path().join("r.md");
    ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
    ]));
    let md = std::fs::read_to_string(md).unwrap();
    let head = md.find("## Headline").expect("headline in markdown");
    let first_other = md.find("## cpu").unwrap_or(usize::MAX);
    assert!(head < first_other, "headline must come first");
    assert!(md.contains("**Largest error vs exact:**"));
}

#[test]
fn report_figures_writes_standalone_svgs_with_their_data_and_they_render() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    cpu_sum(
        &json,
        &[
            "--precision",
            "f32",
            "--size",
            "1000,4096",
            "--input",
            "normal,illcond:1e4",
        ],
    );
    let figs = dir.path().join("figs");
    ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--figures",
        figs.to_str().unwrap(),
    ]));
    let mut svgs: Vec<std::path::PathBuf> = std::fs::read_dir(&figs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    svgs.sort();
    // Per device: spread and throughput; per device and accumulator: error vs size and cond.
    assert_eq!(svgs.len(), 4, "{svgs:?}");
    for svg in &svgs {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        for bad in ["3.16", "31623", "1e-30"] {
            assert!(!text.contains(bad), "{} contains {bad}", svg.display());
        }
        let csv = std::fs::read_to_string(svg.with_extension("csv")).unwrap();
        assert!(csv.lines().count() > 1, "{} has no data", svg.display());
    }
    // The error-vs-size data are the measured sizes, one series per variant.
    let size_csv = svgs
        .iter()
        .find(|p| p.to_string_lossy().contains("error-size"))
        .unwrap()
        .with_extension("csv");
    let csv = std::fs::read_to_string(size_csv).unwrap();
    assert!(csv.contains(",1e3,") && csv.contains(",4.096e3,"), "{csv}");
    assert!(std::fs::read_to_string(figs.join("index.md"))
        .unwrap()
        .contains("error-size"));

    // Render one in headless Chromium: the plot and the legend band below it both draw.
    let png = dir.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let o = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=760,560")
        .arg(format!("file://{}", svgs[0].display()))
        .output()
        .expect("chromium must be installed (apt-get install -y chromium)");
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let row_ink = |y0: u32, y1: u32| -> usize {
        (y0..y1)
            .map(|y| {
                let row =
                    &buf[(y * info.width) as usize * ch..((y + 1) * info.width) as usize * ch];
                row.chunks(ch)
                    .filter(|p| p[0] < 200 || p[1] < 200 || p[2] < 200)
                    .count()
            })
            .sum()
    };
    assert!(row_ink(40, 380) > 2000, "the plot area is empty");
    // Legend rows sit below the 420-pixel plot band.
    assert!(row_ink(425, 470) > 50, "no legend below the plot");
}

/// One output convention: `report` with no output flag prints the Markdown report on stdout
/// (the same text `--md -` and `--md FILE` give), and `merge --md FILE` writes only the file.
#[test]
fn report_and_merge_without_output_flags_print_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let j = json.to_str().unwrap();
    cpu_sum(&json, &["--precision", "f32", "--size", "1000"]);
    let bare = ok(&detbench(&["report", j]));
    assert!(bare.contains("| sum"), "{bare}");
    assert_eq!(bare, ok(&detbench(&["report", j, "--md", "-"])));
    let md = dir.path().join("r.md");
    assert!(ok(&detbench(&["report", j, "--md", md.to_str().unwrap()])).is_empty());
    assert_eq!(std::fs::read_to_string(&md).unwrap(), bare);
    let merged_md = dir.path().join("m.md");
    let merged = ok(&detbench(&[
        "merge",
        j,
        "--md",
        merged_md.to_str().unwrap(),
    ]));
    assert!(
        merged.is_empty(),
        "merge --md FILE must not also print: {merged}"
    );
    let table = ok(&detbench(&["merge", j]));
    assert!(!table.is_empty());
    assert!(std::fs::read_to_string(&merged_md)
        .unwrap()
        .contains(table.lines().next().unwrap()));
}

/// `run --quiet` prints nothing at all; without it the headline comes before the table;
/// `report --json -` gives the summary data, paired by key, and `--format` names a renderer.
#[test]
fn quiet_is_quiet_headline_first_and_the_summary_is_data() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--op",
            "sum",
            "--backend",
            "cpu",
            "--precision",
            "f32",
            "--size",
            "1000",
            "--runs",
            "2",
            "--json",
        ];
        args.push(json.to_str().unwrap());
        args.extend_from_slice(extra);
        detbench(&args)
    };
    let quiet = run(&["--quiet"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stdout)
    );
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let loud = ok(&run(&[]));
    let head = loud.find("== cpu:").expect("headline");
    let table = loud.find("ms min/med/max").expect("table");
    assert!(head < table, "headline must come first: {loud}");
    let summary: serde_json::Value = serde_json::from_str(&ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--json",
        "-",
    ])))
    .expect("summary JSON");
    assert_eq!(summary["schema"], "detbench.summary.v1");
    let pairs = summary["devices"][0]["cost_pairs"]
        .as_array()
        .expect("pairs");
    assert!(!pairs.is_empty(), "{summary}");
    for p in pairs {
        assert!(p["case"].as_str().unwrap().starts_with("sum f32/"), "{p}");
    }
    let text = ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--format",
        "text",
    ]));
    assert!(text.contains("== Headline"), "{text}");
    let latex = ok(&detbench(&[
        "report",
        json.to_str().unwrap(),
        "--format",
        "latex",
    ]));
    assert!(latex.contains("\\begin{tabular}"), "{latex}");
    let bad = detbench(&["report", json.to_str().unwrap(), "--format", "docx"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown format 'docx'"));
}
