//! Issue 30's second corpus, one test per group: writes that stay where the user asked,
//! reads that are bounded and never follow a link, adapters whose every descendant dies
//! with them, paths that need not be UTF-8, and loaders that cannot hang or abort. Every
//! test is bounded in time and checks the one-line, exit-2 contract for bad input.

use crate::common;

use common::cli::{bin, bounded, check_bad_input, wait_within};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn mkfifo(p: &Path) {
    assert!(
        Command::new("mkfifo").arg(p).status().unwrap().success(),
        "mkfifo failed"
    );
}

/// `DETBENCH_NVRTC_LIB` naming a FIFO used to block in dlopen forever; now it is refused
/// as not a regular file, and `kernels --out` creates nothing.
#[test]
fn nvrtc_library_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("libnvrtc.so.13");
    mkfifo(&fifo);
    let out_dir = dir.path().join("k");
    let mut cmd = bin();
    cmd.env("DETBENCH_NVRTC_LIB", &fifo)
        .args(["kernels", "--arch", "sm_90", "--out"])
        .arg(&out_dir);
    let out = bounded(cmd, Duration::from_secs(20));
    check_bad_input(&["kernels"], &out, "not a regular file");
    assert!(!out_dir.exists(), "a failing `kernels` created --out");
}

/// A stand-in libnvrtc that reports 2^31-1 supported architectures used to abort the
/// process on an 8 GiB allocation; now it is a one-line error.
#[test]
fn nvrtc_reporting_absurd_architecture_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("stand_in.c");
    std::fs::write(
        &c,
        "int nvrtcVersion(int *a, int *b) { *a = 13; *b = 0; return 0; }\n\
         int nvrtcGetNumSupportedArchs(int *n) { *n = 2147483647; return 0; }\n\
         int nvrtcGetSupportedArchs(int *a) { (void)a; return 0; }\n\
         int nvrtcCreateProgram(void) { return 1; }\n\
         int nvrtcDestroyProgram(void) { return 1; }\n\
         int nvrtcCompileProgram(void) { return 1; }\n\
         int nvrtcGetProgramLogSize(void) { return 1; }\n\
         int nvrtcGetProgramLog(void) { return 1; }\n\
         int nvrtcGetPTXSize(void) { return 1; }\n\
         int nvrtcGetPTX(void) { return 1; }\n\
         int nvrtcGetCUBINSize(void) { return 1; }\n\
         int nvrtcGetCUBIN(void) { return 1; }\n",
    )
    .unwrap();
    let lib = dir.path().join("libnvrtc.so.13");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libnvrtc.so.13", "-o"])
        .arg(&lib)
        .arg(&c)
        .status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "a C compiler (cc) is needed to build the stand-in library"
    );
    let out_dir = dir.path().join("k");
    let mut cmd = bin();
    cmd.env("DETBENCH_NVRTC_LIB", &lib)
        .args(["kernels", "--arch", "sm_90", "--out"])
        .arg(&out_dir);
    let out = bounded(cmd, Duration::from_secs(20));
    assert!(!out_dir.exists(), "a failing `kernels` created --out");
    check_bad_input(&["kernels"], &out, "architectures");
}

/// Paths that are not UTF-8 (`run --json`, `run --dump`, `train --json`) used to panic in
/// `std::env::args()`; they now work.
#[cfg(unix)]
#[test]
fn non_utf8_output_paths_work() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = |s: &[u8]| dir.path().join(std::ffi::OsStr::from_bytes(s));
    let json = name(b"r\xff.json");
    let dump = name(b"d\xfe");
    let mut cmd = bin();
    cmd.args([
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
        "f32",
        "--size",
        "64",
        "--runs",
        "2",
        "--quiet",
    ])
    .arg("--no-copy-baseline")
    .arg("--json")
    .arg(&json)
    .arg("--dump")
    .arg(&dump);
    let out = bounded(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json.is_file() && dump.is_dir());
    assert!(
        std::fs::read_dir(&dump).unwrap().count() > 0,
        "nothing dumped"
    );

    let tjson = name(b"t\xff.json");
    let mut cmd = bin();
    cmd.args(["train", "--steps", "2", "--replicas", "1", "--quiet"])
        .args(["--mode", "deterministic", "--json"])
        .arg(&tjson);
    let out = bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "train: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tjson.is_file());
}

