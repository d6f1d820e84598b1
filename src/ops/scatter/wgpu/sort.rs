//! sort_segmented on wgpu: the stable sort by bin, laid out per device ([`SortWords`]: the
//! radix sort over tiles, or the packed counting sort of a CPU device), and the segmented
//! reduction over the sorted values.

use super::*;

/// Digit bits of the packed sort: up to 1024 bins sort in one pass.
pub const LANE_BITS: u32 = 10;

/// Threads of a workgroup of the packed sort's kernels (each thread works alone).
pub const LANE_WG: u32 = 32;

/// Most elements a packed sorter thread owns. Its counters (2^LANE_BITS words) are zeroed
/// and scanned once per pass, so they should be few next to its elements; and lavapipe
/// (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS) silently ends a shader's loops after 65535
/// iterations in all, so a thread's zeroing and element loops must stay well below that.
pub const LANE_SPAN: usize = 16384;
// Zeroing the counters and walking the elements, with room to spare.
const _: () = assert!(LANE_SPAN + (1 << LANE_BITS) < 65535 / 2);

/// The packed sort's workgroups, threads, and elements per thread for n elements.
pub(super) fn lane_shape(n: usize) -> (usize, usize, usize) {
    let groups = n.div_ceil(LANE_WG as usize * LANE_SPAN).max(1);
    let lanes = groups * LANE_WG as usize;
    (groups, lanes, n.div_ceil(lanes))
}

/// Digit bits of the packed sort for `bins` bins: those of the largest index, at most
/// [`LANE_BITS`], at least 1.
pub fn lane_bits(bins: usize) -> u32 {
    (32 - ((bins.max(1) - 1) as u32).leading_zeros()).clamp(1, LANE_BITS)
}

/// The buffers of sort_segmented.
struct SortBuffers {
    offs: wgpu::Buffer,
    dcounts: wgpu::Buffer,
    partials: wgpu::Buffer,
    head: wgpu::Buffer,
    firsts: wgpu::Buffer,
    outv: wgpu::Buffer,
    data: SortData,
}

/// The sorted elements: split keys, positions and values, or packed words.
enum SortData {
    Split {
        keys: [wgpu::Buffer; 2],
        perms: [wgpu::Buffer; 2],
        vals: wgpu::Buffer,
    },
    Packed {
        kp: [wgpu::Buffer; 2],
        /// f64 values in sorted order (with f32 values, the words hold them).
        vals: wgpu::Buffer,
    },
}

impl SortBuffers {
    fn new(b: &WgpuBackend, job: &ScatterJob, sh: &SortShape) -> Result<Self, OpError> {
        let (n, bins) = (job.n() as u64, job.bins as u64);
        let cb: u64 = if uses_f64(job) { 8 } else { 4 };
        let u32b = 4u64;
        let data = match sh.words {
            SortWords::Split => SortData::Split {
                keys: [
                    b.storage_zeroed("keys0", n * u32b)?,
                    b.storage_zeroed("keys1", n * u32b)?,
                ],
                perms: [
                    b.storage_zeroed("perm0", n * u32b)?,
                    b.storage_zeroed("perm1", n * u32b)?,
                ],
                vals: b.storage_zeroed("sorted values", n * cb)?,
            },
            SortWords::Packed => {
                // Without a pass the kernels read the indices; the words are only bound.
                let words = if sh.passes == 0 || sh.solo { 1 } else { n };
                let vals = if sh.passes > 0 && (cb == 8 || sh.solo) {
                    n
                } else {
                    1
                };
                SortData::Packed {
                    kp: [
                        b.storage_zeroed("packed0", words * 8)?,
                        b.storage_zeroed("packed1", words * 8)?,
                    ],
                    vals: b.storage_zeroed("sorted values", vals * cb)?,
                }
            }
        };
        Ok(Self {
            offs: b.storage_zeroed("offsets", (bins + 1) * u32b)?,
            dcounts: b.storage_zeroed("dcounts", sh.scan_len as u64 * u32b)?,
            partials: b.storage_zeroed("partials", sh.blocks as u64 * u32b)?,
            head: b.storage_zeroed("head", job.chunks() as u64 * cb)?,
            firsts: b.storage_zeroed("firsts", bins * cb)?,
            outv: b.storage_zeroed("out", bins * cb)?,
            data,
        })
    }
}

