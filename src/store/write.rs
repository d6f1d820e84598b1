//! Adding a report: one transaction per report, so a writer killed halfway leaves nothing
//! visible; the report row goes in first with `ON CONFLICT DO NOTHING`, so a report already
//! stored (or being stored by another writer, who then wins) is a no-op.

use super::conn::{Conn, Val};
use super::env::EnvColumns;
use crate::error::DetError;
use crate::report::key::{self, ResultKey};
use crate::report::schema::Report;
use std::collections::BTreeMap;

/// What adding one report did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Added {
    /// Stored, with this many result rows.
    New { sha256: String, rows: usize },
    /// A report with the same canonical bytes was already there: nothing written.
    AlreadyStored { sha256: String },
}

impl Added {
    pub fn sha256(&self) -> &str {
        match self {
            Added::New { sha256, .. } | Added::AlreadyStored { sha256 } => sha256,
        }
    }
}

/// Test hook (never set in use): after writing half of a report's result rows, the writer
/// creates the file this variable names and sleeps, still inside its transaction, so a
/// test can kill it mid-report or start a second writer against the open transaction.
pub const HOLD_ENV: &str = "DETBENCH_STORE_TEST_HOLD";
/// How long the hook sleeps, in ms (default 600 000).
pub const HOLD_MS_ENV: &str = "DETBENCH_STORE_TEST_HOLD_MS";

/// Adds `report` (its canonical bytes hash to `sha256`) at schema version `version`.
pub fn add(
    conn: &mut Conn,
    report: &Report,
    body: &str,
    sha256: &str,
    version: i64,
) -> Result<Added, DetError> {
    // Validated before any write: a report with two rows under one key is malformed.
    let index = key::index(report)
        .map_err(|e| DetError::input(format!("report {}: {e}", short(sha256))))?;
    conn.begin()?;
    match add_in_transaction(conn, report, &index, body, sha256, version) {
        Ok(added) => {
            conn.commit()?;
            Ok(added)
        }
        Err(e) => {
            conn.rollback();
            Err(e)
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn add_in_transaction(
    conn: &mut Conn,
    report: &Report,
    index: &BTreeMap<ResultKey, &crate::report::schema::ResultRecord>,
    body: &str,
    sha256: &str,
    version: i64,
) -> Result<Added, DetError> {
    let env = &report.env;
    let n = conn.exec(
        "INSERT INTO reports (sha256, added_at, started_at, detbench_commit, tool_version, partial, result_rows, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        &[
            sha256.into(),
            super::now().into(),
            env.started_at.as_str().into(),
            env.git_commit.as_str().into(),
            env.tool_version.as_str().into(),
            report.partial.into(),
            (index.len() as u64).into(),
            body.into(),
        ],
    )?;
    if n == 0 {
        return Ok(Added::AlreadyStored {
            sha256: sha256.to_string(),
        });
    }
    let hold = std::env::var_os(HOLD_ENV);
    let half = index.len() / 2;
    for (i, (k, r)) in index.iter().enumerate() {
        if i == half {
            if let Some(path) = &hold {
                // The test hook: half the rows are written, the transaction is open.
                let _ = std::fs::write(path, b"holding\n");
                let ms = std::env::var(HOLD_MS_ENV)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(600_000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
        }
        let times = serde_json::to_string(&r.times_ms).unwrap_or_else(|_| "[]".into());
        conn.exec(
            "INSERT INTO results (report_sha256, result_key, device, device_name, case_label, backend, op, variant,
                 precision, accumulator, ordering, size, status, deterministic_variant, bitwise_reproducible,
                 distinct_outputs, fingerprint, median_ms, times_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                sha256.into(),
                k.to_string().into(),
                k.device.to_string().into(),
                r.device.as_str().into(),
                k.case_label().into(),
                r.backend.as_str().into(),
                r.op.as_str().into(),
                r.variant.as_str().into(),
                r.precision.as_str().into(),
                r.accumulator.as_str().into(),
                r.ordering.to_string().into(),
                r.size.into(),
                r.status.as_str().into(),
                r.deterministic_variant.into(),
                r.bitwise_reproducible.into(),
                r.distinct_outputs.into(),
                r.fingerprint.clone().into(),
                r.median_ms.filter(|m| m.is_finite()).into(),
                times.into(),
            ],
        )?;
    }
    if version >= 2 {
        insert_environments(conn, report, index, sha256)?;
    }
    Ok(Added::New {
        sha256: sha256.to_string(),
        rows: index.len(),
    })
}

/// One `environments` row per device that has result rows in the report.
fn insert_environments(
    conn: &mut Conn,
    report: &Report,
    index: &BTreeMap<ResultKey, &crate::report::schema::ResultRecord>,
    sha256: &str,
) -> Result<(), DetError> {
    let mut devices: BTreeMap<String, EnvColumns> = BTreeMap::new();
    for (k, r) in index {
        devices
            .entry(k.device.to_string())
            .or_insert_with(|| EnvColumns::of(&report.env, &k.device, &r.device));
    }
    for (device, cols) in devices {
        let mut params: Vec<Val> = vec![sha256.into(), device.into()];
        params.extend(cols.values().iter().map(|v| Val::from(*v)));
        conn.exec(
            "INSERT INTO environments (report_sha256, device, driver, toolkit, mesa, llvm, detbench_commit,
                 kernel_hashes, compile_options, os)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &params,
        )?;
    }
    Ok(())
}

/// Migration 2's backfill: the environment rows of reports stored at version 1, from their
/// stored bodies (inserts only; nothing stored is changed).
pub fn backfill_environments(conn: &mut Conn) -> Result<(), DetError> {
    let rows = conn.query("SELECT sha256, body FROM reports ORDER BY sha256", &[])?;
    for row in rows {
        let (sha, body) = (row[0].string(), row[1].string());
        let report: Report = serde_json::from_str(&body).map_err(|e| {
            DetError::input(format!(
                "store: stored report {} does not parse: {e}",
                short(&sha)
            ))
        })?;
        let index = key::index(&report)
            .map_err(|e| DetError::input(format!("store: stored report {}: {e}", short(&sha))))?;
        insert_environments(conn, &report, &index, &sha)?;
    }
    Ok(())
}
