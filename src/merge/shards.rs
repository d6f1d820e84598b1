//! `merge` of shard reports (`run --shard K/N`) and `merge --json`: the reports joined into
//! one, with what is wrong with the set named.
//!
//! - Builds: reports made by different detbench commits or kernel sources are refused
//!   (exit 2) unless `--allow-mixed-builds`: their rows would not measure the same kernels.
//! - Coverage, per device: every case of the recorded matrix must have rows from exactly
//!   one report on each device that ran any of it. A case no report ran on a device is
//!   missing; a case two reports ran on one device is duplicated. Either is a finding (exit
//!   1). Devices are told apart by their stable identity ([`DeviceId`]), so one GPU model
//!   on two machines, or under two drivers, is one device, and two models are two.
//! - The joined report holds one row per result key: a duplicated one is not written.

use crate::error::DetError;
use crate::report::key::{self, CaseKey, DeviceId, ResultKey};
use crate::report::schema::{DeviceInfo, MergedSource};
use crate::report::{Env, Report, ResultRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What is wrong with a set of reports (each entry one line for the user).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// "shard 2/3: no report": shard numbers of a cut that no report holds.
    pub missing_shards: Vec<String>,
    /// (device, case label): a case of the matrix no report ran on that device.
    pub missing: Vec<(String, String)>,
    /// (device, case label, reports): a case two or more reports ran on one device.
    pub duplicated: Vec<(String, String, Vec<String>)>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        self.missing_shards.is_empty() && self.missing.is_empty() && self.duplicated.is_empty()
    }

    /// One line per finding, at most `limit` of each kind (then how many more).
    pub fn lines(&self, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let more = |n: usize, what: &str, out: &mut Vec<String>| {
            if n > limit {
                out.push(format!("... and {} more {what}", n - limit));
            }
        };
        out.extend(self.missing_shards.iter().take(limit).cloned());
        more(self.missing_shards.len(), "missing shards", &mut out);
        out.extend(
            self.missing
                .iter()
                .take(limit)
                .map(|(d, c)| format!("missing: {c} on {d}")),
        );
        more(self.missing.len(), "missing cases", &mut out);
        out.extend(
            self.duplicated
                .iter()
                .take(limit)
                .map(|(d, c, r)| format!("duplicated: {c} on {d}, in {}", r.join(" and "))),
        );
        more(self.duplicated.len(), "duplicated cases", &mut out);
        out
    }
}

/// The reports joined: one report, and what is wrong with the set.
pub struct Joined {
    /// None when a result key occurs twice (a report holds one row per key).
    pub report: Option<Report>,
    pub findings: Findings,
}

/// SHA-256 (hex) of a report's kernel hashes, one `path hash` pair a line.
fn kernels_sha256(env: &Env) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, hash) in &env.kernel_hashes {
        h.update(format!("{path} {hash}\n").as_bytes());
    }
    format!("{:x}", h.finalize())
}

