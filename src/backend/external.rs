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
//! This module knows nothing of the families: a job describes itself as an
//! [`ExternalCall`]: its family's kernel for [`Describe`] (see [`super::KernelApi`]).

use super::{
    run_kernel, Backend, BackendKind, Capabilities, DeviceInfo, Kernel, KernelApi, RunSet, Timer,
};
use crate::error::{DetError, OpError};
use crate::numerics::Precision;
use crate::report::ResultRecord;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An adapter's modes are not atomic kernels of ours: nothing is swept (a job keeps its
/// default ordering, and [`Backend::annotate`] records none); the program compiles its own
/// kernels; times are the program's own where it reports them. It needs an adapter
/// (`--external`), so `--backend all` never implies it.
pub const CAPABILITIES: Capabilities = Capabilities {
    orderings: &[crate::shared::ordering::Ordering::Relaxed],
    kernels: None,
    timer: Timer {
        name: "adapter",
        device_time: true,
    },
    in_all: false,
};

/// Nothing to discover: the runner builds the backend from the `--external` adapter
/// ([`ExternalBackend::new`]).
pub fn discover() -> (Vec<ExternalBackend>, Vec<DeviceInfo>) {
    (Vec::new(), Vec::new())
}

/// The protocol version written into every request; adapters refuse others.
pub const PROTOCOL: &str = "detbench.external.v1";

