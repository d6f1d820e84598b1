//! The store's one schema and its versioned migrations. A store records the versions it has
//! applied in `schema_version`; opening it applies the missing ones, in order, inside one
//! transaction that holds the writer lock (SQLite's `BEGIN IMMEDIATE`, a PostgreSQL
//! advisory lock), so two processes opening a new store at once migrate it once.
//!
//! Tables are append-only: triggers refuse UPDATE and DELETE on every data table, so a
//! stored report is never changed in place.

use super::conn::{Conn, Dialect, Val};
use crate::error::DetError;

/// The schema version this detbench writes.
pub const CURRENT: i64 = 2;

/// PostgreSQL advisory-lock key held while migrating ("detb" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x6465_7462;

/// One migration: its version and its statements (shared, then per database).
struct Migration {
    version: i64,
    what: &'static str,
    common: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "reports (content-addressed) and their result rows",
        common: "
CREATE TABLE reports (
    sha256 TEXT PRIMARY KEY,
    added_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    detbench_commit TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    partial BIGINT NOT NULL,
    result_rows BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE results (
    report_sha256 TEXT NOT NULL REFERENCES reports(sha256),
    result_key TEXT NOT NULL,
    device TEXT NOT NULL,
    device_name TEXT NOT NULL,
    case_label TEXT NOT NULL,
    backend TEXT NOT NULL,
    op TEXT NOT NULL,
    variant TEXT NOT NULL,
    precision TEXT NOT NULL,
    accumulator TEXT NOT NULL,
    ordering TEXT NOT NULL,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    deterministic_variant BIGINT NOT NULL,
    bitwise_reproducible BIGINT,
    distinct_outputs BIGINT,
    fingerprint TEXT,
    median_ms DOUBLE PRECISION,
    times_ms TEXT NOT NULL,
    PRIMARY KEY (report_sha256, result_key)
);
",
        sqlite: "
CREATE TRIGGER reports_append_only_u BEFORE UPDATE ON reports
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
CREATE TRIGGER reports_append_only_d BEFORE DELETE ON reports
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
CREATE TRIGGER results_append_only_u BEFORE UPDATE ON results
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
CREATE TRIGGER results_append_only_d BEFORE DELETE ON results
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
",
        postgres: "
CREATE FUNCTION detbench_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the detbench store is append-only'; END $$;
CREATE TRIGGER reports_append_only BEFORE UPDATE OR DELETE ON reports
    FOR EACH ROW EXECUTE FUNCTION detbench_append_only();
CREATE TRIGGER results_append_only BEFORE UPDATE OR DELETE ON results
    FOR EACH ROW EXECUTE FUNCTION detbench_append_only();
",
    },
    Migration {
        version: 2,
        what: "environment columns per report and device; indexes by key and device",
        common: "
CREATE TABLE environments (
    report_sha256 TEXT NOT NULL REFERENCES reports(sha256),
    device TEXT NOT NULL,
    driver TEXT NOT NULL,
    toolkit TEXT NOT NULL,
    mesa TEXT NOT NULL,
    llvm TEXT NOT NULL,
    detbench_commit TEXT NOT NULL,
    kernel_hashes TEXT NOT NULL,
    compile_options TEXT NOT NULL,
    os TEXT NOT NULL,
    PRIMARY KEY (report_sha256, device)
);
CREATE INDEX results_by_key ON results (result_key);
CREATE INDEX results_by_device ON results (device);
CREATE INDEX environments_by_mesa ON environments (mesa);
CREATE INDEX environments_by_driver ON environments (driver);
",
        sqlite: "
CREATE TRIGGER environments_append_only_u BEFORE UPDATE ON environments
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
CREATE TRIGGER environments_append_only_d BEFORE DELETE ON environments
    BEGIN SELECT RAISE(ABORT, 'the detbench store is append-only'); END;
",
        postgres: "
CREATE TRIGGER environments_append_only BEFORE UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION detbench_append_only();
",
    },
];

/// The schema version a store is at (0 for an empty database).
pub fn version(conn: &mut Conn) -> Result<i64, DetError> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    applied(conn)
}

/// Brings the store to `target` (at most [`CURRENT`]), running each missing migration and
/// its backfill (rows the new tables need for reports stored before them) in one
/// transaction. A store newer than this detbench is refused.
pub fn migrate(conn: &mut Conn, target: i64) -> Result<(), DetError> {
    // A store already at the target needs no writer lock (a reader never waits for a
    // writer's report transaction).
    if let Ok(at) = applied(conn) {
        if at >= target {
            return too_new(at);
        }
    }
    conn.begin()?;
    let r = migrate_in_transaction(conn, target);
    match r {
        Ok(()) => conn.commit(),
        Err(e) => {
            conn.rollback();
            Err(e)
        }
    }
}

fn migrate_in_transaction(conn: &mut Conn, target: i64) -> Result<(), DetError> {
    if conn.dialect() == Dialect::Postgres {
        conn.batch(&format!(
            "SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"
        ))?;
    }
    let at = version(conn)?;
    too_new(at)?;
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > at && m.version <= target)
    {
        conn.batch(m.common)?;
        conn.batch(match conn.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        })?;
        if m.version == 2 {
            super::write::backfill_environments(conn)?;
        }
        conn.exec(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            &[Val::Int(m.version), super::now().into()],
        )?;
    }
    Ok(())
}

/// The version of a migrated store (read only).
pub fn applied(conn: &mut Conn) -> Result<i64, DetError> {
    let rows = conn.query("SELECT MAX(version) FROM schema_version", &[])?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Val::int)
        .unwrap_or(0))
}

/// A store newer than this detbench is refused.
fn too_new(at: i64) -> Result<(), DetError> {
    if at > CURRENT {
        return Err(DetError::input(format!(
            "store: its schema is at version {at}, this detbench knows versions up to {CURRENT}: use a newer detbench"
        )));
    }
    Ok(())
}

/// Every migration as (version, what it adds), for `store info` and the docs.
pub fn migrations() -> Vec<(i64, &'static str)> {
    MIGRATIONS.iter().map(|m| (m.version, m.what)).collect()
}