fn name(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// Refuses reports of different builds (commit or kernel sources) unless allowed, and
/// shards of different matrices always; a mix of shards and whole runs too.
pub fn check_builds(reports: &[(PathBuf, Report)], allow_mixed: bool) -> Result<(), DetError> {
    let Some((p0, r0)) = reports.first() else {
        return Ok(());
    };
    for (p, r) in &reports[1..] {
        if !allow_mixed && r.env.git_commit != r0.env.git_commit {
            return Err(DetError::input(format!(
                "{} was made by detbench {} but {} by {}: different builds measure different code (--allow-mixed-builds to merge them anyway)",
                name(p),
                r.env.git_commit,
                name(p0),
                r0.env.git_commit
            )));
        }
        if !allow_mixed && r.env.kernel_hashes != r0.env.kernel_hashes {
            let differs = r
                .env
                .kernel_hashes
                .iter()
                .find(|(k, v)| r0.env.kernel_hashes.get(*k) != Some(*v))
                .or_else(|| {
                    r0.env
                        .kernel_hashes
                        .iter()
                        .find(|(k, _)| !r.env.kernel_hashes.contains_key(*k))
                })
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
            return Err(DetError::input(format!(
                "{} and {} were made from different kernel sources ({differs} differs) (--allow-mixed-builds to merge them anyway)",
                name(p0),
                name(p)
            )));
        }
        match (&r0.env.shard, &r.env.shard) {
            (Some(a), Some(b)) if a.matrix_sha256 != b.matrix_sha256 => {
                return Err(DetError::input(format!(
                    "{} and {} are shards of different matrices (matrix_sha256 {} and {}): run every shard with the same flags",
                    name(p0),
                    name(p),
                    &a.matrix_sha256[..a.matrix_sha256.len().min(12)],
                    &b.matrix_sha256[..b.matrix_sha256.len().min(12)]
                )))
            }
            (Some(_), None) | (None, Some(_)) => {
                let (shard, whole) = if r0.env.shard.is_some() {
                    (p0, p)
                } else {
                    (p, p0)
                };
                return Err(DetError::input(format!(
                    "{} is a shard (run --shard) but {} is a whole run: merge the shards of one matrix, or whole runs",
                    name(shard),
                    name(whole)
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The report's device list entry of a device, by its identity in that report.
fn device_key(d: &DeviceInfo, env: &Env) -> DeviceId {
    let probe = ResultRecord {
        backend: d.backend.clone(),
        device: d.name.clone(),
        device_ordinal: d.details.get("ordinal").and_then(|v| v.as_u64()),
        ..Default::default()
    };
    DeviceId::of(&probe, env)
}

/// Coverage of the recorded matrix, per device (see the module's doc).
pub fn coverage(reports: &[(PathBuf, Report)]) -> Findings {
    let mut f = Findings::default();
    // Cases each report ran, per device.
    let mut ran: BTreeMap<DeviceId, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (p, r) in reports {
        let mut mine: BTreeSet<(DeviceId, String)> = BTreeSet::new();
        for row in &r.results {
            mine.insert((DeviceId::of(row, &r.env), CaseKey::of(row).to_string()));
        }
        for (d, c) in mine {
            ran.entry(d)
                .or_default()
                .entry(c)
                .or_default()
                .push(name(p));
        }
    }
    for (d, cases) in &ran {
        for (c, by) in cases {
            if by.len() > 1 {
                f.duplicated.push((d.to_string(), c.clone(), by.clone()));
            }
        }
    }
    // The matrix and the cuts, where the reports are shards.
    let shards: Vec<_> = reports
        .iter()
        .filter_map(|(_, r)| r.env.shard.as_ref())
        .collect();
    if let Some(first) = shards.first() {
        let mut cuts: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for s in &shards {
            cuts.entry(s.count).or_default().insert(s.index);
        }
        for (n, seen) in cuts {
            for k in (1..=n).filter(|k| !seen.contains(k)) {
                f.missing_shards.push(format!("shard {k}/{n}: no report"));
            }
        }
        for (d, cases) in &ran {
            for c in &first.matrix {
                if !cases.contains_key(c) {
                    f.missing.push((d.to_string(), c.clone()));
                }
            }
        }
    }
    f
}

/// The reports joined into one (`merge --json`). Rows keep each report's order, sorted by
/// the case's place in the recorded matrix where there is one. The environment is the
/// first report's, with every report's devices; where builds were mixed, the commits and
/// differing kernel hashes say so. `merged_from` keeps each report's own provenance.
pub fn join(reports: &[(PathBuf, Report)]) -> Result<Joined, DetError> {
    let findings = coverage(reports);
    let Some((_, first)) = reports.first() else {
        return Err(DetError::input("merge: no report given"));
    };
    let mut env = first.env.clone();
    env.shard = None;
    env.command = format!(
        "detbench merge {}",
        reports
            .iter()
            .map(|(p, _)| name(p))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut commits: Vec<&str> = Vec::new();
    for (_, r) in reports {
        if !commits.contains(&r.env.git_commit.as_str()) {
            commits.push(&r.env.git_commit);
        }
        for (k, v) in &r.env.kernel_hashes {
            if env.kernel_hashes.get(k).is_some_and(|mine| mine != v) {
                env.kernel_hashes.insert(k.clone(), "mixed".into());
            } else {
                env.kernel_hashes
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
        for (k, v) in &r.env.compile_options {
            env.compile_options
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    env.git_commit = commits.join(",");
    // Devices: one entry per device identity (a device seen by several machines is one
    // device; its per-machine entries stay in merged_from).
    let mut devices: Vec<(DeviceId, DeviceInfo)> = Vec::new();
    for (_, r) in reports {
        for d in &r.env.devices {
            let id = device_key(d, &r.env);
            if !devices.iter().any(|(i, _)| *i == id) {
                devices.push((id, d.clone()));
            }
        }
    }
    env.devices = devices.into_iter().map(|(_, d)| d).collect();
    env.merged_from = reports
        .iter()
        .map(|(p, r)| MergedSource {
            report: name(p),
            shard: r
                .env
                .shard
                .as_ref()
                .map(|s| format!("{}/{}", s.index, s.count)),
            git_commit: r.env.git_commit.clone(),
            kernels_sha256: kernels_sha256(&r.env),
            started_at: r.env.started_at.clone(),
            partial: r.partial,
            devices: r.env.devices.clone(),
        })
        .collect();
    // Rows, each keeping the key it had in its own report.
    let order: BTreeMap<&str, usize> = first
        .env
        .shard
        .iter()
        .flat_map(|s| s.matrix.iter().enumerate().map(|(i, l)| (l.as_str(), i)))
        .collect();
    let mut rows: Vec<(usize, ResultKey, ResultRecord)> = Vec::new();
    for (_, r) in reports {
        for row in &r.results {
            let place = order
                .get(CaseKey::of(row).to_string().as_str())
                .copied()
                .unwrap_or(usize::MAX);
            rows.push((place, ResultKey::of(row, &r.env), row.clone()));
        }
    }
    rows.sort_by_key(|(place, ..)| *place);
    for (_, k, row) in &rows {
        let here = ResultKey::of(row, &env);
        if here != *k {
            return Err(DetError::input(format!(
                "merge: the device of '{k}' cannot be told apart from another of the same name once the reports are joined ({})",
                here.device
            )));
        }
    }
    let merged = Report {
        schema: first.schema.clone(),
        env,
        results: rows.into_iter().map(|(_, _, r)| r).collect(),
        partial: reports.iter().any(|(_, r)| r.partial)
            || !findings.missing.is_empty()
            || !findings.missing_shards.is_empty(),
    };
    let report = key::index(&merged).is_ok().then_some(merged);
    Ok(Joined { report, findings })
}

/// `detbench merge`'s shard part: with `--json OUT`, or when the reports are shards, checks
/// the builds and the coverage, names each finding on stderr and writes the joined report
/// (unless a key is duplicated). Returns Regression (exit 1) when there is a finding.
pub fn run(
    inputs: &[PathBuf],
    json: Option<&std::path::Path>,
    allow_mixed: bool,
) -> Result<crate::error::Outcome, DetError> {
    use crate::error::Outcome;
    let mut reports = Vec::new();
    for p in inputs {
        let rep = crate::report::load_report(p)?;
        key::index(&rep).map_err(|e| DetError::input(format!("{}: {e}", p.display())))?;
        reports.push((p.clone(), rep));
    }
    let sharded = reports.iter().any(|(_, r)| r.env.shard.is_some());
    if json.is_none() && !sharded {
        return Ok(Outcome::Ok);
    }
    check_builds(&reports, allow_mixed)?;
    let joined = join(&reports)?;
    for line in joined.findings.lines(20) {
        eprintln!("detbench: merge: {line}");
    }
    if let Some(out) = json {
        match &joined.report {
            Some(rep) => {
                let text = serde_json::to_string_pretty(rep)
                    .map_err(|e| DetError::encode("the joined report", e))?
                    + "\n";
                if out.as_os_str() == "-" {
                    crate::safety::out(&text)?;
                } else {
                    crate::report::write_atomic(out, text.as_bytes())?;
                    eprintln!(
                        "detbench: wrote {} results from {} reports to {}{}",
                        rep.results.len(),
                        reports.len(),
                        out.display(),
                        if rep.partial { " (partial)" } else { "" }
                    );
                }
            }
            None => eprintln!(
                "detbench: merge: {} not written: a report holds one row per result key",
                out.display()
            ),
        }
    }
    Ok(if joined.findings.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Regression
    })
}
