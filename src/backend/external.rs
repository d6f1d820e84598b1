//! The external backend: a program outside detbench (a PyTorch, JAX or numpy script)
//! runs the op, and detbench judges its outputs exactly as it judges its own kernels.
//!
//! Protocol `detbench.external.v1` (docs/external.md has a complete example): detbench
//! writes the case's inputs as .npy and a `request.json` into a private temporary folder,
//! runs `COMMAND... request.json` in its own process group with a time limit, and reads
//! back one .npy per run plus an optional `response.json` (status, per-run times, the
//! framework and device). Every file the program writes is validated (count, dtype,
//! shape, representability); anything wrong is a one-line error naming the adapter, for
//! that case only.
//!
//! The box (docs/external.md, "Sandbox"): detbench is a child subreaper, each call runs
//! in a new process group and carries a token in its environment, and when the call ends
//! by any path (exit, error, time-out, Ctrl-C, SIGTERM, SIGHUP) every process in that
//! group, carrying that token or descending from one of them is killed with kill(2) and
//! reaped. Files the program wrote are read without following links or blocking, each at
//! most the size the request implies.
//!
//! This module knows nothing of the families: a job describes itself as an
//! [`ExternalCall`]: its family's kernel for [`Describe`] (see [`super::KernelApi`]).

use super::{Capabilities, DeviceInfo, KernelApi, RunSet, Timer};
use crate::error::{DetError, OpError};
use crate::numerics::Precision;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An adapter's modes are not atomic kernels of ours: nothing is swept (its one ordering
/// is `none`, as its records say); the program compiles its own kernels; times are the
/// program's own where it reports them, and it works in its own process. It needs an
/// adapter (`--external`), so `--backend all` never implies it; its variants are the
/// adapter's modes ([`Backend::variants`]).
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: &[crate::shared::ordering::Ordering::None],
    kernels: None,
    timer: Timer {
        name: "adapter",
        device_time: true,
        host_threads: false,
    },
    in_all: false,
    own_variants: true,
};

mod device;
mod files;
mod sandbox;

pub use device::ExternalBackend;

use files::*;
use sandbox::*;

/// Nothing to discover: the runner builds the backend from the `--external` adapter
/// ([`ExternalBackend::new`]).
pub fn discover() -> (Vec<ExternalBackend>, Vec<DeviceInfo>) {
    (Vec::new(), Vec::new())
}

/// The protocol version written into every request; adapters refuse others.
pub const PROTOCOL: &str = "detbench.external.v1";

/// Time limit of one adapter call when neither the adapter file nor the flag sets one.
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;

/// The time limits accepted (seconds): 10 ms to 7 days. `inf`, `1e300` and `2e19` are
/// refused rather than turned into a wait that never ends.
pub const TIMEOUT_RANGE: (f64, f64) = (0.01, 604_800.0);

/// Most bytes of an adapter file (TOML) and of a `response.json`.
pub const TEXT_MAX: u64 = 1 << 20;

/// Most bytes of a program's stderr read back (its tail) for the one-line message.
pub const STDERR_TAIL: u64 = 64 << 10;

/// Most bytes of an .npy header (npy 2.0 allows 4 GiB; real headers are ~128 bytes).
pub const NPY_HEADER_MAX: u64 = 64 << 10;

/// Keys an adapter file may set.
const TOML_KEYS: [&str; 7] = [
    "name",
    "protocol",
    "command",
    "timeout_s",
    "ops",
    "deterministic",
    "plain",
];

/// A time limit checked against [`TIMEOUT_RANGE`].
pub fn check_timeout(t: f64) -> Result<f64, String> {
    let (lo, hi) = TIMEOUT_RANGE;
    if t.is_finite() && (lo..=hi).contains(&t) {
        Ok(t)
    } else {
        Err(format!(
            "timeout {t} s is outside the accepted range {lo} to {hi} s"
        ))
    }
}

