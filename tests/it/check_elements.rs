//! Issue 24 item 6: `check` names the first differing element of a multi-element output
//! (index, both values, their bits, the ULP distance), from the `output_blocks` sketch
//! real CPU runs write, in the text and in JUnit; reports without the sketch still load
//! and check.

use crate::common;

use common::cli::bin;
use common::report::{check_with, dir, load, run_ok, text, write};
use detbench::numerics::Precision;
use detbench::report::{Report, ResultRecord};
use detbench::runner::{fingerprint, output_blocks};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A CPU report of row_sum (8 outputs: kept whole) and log_softmax (8 x 64 = 512 outputs:
/// 32 blocks of 16, 4 kept each), with every output dumped.
fn sample() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let json = dir().join("elements_base.json");
        let dump = dir().join("elements_dump");
        run_ok(
            bin()
                .args([
                    "run",
                    "--backend",
                    "cpu",
                    "--op",
                    "row_sum,log_softmax",
                    "--variant",
                    "batch_invariant",
                    "--precision",
                    "f32",
                    "--row-len",
                    "64",
                    "--runs",
                    "3",
                    "--no-copy-baseline",
                    "--quiet",
                    "--dump",
                ])
                .arg(&dump)
                .arg("--json")
                .arg(&json),
        );
        (json, dump)
    })
}

/// The first run's output of `op`, from its --dump file.
fn dumped(dump: &Path, op: &str, n: usize) -> Vec<f64> {
    let prefix = format!("{op}_cpu_batch_invariant_f32-f32_");
    let file = std::fs::read_dir(dump)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(&prefix) && name.ends_with("_out.npy")
        })
        .unwrap_or_else(|| panic!("no dumped output of {op} in {}", dump.display()));
    let bytes = std::fs::read(&file).unwrap();
    let v: Vec<f32> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
    v[..n].iter().map(|&x| x as f64).collect()
}

/// The report with `op`'s output changed at `at` (each by `ulps` ULP), its fingerprint and
/// sketch recomputed from the changed output as the runner writes them; the changed
/// values.
fn changed(op: &str, at: &[usize], ulps: u32) -> (Report, Vec<(f64, f64)>) {
    let (json, dump) = sample();
    let mut r = load(json);
    let rec: &mut ResultRecord = r.results.iter_mut().find(|x| x.op == op).unwrap();
    let sk = rec
        .output_blocks
        .clone()
        .expect("a multi-element output has its sketch");
    let out = dumped(dump, op, sk.elements as usize);
    // The dump and the report agree: the sketch is of the first run's output.
    assert_eq!(output_blocks(Precision::F32, &out), sk);
    assert_eq!(
        rec.fingerprint.as_deref(),
        Some(fingerprint(Precision::F32, &out).as_str())
    );
    let mut new = out.clone();
    let mut pairs = Vec::new();
    for &i in at {
        let x = out[i] as f32;
        let y = f32::from_bits(x.to_bits() + ulps);
        new[i] = y as f64;
        pairs.push((x as f64, y as f64));
    }
    rec.fingerprint = Some(fingerprint(Precision::F32, &new));
    rec.output_blocks = Some(output_blocks(Precision::F32, &new));
    (r, pairs)
}

fn bits(v: f64) -> String {
    format!("0x{:08x}", (v as f32).to_bits())
}

#[test]
fn check_names_the_first_differing_element_of_multi_element_outputs() {
    let base = &sample().0;
    // row_sum: 8 outputs, kept whole: the element is always named.
    let (r, v) = changed("row_sum", &[5], 2);
    let cur = write("elements_rowsum.json", &r);
    let junit = dir().join("elements_rowsum.xml");
    let o = check_with(bin(), base, &cur, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!(
        "first differing element: index 5 of 8, {:e} -> {:e} (bits {} -> {}), 2 ULP apart in f32; 1 of 8 blocks of 1 elements differ",
        v[0].0,
        v[0].1,
        bits(v[0].0),
        bits(v[0].1)
    );
    assert!(text(&o).contains(&want), "{want} not in {}", text(&o));
    let xml = std::fs::read_to_string(&junit)
        .unwrap()
        .replace("&gt;", ">");
    assert!(xml.contains(&want), "{want} not in {xml}");

    // log_softmax: 512 outputs in blocks of 16. Element 16*3+2 is kept: named exactly,
    // though a later block differs too.
    let (r, v) = changed("log_softmax", &[16 * 7, 16 * 3 + 2], 1);
    let o = check_with(bin(), base, &write("elements_lsm_a.json", &r), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = format!(
        "first differing element: index 50 of 512, {:e} -> {:e} (bits {} -> {}), 1 ULP apart in f32; 2 of 32 blocks of 16 elements differ",
        v[1].0,
        v[1].1,
        bits(v[1].0),
        bits(v[1].1)
    );
    assert!(text(&o).contains(&want), "{want} not in {}", text(&o));

    // Element 16*3+9 is past its block's kept head: the range that holds it.
    let (r, _) = changed("log_softmax", &[16 * 3 + 9], 1);
    let o = check_with(bin(), base, &write("elements_lsm_b.json", &r), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want = "first differing element: at an index in 52..64 of 512 (elements 48..52 agree";
    assert!(text(&o).contains(want), "{want} not in {}", text(&o));
}

/// Reports written before `output_blocks` existed load and check as before (a changed
/// fingerprint is still a regression), saying how to find the element.
#[test]
fn reports_without_output_blocks_still_load_and_check() {
    let (r, _) = changed("row_sum", &[3], 1);
    let strip = |mut r: Report| {
        for x in &mut r.results {
            x.output_blocks = None;
        }
        // Written as an older detbench wrote it: no such key at all.
        let v = serde_json::to_value(&r).unwrap();
        for x in v["results"].as_array().unwrap() {
            assert!(x.get("output_blocks").is_none(), "absent, not null: {x}");
        }
        r
    };
    let old_base = write("elements_old_base.json", &strip(load(&sample().0)));
    let old_cur = write("elements_old_cur.json", &strip(r.clone()));
    let new_cur = write("elements_new_cur.json", &r);
    for (b, c) in [
        (&old_base, &old_cur),
        (&old_base, &new_cur),
        (&sample().0, &old_cur),
    ] {
        let o = check_with(bin(), b, c, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("not in the reports") && text(&o).contains("--dump"),
            "{}",
            text(&o)
        );
    }
    // Unchanged old reports pass.
    let o = check_with(bin(), &old_base, &old_base, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A sketch that is not the one detbench writes is bad input (exit 2, one line naming
/// `output_blocks`), never a located difference.
#[test]
fn a_malformed_sketch_is_bad_input() {
    let base = &sample().0;
    type Edit = dyn Fn(&mut detbench::report::OutputBlocks);
    let edits: [(&str, &Edit); 4] = [
        ("hashes", &|s| {
            s.hashes.pop();
        }),
        ("heads", &|s| s.heads[1] = "3f80".into()),
        ("hash", &|s| s.hashes[0] = "not hex at all!!".into()),
        ("layout", &|s| s.block = 0),
    ];
    for (name, edit) in edits {
        let mut r = load(base);
        let rec = r
            .results
            .iter_mut()
            .find(|x| x.op == "log_softmax")
            .unwrap();
        edit(rec.output_blocks.as_mut().unwrap());
        let o = check_with(
            bin(),
            base,
            &write(&format!("elements_bad_{name}.json"), &r),
            &[],
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("output_blocks"), "{name}: {err}");
    }
}
