//! The one identity of a result across reports, used by `check`, `merge` and `tolerance`.
//!
//! A [`ResultKey`] names what was measured and where: op, backend, a stable device
//! identity, precision, accumulator, variant, ordering, size / bins / shape, launch
//! (workgroup size and count), input label, seed, and the string-valued `extra` entries
//! (labels a family adds to tell its rows apart, such as scatter's index distribution;
//! numeric and boolean extras are measurements and stay out of the key).
//!
//! The device part, [`DeviceId`], is what stays the same when the software around the
//! device changes: backend, PCI vendor and device id (where the backend reports them, in
//! `env.devices[].details`) and the device name without version noise. The driver, Mesa /
//! LLVM, NVRTC and detbench versions, compile options and kernel hashes are the
//! *environment*: a change there must show up as a changed result under the same key, not
//! as one result vanishing and another appearing.
//!
//! A report with two rows under one key is malformed ([`index`] says so): any comparison
//! would silently pick one of them.

use super::schema::{Env, Report, ResultRecord};
use std::collections::BTreeMap;
use std::fmt;

/// The part of a device's identity that survives driver and toolkit upgrades.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId {
    /// cpu, cuda or wgpu.
    pub backend: String,
    /// PCI vendor id, where the backend reports one.
    pub vendor_id: Option<u64>,
    /// PCI device id, where the backend reports one.
    pub device_id: Option<u64>,
    /// The device name without version noise ([`stable_device_name`]).
    pub name: String,
    /// Which of several devices of one backend and name: its PCI bus id where the
    /// backend reports one, else "#" and the backend's ordinal. None when the report's
    /// device list has one device of this backend and name, so single-device keys stay
    /// equal across runs and to reports made before the field existed.
    pub slot: Option<String>,
}

impl DeviceId {
    /// The identity of a result's device; ids are taken from the report's device list
    /// (matched by backend and raw name).
    pub fn of(r: &ResultRecord, env: &Env) -> DeviceId {
        let ordinal = |d: &crate::report::schema::DeviceInfo| {
            d.details.get("ordinal").and_then(|v| v.as_u64())
        };
        let same =
            |d: &&crate::report::schema::DeviceInfo| d.backend == r.backend && d.name == r.device;
        let twins = env.devices.iter().filter(same).count();
        let info = env
            .devices
            .iter()
            .filter(same)
            .find(|d| r.device_ordinal.is_none() || ordinal(d) == r.device_ordinal)
            .or_else(|| env.devices.iter().find(same));
        let id = |k: &str| info.and_then(|d| d.details.get(k)).and_then(|v| v.as_u64());
        // Two devices of one name (two identical GPUs): the bus id, else the ordinal,
        // tells their rows apart.
        let slot = (twins > 1).then(|| {
            info.and_then(|d| d.details.get("pci_bus_id"))
                .and_then(|v| v.as_str())
                .map(|b| b.to_ascii_lowercase())
                .or_else(|| r.device_ordinal.map(|o| format!("#{o}")))
                .unwrap_or_else(|| "#?".into())
        });
        DeviceId {
            backend: r.backend.clone(),
            vendor_id: id("vendor_id"),
            device_id: id("device_id"),
            name: stable_device_name(&r.device),
            slot,
        }
    }