/// A mode name the adapter offers: it becomes a report's variant and part of file names,
/// so it is 1 to 64 characters of `[A-Za-z0-9_.+-]`, not starting with a dot.
fn check_mode(m: &str) -> Result<(), String> {
    let ok = !m.is_empty()
        && m.len() <= 64
        && !m.starts_with('.')
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "mode '{}' is not a valid name (1 to 64 of A-Z a-z 0-9 _ . + -, not starting with a dot)",
            crate::safety::clean_line(m, 80)
        ))
    }
}

/// One named input array of a call.
#[derive(Clone, Debug)]
pub struct ExternalArray {
    pub name: String,
    pub dtype: Precision,
    pub shape: Vec<u64>,
    /// Row-major values, each exactly representable in `dtype`.
    pub values: Vec<f64>,
}

impl ExternalArray {
    pub fn new(name: &str, dtype: Precision, shape: Vec<u64>, values: Vec<f64>) -> Self {
        ExternalArray {
            name: name.into(),
            dtype,
            shape,
            values,
        }
    }
}

/// The external backend's kernel API: a family's kernel for it describes the job as an
/// [`ExternalCall`] instead of running it (`Unsupported` for families that have none).
pub struct Describe;

impl KernelApi for Describe {
    type Output = ExternalCall;
    const NAME: &'static str = "external";
}

/// What an external program is asked to compute: a job described without detbench's
/// kernel details.
#[derive(Clone, Debug)]
pub struct ExternalCall {
    /// detbench's op name (`sum`, `scatter_add`, ...).
    pub op: String,
    pub precision: Precision,
    pub accumulator: Precision,
    /// Op parameters (size, bins, shape, step count, hyper-parameters...).
    pub params: Value,
    /// Integer arrays (scatter indices): name, shape, values; written as <i8.
    pub index_inputs: Vec<(String, Vec<u64>, Vec<i64>)>,
    pub inputs: Vec<ExternalArray>,
    /// Format of every output.
    pub out_dtype: Precision,
    /// Shape of every output (empty: a 0-d scalar).
    pub out_shape: Vec<u64>,
    /// Runs to perform, each writing one output.
    pub runs: usize,
}

/// An adapter: how to start the program, and which ops and modes it offers.
#[derive(Clone, Debug)]
pub struct Adapter {
    /// Short name (`numpy`, `torch`): the records' `extra.adapter`.
    pub name: String,
    /// The command; the request's path is appended.
    pub argv: Vec<String>,
    /// Time limit of one call, in seconds.
    pub timeout_s: f64,
    /// op -> modes (the variants of its records).
    pub ops: BTreeMap<String, Vec<String>>,
    /// Modes that promise identical bits on every run.
    pub deterministic: Vec<String>,
    /// The mode that is the framework's plain path (its default call, e.g. numpy's
    /// `ordered`, torch's `default`): the reference a deterministic mode's cost is taken
    /// against. None when the adapter does not say.
    pub plain: Option<String>,
    /// Where it came from (the TOML path or the command), for messages and provenance.
    pub source: String,
    /// Whether its command is `python3`/`python` (which DETBENCH_PYTHON replaces).
    pub python: bool,
    /// What the program said about itself (framework, version, device, status, reason).
    pub info: BTreeMap<String, Value>,
}

fn bad(source: &str, msg: impl std::fmt::Display) -> DetError {
    DetError::input(format!("--external {source}: {msg}"))
}

