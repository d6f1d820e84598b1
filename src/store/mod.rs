//! The results store: reports of many runs and machines in one database, for `history`,
//! `check --baseline-from` and the continuous-benchmark exports (docs/interface.md, "The
//! results store").
//!
//! - A URL is a SQLite file path (the default: no setup) or `postgres://...` (a lab's
//!   server, where many machines write at once).
//! - One schema ([`schema`]), versioned migrations applied on open.
//! - Reports are content-addressed: the SHA-256 of their canonical bytes (the report
//!   parsed, then written as compact JSON with every map's keys sorted) names them. Stored
//!   once, never updated in place; adding the same report again is a no-op that says so.
//! - Result rows are keyed by the one result key (`report::key`) and the stable device
//!   identity; each device's environment (driver, toolkit, Mesa, LLVM, detbench commit,
//!   kernel and compile-option hashes, OS) is a row of queryable columns.
//! - One transaction per report: two writers queue (SQLite) or run side by side
//!   (PostgreSQL) and lose nothing; a writer killed mid-report leaves nothing visible.

pub mod conn;
pub mod env;
pub mod export;
pub mod read;
pub mod schema;
pub mod write;

pub use read::{StoredReport, StoredRow};
pub use write::Added;

use crate::error::DetError;
use crate::report::schema::Report;
use conn::Conn;
use sha2::{Digest, Sha256};

/// An open store, migrated to the version it works at.
pub struct Store {
    conn: Conn,
    url: String,
    version: i64,
}

impl Store {
    /// Opens (creating if needed) the store at `url` and migrates it to the current schema.
    pub fn open(url: &str) -> Result<Store, DetError> {
        Store::open_at(url, schema::CURRENT)
    }

    /// Opens the store migrated to `version` only (tests make a store of an older schema
    /// with it, then open it with [`Store::open`] to test the migration).
    pub fn open_at(url: &str, version: i64) -> Result<Store, DetError> {
        let mut conn = Conn::open(url)?;
        schema::migrate(&mut conn, version)?;
        let at = schema::applied(&mut conn)?;
        Ok(Store {
            conn,
            url: url.to_string(),
            version: at,
        })
    }

    /// The schema version the store is at.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The URL, without a password.
    pub fn url(&self) -> String {
        conn::redact(&self.url)
    }

    /// Adds a report in one transaction.
    pub fn add(&mut self, report: &Report) -> Result<Added, DetError> {
        let body = canonical_report(report)?;
        let sha = hex::encode(Sha256::digest(body.as_bytes()));
        write::add(&mut self.conn, report, &body, &sha, self.version)
    }

    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// A report's canonical bytes: compact JSON of the parsed report with every map's keys
/// sorted, so the same report read from a pretty or a compact file hashes the same.
pub fn canonical_report(report: &Report) -> Result<String, DetError> {
    let v =
        serde_json::to_value(report).map_err(|e| DetError::encode("cannot serialise report", e))?;
    Ok(canonical(&v))
}

/// SHA-256 (hex) of a report's canonical bytes: its name in the store.
pub fn report_sha256(report: &Report) -> Result<String, DetError> {
    Ok(hex::encode(Sha256::digest(
        canonical_report(report)?.as_bytes(),
    )))
}

/// Compact JSON with object keys sorted (whatever order the map keeps).
pub fn canonical(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(canonical).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// Now, RFC 3339 in UTC.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}}"#)
                .expect("json");
        assert_eq!(
            canonical(&v),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }
}