    /// The same identity without PCI ids (to compare with reports that lack them).
    pub fn without_ids(&self) -> DeviceId {
        DeviceId {
            vendor_id: None,
            device_id: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for DeviceId {
    /// "wgpu:llvmpipe [0x10005:0x0]", or "cpu:AMD EPYC 7B13" without ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.backend, self.name)?;
        if let Some(slot) = &self.slot {
            write!(f, " @{slot}")?;
        }
        match (self.vendor_id, self.device_id) {
            (None, None) => Ok(()),
            (v, d) => write!(
                f,
                " [{}:{}]",
                v.map(|x| format!("{x:#x}")).unwrap_or_else(|| "?".into()),
                d.map(|x| format!("{x:#x}")).unwrap_or_else(|| "?".into())
            ),
        }
    }
}

/// A device name without version noise: every parenthesised part that carries a version
/// ("(LLVM 15.0.6, 256 bits)", "(Mesa 24.0.0)", "(driver 535.104)") is dropped, and
/// whitespace is collapsed. "llvmpipe (LLVM 15.0.6, 256 bits)" becomes "llvmpipe";
/// "NVIDIA H100 80GB HBM3" stays as it is. The full name is still in the report's
/// environment, where `check` compares it.
pub fn stable_device_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        let inner = &rest[open + 1..close];
        if !is_version_noise(inner) {
            out.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True for a parenthesised part that names software or a version: a dotted number
/// ("15.0.6") or a word such as LLVM, Mesa, driver or version.
fn is_version_noise(inner: &str) -> bool {
    let lower = inner.to_ascii_lowercase();
    let dotted = inner
        .as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit());
    dotted
        || ["llvm", "mesa", "driver", "version", "rev", "build"]
            .iter()
            .any(|w| {
                lower
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|t| t == *w)
            })
}

/// Everything that identifies a result except the device: the same case on several
/// devices shares one `CaseKey` (`merge` groups rows by it). The workgroup count is left
/// out because backends may derive it from the device.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseKey {
    pub op: String,
    pub precision: String,
    pub accumulator: String,
    pub variant: String,
    pub size: u64,
    pub bins: Option<u64>,
    /// The conv shape as JSON text, empty when none.
    pub shape: String,
    pub workgroup_size: u32,
    pub input: String,
    pub seed: u64,
    /// String-valued `extra` entries (family labels such as `index_dist`).
    pub labels: Vec<(String, String)>,
}

impl CaseKey {
    pub fn of(r: &ResultRecord) -> CaseKey {
        CaseKey {
            op: r.op.clone(),
            precision: r.precision.clone(),
            accumulator: r.accumulator.clone(),
            variant: r.variant.clone(),
            size: r.size,
            bins: r.bins,
            shape: r.shape.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            workgroup_size: r.launch.workgroup_size,
            input: r.input.clone(),
            seed: r.seed,
            labels: r
                .extra
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
        }
    }
}

/// Which of `count` shards (1-based) holds the case labelled `label`: the first eight bytes
/// of the label's SHA-256, big-endian, modulo `count`, plus one. It depends on the label
/// alone: not on the machine, the matrix's order, or which other cases the matrix holds.
pub fn shard_of(label: &str, count: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(label.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32 + 1
}

/// SHA-256 (hex) of a matrix's case labels, sorted and deduplicated, one per line: the same
/// for every shard of one matrix, whatever order its cases were listed in.
pub fn matrix_sha256(labels: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&str> = labels.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h = Sha256::new();
    for l in sorted {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

impl fmt::Display for CaseKey {
    /// "sum f32/f32 tree n=1000 wg=256 normal seed=7".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} {} n={}",
            self.op, self.precision, self.accumulator, self.variant, self.size
        )?;
        if let Some(b) = self.bins {
            write!(f, " bins={b}")?;
        }
        if !self.shape.is_empty() {
            write!(f, " shape={}", self.shape)?;
        }
        write!(
            f,
            " wg={} {} seed={}",
            self.workgroup_size, self.input, self.seed
        )?;
        for (k, v) in &self.labels {
            // Labels already spelled out in the input label are not repeated.
            if !self.input.contains(v.as_str()) {
                write!(f, " {k}={v}")?;
            }
        }
        Ok(())
    }
}

/// The identity of one result: its case, device, atomic ordering and workgroup count.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResultKey {
    pub device: DeviceId,
    pub case: CaseKey,
    pub ordering: String,
    pub workgroups: u32,
}

impl ResultKey {
    pub fn of(r: &ResultRecord, env: &Env) -> ResultKey {
        ResultKey {
            device: DeviceId::of(r, env),
            case: CaseKey::of(r),
            ordering: r.ordering.to_string(),
            workgroups: r.launch.workgroups,
        }
    }

    /// The key without the device's PCI ids.
    pub fn without_ids(&self) -> ResultKey {
        ResultKey {
            device: self.device.without_ids(),
            ..self.clone()
        }
    }

