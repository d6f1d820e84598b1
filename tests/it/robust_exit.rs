//! Issue 30, how commands end: a command that fails leaves no new file or folder behind
//! (even when it fails after writing some), a signal during the external adapter's `info`
//! still writes a valid partial report, a second Ctrl-C during the cleanup leaves no
//! half-written or temporary file and no process, and stderr carries only detbench's own
//! lines whatever the environment. Real processes and real signals, each bounded in time.

use crate::common;

use common::cli::{bin, bounded, check_bad_input, sigint, small_report, small_run, wait_within};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Every entry under `dir` (recursively, hidden ones included) with its size and time of
/// last change: equal snapshots mean nothing was created, removed or rewritten.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            all.insert(e.path(), (m.len(), m.modified().ok()));
        }
    }
    all
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Environment variables set for one command.
type Env = Vec<(&'static str, &'static str)>;

/// Commands that create a folder (`kernels --out`, `report --figures`, `run --dump`) and
/// then fail, early or late, used to leave it behind (issue 30: `kernels --out new`
/// with a bad --arch or without NVRTC, a bad --index-dist with --dump, an input named
/// DIR/index.md written over after 8 figures). Each now exits 2 with one line, and the
/// folder it was run in is exactly as before.
#[test]
fn failing_commands_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = d.join("r.json");
    small_report(&report);
    // A figures folder written by detbench, then its index replaced by a run report.
    let mut cmd = bin();
    cmd.arg("report")
        .arg(&report)
        .arg("--figures")
        .arg(d.join("F"));
    let out = bounded(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    std::fs::copy(&report, d.join("F/index.md")).unwrap();
    // A folder holding a file of the user's.
    std::fs::create_dir(d.join("G")).unwrap();
    std::fs::write(d.join("G/mine.txt"), "keep").unwrap();
    let before = snapshot(d);

    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (
            vec!["kernels", "--arch", "sm_7", "--out", "new/K"],
            vec![],
            "--arch",
        ),
        (
            vec!["kernels", "--arch", "sm_90", "--out", "K"],
            vec![("DETBENCH_NVRTC_LIB", "/nonexistent/libnvrtc.so")],
            "nvrtc",
        ),
        (
            vec!["report", "r.json", "--figures", "G", "--md", "out.md"],
            vec![],
            "did not write",
        ),
        (
            vec![
                "report",
                "F/index.md",
                "--figures",
                "F",
                "--html",
                "out.html",
            ],
            vec![],
            "inside --figures",
        ),
        (
            vec![
                "run",
                "--op",
                "scatter_add",
                "--backend",
                "cpu",
                "--size",
                "64",
                "--index-dist",
                "nope",
                "--dump",
                "D",
                "--json",
                "new.json",
            ],
            vec![],
            "index",
        ),
    ];
    for (args, env, needle) in cases {
        let mut cmd = bin();
        cmd.current_dir(d).args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = bounded(cmd, Duration::from_secs(30));
        check_bad_input(&args, &out, needle);
        assert_eq!(snapshot(d), before, "{args:?} changed the folder");
    }
}

