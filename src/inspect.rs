//! `detbench kernels`: compile-only inspection of the CUDA modules, needing only libnvrtc.
//!
//! For one architecture it compiles the modules the backend would build (optionally only
//! those of some ops and input precisions) with exactly the backend's options plus
//! `-Xptxas=-v`, which makes NVRTC's built-in assembler report registers, spills and shared
//! memory without changing the code. Per module it writes a standalone specialised source
//! (the defines as `#define` lines, then the prelude and the family), the PTX and the CUBIN,
//! and a JSON summary (`detbench.kernels.v1`) with per-kernel counts of `fma` and atomic
//! instructions by their full opcode (`atom.relaxed.gpu.global.add.f32`, ...), so a user
//! can check from the PTX that a no-FMA kernel has no `fma.rn` and which memory order an
//! atomic variant really emits.

use crate::backend::cuda::nvrtc;
use crate::backend::cuda::{module_source, CudaTarget, ModuleBuild};
use crate::error::DetError;
use crate::numerics::Precision;
use crate::ops::Op;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Schema tag of the summary.
pub const SCHEMA: &str = "detbench.kernels.v1";

/// Option added for inspection only: ptxas's resource report in NVRTC's log.
pub const INSPECT_OPTION: &str = "-Xptxas=-v";

/// Instruction counts and resources of one kernel (or device function).
#[derive(Clone, Debug, Default, Serialize)]
pub struct KernelCounts {
    /// `fma.*` instructions by full opcode (e.g. `fma.rn.f32`).
    pub fma: BTreeMap<String, usize>,
    /// `atom.*` and `red.*` instructions by full opcode, memory-order qualifiers included.
    pub atomics: BTreeMap<String, usize>,
    /// `fence.*` and `membar.*` instructions by full opcode.
    pub fences: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spill_store_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spill_load_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_frame_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_bytes: Option<u32>,
}

/// Per-kernel counts of a PTX module.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PtxCounts {
    pub kernels: BTreeMap<String, KernelCounts>,
}

impl PtxCounts {
    /// All `fma.*` instructions of the module.
    pub fn fma_total(&self) -> usize {
        self.kernels.values().flat_map(|k| k.fma.values()).sum()
    }
}

/// Counts the `fma`, atomic and fence instructions of every `.entry` (and `.func`) in `ptx`.
pub fn ptx_counts(ptx: &str) -> PtxCounts {
    let mut out = PtxCounts::default();
    let mut current: Option<String> = None;
    for line in ptx.lines() {
        let t = line.trim();
        if let Some(name) = declared_name(t) {
            current = Some(name);
            continue;
        }
        let Some(k) = current.as_ref() else { continue };
        // Drop a guard predicate (`@%p1 `, `@!%p1 `) before the opcode.
        let t = if t.starts_with('@') {
            t.split_once(char::is_whitespace)
                .map_or("", |(_, r)| r.trim_start())
        } else {
            t
        };
        let op = t
            .split(|c: char| c.is_whitespace() || c == ';')
            .next()
            .unwrap_or("");
        let slot = if op.starts_with("fma.") {
            Some(0)
        } else if op.starts_with("atom.") || op.starts_with("red.") {
            Some(1)
        } else if op.starts_with("fence.") || op.starts_with("membar.") {
            Some(2)
        } else {
            None
        };
        if let Some(slot) = slot {
            let e = out.kernels.entry(k.clone()).or_default();
            let map = match slot {
                0 => &mut e.fma,
                1 => &mut e.atomics,
                _ => &mut e.fences,
            };
            *map.entry(op.to_string()).or_default() += 1;
        } else {
            out.kernels.entry(k.clone()).or_default();
        }
    }
    out
}

/// The name a PTX line declares, for `.entry NAME(` and `.func (...) NAME(`.
fn declared_name(t: &str) -> Option<String> {
    let t = t
        .strip_prefix(".visible ")
        .or_else(|| t.strip_prefix(".weak "))
        .unwrap_or(t);
    let rest = if let Some(r) = t.strip_prefix(".entry") {
        r.trim_start()
    } else if let Some(r) = t.strip_prefix(".func") {
        let r = r.trim_start();
        // A return value comes first in parentheses.
        if let Some(after) = r.strip_prefix('(') {
            after.split_once(')').map_or("", |(_, b)| b.trim_start())
        } else {
            r
        }
    } else {
        return None;
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_string())
}