    /// The case and launch, without the device: "sum f32/f32 tree [none] n=1000 wg=256x4
    /// normal seed=7".
    pub fn case_label(&self) -> String {
        let c = &self.case;
        let mut s = format!(
            "{} {}/{} {} [{}] n={}",
            c.op, c.precision, c.accumulator, c.variant, self.ordering, c.size
        );
        if let Some(b) = c.bins {
            s.push_str(&format!(" bins={b}"));
        }
        if !c.shape.is_empty() {
            s.push_str(&format!(" shape={}", c.shape));
        }
        s.push_str(&format!(
            " wg={}x{} {} seed={}",
            c.workgroup_size, self.workgroups, c.input, c.seed
        ));
        for (k, v) in &c.labels {
            if !c.input.contains(v.as_str()) {
                s.push_str(&format!(" {k}={v}"));
            }
        }
        s
    }
}

impl fmt::Display for ResultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.case_label(), self.device)
    }
}

/// Two rows of one report under one key.
#[derive(Clone, Debug)]
pub struct DuplicateKey {
    pub key: Box<ResultKey>,
    /// Positions of the two rows in `results`.
    pub rows: (usize, usize),
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "results {} and {} have the same key ({}): a report must hold one row per key",
            self.rows.0, self.rows.1, self.key
        )
    }
}