/// Time limit of one adapter call when neither the adapter file nor the flag sets one.
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;

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
    /// Where it came from (the TOML path or the command), for messages and provenance.
    pub source: String,
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
                source: spec.into(),
                info: BTreeMap::new(),
            }
        };
        if let Some(t) = timeout_s {
            if !(t > 0.0 && t.is_finite()) {
                return Err(bad(
                    spec,
                    format!("timeout {t} must be a positive number of seconds"),
                ));
            }
            ad.timeout_s = t;
        }
        // A python3 command uses the interpreter of DETBENCH_PYTHON when set (a venv with
        // numpy or torch), so adapter files need not name a machine's paths.
        if matches!(ad.argv[0].as_str(), "python3" | "python") {
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
        Ok(ad)
    }

    fn from_toml(path: &Path) -> Result<Adapter, DetError> {
        let src = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(&src, format!("cannot read: {e}")))?;
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            bad(&src, format!("not valid TOML: {}", e.message()))
        })?;
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
            Some(v) => v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .filter(|t| *t > 0.0)
                .ok_or_else(|| bad(&src, "timeout_s must be a positive number"))?,
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
                ops.insert(op.to_string(), modes);
            }
        }
        let deterministic = match doc.get("deterministic") {
            Some(d) => strings(d, "deterministic")?,
            None => Vec::new(),
        };
        Ok(Adapter {
            name,
            argv,
            timeout_s,
            ops,
            deterministic,
            source: src,
            info: BTreeMap::new(),
        })
    }

    /// Modes of `op`, or None when the adapter does not offer it.
    pub fn modes(&self, op: &str) -> Option<&[String]> {
        self.ops.get(op).map(|v| v.as_slice())
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
        let dir = private_dir().map_err(|e| bad(&self.source, e))?;
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
        let reply = read_response(&response)
            .map_err(|e| bad(&self.source, e))?
            .ok_or_else(|| bad(&self.source, "the info request wrote no response.json"))?;
        if let Some(p) = reply.get("protocol").and_then(Value::as_str) {
            if p != PROTOCOL {
                return Err(bad(
                    &self.source,
                    format!("the program speaks '{p}', not {PROTOCOL}"),
                ));
            }
        }
        if self.ops.is_empty() {
            if let Some(ops) = reply.get("ops").and_then(Value::as_object) {
                for (op, modes) in ops {
                    let modes: Vec<String> = modes
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|m| m.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    self.ops.insert(op.clone(), modes);
                }
            }
            if let Some(d) = reply.get("deterministic").and_then(Value::as_array) {
                self.deterministic = d
                    .iter()
                    .filter_map(|m| m.as_str().map(String::from))
                    .collect();
            }
        }
        if let Value::Object(m) = reply {
            self.info = m.into_iter().filter(|(k, _)| k != "ops").collect();
        }
        Ok(())
    }

    /// Runs the program on one request, in its own process group, within the time limit.
    /// Err is one line: exit status, time-out or Ctrl-C, with the last line of stderr.
    fn call(&self, request: &Path, dir: &Path) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let stdout = std::fs::File::create(dir.join("stdout.txt")).map_err(|e| e.to_string())?;
        let stderr_path = dir.join("stderr.txt");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .arg(request)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own group, so a time-out ends the program's children too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.argv[0]))?;
        let start = Instant::now();
        let limit = Duration::from_secs_f64(self.timeout_s);
        let last_err = || {
            std::fs::read_to_string(&stderr_path)
                .ok()
                .and_then(|s| {
                    s.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map(|l| l.trim().to_string())
                })
                .map(|l| format!(" (stderr: {l})"))
                .unwrap_or_default()
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!("the program failed with {status}{}", last_err()))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("cannot wait for the program: {e}")),
            }
            let stop = crate::interrupt::interrupted();
            if stop || start.elapsed() > limit {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(if stop {
                    crate::interrupt::STOPPED.to_string()
                } else {
                    format!(
                        "the program did not finish within {} s and was killed",
                        self.timeout_s
                    )
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
        let dir = private_dir().map_err(err)?;
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
        let reply = read_response(&response).map_err(err)?;
        if let Some(r) = &reply {
            match r.get("status").and_then(Value::as_str).unwrap_or("ok") {
                "ok" => {}
                "unsupported" => {
                    let why = r
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given");
                    return Err(OpError::Unsupported(format!(
                        "adapter {}: {why}",
                        self.name
                    )));
                }
                other => {
                    let why = r.get("reason").and_then(Value::as_str).unwrap_or("");
                    return Err(err(format!("status '{other}' {why}").trim().to_string()));
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
        if d.join(format!("out_{}.npy", call.runs)).exists() {
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
                        .unwrap_or("adapter")
                        .to_string();
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

/// A private temporary folder (mode 0700), removed when dropped.
fn private_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("detbench-external-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))
}

fn write_json(path: &Path, v: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The program's response.json, if it wrote one.
fn read_response(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read(path) {
        Err(_) => Ok(None),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("response.json is not valid JSON: {e}")),
    }
}

fn write_index_npy(path: &Path, values: &[i64], shape: &[u64]) -> Result<(), String> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<i64>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| e.to_string())?;
        w.extend(values.iter().copied())
            .map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    std::fs::write(path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The .npy descr an output of `p` must have (bf16 travels as <f4: numpy has no bf16).
fn descr_of(p: Precision) -> &'static str {
    match p {
        Precision::F64 => "<f8",
        Precision::F32 | Precision::Bf16 => "<f4",
        Precision::F16 => "<f2",
    }
}

/// Reads one output file, checking dtype, shape and (for bf16) representability.
/// Non-finite values are kept: the metrics judge them like any kernel's.
pub fn read_output(path: &Path, p: Precision, shape: &[u64]) -> Result<Vec<f64>, String> {
    let bytes = std::fs::read(path).map_err(|_| format!("{} is missing", file_name(path)))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| format!("{} is not a valid .npy file: {e}", file_name(path)))?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => return Err("structured dtype".into()),
    };
    let want = descr_of(p);
    if descr != want {
        return Err(format!("dtype {descr}, expected {want} ({p})"));
    }
    if npy.shape() != shape {
        return Err(format!("shape {:?}, expected {:?}", npy.shape(), shape));
    }
    if npy.header().order() != npyz::Order::C {
        return Err("Fortran order; expected C order".into());
    }
    let io = |e: std::io::Error| format!("cannot decode: {e}");
    let values: Vec<f64> = match p {
        Precision::F64 => npy.into_vec::<f64>().map_err(io)?,
        Precision::F32 | Precision::Bf16 => npy
            .into_vec::<f32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        Precision::F16 => npy
            .into_vec::<half::f16>()
            .map_err(io)?
            .into_iter()
            .map(|h| h.to_f64())
            .collect(),
    };
    let want_len: u64 = shape.iter().product();
    if values.len() as u64 != want_len {
        return Err(format!("{} values, expected {want_len}", values.len()));
    }
    if p == Precision::Bf16 {
        if let Some(i) = values
            .iter()
            .position(|v| v.is_finite() && p.round(*v).to_bits() != v.to_bits())
        {
            return Err(format!("element {i} ({}) is not a bf16 value", values[i]));
        }
    }
    Ok(values)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Kills a process group with SIGKILL through kill(1), which keeps this module free of
/// `unsafe`.
fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The external backend: one adapter, seen as one device.
pub struct ExternalBackend {
    adapter: Adapter,
    info: DeviceInfo,
}

impl ExternalBackend {
    pub fn new(adapter: Adapter) -> Self {
        let s = |k: &str| {
            adapter
                .info
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let framework = [s("framework"), s("version")].join(" ").trim().to_string();
        let mut info = DeviceInfo {
            backend: "external".into(),
            name: match s("device") {
                d if d.is_empty() => format!("{} (device not reported)", adapter.name),
                d => d,
            },
            available: true,
            driver: framework,
            device_type: "external".into(),
            ..Default::default()
        };
        info.details.insert("adapter".into(), json!(adapter.name));
        info.details
            .insert("adapter_source".into(), json!(adapter.source));
        info.details.insert("command".into(), json!(adapter.argv));
        info.details.insert("protocol".into(), json!(PROTOCOL));
        info.details
            .insert("timeout_s".into(), json!(adapter.timeout_s));
        for (k, v) in &adapter.info {
            if !matches!(k.as_str(), "protocol" | "response") {
                info.details.insert(format!("adapter_{k}"), v.clone());
            }
        }
        ExternalBackend { adapter, info }
    }

    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }
}

impl Backend for ExternalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::External
    }

    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn kernel_api(&self) -> &dyn std::any::Any {
        &Describe
    }

    fn run(&self, job: &dyn Kernel) -> Result<RunSet, OpError> {
        Err(OpError::Unsupported(format!(
            "the external backend runs {} only as one of adapter {}'s modes",
            job.kernel_name(),
            self.adapter.name
        )))
    }

    fn run_variant(&self, job: &dyn Kernel, variant: &str) -> Result<RunSet, OpError> {
        let call = run_kernel(job, &Describe)?;
        match self.adapter.modes(&call.op) {
            Some(m) if m.iter().any(|x| x == variant) => self.adapter.run(variant, &call),
            _ => Err(OpError::Unsupported(format!(
                "adapter {} has no mode '{variant}' for {}",
                self.adapter.name, call.op
            ))),
        }
    }

    fn annotate(&self, rec: &mut ResultRecord) {
        // The adapter's modes are not atomic kernels: no ordering; whether the mode promises
        // the same bits is the adapter's word.
        rec.ordering = crate::shared::ordering::Ordering::None;
        rec.deterministic_variant = self.adapter.deterministic.contains(&rec.variant);
        // A string extra: part of the result's key, so two adapters on one device differ.
        rec.extra.insert("adapter".into(), json!(self.adapter.name));
    }
}