/// Reads ptxas's `-v` report from NVRTC's log into `counts` (registers, spills, stack and
/// shared memory per kernel). Returns the log lines that are not ptxas info: warnings.
pub fn apply_ptxas_report(log: &str, counts: &mut PtxCounts) -> Vec<String> {
    let mut other = Vec::new();
    let mut current: Option<String> = None;
    let num_before = |s: &str, unit: &str| -> Option<u32> {
        let i = s.find(unit)?;
        s[..i].split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if !l.starts_with("ptxas") {
            other.push(l.to_string());
            continue;
        }
        if let Some(i) = l.find("Compiling entry function '") {
            let r = &l[i + "Compiling entry function '".len()..];
            current = r.split('\'').next().map(String::from);
        } else if let Some(i) = l.find("Function properties for ") {
            current = Some(l[i + "Function properties for ".len()..].trim().to_string());
        } else if l.contains("warning") || l.contains("error") {
            other.push(l.to_string());
        }
        let Some(k) = current.as_ref() else { continue };
        let e = counts.kernels.entry(k.clone()).or_default();
        if l.contains("bytes stack frame") {
            e.stack_frame_bytes = num_before(l, "bytes stack frame");
            e.spill_store_bytes = num_before(l, "bytes spill stores");
            e.spill_load_bytes = num_before(l, "bytes spill loads");
        }
        if l.contains("Used ") && l.contains("registers") {
            e.registers = num_before(l, "registers");
            e.shared_memory_bytes = num_before(l, "bytes smem").or(Some(0));
        }
    }
    other
}

/// The input precision a module is specialised for, when it has one (`DB_SUFFIX` = `in_acc`).
fn module_input(m: &ModuleBuild) -> Option<&str> {
    m.spec
        .defines
        .iter()
        .find(|(k, _)| k == "DB_SUFFIX")
        .and_then(|(_, v)| v.split('_').next())
}

/// A file-name stem for a module: family, specialisation suffix, `--fmad` choice.
fn module_stem(m: &ModuleBuild) -> String {
    let family = Path::new(m.spec.path)
        .file_stem()
        .map_or("module".into(), |s| s.to_string_lossy().to_string());
    let suffix = m
        .spec
        .defines
        .iter()
        .find(|(k, _)| k == "DB_SUFFIX")
        .map(|(_, v)| format!("_{v}"))
        .unwrap_or_default();
    format!("{family}{suffix}_fmad_{}", m.spec.fmad)
}

fn sha256(s: &[u8]) -> String {
    hex::encode(Sha256::digest(s))
}

#[derive(Serialize)]
struct ModuleSummary {
    name: String,
    path: &'static str,
    fmad: bool,
    defines: Vec<(String, String)>,
    options: Vec<String>,
    /// SHA-256 of exactly what NVRTC compiled (prelude + `#line` + family).
    source_sha256: String,
    family_sha256: String,
    prelude_sha256: String,
    source_file: String,
    ptx_file: String,
    cubin_file: String,
    entry_points: Vec<String>,
    kernels: BTreeMap<String, KernelCounts>,
    /// NVRTC log lines other than ptxas's report (warnings); empty when clean.
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    schema: &'static str,
    detbench_version: &'static str,
    compiler: String,
    arch: String,
    inspection_options: Vec<&'static str>,
    ops: Vec<String>,
    precisions: Vec<String>,
    modules: Vec<ModuleSummary>,
}