impl Adapter {
    /// Loads `spec` (a `.toml` adapter file or a command line) and asks the program
    /// about itself. `timeout_s` overrides the file's limit.
    pub fn load(spec: &str, timeout_s: Option<f64>) -> Result<Adapter, DetError> {
        let mut ad = if spec.trim_end().ends_with(".toml") {
            Self::from_toml(Path::new(spec.trim()))?
        } else {
            // Arguments naming an existing file are made absolute: the program runs in
            // its temporary folder.
            let argv: Vec<String> = spec
                .split_whitespace()
                .enumerate()
                .map(|(i, a)| match std::fs::canonicalize(a) {
                    Ok(p) if i > 0 && p.is_file() => p.display().to_string(),
                    _ => a.to_string(),
                })
                .collect();
            if argv.is_empty() {
                return Err(bad(spec, "empty command"));
            }
            let name = Path::new(&argv[argv.len() - 1])
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "external".into());
            Adapter {
                name,
                argv,
                timeout_s: DEFAULT_TIMEOUT_S,
                ops: BTreeMap::new(),
                deterministic: Vec::new(),
                plain: None,
                source: spec.into(),
                python: false,
                info: BTreeMap::new(),
            }
        };
        if let Some(t) = timeout_s {
            ad.timeout_s = check_timeout(t)
                .map_err(|e| DetError::input(format!("--external-timeout: {e}")))?;
        }
        // A python3 command uses the interpreter of DETBENCH_PYTHON when set (a venv with
        // numpy or torch), so adapter files need not name a machine's paths.
        ad.python = matches!(ad.argv[0].as_str(), "python3" | "python");
        if ad.python {
            if let Ok(py) = std::env::var("DETBENCH_PYTHON") {
                if !py.trim().is_empty() {
                    ad.argv[0] = py;
                }
            }
        }
        ad.ask_info()?;
        if ad.ops.is_empty() {
            return Err(bad(
                &ad.source,
                "the adapter offers no ops (give [ops] in its file or list them in its info reply)",
            ));
        }
        for m in ad.ops.values().flatten().chain(&ad.deterministic) {
            check_mode(m).map_err(|e| bad(&ad.source, e))?;
        }
        if let Some(p) = &ad.plain {
            if !ad.ops.values().flatten().any(|m| m == p) {
                return Err(bad(
                    &ad.source,
                    format!("plain = '{p}' is not one of the adapter's modes"),
                ));
            }
        }
        Ok(ad)
    }

    fn from_toml(path: &Path) -> Result<Adapter, DetError> {
        let src = path.display().to_string();
        let bytes = crate::safety::read_user_file(path, TEXT_MAX).map_err(|e| bad(&src, e))?;
        let text = String::from_utf8(bytes).map_err(|_| bad(&src, "not UTF-8 text"))?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            bad(&src, format!("not valid TOML: {}", e.message()))
        })?;
        if let Some((k, _)) = doc.iter().find(|(k, _)| !TOML_KEYS.contains(k)) {
            return Err(bad(
                &src,
                format!(
                    "unknown key '{}' (an adapter file sets {})",
                    crate::safety::clean_line(k, 40),
                    TOML_KEYS.join(", ")
                ),
            ));
        }
        let string = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(String::from);
        let strings = |item: &toml_edit::Item, what: &str| -> Result<Vec<String>, DetError> {
            let arr = item
                .as_array()
                .ok_or_else(|| bad(&src, format!("{what} must be an array of strings")))?;
            arr.iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| bad(&src, format!("{what} must be an array of strings")))
                })
                .collect()
        };
        if let Some(p) = string("protocol") {
            if p != PROTOCOL {
                return Err(bad(
                    &src,
                    format!("protocol '{p}' is not the one this detbench speaks ({PROTOCOL})"),
                ));
            }
        }
        let name = string("name").ok_or_else(|| bad(&src, "missing name = \"...\""))?;
        let mut argv = strings(
            doc.get("command")
                .ok_or_else(|| bad(&src, "missing command = [...]"))?,
            "command",
        )?;
        if argv.is_empty() {
            return Err(bad(&src, "command is empty"));
        }
        // Arguments naming a file next to the adapter file are made absolute.
        let dir = path.parent().unwrap_or(Path::new("."));
        for a in argv.iter_mut().skip(1) {
            let p = dir.join(&*a);
            if !Path::new(a).is_absolute() && p.is_file() {
                // Absolute: the program runs in its temporary folder.
                *a = std::fs::canonicalize(&p).unwrap_or(p).display().to_string();
            }
        }
        let timeout_s = match doc.get("timeout_s") {
            None => DEFAULT_TIMEOUT_S,
            Some(v) => {
                let t = v
                    .as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .ok_or_else(|| bad(&src, "timeout_s must be a number of seconds"))?;
                check_timeout(t).map_err(|e| bad(&src, format!("timeout_s: {e}")))?
            }
        };
        let mut ops = BTreeMap::new();
        if let Some(t) = doc.get("ops") {
            let t = t
                .as_table_like()
                .ok_or_else(|| bad(&src, "[ops] must be a table of op = [modes]"))?;
            for (op, modes) in t.iter() {
                let modes = strings(modes, &format!("ops.{op}"))?;
                if modes.is_empty() {
                    return Err(bad(&src, format!("ops.{op} lists no modes")));
                }
                for m in &modes {
                    check_mode(m).map_err(|e| bad(&src, e))?;
                }
                ops.insert(op.to_string(), modes);
            }
        }
        let deterministic = match doc.get("deterministic") {
            Some(d) => strings(d, "deterministic")?,
            None => Vec::new(),
        };
        let plain = match doc.get("plain") {
            Some(p) => Some(
                p.as_str()
                    .map(String::from)
                    .ok_or_else(|| bad(&src, "plain must be a mode name"))?,
            ),
            None => None,
        };
        Ok(Adapter {
            name,
            argv,
            timeout_s,
            ops,
            deterministic,
            plain,
            source: src,
            python: false,
            info: BTreeMap::new(),
        })
    }

    /// Modes of `op`, or None when the adapter does not offer it.
    pub fn modes(&self, op: &str) -> Option<&[String]> {
        self.ops.get(op).map(|v| v.as_slice())
    }

    /// What to do when nothing ran: for a Python adapter, the variable that picks the
    /// interpreter.
    pub fn remedy(&self) -> String {
        if self.python {
            match std::env::var_os("DETBENCH_PYTHON") {
                Some(p) => format!(
                    " (it ran DETBENCH_PYTHON={}: point DETBENCH_PYTHON at a Python that has the framework)",
                    std::path::Path::new(&p).display()
                ),
                None => " (set DETBENCH_PYTHON to a Python that has the framework)".into(),
            }
        } else {
            String::new()
        }
    }

    /// The reason every call is unsupported (framework or device absent), if any.
    pub fn unsupported(&self) -> Option<String> {
        (self.info.get("status").and_then(Value::as_str) == Some("unsupported")).then(|| {
            self.info
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("the adapter says it cannot run here")
                .to_string()
        })
    }

    /// The `info` request: the program says what framework, version and device it runs
    /// (and, for a bare command, which ops and modes it offers).
    fn ask_info(&mut self) -> Result<(), DetError> {
        let dir = PrivateDir::new().map_err(|e| bad(&self.source, e))?;
        let response = dir.path().join("response.json");
        let request = json!({
            "protocol": PROTOCOL,
            "op": "info",
            "response": response,
        });
        let req_path = dir.path().join("request.json");
        write_json(&req_path, &request).map_err(|e| bad(&self.source, e))?;
        self.call(&req_path, dir.path())
            .map_err(|e| bad(&self.source, e))?;
        dir.still_ours().map_err(|e| bad(&self.source, e))?;
        let reply = read_response(&response)
            .map_err(|e| bad(&self.source, e))?
            .ok_or_else(|| bad(&self.source, "the info request wrote no response.json"))?;
        response_status(&reply).map_err(|e| bad(&self.source, e))?;
        if let Some(p) = reply.get("protocol") {
            if p.as_str() != Some(PROTOCOL) {
                return Err(bad(
                    &self.source,
                    format!(
                        "the program speaks '{}', not {PROTOCOL}",
                        crate::safety::clean_line(&p.to_string(), 60)
                    ),
                ));
            }
        }
        let names = |v: &Value, what: &str| -> Result<Vec<String>, DetError> {
            v.as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|m| m.as_str().map(String::from))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad(&self.source, format!("{what} must be a list of mode names")))
        };
        if self.ops.is_empty() {
            if let Some(ops) = reply.get("ops") {
                let ops = ops
                    .as_object()
                    .ok_or_else(|| bad(&self.source, "ops must map each op to its modes"))?;
                for (op, modes) in ops {
                    let modes =
                        names(modes, &format!("ops.{}", crate::safety::clean_line(op, 40)))?;
                    self.ops.insert(op.clone(), modes);
                }
            }
            if let Some(d) = reply.get("deterministic") {
                self.deterministic = names(d, "deterministic")?;
            }
        }
        if self.plain.is_none() {
            if let Some(p) = reply.get("plain") {
                self.plain = Some(
                    p.as_str()
                        .map(String::from)
                        .ok_or_else(|| bad(&self.source, "plain must be a mode name"))?,
                );
            }
        }
        if let Value::Object(m) = reply {
            // What the program says about itself goes into the report: scalars only, each
            // string one clean line of at most 200 characters, at most 32 fields.
            self.info = m
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "ops" | "deterministic" | "plain"))
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(t) => Value::String(crate::safety::clean_line(&t, 200)),
                        Value::Number(_) | Value::Bool(_) => v,
                        _ => return None,
                    };
                    Some((crate::safety::clean_line(&k, 40), v))
                })
                .take(32)
                .collect();
        }
        Ok(())
    }

    /// Runs the program on one request, in its own process group, within the time limit,
    /// and kills whatever it left behind (see [`Boxed`]). Err is one line: exit status,
    /// time-out or Ctrl-C, with the last line of stderr.
    fn call(&self, request: &Path, dir: &Path) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let stdout = std::fs::File::create(dir.join("stdout.txt")).map_err(|e| e.to_string())?;
        let stderr = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join("stderr.txt"))
            .map_err(|e| e.to_string())?;
        // Our own handle on the file the program writes: a link put in its place later
        // changes nothing, and only its tail is read.
        let mut stderr_back = stderr.try_clone().map_err(|e| e.to_string())?;
        let boxed = Boxed::new();
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .arg(request)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env(TOKEN_ENV, &boxed.token)
            // Its own group, so a time-out ends the program's children too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.argv[0]))?;
        boxed.started(child.id());
        let start = Instant::now();
        let limit = Duration::from_secs_f64(self.timeout_s);
        let mut last_err = || {
            crate::safety::last_line(&mut stderr_back, STDERR_TAIL, 300)
                .map(|l| format!(" (stderr: {l})"))
                .unwrap_or_default()
        };
        let outcome = loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => break Ok(()),
                Ok(Some(status)) => {
                    break Err(format!("the program failed with {status}{}", last_err()))
                }
                Ok(None) => {}
                Err(e) => break Err(format!("cannot wait for the program: {e}")),
            }
            let stop = crate::interrupt::interrupted();
            if stop || start.elapsed() > limit {
                boxed.kill_all();
                let _ = child.kill();
                let _ = child.wait();
                break Err(if stop {
                    crate::interrupt::STOPPED.to_string()
                } else {
                    format!(
                        "the program did not finish within {} s and was killed",
                        self.timeout_s
                    )
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Every path: nothing the program started outlives the call.
        drop(boxed);
        outcome
    }

    /// Runs one call: writes the inputs and the request, runs the program, validates and
    /// reads back every output.
    pub fn run(&self, mode: &str, call: &ExternalCall) -> Result<RunSet, OpError> {
        if let Some(why) = self.unsupported() {
            return Err(OpError::Unsupported(format!(
                "adapter {}: {why}",
                self.name
            )));
        }
        let err = |m: String| OpError::Failed(format!("adapter {}: {m}", self.name));
        let dir = PrivateDir::new().map_err(err)?;
        let d = dir.path();
        let mut inputs = serde_json::Map::new();
        for a in &call.inputs {
            let path = d.join(format!("in_{}.npy", a.name));
            crate::inputs::write_npy(&path, a.dtype, &a.values, &a.shape)
                .map_err(|e| err(e.to_string()))?;
            inputs.insert(
                a.name.clone(),
                json!({"path": path, "dtype": a.dtype.name(), "shape": a.shape}),
            );
        }
        for (name, shape, values) in &call.index_inputs {
            let path = d.join(format!("in_{name}.npy"));
            write_index_npy(&path, values, shape).map_err(err)?;
            inputs.insert(
                name.clone(),
                json!({"path": path, "dtype": "int64", "shape": shape}),
            );
        }
        let outputs: Vec<PathBuf> = (0..call.runs)
            .map(|i| d.join(format!("out_{i}.npy")))
            .collect();
        let response = d.join("response.json");
        let request = json!({
            "protocol": PROTOCOL,
            "op": call.op,
            "variant": mode,
            "precision": call.precision.name(),
            "accumulator": call.accumulator.name(),
            "params": call.params,
            "inputs": inputs,
            "output": {"dtype": call.out_dtype.name(), "shape": call.out_shape},
            "outputs": outputs,
            "runs": call.runs,
            "response": response,
        });
        let req_path = d.join("request.json");
        write_json(&req_path, &request).map_err(err)?;
        self.call(&req_path, d).map_err(err)?;
        dir.still_ours().map_err(err)?;
        let reply = read_response(&response).map_err(err)?;
        if let Some(r) = &reply {
            let why = || {
                r.get("reason")
                    .and_then(Value::as_str)
                    .map(|w| crate::safety::clean_line(w, 300))
            };
            match response_status(r).map_err(err)? {
                Status::Ok => {}
                Status::Unsupported => {
                    return Err(OpError::Unsupported(format!(
                        "adapter {}: {}",
                        self.name,
                        why().unwrap_or_else(|| "no reason given".into())
                    )));
                }
                Status::Error => {
                    return Err(err(format!("status 'error' {}", why().unwrap_or_default())
                        .trim()
                        .to_string()));
                }
            }
        }
        let mut set = RunSet {
            timer: "none".into(),
            ..Default::default()
        };
        for (i, p) in outputs.iter().enumerate() {
            let v = read_output(p, call.out_dtype, &call.out_shape)
                .map_err(|m| err(format!("run {i} output: {m}")))?;
            set.outputs.push(v);
        }
        // Extra files out_N.npy beyond the runs asked for mean the program misread the request.
        if std::fs::symlink_metadata(d.join(format!("out_{}.npy", call.runs))).is_ok() {
            return Err(err(format!(
                "wrote more outputs than the {} runs asked for",
                call.runs
            )));
        }
        if let Some(times) = reply.as_ref().and_then(|r| r.get("times_ms")) {
            let t: Option<Vec<f64>> = times
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .unwrap_or(None);
            match t {
                Some(t) if t.len() == call.runs && t.iter().all(|x| x.is_finite() && *x >= 0.0) => {
                    set.times_ms = t;
                    set.timer = reply
                        .as_ref()
                        .and_then(|r| r.get("timer"))
                        .and_then(Value::as_str)
                        .map(|t| crate::safety::clean_line(t, 40))
                        .unwrap_or_else(|| "adapter".into());
                }
                _ => {
                    return Err(err(format!(
                        "times_ms must be {} finite non-negative numbers",
                        call.runs
                    )))
                }
            }
        }
        Ok(set)
    }
}