// ---------------------------------------------------------------------------------------
// Adapters in a box.

/// An adapter that misbehaves on purpose. Every mode first starts a grandchild that leaves
/// the process group (`setsid sleep`) and records its pid in PIDS (argv[1]); then:
/// `ok` writes correct outputs and exits 0, `exit1` exits 1, `hang` sleeps past the
/// limit, `fifo` makes each output a FIFO, `link` makes each output a link to SECRET
/// (argv[2]), `big` appends bytes to a correct output, `status5` answers `"status": 5`,
/// `zero` links response.json to /dev/zero, `errlink` replaces its stderr.txt with a link
/// to SECRET.txt and exits 1, `errbig` writes a 100 KB stderr line wrapped in ANSI
/// escapes and exits 1, `errsparse` makes its stderr a 2 GiB sparse file ending in one
/// line and exits 1, `swapdir` answers correctly, then replaces its temporary folder by a
/// link to the moved original. `info` starts a grandchild too; it sleeps when INFO_SLEEP
/// is set, names a 300-character device with INFO_LONG, and pads its reply to 4 MiB with
/// INFO_HUGE.
const BOX_ADAPTER: &str = r#"
import json, os, subprocess, sys, time
import numpy as np
req = json.load(open(sys.argv[-1]))
pids, secret = sys.argv[1], sys.argv[2]
def grandchild():
    p = subprocess.Popen(["setsid", "sleep", "300"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(pids, "a") as f:
        f.write(f"{p.pid}\n")
def respond(**kw):
    kw.setdefault("status", "ok")
    json.dump(kw, open(req["response"], "w"))
grandchild()
if req["op"] == "info":
    if os.environ.get("INFO_SLEEP"):
        time.sleep(60)
    extra = {"notes": "x" * (4 << 20)} if os.environ.get("INFO_HUGE") else {}
    device = "d" * 300 if os.environ.get("INFO_LONG") else "box"
    respond(framework="box", version="0", device=device, **extra)
    sys.exit(0)
folder = os.path.dirname(req["response"])
if req["variant"] == "errlink":
    os.remove(os.path.join(folder, "stderr.txt"))
    os.symlink(secret[:-4] + ".txt", os.path.join(folder, "stderr.txt"))
    sys.exit(1)
if req["variant"] == "errbig":
    sys.stderr.write("\x1b[31m" + "A" * 100000 + "\x1b[0m END\n")
    sys.exit(1)
if req["variant"] == "errsparse":
    sys.stderr.flush()
    os.ftruncate(2, 2 << 30)
    os.lseek(2, 0, os.SEEK_END)
    os.write(2, b"LAST-LINE\n")
    sys.exit(1)
mode = req["variant"]
shape = tuple(req["output"]["shape"])
x = np.load(req["inputs"]["x"]["path"])
s = np.asarray(np.sum(x, dtype=np.float64), dtype=np.float64).reshape(shape)
if mode == "exit1":
    sys.exit(1)
if mode == "hang":
    time.sleep(120)
for path in req["outputs"]:
    if mode == "fifo":
        os.mkfifo(path)
    elif mode == "link":
        os.symlink(secret, path)
    else:
        np.save(path, s)
        if mode == "big":
            with open(path, "ab") as f:
                f.write(b"\0" * 4096)
if mode == "status5":
    respond(status=5)
elif mode == "zero":
    os.symlink("/dev/zero", req["response"])
else:
    respond()
if mode == "swapdir":
    moved = os.path.join(os.path.dirname(pids), "moved-" + os.path.basename(folder))
    os.rename(folder, moved)
    os.symlink(moved, folder)
"#;

struct BoxFixture {
    dir: tempfile::TempDir,
    toml: std::path::PathBuf,
    pids: std::path::PathBuf,
    tmp: std::path::PathBuf,
}

fn box_fixture(modes: &[&str], timeout_s: u32) -> BoxFixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("box.py"), BOX_ADAPTER).unwrap();
    let pids = dir.path().join("pids");
    let secret = dir.path().join("secret.npy");
    common::cli::npy_f32(&secret, &[1234.5]);
    std::fs::write(secret.with_extension("txt"), "SECRET-LINE-42\n").unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let modes: Vec<String> = modes.iter().map(|m| format!("\"{m}\"")).collect();
    let toml = dir.path().join("box.toml");
    std::fs::write(
        &toml,
        format!(
            "name = \"box\"\ncommand = [\"python3\", \"box.py\", \"{}\", \"{}\"]\ntimeout_s = {timeout_s}\n[ops]\nsum = [{}]\n",
            pids.display(),
            secret.display(),
            modes.join(", ")
        ),
    )
    .unwrap();
    BoxFixture {
        dir,
        toml,
        pids,
        tmp,
    }
}

