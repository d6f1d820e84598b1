//! Reading the store back: result rows with their report and environment, in run order
//! (the run's start time, then when it was stored), and whole stored reports.

use super::conn::Val;
use super::env::EnvColumns;
use super::Store;
use crate::error::DetError;
use crate::report::schema::Report;
use serde::Serialize;

/// One stored result row, with its report and its device's environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredRow {
    pub report: String,
    pub started_at: String,
    pub added_at: String,
    pub partial: bool,
    pub key: String,
    pub device: String,
    pub case: String,
    pub backend: String,
    pub op: String,
    pub variant: String,
    pub precision: String,
    pub ordering: String,
    pub status: String,
    pub deterministic_variant: bool,
    pub bitwise_reproducible: Option<bool>,
    pub distinct_outputs: Option<i64>,
    pub fingerprint: Option<String>,
    pub median_ms: Option<f64>,
    pub times_ms: Vec<f64>,
    pub env: EnvColumns,
}

/// A stored report's header.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredReport {
    pub sha256: String,
    pub started_at: String,
    pub added_at: String,
    pub detbench_commit: String,
    pub partial: bool,
    pub result_rows: i64,
}

/// Which rows to read.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// One device (its identity as stored, `DeviceId`'s text).
    pub device: Option<String>,
    /// One result key (its text).
    pub key: Option<String>,
}

/// A sortable form of an RFC 3339 UTC time: the fraction of a second padded to 9 digits,
/// so "...:24Z" sorts before "...:24.5Z" (texts not in that form sort as they are).
pub fn instant(s: &str) -> String {
    let b = s.as_bytes();
    if s.len() >= 20 && s.ends_with('Z') && b[10] == b'T' && s.is_char_boundary(19) {
        let frac = s[19..s.len() - 1].trim_start_matches('.');
        if frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()) {
            return format!("{}.{:0<9}Z", &s[..19], frac);
        }
    }
    s.to_string()
}

impl Store {
    /// Result rows matching `f`, in run order.
    pub fn rows(&mut self, f: &Filter) -> Result<Vec<StoredRow>, DetError> {
        let mut sql = String::from(
            "SELECT r.report_sha256, p.started_at, p.added_at, p.partial, r.result_key, r.device,
                    r.case_label, r.backend, r.op, r.variant, r.precision, r.ordering, r.status,
                    r.deterministic_variant, r.bitwise_reproducible, r.distinct_outputs, r.fingerprint,
                    r.median_ms, r.times_ms,
                    e.driver, e.toolkit, e.mesa, e.llvm, e.detbench_commit, e.kernel_hashes,
                    e.compile_options, e.os
             FROM results r JOIN reports p ON p.sha256 = r.report_sha256
             LEFT JOIN environments e ON e.report_sha256 = r.report_sha256 AND e.device = r.device
             WHERE 1 = 1",
        );
        let mut params: Vec<Val> = Vec::new();
        if let Some(d) = &f.device {
            sql.push_str(" AND r.device = ?");
            params.push(d.as_str().into());
        }
        if let Some(k) = &f.key {
            sql.push_str(" AND r.result_key = ?");
            params.push(k.as_str().into());
        }
        let rows = self.conn().query(&sql, &params)?;
        let mut out: Vec<StoredRow> = rows
            .into_iter()
            .map(|v| StoredRow {
                report: v[0].string(),
                started_at: v[1].string(),
                added_at: v[2].string(),
                partial: v[3].int() == Some(1),
                key: v[4].string(),
                device: v[5].string(),
                case: v[6].string(),
                backend: v[7].string(),
                op: v[8].string(),
                variant: v[9].string(),
                precision: v[10].string(),
                ordering: v[11].string(),
                status: v[12].string(),
                deterministic_variant: v[13].int() == Some(1),
                bitwise_reproducible: v[14].int().map(|b| b == 1),
                distinct_outputs: v[15].int(),
                fingerprint: v[16].text().map(String::from),
                median_ms: v[17].real(),
                times_ms: serde_json::from_str(&v[18].string()).unwrap_or_default(),
                env: EnvColumns::from_values(
                    &v[19..27].iter().map(Val::string).collect::<Vec<_>>(),
                ),
            })
            .collect();
        out.sort_by(|a, b| {
            (
                instant(&a.started_at),
                instant(&a.added_at),
                &a.report,
                &a.key,
            )
                .cmp(&(
                    instant(&b.started_at),
                    instant(&b.added_at),
                    &b.report,
                    &b.key,
                ))
        });
        Ok(out)
    }