/// Every result of a report by its key; an error on the first key that occurs twice.
pub fn index(report: &Report) -> Result<BTreeMap<ResultKey, &ResultRecord>, DuplicateKey> {
    let mut out: BTreeMap<ResultKey, (usize, &ResultRecord)> = BTreeMap::new();
    for (i, r) in report.results.iter().enumerate() {
        let k = ResultKey::of(r, &report.env);
        if let Some((first, _)) = out.get(&k) {
            return Err(DuplicateKey {
                key: Box::new(k),
                rows: (*first, i),
            });
        }
        out.insert(k, (i, r));
    }
    Ok(out.into_iter().map(|(k, (_, r))| (k, r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards are fixed by the label alone: the same label always lands in the same shard,
    /// every shard in 1..=N is reachable, and the cut is roughly even.
    #[test]
    fn shards_depend_on_the_label_alone() {
        let labels: Vec<String> = (0..3000)
            .map(|i| format!("sum f32/f32 tree n={i} wg=256 normal seed=7"))
            .collect();
        let mut counts = [0usize; 3];
        for l in &labels {
            let k = shard_of(l, 3);
            assert!((1..=3).contains(&k));
            assert_eq!(k, shard_of(&l.clone(), 3));
            counts[k as usize - 1] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(shard_of("x", 1), 1);
        // A known value, so a change of the rule (which would re-cut every fleet's
        // matrix) fails here and not silently in a merge.
        assert_eq!(
            shard_of("sum f32/f32 tree n=1000 wg=256 normal seed=7", 1000),
            505
        );
        assert_eq!(
            shard_of("dot f16/f32 atomic n=4096 wg=64 uniform seed=3", 1000),
            254
        );
        let mut rev = labels.clone();
        rev.reverse();
        assert_eq!(matrix_sha256(&labels), matrix_sha256(&rev));
        assert_ne!(matrix_sha256(&labels), matrix_sha256(&labels[1..]));
    }

    #[test]
    fn device_names_lose_version_noise_only() {
        assert_eq!(
            stable_device_name("llvmpipe (LLVM 15.0.6, 256 bits)"),
            "llvmpipe"
        );
        assert_eq!(
            stable_device_name("llvmpipe (LLVM 17.0.6, 256 bits)"),
            "llvmpipe"
        );
        assert_eq!(
            stable_device_name("NVIDIA H100 80GB HBM3"),
            "NVIDIA H100 80GB HBM3"
        );
        assert_eq!(
            stable_device_name("AMD Radeon Graphics (RADV GFX1103_R1)"),
            "AMD Radeon Graphics (RADV GFX1103_R1)"
        );
        assert_eq!(
            stable_device_name("Intel(R) Xeon(R) CPU @ 2.20GHz"),
            "Intel(R) Xeon(R) CPU @ 2.20GHz"
        );
        assert_eq!(stable_device_name("gpu (Mesa 24.0.0)"), "gpu");
        assert_eq!(stable_device_name("odd (unclosed"), "odd (unclosed");
    }

    fn rec(wg: u32, groups: u32) -> ResultRecord {
        ResultRecord {
            op: "sum".into(),
            backend: "wgpu".into(),
            device: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            precision: "f32".into(),
            accumulator: "f32".into(),
            variant: "tree".into(),
            ordering: Default::default(),
            size: 1000,
            launch: crate::shared::launch::Launch {
                workgroup_size: wg,
                workgroups: groups,
            },
            input: "normal".into(),
            seed: 7,
            ..Default::default()
        }
    }

    #[test]
    fn launch_is_part_of_the_key_and_duplicates_are_refused() {
        let env = Env::default();
        let mut report = Report {
            schema: super::super::SCHEMA.into(),
            env,
            results: vec![rec(64, 16), rec(256, 4)],
            partial: false,
        };
        assert_eq!(index(&report).expect("distinct keys").len(), 2);
        report.results.push(rec(64, 16));
        let dup = index(&report).expect_err("duplicate");
        assert_eq!(dup.rows, (0, 2));
        assert!(dup.to_string().contains("wg=64x16"), "{dup}");
    }

    #[test]
    fn ids_come_from_the_device_list_and_driver_noise_does_not_split_keys() {
        let mut env = Env::default();
        let mut info = crate::report::schema::DeviceInfo {
            backend: "wgpu".into(),
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            ..Default::default()
        };
        info.details.insert("vendor_id".into(), 0x10005u64.into());
        info.details.insert("device_id".into(), 0u64.into());
        env.devices.push(info);
        let a = ResultKey::of(&rec(256, 4), &env);
        assert_eq!(a.device.vendor_id, Some(0x10005));
        let mut newer = rec(256, 4);
        newer.device = "llvmpipe (LLVM 17.0.6, 256 bits)".into();
        let mut env2 = env.clone();
        env2.devices[0].name = newer.device.clone();
        assert_eq!(a, ResultKey::of(&newer, &env2));
        assert_eq!(a.device.to_string(), "wgpu:llvmpipe [0x10005:0x0]");
    }

    /// Two identical GPUs give two keys (by bus id, else by ordinal); one GPU keeps the key
    /// it had before records carried an ordinal.
    #[test]
    fn identical_devices_get_distinct_keys_and_single_devices_keep_theirs() {
        let gpu = |ordinal: u64, bus: Option<&str>| {
            let mut info = crate::report::schema::DeviceInfo {
                backend: "wgpu".into(),
                name: "NVIDIA H100 80GB HBM3".into(),
                ..Default::default()
            };
            info.details.insert("vendor_id".into(), 0x10deu64.into());
            info.details.insert("device_id".into(), 0x2330u64.into());
            info.details.insert("ordinal".into(), ordinal.into());
            if let Some(b) = bus {
                info.details.insert("pci_bus_id".into(), b.into());
            }
            info
        };
        let row = |ordinal: Option<u64>| {
            let mut r = rec(256, 4);
            r.device = "NVIDIA H100 80GB HBM3".into();
            r.device_ordinal = ordinal;
            r
        };
        // One device: no slot, with or without the record's ordinal (older reports).
        let mut one = Env::default();
        one.devices.push(gpu(0, Some("0000:17:00.0")));
        let k = ResultKey::of(&row(Some(0)), &one);
        assert_eq!(k.device.slot, None);
        assert_eq!(k, ResultKey::of(&row(None), &one));
        // Two of them: distinct keys named by bus id, stable across runs.
        let mut two = Env::default();
        two.devices.push(gpu(0, Some("0000:17:00.0")));
        two.devices.push(gpu(1, Some("0000:65:00.0")));
        let (a, b) = (
            ResultKey::of(&row(Some(0)), &two),
            ResultKey::of(&row(Some(1)), &two),
        );
        assert_ne!(a, b);
        assert_eq!(b.device.slot.as_deref(), Some("0000:65:00.0"));
        assert!(b.to_string().contains("@0000:65:00.0"), "{b}");
        assert_eq!(a, ResultKey::of(&row(Some(0)), &two.clone()));
        // Without bus ids the ordinal tells them apart.
        for d in two.devices.iter_mut() {
            d.details.remove("pci_bus_id");
        }
        let (a, b) = (
            ResultKey::of(&row(Some(0)), &two),
            ResultKey::of(&row(Some(1)), &two),
        );
        assert_ne!(a, b);
        assert_eq!(a.device.slot.as_deref(), Some("#0"));
        let report = Report {
            schema: super::super::SCHEMA.into(),
            env: two,
            results: vec![row(Some(0)), row(Some(1))],
            partial: false,
        };
        assert_eq!(index(&report).expect("distinct keys").len(), 2);
    }
}
