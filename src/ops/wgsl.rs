//! The WGSL preprocessor: a family's module is the shared prelude (`kernels/wgsl/common.wgsl`)
//! and the family's template files, specialised per job.
//!
//! WGSL has no preprocessor, yet f64, i64 and float-atomic types must not reach naga on a
//! device without the feature. [`specialise`] prepends a host-written header (type aliases,
//! `const`s) and keeps only the `//#if FLAG` / `//#if !FLAG` / `//#else` / `//#endif` blocks
//! whose flags are set. It is strict, because a silent mistake here drops kernel code:
//!
//! - every flag a file tests is declared on a `//#flags NAME ...` line of one of the module's
//!   files, and every flag the host sets is declared, so a misspelt flag on either side is an
//!   error, not a missing function;
//! - every block is balanced within its file (`//#else` and `//#endif` need an open `//#if`,
//!   and every `//#if` is closed before the file ends);
//! - any other `//#` directive is an error.
//!
//! Errors name the file and line (`kernels/wgsl/reduce.wgsl:123: ...`).

use crate::backend::wgpu::WgpuBackend;
use crate::error::OpError;
use std::collections::BTreeSet;

/// One file of a module: its repository path (for messages) and its text.
pub type Part<'a> = (&'a str, &'a str);

/// The embedded template `kernels/wgsl/<stem>.wgsl`.
pub fn template(stem: &str) -> Result<Part<'static>, OpError> {
    let path = format!("kernels/wgsl/{stem}.wgsl");
    crate::kernels::WGSL
        .iter()
        .find(|(p, _)| *p == path)
        .copied()
        .ok_or_else(|| OpError::Failed(format!("no embedded WGSL template {path}")))
}

/// A family's module source: [`specialise`] of the shared prelude
/// ([`crate::kernels::WGSL_PRELUDE`]) followed by the family's template files `stems`
/// (`kernels/wgsl/<stem>.wgsl`, in order), so the prelude's `//#if` blocks follow the
/// family's own `flags`.
pub fn specialise_family(header: &str, stems: &[&str], flags: &[&str]) -> Result<String, OpError> {
    let mut parts = vec![("kernels/wgsl/common.wgsl", crate::kernels::WGSL_PRELUDE)];
    for s in stems {
        parts.push(template(s)?);
    }
    specialise(header, &parts, flags)
}

/// The prelude followed by one template given as text (for probes and tests).
pub fn specialise_with_prelude(
    header: &str,
    name: &str,
    template: &str,
    flags: &[&str],
) -> Result<String, OpError> {
    let parts = [
        ("kernels/wgsl/common.wgsl", crate::kernels::WGSL_PRELUDE),
        (name, template),
    ];
    specialise(header, &parts, flags)
}

fn at(file: &str, line: usize, msg: impl std::fmt::Display) -> OpError {
    OpError::Failed(format!("{file}:{line}: {msg}"))
}

/// The flags every part declares (`//#flags A B C` lines).
fn declared<'a>(parts: &[Part<'a>]) -> BTreeSet<&'a str> {
    parts
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|l| l.trim().strip_prefix("//#flags"))
        .flat_map(|rest| rest.split_whitespace())
        .collect()
}