    /// Every stored report's header, in run order.
    pub fn reports(&mut self) -> Result<Vec<StoredReport>, DetError> {
        let rows = self.conn().query(
            "SELECT sha256, started_at, added_at, detbench_commit, partial, result_rows FROM reports",
            &[],
        )?;
        let mut out: Vec<StoredReport> = rows
            .into_iter()
            .map(|v| StoredReport {
                sha256: v[0].string(),
                started_at: v[1].string(),
                added_at: v[2].string(),
                detbench_commit: v[3].string(),
                partial: v[4].int() == Some(1),
                result_rows: v[5].int().unwrap_or(0),
            })
            .collect();
        out.sort_by(|a, b| {
            (instant(&a.started_at), instant(&a.added_at), &a.sha256).cmp(&(
                instant(&b.started_at),
                instant(&b.added_at),
                &b.sha256,
            ))
        });
        Ok(out)
    }

    /// A stored report, parsed from its canonical bytes.
    pub fn report(&mut self, sha256: &str) -> Result<Report, DetError> {
        let rows = self.conn().query(
            "SELECT body FROM reports WHERE sha256 = ?",
            &[sha256.into()],
        )?;
        let body = rows
            .first()
            .and_then(|r| r.first())
            .map(Val::string)
            .ok_or_else(|| DetError::input(format!("store: no report {sha256}")))?;
        serde_json::from_str(&body).map_err(|e| {
            DetError::input(format!("store: stored report {sha256} does not parse: {e}"))
        })
    }

    /// Every device identity with stored rows.
    pub fn devices(&mut self) -> Result<Vec<String>, DetError> {
        let rows = self
            .conn()
            .query("SELECT DISTINCT device FROM results ORDER BY device", &[])?;
        Ok(rows.iter().map(|r| r[0].string()).collect())
    }

    /// The one stored device `id` names: its identity exactly, else the only device whose
    /// identity contains `id` (case-insensitive). Bad input when none or several match.
    pub fn resolve_device(&mut self, id: &str) -> Result<String, DetError> {
        let all = self.devices()?;
        if all.iter().any(|d| d == id) {
            return Ok(id.to_string());
        }
        let low = id.to_lowercase();
        let hits: Vec<&String> = all
            .iter()
            .filter(|d| d.to_lowercase().contains(&low))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(DetError::input(format!(
                "--device {id}: no stored device matches (stored: {})",
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join("; ")
                }
            ))),
            many => Err(DetError::input(format!(
                "--device {id} matches {} stored devices ({}): give one exactly",
                many.len(),
                many.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    /// The baseline rule of `check --baseline-from`: the newest stored complete (not
    /// partial) report with rows of `device`, by run start time, then by when it was stored.
    pub fn newest_report_for(&mut self, device: &str) -> Result<Option<StoredReport>, DetError> {
        let with: std::collections::BTreeSet<String> = self
            .conn()
            .query(
                "SELECT DISTINCT report_sha256 FROM results WHERE device = ?",
                &[device.into()],
            )?
            .iter()
            .map(|r| r[0].string())
            .collect();
        Ok(self
            .reports()?
            .into_iter()
            .rfind(|r| !r.partial && with.contains(&r.sha256)))
    }
}