/// The pipelines of the split sort, by entry point.
type SortPipelines = crate::ops::scatter::SortEntries<wgpu::ComputePipeline>;

/// The sort's shape: passes (their digits' shifts), workgroups of the count and scatter
/// kernels, and the length and blocks of the digit-count scan.
#[derive(Clone)]
pub(super) struct SortShape {
    words: SortWords,
    bits: u32,
    shifts: Vec<u32>,
    passes: u32,
    /// Split: the tiles (one workgroup each). Packed: the sorter workgroups.
    pub(super) tiles: u32,
    /// Split: elements per tile. Packed: elements per sorter thread.
    span: u32,
    /// Packed: the sorter threads.
    lanes: u32,
    /// Packed, one pass whose digit is the whole index: the pass places the values
    /// alone, and the bins' offsets imply the sorted keys.
    solo: bool,
    scan_len: u32,
    blocks: u32,
}

impl SortShape {
    pub(super) fn of(job: &ScatterJob, words: SortWords) -> Self {
        let n = job.n();
        let (bits, tiles, span, lanes) = match words {
            SortWords::Split => {
                let tile = (SORT_WG * RADIX_ITEMS) as usize;
                (RADIX_BITS, n.div_ceil(tile), tile, 0)
            }
            SortWords::Packed => {
                let (groups, lanes, span) = lane_shape(n);
                (lane_bits(job.bins), groups, span, lanes)
            }
        };
        let scan_len = (1u32 << bits) * (lanes.max(tiles) as u32);
        let shifts = job.digit_shifts(bits);
        let key_bits = 32 - ((job.bins.max(1) - 1) as u32).leading_zeros();
        SortShape {
            solo: words == SortWords::Packed && shifts.len() == 1 && key_bits <= bits,
            words,
            bits,
            passes: shifts.len() as u32,
            shifts,
            tiles: tiles as u32,
            span: span as u32,
            lanes: lanes as u32,
            scan_len,
            blocks: scan_len.div_ceil(SORT_WG * RADIX_ITEMS),
        }
    }
}

/// One dispatch of sort_segmented's pass list, owned.
type Step = (wgpu::ComputePipeline, wgpu::BindGroup, [u32; 3]);

/// What both layouts' pass lists build from.
struct SortPlan<'a> {
    s: &'a Setup<'a>,
    buf: &'a SortBuffers,
    sh: &'a SortShape,
    /// scan_reduce, scan_exclusive (with its bind group), scan_apply.
    scans: [wgpu::ComputePipeline; 3],
    bg_part: wgpu::BindGroup,
}