/// Writes correct outputs for `sum`, starts a `setsid` grandchild on every call (pids in
/// argv[1]), and:
/// - with SABOTAGE=FOLDER, in the case of 200 elements, records the --dump folder's listing in
///   argv[1].dumps and replaces FOLDER (where the report goes) with a file, so that the
///   run fails at its very end, after it wrote dumps;
/// - with INFO_SLEEP set, sleeps in the `info` call.
const ADAPTER: &str = r#"
import json, os, shutil, subprocess, sys, time
import numpy as np
req = json.load(open(sys.argv[-1]))
pids = sys.argv[1]
p = subprocess.Popen(["setsid", "sleep", "300"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open(pids, "a") as f:
    f.write(f"{p.pid}\n")
def respond(**kw):
    kw.setdefault("status", "ok")
    json.dump(kw, open(req["response"], "w"))
if req["op"] == "info":
    if os.environ.get("INFO_SLEEP"):
        time.sleep(60)
    respond(framework="exit", version="0", device="exit")
    sys.exit(0)
shape = tuple(req["output"]["shape"])
x = np.load(req["inputs"]["x"]["path"])
sabotage = os.environ.get("SABOTAGE")
if sabotage and x.size == 200 and not os.path.exists(pids + ".dumps"):
    with open(pids + ".dumps", "w") as f:
        f.write("\n".join(os.listdir(os.environ["DUMP"])))
    shutil.rmtree(sabotage)
    open(sabotage, "w").close()
s = np.asarray(np.sum(x, dtype=np.float64), dtype=np.float64).reshape(shape)
for path in req["outputs"]:
    np.save(path, s)
respond()
"#;

struct Adapter {
    dir: tempfile::TempDir,
    toml: PathBuf,
    pids: PathBuf,
    tmp: PathBuf,
}

fn adapter() -> Adapter {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exit.py"), ADAPTER).unwrap();
    let pids = dir.path().join("pids");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let toml = dir.path().join("exit.toml");
    std::fs::write(
        &toml,
        format!(
            "name = \"exit\"\ncommand = [\"python3\", \"exit.py\", \"{}\"]\ntimeout_s = 60\n[ops]\nsum = [\"a\"]\n",
            pids.display()
        ),
    )
    .unwrap();
    Adapter {
        dir,
        toml,
        pids,
        tmp,
    }
}

impl Adapter {
    /// `detbench run` on the adapter, with its own TMPDIR and no XDG_RUNTIME_DIR (to see
    /// any temporary or runtime folder left behind).
    fn cmd(&self, json: &Path) -> Command {
        let mut cmd = bin();
        cmd.current_dir(self.dir.path())
            .env("DETBENCH_PYTHON", crate::external::python())
            .env("TMPDIR", &self.tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .arg("run")
            .arg("--external")
            .arg(&self.toml)
            .args(["--op", "sum", "--precision", "f64", "--size", "100,200"])
            .args([
                "--runs",
                "2",
                "--warmup",
                "0",
                "--quiet",
                "--no-copy-baseline",
            ])
            .arg("--json")
            .arg(json);
        cmd
    }

    /// Waits until the adapter started (its `info` call wrote its grandchild's pid).
    fn wait_started(&self) {
        let start = Instant::now();
        while !self.pids.exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "no info call");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Every grandchild recorded is gone within a few seconds and TMPDIR is empty: no
    /// adapter folder, no runtime folder, no temporary file.
    fn assert_nothing_left(&self) {
        common::cli::assert_processes_gone(&self.pids, 1);
        assert_eq!(names(&self.tmp), Vec::<String>::new(), "left in TMPDIR");
    }
}

/// A run that fails at its very end (the report's folder was replaced by a file while it
/// ran) after writing dumps into a new --dump folder: it exits 2 with one line, and the
/// dump folder, which held files when the failure came, is gone again.
#[test]
fn a_run_failing_late_removes_the_dumps_it_wrote() {
    let a = adapter();
    let out_dir = a.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dump = a.dir.path().join("dumps").join("D");
    let before = names(a.dir.path());
    let mut cmd = a.cmd(&out_dir.join("r.json"));
    cmd.env("SABOTAGE", &out_dir)
        .env("DUMP", &dump)
        .arg("--dump")
        .arg(&dump);
    let out = bounded(cmd, Duration::from_secs(90));
    check_bad_input(&["late failure"], &out, "r.json");
    let seen = std::fs::read_to_string(a.pids.with_extension("dumps")).unwrap();
    assert!(
        seen.lines().any(|l| l.ends_with(".npy")),
        "no dump was written before the failure: {seen:?}"
    );
    assert!(!dump.exists(), "the failed run left its dumps");
    assert!(
        !dump.parent().unwrap().exists(),
        "the failed run left dumps/"
    );
    // Only the adapter's own bookkeeping (and the file it put in place of out/) is new.
    let mut now = names(a.dir.path());
    now.retain(|n| !before.contains(n) && !n.starts_with("pids"));
    assert_eq!(now, Vec::<String>::new(), "new entries");
    a.assert_nothing_left();
}

/// Ctrl-C while the external adapter answers `info` used to end the run with no report.
/// Now the report is written, complete and valid (the published schema), with no results
/// and marked partial; exit 130; the adapter, its `setsid` grandchild and its folders are
/// gone. With `--json -` the same report is the only thing on stdout.
#[test]
fn ctrl_c_during_adapter_info_writes_a_partial_report() {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json"))
            .unwrap(),
    )
    .unwrap();
    for to_stdout in [false, true] {
        let a = adapter();
        let json = a.dir.path().join("r.json");
        let mut cmd = a.cmd(if to_stdout { Path::new("-") } else { &json });
        cmd.env("INFO_SLEEP", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        a.wait_started();
        assert!(sigint(&child));
        let status = wait_within(&mut child, Duration::from_secs(10)).expect("no exit");
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(130), "{err}");
        assert!(err.contains("partial"), "{err}");
        let bytes = if to_stdout {
            out.stdout.clone()
        } else {
            std::fs::read(&json).expect("no report written")
        };
        let report: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let v = jsonschema::draft202012::new(&schema).unwrap();
        let errors: Vec<String> = v.iter_errors(&report).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(report["partial"], true);
        assert_eq!(report["results"], serde_json::json!([]));
        a.assert_nothing_left();
        // The partial report is a report: `detbench report` reads it.
        if !to_stdout {
            let mut cmd = bin();
            cmd.arg("report").arg(&json);
            let out = bounded(cmd, Duration::from_secs(30));
            assert!(out.status.success(), "{out:?}");
        }
    }
}

/// Sends SIGINT twice, `gap` apart, and waits for the exit.
fn two_ctrl_c(child: &mut Child, gap: Duration) -> Option<i32> {
    assert!(sigint(child));
    std::thread::sleep(gap);
    // The first signal may already have ended it (a fast partial report).
    let _ = sigint(child);
    wait_within(child, Duration::from_secs(5))
        .expect("no exit within 5 s of the second Ctrl-C")
        .code()
}

/// The report's folder after a double Ctrl-C: no temporary file, and the report is
/// either absent or complete (valid JSON marked partial), never half-written.
fn assert_whole_or_absent(dir: &Path, json: &Path, what: &str) {
    for n in names(dir) {
        assert!(
            !n.starts_with(".detbench-tmp") && !n.starts_with(".tmp"),
            "{what}: temporary file {n} left"
        );
    }
    if let Ok(bytes) = std::fs::read(json) {
        let r: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{what}: half-written report: {e}"));
        assert_eq!(r["partial"], true, "{what}");
    }
}

/// A second Ctrl-C during the cleanup of the first (the adapter's process tree being
/// killed, its folder removed, the partial report being written) still exits 130 and
/// leaves no half-written file, no temporary file or folder (XDG_RUNTIME_DIR unset, so a
/// runtime folder would show in TMPDIR) and no process. Then the same at several gaps
/// while a large partial report (100,000 timings) is being written.
#[test]
fn second_ctrl_c_during_cleanup_leaves_nothing() {
    for gap in [0u64, 30] {
        let a = adapter();
        let json = a.dir.path().join("r.json");
        let mut cmd = a.cmd(&json);
        cmd.env("INFO_SLEEP", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        a.wait_started();
        let code = two_ctrl_c(&mut child, Duration::from_millis(gap));
        assert_eq!(code, Some(130), "adapter, gap {gap} ms");
        assert_whole_or_absent(a.dir.path(), &json, "adapter");
        a.assert_nothing_left();
    }
    for gap in [0u64, 5, 20, 80, 300] {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let json = dir.path().join("r.json");
        let mut child = bin()
            .env("TMPDIR", &tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .args([
                "run",
                "--op",
                "sum",
                "--backend",
                "cpu",
                "--variant",
                "tree",
            ])
            .args([
                "--precision",
                "f64",
                "--size",
                "16,2^20",
                "--runs",
                "100000",
            ])
            .args(["--quiet", "--no-copy-baseline", "--json"])
            .arg(&json)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let code = two_ctrl_c(&mut child, Duration::from_millis(gap));
        assert_eq!(code, Some(130), "run, gap {gap} ms");
        assert_whole_or_absent(dir.path(), &json, &format!("run, gap {gap} ms"));
        assert_eq!(
            names(&tmp),
            Vec::<String>::new(),
            "gap {gap} ms: left in TMPDIR"
        );
    }
}

/// Environment variables set (`Some`) or removed (`None`) for one command.
type EnvChange<'a> = Vec<(&'static str, Option<&'a Path>)>;

/// Mesa's lines used to join detbench's stderr: libwayland's "XDG_RUNTIME_DIR is invalid
/// or not set" (XDG_RUNTIME_DIR unset with TMPDIR missing, or relative) and the shader
/// cache's "Failed to create ... ---disabling" (an XDG_CACHE_HOME that cannot be
/// created). In each environment a successful wgpu run prints nothing on stderr and a
/// bad input found after the devices were listed prints its one line.
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
fn stderr_carries_only_detbench_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("rel")).unwrap();
    std::fs::write(d.join("afile"), "").unwrap();
    let missing_tmp = d.join("no-such-tmp");
    let afile = d.join("afile");
    let envs: Vec<(&str, EnvChange)> = vec![
        (
            "XDG_RUNTIME_DIR unset, TMPDIR missing",
            vec![("XDG_RUNTIME_DIR", None), ("TMPDIR", Some(&missing_tmp))],
        ),
        (
            "XDG_RUNTIME_DIR relative",
            vec![("XDG_RUNTIME_DIR", Some(Path::new("rel")))],
        ),
        (
            "XDG_CACHE_HOME cannot be created",
            vec![("XDG_CACHE_HOME", Some(Path::new("/proc/detbench-no-cache")))],
        ),
        (
            "XDG_CACHE_HOME is a file",
            vec![("XDG_CACHE_HOME", Some(&afile))],
        ),
    ];
    let dev_null = Path::new("/dev/null");
    for (what, env) in envs {
        let with_env = |args: &[&str]| {
            let mut cmd = bin();
            cmd.current_dir(d).args(args);
            for (k, v) in &env {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
            bounded(cmd, Duration::from_secs(120))
        };
        let ok = [
            "run",
            "--op",
            "sum",
            "--backend",
            "wgpu",
            "--size",
            "64",
            "--runs",
            "1",
            "--quiet",
            "--no-copy-baseline",
            "--json",
        ];
        let mut args = ok.to_vec();
        let sink = dev_null.to_str().unwrap();
        args.push(sink);
        let out = with_env(&args);
        assert!(out.status.success(), "{what}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{what}");
        let out = with_env(&["devices"]);
        assert!(out.status.success(), "{what}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{what}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("wgpu"),
            "{what}: no wgpu device listed"
        );
        // A bad input: its one line alone.
        let bad = [
            "run",
            "--op",
            "sum",
            "--backend",
            "wgpu",
            "--size",
            "64",
            "--variant",
            "nosuch",
            "--json",
            sink,
        ];
        let out = with_env(&bad);
        check_bad_input(&bad, &out, "variant");
        assert!(!missing_tmp.exists());
    }
}

/// Set in the child process of [`listing_vulkan_devices_in_process_is_quiet`].
const CHILD: &str = "DETBENCH_TEST_QUIET_CHILD";

/// Tests that list Vulkan devices in this process (the backend macros, wgpu properties)
/// filled CI logs with libwayland's "XDG_RUNTIME_DIR is invalid or not set": main's
/// fixes do not run in a test binary. This test runs itself again as a child process,
/// without XDG_RUNTIME_DIR; the child lists the wgpu devices through the library and the
/// parent checks that the child's stderr holds no such line.
#[test]
#[cfg_attr(
    not(detbench_wgpu),
    ignore = "needs a wgpu adapter (none found at build time: install mesa-vulkan-drivers)"
)]
fn listing_vulkan_devices_in_process_is_quiet() {
    if std::env::var_os(CHILD).is_some() {
        let found = detbench::backend::discover(&[detbench::backend::BackendKind::Wgpu]);
        let n = found.infos.iter().filter(|d| d.available).count();
        println!("wgpu devices: {n}");
        return;
    }
    let me = "robust_exit::listing_vulkan_devices_in_process_is_quiet";
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, "1").env_remove("XDG_RUNTIME_DIR").args([
        "--exact",
        me,
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    let out = bounded(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let n: usize = stdout
        .lines()
        .find_map(|l| l.split("wgpu devices: ").nth(1))
        .unwrap_or_else(|| panic!("the child did not list devices: {stdout}"))
        .trim()
        .parse()
        .unwrap();
    assert!(n > 0, "no wgpu device listed: {stdout}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
}

/// A link put in an output folder under the name of a file detbench writes there (a dump,
/// a figure index) used to be followed: the file it pointed to was overwritten, exit 0.
/// A rerun now replaces the link with a new file and the linked file keeps its bytes.
#[test]
fn links_in_output_folders_are_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "VICTIM").unwrap();
    let report = d.join("r.json");
    let dump = d.join("D");
    let figures = d.join("F");
    for (what, folder) in [("--dump", &dump), ("--figures", &figures)] {
        let cmd = || {
            if what == "--dump" {
                let mut c = small_run(&report);
                c.arg("--dump").arg(&dump);
                c
            } else {
                let mut c = bin();
                c.arg("report").arg(&report).arg("--figures").arg(&figures);
                c
            }
        };
        let out = bounded(cmd(), Duration::from_secs(60));
        assert!(out.status.success(), "{what}: {out:?}");
        let name = names(folder)
            .into_iter()
            .find(|n| !n.starts_with('.'))
            .expect("a file written");
        let target = folder.join(&name);
        std::fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        let out = bounded(cmd(), Duration::from_secs(60));
        assert!(out.status.success(), "{what}: {out:?}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "VICTIM",
            "{what}"
        );
        let m = std::fs::symlink_metadata(&target).unwrap();
        assert!(m.is_file(), "{what}: {name} is still a link");
    }
}