impl BoxFixture {
    /// detbench on the box adapter, with its own TMPDIR (to see leftovers).
    fn cmd(&self, json: &Path) -> Command {
        let mut cmd = bin();
        cmd.env("DETBENCH_PYTHON", crate::external::python())
            .env("TMPDIR", &self.tmp)
            .arg("run")
            .arg("--external")
            .arg(&self.toml)
            .args(["--op", "sum", "--precision", "f64", "--size", "100"])
            .args(["--runs", "2", "--warmup", "0", "--quiet", "--json"])
            .arg(json);
        cmd
    }

    /// The run succeeded; its rows by mode.
    fn rows(&self, json: &Path, out: Output) -> serde_json::Map<String, serde_json::Value> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["variant"].as_str().unwrap().to_string(), x.clone()))
            .collect()
    }

    /// Every grandchild recorded is gone (detbench reaped it) within a second or two, and
    /// no temporary folder is left in TMPDIR.
    fn assert_nothing_left(&self, at_least: usize) {
        common::cli::assert_processes_gone(&self.pids, at_least);
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }
}

/// A `setsid` grandchild used to outlive detbench on every path: a normal exit, a
/// failure, a time-out (and on a time-out with no `kill` program on PATH, as the group
/// was killed by running one). It is now killed and reaped on each, with PATH holding
/// only the two programs the adapter itself runs.
#[test]
fn adapter_grandchildren_die_when_calls_end() {
    let f = box_fixture(&["ok", "exit1", "hang"], 2);
    let json = f.dir.path().join("r.json");
    let path = f.dir.path().join("bin");
    std::fs::create_dir(&path).unwrap();
    let which = |prog: &str| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    for prog in ["setsid", "sleep"] {
        std::os::unix::fs::symlink(which(prog), path.join(prog)).unwrap();
    }
    let mut cmd = f.cmd(&json);
    cmd.env("PATH", &path)
        .env("DETBENCH_PYTHON", which(&crate::external::python()));
    let out = bounded(cmd, Duration::from_secs(60));
    let r = f.rows(&json, out);
    assert_eq!(r["ok"]["status"], "ok");
    assert_eq!(r["exit1"]["status"], "error");
    assert_eq!(r["hang"]["status"], "error");
    // info + three calls.
    f.assert_nothing_left(4);
}