impl SortPlan<'_> {
    /// One dispatch of `p` with its bindings.
    fn step(
        &self,
        p: &wgpu::ComputePipeline,
        e: &[(u32, &wgpu::Buffer)],
        grid: [u32; 3],
    ) -> Result<Step, OpError> {
        Ok((p.clone(), self.s.b.bind_group(p, e)?, grid))
    }

    /// The uniform of radix pass `p`.
    fn radix_uniform(&self, p: u32) -> Result<wgpu::Buffer, OpError> {
        let sh = self.sh;
        self.s.b.uniform(
            "params_radix",
            &Params {
                shift: sh.shifts[p as usize],
                first: u32::from(p == 0),
                last: u32::from(p + 1 == sh.passes),
                tiles: sh.tiles,
                scan_len: sh.scan_len,
                threads: sh.lanes,
                span: sh.span,
                ..self.s.base
            },
        )
    }

    /// The scan of the digit counts between a pass's count and scatter.
    fn scan_steps(&self, u: &wgpu::Buffer, out: &mut Vec<Step>) -> Result<(), OpError> {
        let buf = self.buf;
        let e = [
            (bind::PRM, u),
            (bind::SCAN_BUF, &buf.dcounts),
            (bind::PARTIALS, &buf.partials),
        ];
        let [reduce, exclusive, apply] = &self.scans;
        let gb = [self.sh.blocks, 1, 1];
        out.push(self.step(reduce, &e, gb)?);
        out.push((exclusive.clone(), self.bg_part.clone(), [1, 1, 1]));
        out.push(self.step(apply, &e, gb)?);
        Ok(())
    }

    /// bin offsets and the segmented reduction's pass 1 (given), then pass 2.
    fn segment_steps(
        &self,
        offsets: Option<Step>,
        pass1: Step,
        pass2: &wgpu::ComputePipeline,
        out: &mut Vec<Step>,
    ) -> Result<(), OpError> {
        let (s, buf) = (self.s, self.buf);
        let bins = s.job.bins as u32;
        let wg = s.job.launch.workgroup_size;
        out.extend(offsets);
        out.push(pass1);
        let bg = s.b.bind_group(
            pass2,
            &[
                (bind::PRM, &s.prm),
                (bind::OFFS, &buf.offs),
                (bind::HEAD, &buf.head),
                (bind::FIRSTS, &buf.firsts),
                (bind::OUTV, &buf.outv),
            ],
        )?;
        out.push((pass2.clone(), bg, [bins.div_ceil(wg), 1, 1]));
        Ok(())
    }

    /// What the packed sort's segmented pass 1 binds in every form: the uniform, x, and its
    /// outputs.
    fn pass1_binds(&self) -> Vec<(u32, &wgpu::Buffer)> {
        vec![
            (bind::PRM, &self.s.prm),
            (bind::XS, &self.s.x),
            (bind::HEAD, &self.buf.head),
            (bind::FIRSTS, &self.buf.firsts),
        ]
    }

    /// Grid-stride launches over the bins + 1 offsets, and pass 1's one thread per chunk.
    fn offsets_grid(&self) -> [u32; 3] {
        [
            (self.s.job.bins as u32 + 1)
                .div_ceil(SORT_WG)
                .clamp(1, 1024),
            1,
            1,
        ]
    }
    fn pass1_grid(&self) -> [u32; 3] {
        let chunks = self.s.job.chunks() as u32;
        [chunks.div_ceil(self.s.job.launch.workgroup_size), 1, 1]
    }

    /// The split sort: keys and positions ping-pong between the two buffers of each pair;
    /// pass 0 reads the indices themselves, the last writes the values in sorted order.
    fn split(&self) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let b = s.b;
        let SortData::Split { keys, perms, vals } = &buf.data else {
            return Err(OpError::Failed("split sort without its buffers".into()));
        };
        let k = SortPipelines::load(|entry| b.pipeline(&s.src, entry))?;
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        if sh.passes == 0 {
            let ge = [(s.job.n() as u32).div_ceil(SORT_WG).clamp(1, 1024), 1, 1];
            let e = [(bind::PRM, &s.prm), (bind::XS, &s.x), (bind::VALS, vals)];
            out.push(self.step(&k.copy_values, &e, ge)?);
        }
        for p in 0..sh.passes {
            let u = self.radix_uniform(p)?;
            let (kin, pin) = if p == 0 {
                // Pass 0 reads the positions as i itself; perm_in is not read.
                (&s.idx, &perms[1])
            } else {
                (
                    &keys[((p - 1) % 2) as usize],
                    &perms[((p - 1) % 2) as usize],
                )
            };
            let (kout, pout) = (&keys[(p % 2) as usize], &perms[(p % 2) as usize]);
            let ec = [
                (bind::PRM, &u),
                (bind::KEYS_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
            ];
            out.push(self.step(&k.count, &ec, gt)?);
            self.scan_steps(&u, &mut out)?;
            // The kernel chooses perm_out or vals at run time, so both are bound.
            let e = [
                (bind::PRM, &u),
                (bind::XS, &s.x),
                (bind::KEYS_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
                (bind::PERM_IN, pin),
                (bind::KEYS_OUT, kout),
                (bind::PERM_OUT, pout),
                (bind::VALS, vals),
            ];
            out.push(self.step(&k.scatter, &e, gt)?);
        }
        let kfin = if sh.passes == 0 {
            &s.idx
        } else {
            &keys[((sh.passes - 1) % 2) as usize]
        };
        let eo = [
            (bind::PRM, &s.prm),
            (bind::OFFS, &buf.offs),
            (bind::KEYS_IN, kfin),
        ];
        let offsets = self.step(&k.offsets, &eo, self.offsets_grid())?;
        let e1 = [
            (bind::PRM, &s.prm),
            (bind::KEYS_IN, kfin),
            (bind::HEAD, &buf.head),
            (bind::FIRSTS, &buf.firsts),
            (bind::VALS, vals),
        ];
        let pass1 = self.step(&k.pass1, &e1, self.pass1_grid())?;
        self.segment_steps(Some(offsets), pass1, &k.pass2, &mut out)?;
        Ok(out)
    }

    /// The packed sort: lane_hist, the scan and lane_place per pass, the words
    /// ping-ponging between two buffers; pass 0 and, with no pass at all, the segmented
    /// reduction read the indices and x (the module with IDENT), the others the previous
    /// pass's words.
    fn packed(&self) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let b = s.b;
        let SortData::Packed { kp, vals } = &buf.data else {
            return Err(OpError::Failed("packed sort without its buffers".into()));
        };
        // The module whose kernels read the indices and x, and the one reading words.
        let first = source_with(
            b,
            s.job,
            Layout {
                sort: sh.words,
                ..s.layout
            },
            true,
        )?;
        let pipe =
            |entry: &str, ident: bool| b.pipeline(if ident { &first } else { &s.src }, entry);
        if sh.solo || sh.passes == 0 {
            return self.solo(&pipe, vals);
        }
        // f64 values have their own buffer, which every kernel that stores or reads them binds.
        let wide = uses_f64(s.job);
        let vals = wide.then_some(vals);
        fn with_vals<'b>(
            vals: Option<&'b wgpu::Buffer>,
            mut e: Vec<(u32, &'b wgpu::Buffer)>,
        ) -> Vec<(u32, &'b wgpu::Buffer)> {
            e.extend(vals.map(|v| (bind::VALS, v)));
            e
        }
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        for p in 0..sh.passes {
            let u = self.radix_uniform(p)?;
            let (kin, kout) = (&kp[((p + 1) % 2) as usize], &kp[(p % 2) as usize]);
            let count = pipe("lane_hist", p == 0)?;
            let ec = [
                (bind::PRM, &u),
                (bind::IDX, &s.idx),
                (bind::KP_IN, kin),
                (bind::DCOUNTS, &buf.dcounts),
            ];
            out.push(self.step(&count, &ec, gt)?);
            self.scan_steps(&u, &mut out)?;
            let scatter = pipe("lane_place", p == 0)?;
            let e = with_vals(
                vals,
                vec![
                    (bind::PRM, &u),
                    (bind::XS, &s.x),
                    (bind::IDX, &s.idx),
                    (bind::KP_IN, kin),
                    (bind::DCOUNTS, &buf.dcounts),
                    (bind::KP_OUT, kout),
                ],
            );
            out.push(self.step(&scatter, &e, gt)?);
        }
        let ident = sh.passes == 0;
        // The last pass's output (with no pass, a buffer bound but not read).
        let kfin = &kp[(sh.passes.max(1) - 1) as usize % 2];
        let offsets = pipe("bin_offsets64", ident)?;
        let eo = [
            (bind::PRM, &s.prm),
            (bind::IDX, &s.idx),
            (bind::KP_IN, kfin),
            (bind::OFFS, &buf.offs),
        ];
        let offsets = self.step(&offsets, &eo, self.offsets_grid())?;
        let pass1 = pipe("seg_pass1_64", ident)?;
        let mut e1 = self.pass1_binds();
        e1.extend([(bind::IDX, &s.idx), (bind::KP_IN, kfin)]);
        let e1 = with_vals(vals, e1);
        let pass1 = self.step(&pass1, &e1, self.pass1_grid())?;
        self.segment_steps(Some(offsets), pass1, &pipe("seg_pass2", false)?, &mut out)?;
        Ok(out)
    }

    /// The packed sort in one pass by the whole index: lane_hist, the scan, the offsets
    /// from the scanned counters, lane_place_solo placing the values alone, and the
    /// segmented reduction reading the runs from the offsets. With no pass (every index
    /// the same) the offsets are 0 and n and the reduction reads x itself.
    fn solo(
        &self,
        pipe: &dyn Fn(&str, bool) -> Result<wgpu::ComputePipeline, OpError>,
        vals: &wgpu::Buffer,
    ) -> Result<Vec<Step>, OpError> {
        let (s, buf, sh) = (self.s, self.buf, self.sh);
        let gt = [sh.tiles, 1, 1];
        let mut out = Vec::new();
        let mut e1 = self.pass1_binds();
        e1.extend([(bind::OFFS, &buf.offs), (bind::VALS, vals)]);
        if sh.passes == 0 {
            let eo = [
                (bind::PRM, &s.prm),
                (bind::IDX, &s.idx),
                (bind::OFFS, &buf.offs),
            ];
            let offsets = pipe("bin_offsets_const", true)?;
            let offsets = self.step(&offsets, &eo, self.offsets_grid())?;
            let pass1 = self.step(&pipe("seg_pass1_solo", true)?, &e1, self.pass1_grid())?;
            self.segment_steps(Some(offsets), pass1, &pipe("seg_pass2", false)?, &mut out)?;
            return Ok(out);
        }
        let u = self.radix_uniform(0)?;
        // The words buffer is bound (the IDENT module declares it) but not read.
        let SortData::Packed { kp, .. } = &buf.data else {
            return Err(OpError::Failed("packed sort without its buffers".into()));
        };
        let ec = [
            (bind::PRM, &u),
            (bind::IDX, &s.idx),
            (bind::KP_IN, &kp[1]),
            (bind::DCOUNTS, &buf.dcounts),
        ];
        out.push(self.step(&pipe("lane_hist", true)?, &ec, gt)?);
        self.scan_steps(&u, &mut out)?;
        let eo = [
            (bind::PRM, &u),
            (bind::DCOUNTS, &buf.dcounts),
            (bind::OFFS, &buf.offs),
        ];
        out.push(self.step(&pipe("bin_offsets_solo", false)?, &eo, self.offsets_grid())?);
        let e = [
            (bind::PRM, &u),
            (bind::XS, &s.x),
            (bind::IDX, &s.idx),
            (bind::DCOUNTS, &buf.dcounts),
            (bind::VALS, vals),
        ];
        out.push(self.step(&pipe("lane_place_solo", true)?, &e, gt)?);
        let pass1 = self.step(&pipe("seg_pass1_solo", false)?, &e1, self.pass1_grid())?;
        self.segment_steps(None, pass1, &pipe("seg_pass2", false)?, &mut out)?;
        Ok(out)
    }
}

