//! Shared plumbing for the results-store tests: one fresh store per test, on SQLite (a file
//! in a temporary folder) or on the real PostgreSQL server (a new database in the server
//! that DETBENCH_TEST_POSTGRES names; scripts/services.sh starts it), and series of real
//! reports that differ where a test needs them to.
//!
//! `store_tests!` writes each test body once and runs it on both databases (cubecl's one
//! body per backend). The PostgreSQL copy is compiled as ignored, with its reason, where the
//! build saw neither DETBENCH_TEST_POSTGRES nor DETBENCH_REQUIRE_SERVICES
//! (`build/probes.rs`: `detbench_postgres`); where it runs, a missing server fails it.

use detbench::report::key::ResultKey;
use detbench::report::Report;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh, empty store for one test: its URL, and the folder that holds the test's files.
pub struct Fresh {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Fresh {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

static N: AtomicUsize = AtomicUsize::new(0);

pub fn fresh(db: Db, test: &str) -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match db {
        Db::Sqlite => dir.path().join("results.db").display().to_string(),
        Db::Postgres => {
            let base = std::env::var("DETBENCH_TEST_POSTGRES").unwrap_or_else(|_| {
                panic!("DETBENCH_TEST_POSTGRES is unset, though the build was told to expect PostgreSQL (DETBENCH_REQUIRE_SERVICES): start it with scripts/services.sh")
            });
            let name = format!(
                "detbench_{}_{}_{}",
                test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            let mut admin = postgres::Client::connect(&base, postgres::NoTls)
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {base}: {e}"));
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create a database for the test");
            match base.rfind('/') {
                Some(i) if i > "postgres://".len() => format!("{}/{name}", &base[..i]),
                _ => panic!("DETBENCH_TEST_POSTGRES {base} names no database"),
            }
        }
    };
    Fresh { url, dir }
}

/// Runs one statement on the store's database directly (not through detbench); the
/// database's error text when it refuses.
pub fn raw_exec(url: &str, sql: &str) -> Result<(), String> {
    if url.starts_with("postgres://") {
        let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
        c.batch_execute(sql).map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        })
    } else {
        let c = rusqlite::Connection::open(url).map_err(|e| e.to_string())?;
        c.execute_batch(sql).map_err(|e| e.to_string())
    }
}

/// One number from a query run directly on the store's database.
pub fn raw_count(url: &str, sql: &str) -> i64 {
    if url.starts_with("postgres://") {
        let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
        c.query_one(sql, &[]).expect("query").get::<_, i64>(0)
    } else {
        let c = rusqlite::Connection::open(url).expect("open");
        c.query_row(sql, [], |r| r.get(0)).expect("query")
    }
}

/// The committed lavapipe report of sum and dot (cpu and wgpu rows, Mesa 22.3.6).
pub fn lavapipe() -> Report {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/lavapipe/reduce.json");
    detbench::report::load_report(&p).expect("reports/lavapipe/reduce.json")
}

/// `n` runs of the lavapipe report, started an hour apart (so each is its own stored report).
pub fn series(n: usize) -> Vec<Report> {
    let base = lavapipe();
    (0..n)
        .map(|i| {
            let mut r = base.clone();
            r.env.started_at = format!("2026-12-01T{i:02}:00:00Z");
            r
        })
        .collect()
}

/// The first ok row of a deterministic wgpu variant with a fingerprint: its index and key.
pub fn deterministic_wgpu_row(r: &Report) -> (usize, ResultKey) {
    let i = r
        .results
        .iter()
        .position(|x| {
            x.backend == "wgpu"
                && x.deterministic_variant
                && x.status == "ok"
                && x.fingerprint.is_some()
        })
        .expect("a deterministic wgpu row");
    (i, ResultKey::of(&r.results[i], &r.env))
}

/// Moves the report's wgpu device to another Mesa version (driver string and all).
pub fn with_mesa(r: &mut Report, from: &str, to: &str) {
    for d in r.env.devices.iter_mut().filter(|d| d.backend == "wgpu") {
        assert!(d.driver.contains(from), "{}", d.driver);
        d.driver = d.driver.replace(from, to);
    }
}

/// Writes the reports as files in `dir`: r0.json, r1.json, ...
pub fn write_all(dir: &Path, reports: &[Report]) -> Vec<PathBuf> {
    reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = dir.join(format!("r{i}.json"));
            detbench::report::write_report(&p, r).expect("write report");
            p
        })
        .collect()
}

/// Declares each test twice: `sqlite::name` and `postgres::name`, the body taking a `Db`.
#[macro_export]
macro_rules! store_tests {
    ($($(#[$meta:meta])* fn $name:ident($db:ident) $body:block)*) => {
        $( $(#[$meta])* fn $name($db: $crate::common::store::Db) $body )*
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::store::Db::Sqlite) } )*
        }
        mod postgres {
            $(
                #[test]
                #[cfg_attr(
                    not(detbench_postgres),
                    ignore = "needs PostgreSQL: DETBENCH_TEST_POSTGRES was unset at build time (scripts/services.sh start prints it)"
                )]
                fn $name() { super::$name($crate::common::store::Db::Postgres) }
            )*
        }
    };
}