/// Ctrl-C, SIGTERM and SIGHUP during the `info` request used to kill detbench by the
/// signal, leaving the adapter, its grandchild and its temporary folder behind. Now the
/// handler is in place before the first child starts: exit 130, nothing left.
#[test]
fn signals_during_info_leave_no_process_or_folder() {
    for sig in ["INT", "TERM", "HUP"] {
        let f = box_fixture(&["ok"], 100);
        let json = f.dir.path().join("r.json");
        let mut cmd = f.cmd(&json);
        cmd.env("INFO_SLEEP", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let start = std::time::Instant::now();
        while !f.pids.exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "no info call");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert!(Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = wait_within(&mut child, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("SIG{sig}: detbench did not stop"));
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            status.code(),
            Some(130),
            "SIG{sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        f.assert_nothing_left(1);
    }
}

/// Outputs that are a FIFO or a link (to a file the adapter should not hand back), an
/// output with trailing bytes, a numeric status and a response.json linked to /dev/zero:
/// each is that case's one-line error, fast, and no linked file's value is read.
#[test]
fn adapter_files_are_read_bounded_and_never_through_links() {
    let modes = ["fifo", "link", "big", "status5", "zero"];
    let f = box_fixture(&modes, 20);
    let json = f.dir.path().join("r.json");
    let out = bounded(f.cmd(&json), Duration::from_secs(60));
    let r = f.rows(&json, out);
    let want = [
        ("fifo", "FIFO"),
        ("link", "symbolic link"),
        ("big", "expected exactly"),
        ("status5", "status must be"),
        ("zero", "symbolic link"),
    ];
    for (mode, text) in want {
        let rec = &r[mode];
        let msg = rec["message"].as_str().unwrap_or_default();
        assert_eq!(rec["status"], "error", "{mode}: {rec}");
        assert!(msg.contains(text), "{mode}: {msg}");
        assert_ne!(rec["output_first"], 1234.5, "{mode}: the secret was read");
    }
    f.assert_nothing_left(modes.len());
}

/// The program's stderr and `info` reply, and its folder, read within bounds: a stderr
/// replaced by a link to another file, a 100 KB stderr line in ANSI escapes, a 2 GiB
/// sparse stderr, a folder swapped for a link to its moved original, and a 300-character
/// device name each stay that case's own short, clean line (the run goes on); an `info`
/// reply padded to 4 MiB is refused with one line before any case.
#[test]
fn adapter_stderr_info_and_folder_are_read_within_bounds() {
    let modes = ["errlink", "errbig", "errsparse", "swapdir"];
    let f = box_fixture(&modes, 20);
    let json = f.dir.path().join("r.json");
    let mut cmd = f.cmd(&json);
    cmd.env("INFO_LONG", "1");
    let out = bounded(cmd, Duration::from_secs(60));
    let r = f.rows(&json, out);
    let want = [
        ("errlink", "exit status: 1"),
        ("errbig", "END"),
        ("errsparse", "LAST-LINE"),
        ("swapdir", "replaced its temporary folder"),
    ];
    for (mode, text) in want {
        let rec = &r[mode];
        let msg = rec["message"].as_str().unwrap_or_default();
        assert_eq!(rec["status"], "error", "{mode}: {rec}");
        assert!(msg.contains(text), "{mode}: {msg}");
        assert!(
            !msg.contains("SECRET"),
            "{mode}: a linked file was read: {msg}"
        );
        assert!(msg.chars().count() <= 400, "{mode}: {} chars", msg.len());
        assert!(!msg.chars().any(|c| c.is_control()), "{mode}: {msg:?}");
        let device = rec["device"].as_str().unwrap_or_default();
        assert!(device.chars().count() <= 210, "{mode}: device {device}");
    }
    f.assert_nothing_left(modes.len());
    let f = box_fixture(&["ok"], 20);
    let json = f.dir.path().join("r.json");
    let mut cmd = f.cmd(&json);
    cmd.env("INFO_HUGE", "1");
    let out = bounded(cmd, Duration::from_secs(60));
    check_bad_input(&["INFO_HUGE"], &out, "limit");
    assert!(!json.exists());
    f.assert_nothing_left(1);
}

/// Adapter files and flags refused before anything runs, one line each: an unknown key,
/// time limits outside the range (which used to panic in Duration), a FIFO as the file,
/// and a mode name that would escape a folder.
#[test]
fn bad_adapter_settings_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"x\"\ncommand = [\"true\"]\n[ops]\nsum = [\"a\"]\n";
    let mut cases: Vec<(String, String, Vec<&str>)> = vec![
        ("typo.toml".into(), format!("timeout = 1\n{base}"), vec![]),
        (
            "traversal.toml".into(),
            "name = \"x\"\ncommand = [\"true\"]\n[ops]\nsum = [\"m/../../../xdump_escaped\"]\n"
                .into(),
            vec![],
        ),
    ];
    for t in ["inf", "1e300", "2e19", "0"] {
        cases.push((
            format!("t{t}.toml"),
            format!("timeout_s = {t}\n{base}"),
            vec![],
        ));
    }
    let needles = [
        "unknown key 'timeout'",
        "mode 'm/../",
        "outside",
        "outside",
        "outside",
        "outside",
    ];
    for ((file, text, _), needle) in cases.iter().zip(needles) {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        let mut cmd = bin();
        cmd.current_dir(dir.path())
            .args([
                "run",
                "--op",
                "sum",
                "--dump",
                "d",
                "--json",
                "r.json",
                "--external",
            ])
            .arg(&p);
        let out = bounded(cmd, Duration::from_secs(20));
        check_bad_input(&[file.as_str()], &out, needle);
    }
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, base).unwrap();
    for t in ["inf", "1e300", "2e19", "-1"] {
        let mut cmd = bin();
        cmd.current_dir(dir.path())
            .args(["run", "--op", "sum", "--json", "r.json", "--external"])
            .arg(&ok)
            .arg(format!("--external-timeout={t}"));
        let out = bounded(cmd, Duration::from_secs(20));
        check_bad_input(&["--external-timeout", t], &out, "outside");
    }
    let fifo = dir.path().join("fifo.toml");
    mkfifo(&fifo);
    let mut cmd = bin();
    cmd.current_dir(dir.path())
        .args(["run", "--op", "sum", "--json", "r.json", "--external"])
        .arg(&fifo);
    let out = bounded(cmd, Duration::from_secs(20));
    check_bad_input(&["fifo.toml"], &out, "FIFO");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert!(
        !left
            .iter()
            .any(|n| n == "r.json" || n == "d" || n.contains("xdump")),
        "{left:?}"
    );
    assert!(!dir.path().parent().unwrap().join("xdump_escaped").exists());
}