/// Parses a comma-separated list with `parse`, `all` or empty meaning none given.
fn list<T>(s: Option<&str>, parse: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, DetError> {
    match s.map(str::trim) {
        None | Some("") | Some("all") => Ok(Vec::new()),
        Some(s) => s
            .split(',')
            .map(|p| parse(p.trim()).map_err(DetError::input))
            .collect(),
    }
}

/// Runs `detbench kernels`: returns the number of modules written.
pub fn run(
    arch: &str,
    ops: Option<&str>,
    precisions: Option<&str>,
    out: &Path,
) -> Result<usize, DetError> {
    let target = CudaTarget::parse(arch).map_err(|e| DetError::input(format!("--arch: {e}")))?;
    let ops = list(ops, |s| s.parse::<Op>())?;
    let precs = list(precisions, |s| s.parse::<Precision>())?;
    if out.exists() && !out.is_dir() {
        return Err(DetError::input(format!(
            "--out {} exists and is not a folder",
            out.display()
        )));
    }
    let nv = nvrtc::available().map_err(DetError::backend)?;
    if !nv.supports(target.cc()) {
        return Err(DetError::input(format!(
            "NVRTC {} cannot compile for {} (it targets {})",
            nv.version_string(),
            target.arch(),
            nv.arch_list()
        )));
    }
    let prec_names: Vec<&str> = precs.iter().map(|p| p.name()).collect();
    let chosen: Vec<ModuleBuild> = crate::ops::cuda_modules(&target, &ops)
        .into_iter()
        .filter(|m| {
            prec_names.is_empty() || module_input(m).is_none_or(|i| prec_names.contains(&i))
        })
        .collect();
    if chosen.is_empty() {
        return Err(DetError::input(
            "no CUDA module matches --op and --precision",
        ));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| DetError::io(format!("cannot create {}", out.display()), e))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), DetError> {
        let p = out.join(name);
        std::fs::write(&p, bytes)
            .map_err(|e| DetError::io(format!("cannot write {}", p.display()), e))
    };
    let mut modules = Vec::new();
    for m in &chosen {
        let src = module_source(&m.spec).map_err(DetError::backend)?;
        let options = target.options(&m.spec);
        let mut inspect = options.clone();
        inspect.push(INSPECT_OPTION.to_string());
        let c = nvrtc::compile(m.spec.path, &src, &inspect).map_err(DetError::backend)?;
        let mut counts = ptx_counts(&c.ptx);
        let warnings = apply_ptxas_report(&c.log, &mut counts);
        let stem = module_stem(m);
        let mut standalone = format!(
            "// {} for {}, specialised as detbench compiles it with NVRTC:\n// {}\n",
            m.spec.path,
            target.arch(),
            options.join(" ")
        );
        for (k, v) in &m.spec.defines {
            standalone.push_str(&format!("#define {k} {v}\n"));
        }
        standalone.push_str(&src);
        standalone.push('\n');
        write(&format!("{stem}.cu"), standalone.as_bytes())?;
        write(&format!("{stem}.ptx"), c.ptx.as_bytes())?;
        write(&format!("{stem}.cubin"), &c.cubin)?;
        let family = crate::kernels::source(m.spec.path).unwrap_or_default();
        modules.push(ModuleSummary {
            name: stem.clone(),
            path: m.spec.path,
            fmad: m.spec.fmad,
            defines: m.spec.defines.clone(),
            options,
            source_sha256: sha256(src.as_bytes()),
            family_sha256: sha256(family.as_bytes()),
            prelude_sha256: sha256(crate::kernels::CUDA_PRELUDE.as_bytes()),
            source_file: format!("{stem}.cu"),
            ptx_file: format!("{stem}.ptx"),
            cubin_file: format!("{stem}.cubin"),
            entry_points: nvrtc::ptx_entries(&c.ptx),
            kernels: counts.kernels,
            warnings,
        });
    }
    let n = modules.len();
    let summary = Summary {
        schema: SCHEMA,
        detbench_version: env!("CARGO_PKG_VERSION"),
        compiler: format!("NVRTC {}", nv.version_string()),
        arch: target.arch(),
        inspection_options: vec![INSPECT_OPTION],
        ops: ops.iter().map(|o| o.name().to_string()).collect(),
        precisions: prec_names.iter().map(|s| s.to_string()).collect(),
        modules,
    };
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| DetError::encode("cannot serialise the summary", e))?;
    write("kernels.json", json.as_bytes())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTX: &str = "\
.visible .entry k_relaxed(\n\t.param .u64 p\n)\n{\n\tfma.rn.f32 \t%f1, %f2, %f3, %f4;\n\t@%p1 atom.relaxed.gpu.global.add.f32 \t%f5, [%rd1], %f1;\n}\n\
.visible .entry k_sc(\n)\n{\n\tfence.sc.gpu;\n\tatom.acq_rel.gpu.global.add.f32 \t%f5, [%rd1], %f1;\n\tred.relaxed.gpu.global.add.u32 \t[%rd2], 1;\n}\n";

    #[test]
    fn counts_per_kernel_with_qualifiers() {
        let c = ptx_counts(PTX);
        assert_eq!(c.fma_total(), 1);
        let r = &c.kernels["k_relaxed"];
        assert_eq!(r.atomics["atom.relaxed.gpu.global.add.f32"], 1);
        let s = &c.kernels["k_sc"];
        assert_eq!(s.fences["fence.sc.gpu"], 1);
        assert_eq!(s.atomics["atom.acq_rel.gpu.global.add.f32"], 1);
        assert_eq!(s.atomics["red.relaxed.gpu.global.add.u32"], 1);
        assert!(s.fma.is_empty());
    }

    #[test]
    fn ptxas_report_is_read() {
        let mut c = ptx_counts(PTX);
        let log = "ptxas info    : 0 bytes gmem\nptxas info    : Compiling entry function 'k_sc' for 'sm_90'\nptxas info    : Function properties for k_sc\nptxas         .     8 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\nptxas info    : Used 40 registers, used 1 barriers, 2048 bytes smem\nk.cu(3): warning #550-D: variable \"old\" was set but never used\n";
        let other = apply_ptxas_report(log, &mut c);
        let k = &c.kernels["k_sc"];
        assert_eq!(k.registers, Some(40));
        assert_eq!(k.spill_store_bytes, Some(8));
        assert_eq!(k.spill_load_bytes, Some(4));
        assert_eq!(k.shared_memory_bytes, Some(2048));
        assert_eq!(other.len(), 1, "{other:?}");
    }
}