/// Keeps the lines of `parts` whose `//#if` blocks are enabled by `flags`, after `header`.
///
/// `//#if NAME` and `//#if !NAME` open a block (blocks nest), `//#else` flips it, `//#endif`
/// closes it. Directive lines are dropped; everything else is WGSL. See the module comment
/// for what is an error.
pub fn specialise(header: &str, parts: &[Part], flags: &[&str]) -> Result<String, OpError> {
    let known = declared(parts);
    let files = || parts.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ");
    if let Some(f) = flags.iter().find(|f| !known.contains(*f)) {
        return Err(OpError::Failed(format!(
            "WGSL flag {f} is set by the host but declared by no //#flags line of {}",
            files()
        )));
    }
    let mut out =
        String::with_capacity(header.len() + parts.iter().map(|p| p.1.len()).sum::<usize>());
    out.push_str(header);
    out.push('\n');
    for (file, text) in parts {
        // (line of the //#if, active before this block, this block's condition, seen //#else)
        let mut stack: Vec<(usize, bool, bool, bool)> = Vec::new();
        let mut active = true;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let t = line.trim();
            let Some(directive) = t.strip_prefix("//#") else {
                if active {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            };
            let mut words = directive.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("flags"), _, _) => {}
                (Some("if"), Some(cond), None) => {
                    let (neg, name) = match cond.strip_prefix('!') {
                        Some(n) => (true, n),
                        None => (false, cond),
                    };
                    if !known.contains(name) {
                        return Err(at(
                            file,
                            n,
                            format!("`{t}`: flag {name} is declared by no //#flags line"),
                        ));
                    }
                    let on = flags.contains(&name) != neg;
                    stack.push((n, active, on, false));
                    active = active && on;
                }
                (Some("else"), None, _) => match stack.last_mut() {
                    Some((_, _, _, true)) => {
                        return Err(at(file, n, "a second //#else in one block"));
                    }
                    Some((_, outer, on, seen)) => {
                        *seen = true;
                        active = *outer && !*on;
                    }
                    None => return Err(at(file, n, "//#else without an open //#if")),
                },
                (Some("endif"), None, _) => match stack.pop() {
                    Some((_, outer, _, _)) => active = outer,
                    None => return Err(at(file, n, "//#endif without an open //#if")),
                },
                _ => {
                    return Err(at(
                        file,
                        n,
                        format!(
                            "`{t}` is not a directive (//#flags, //#if [!]FLAG, //#else, //#endif)"
                        ),
                    ))
                }
            }
        }
        if let Some((n, ..)) = stack.last() {
            return Err(at(
                file,
                *n,
                "this //#if is not closed before the file ends",
            ));
        }
    }
    Ok(out)
}

/// How the wgpu kernels walk memory and lay out their work on one device: the choices that
/// never change a result's bits, only its speed (docs/performance.md). Every family's wgpu
/// code takes one ([`Profile::of`] the adapter by default), so a test can run the walks of
/// a GPU on a CPU adapter such as lavapipe and compare them with the CPU emulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The walks chosen for a CPU device: each lane group of the order-free reductions
    /// reads its quads as one stream (`SEQ_QUADS`), their grids keep few, long-running
    /// workgroups, and scatter's `reproducible` walks long spans in few workgroups. Off:
    /// a GPU's coalesced walks and larger grids.
    pub cpu_walks: bool,
    /// reduce's `TREE_VEC`: one kernel thread plays 16 launch threads of tree, kahan and
    /// block_atomic (f32 sums in f32, at least 256 threads per workgroup).
    pub tree_vec: bool,
    /// sort_segmented's sort.
    pub sort: SortWords,
    /// scatter's reproducible workgroup lanes: folds 0 and 1 of a bin in one u64 word where
    /// its lanes are 32-bit and the device has 64-bit atomics; else one u32 word per fold.
    pub pair64: bool,
}

impl Profile {
    /// What this adapter runs unless told otherwise: the CPU walks on a CPU adapter
    /// (lavapipe, WARP, SwiftShader), the packed sort where it also has 64-bit integers,
    /// the GPU walks everywhere else; paired lanes wherever they apply.
    pub fn of(b: &WgpuBackend) -> Self {
        let cpu = b.is_cpu();
        Self {
            cpu_walks: cpu,
            tree_vec: cpu,
            sort: if cpu && b.has(wgpu::Features::SHADER_INT64) {
                SortWords::Packed
            } else {
                SortWords::Split
            },
            pair64: true,
        }
    }

    /// The walks a GPU takes, whatever the device: coalesced grid-stride loops, one launch
    /// thread per kernel thread, the radix sort. Any device runs them (a CPU adapter
    /// slowly), with the same bits.
    pub fn gpu() -> Self {
        Self {
            cpu_walks: false,
            tree_vec: false,
            sort: SortWords::Split,
            pair64: true,
        }
    }
}

/// How sort_segmented lays out its sort on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortWords {
    /// A radix sort by 5-bit digits over tiles of workgroups, keys and element positions
    /// in separate u32 arrays, the values moved into sorted order by the last pass: every
    /// device.
    Split,
    /// A counting sort by digits of up to 10 bits whose threads each own a range of
    /// elements and a counter per digit, key and value (f32; the position for f64) packed
    /// in one u64 per element (`SORT64` in scatter_sort64.wgsl): CPU adapters with
    /// SHADER_INT64, where every memory component an element touches is a loop over the
    /// SIMD lanes and a gather from x costs far more than a sequential read. The same
    /// stable sort, so the same sorted order and the same bits.
    Packed,
}