/// Issue 24 item 11: an external backend that can run nothing (its framework is missing)
/// used to exit 0 with "0 of 4 cases ran". Now it exits 2 with the reason and the
/// variable to set, before any case (the `info` reply says so) or after the run (every
/// case unsupported, report written).
#[test]
fn external_backend_that_runs_nothing_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("none.py");
    std::fs::write(
        &script,
        "import json, sys\nreq = json.load(open(sys.argv[-1]))\n\
         info = req['op'] == 'info' and sys.argv[1] == 'info'\n\
         r = {'status': 'unsupported', 'reason': 'No module named numpy'}\n\
         if req['op'] == 'info' and not info: r = {'status': 'ok'}\n\
         json.dump(r, open(req['response'], 'w'))\n",
    )
    .unwrap();
    for (when, needle) in [("info", "can run nothing"), ("case", "ran none")] {
        let toml = dir.path().join(format!("{when}.toml"));
        std::fs::write(
            &toml,
            format!(
                "name = \"none\"\ncommand = [\"python3\", \"none.py\", \"{when}\"]\n[ops]\nsum = [\"a\"]\n"
            ),
        )
        .unwrap();
        let json = dir.path().join(format!("{when}.json"));
        let mut cmd = bin();
        cmd.env_remove("DETBENCH_PYTHON")
            .args([
                "run", "--op", "sum", "--size", "64", "--runs", "1", "--quiet",
            ])
            .arg("--external")
            .arg(&toml)
            .arg("--json")
            .arg(&json);
        let out = bounded(cmd, Duration::from_secs(30));
        check_bad_input(&[when], &out, needle);
        check_bad_input(&[when], &out, "DETBENCH_PYTHON");
        check_bad_input(&[when], &out, "No module named numpy");
        assert_eq!(json.exists(), when == "case", "{when}: report written?");
    }
}

/// Issue 24 item 5: a missing required argument used to print "the following required
/// arguments were not provided:" and nothing more, and `rnu` got no suggestion.
#[test]
fn usage_errors_name_what_is_missing_and_suggest() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["kernels", "--arch", "sm_90"],
            "detbench kernels: missing --out",
        ),
        (&["check"], "detbench check: missing --current"),
        (&["report"], "detbench report: missing <INPUTS>"),
        (&["tolerance"], "detbench tolerance: missing <INPUT>"),
        (&["merge"], "detbench merge: missing <INPUTS>"),
        (&["rnu"], "did you mean 'run'?"),
    ];
    for (args, needle) in cases {
        let mut cmd = bin();
        cmd.args(args);
        let out = bounded(cmd, Duration::from_secs(20));
        check_bad_input(args, &out, needle);
    }
}