/// sort_segmented: a stable radix sort of the indices, then a segmented reduction, all
/// recorded in one command buffer per run.
pub(super) fn run_sorted(s: &Setup, set: &mut RunSet) -> Result<(), OpError> {
    let (b, job) = (s.b, s.job);
    let (bins, acc) = (job.bins, job.accumulator);
    let sh = SortShape::of(job, s.layout.sort);
    let buf = SortBuffers::new(b, job, &sh)?;
    let exclusive = b.pipeline(&s.src, "scan_exclusive")?;
    let u_part = b.uniform(
        "params_partials",
        &Params {
            scan_len: sh.blocks,
            ..s.base
        },
    )?;
    let bg_part = b.bind_group(
        &exclusive,
        &[(bind::PRM, &u_part), (bind::PARTIALS, &buf.partials)],
    )?;
    let plan = SortPlan {
        s,
        buf: &buf,
        sh: &sh,
        scans: [
            b.pipeline(&s.src, "scan_reduce")?,
            exclusive,
            b.pipeline(&s.src, "scan_apply")?,
        ],
        bg_part,
    };
    let steps = match sh.words {
        SortWords::Split => plan.split()?,
        SortWords::Packed => plan.packed()?,
    };
    let list: Vec<Pass> = steps.iter().map(|(p, g, w)| Pass::new(p, g, *w)).collect();
    let fmt = if uses_f64(job) {
        Precision::F64
    } else {
        Precision::F32
    };
    for _ in 0..job.runs {
        let r = b.execute(&[], &list, &[&buf.outv])?;
        let values = fmt.decode(&r.outputs[0])[..bins]
            .iter()
            .map(|&v| acc.round(v))
            .collect();
        set.outputs.push(values);
        set.times_ms.push(r.ms);
    }
    let sort = match sh.words {
        SortWords::Split => format!(
            "stable radix sort ({} passes of {}-bit digits, tiles of {})",
            sh.passes, sh.bits, sh.span
        ),
        SortWords::Packed => format!(
            "stable counting sort ({} passes of {}-bit digits, {} threads of up to {} elements, each with its own counters; {})",
            sh.passes,
            sh.bits,
            sh.lanes,
            sh.span,
            if sh.solo {
                "one pass by the whole index: the values placed alone, the keys implied by the bins' offsets"
            } else if uses_f64(job) {
                "key and position packed in one 64-bit word per element"
            } else {
                "key and value packed in one 64-bit word per element"
            }
        ),
    };
    set.message = format!("{sort}, segmented reduction in chunks of {}", job.chunk);
    Ok(())
}
