//! The results store on SQLite and on a real PostgreSQL server: content addressing,
//! append-only tables, two writers at once, a writer killed mid-report, and the migration
//! from the schema's first version.

use crate::common::cli::{bin, wait_within};
use crate::common::store::{
    deterministic_wgpu_row, fresh, lavapipe, raw_count, raw_exec, series, with_mesa, write_all,
};
use crate::store_tests;
use detbench::store::read::Filter;
use detbench::store::{Added, Store};
use std::time::{Duration, Instant};

fn wait_for(path: &std::path::Path, child: &mut std::process::Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(s) = child.try_wait().expect("try_wait") {
            panic!("the writer exited ({s}) before it reached the middle of the report");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the writer never reached the middle of the report"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

store_tests! {
    /// The same report twice is one stored report (its SHA-256 names it, pretty or compact
    /// file alike); the second add says so and writes nothing. Stored rows cannot be
    /// updated or deleted, even by hand.
    fn same_report_twice_is_stored_once_and_rows_are_append_only(db) {
        let f = fresh(db, "same_report_twice");
        let r = lavapipe();
        let mut st = Store::open(&f.url).expect("open");
        let first = st.add(&r).expect("add");
        let Added::New { sha256, rows } = first.clone() else { panic!("{first:?}") };
        assert_eq!(rows, r.results.len());
        assert_eq!(sha256, detbench::store::report_sha256(&r).expect("sha"));
        assert_eq!(st.add(&r).expect("add again"), Added::AlreadyStored { sha256: sha256.clone() });
        // Through the command line, from a compact file: the same name, "already stored".
        let p = f.path("compact.json");
        std::fs::write(&p, serde_json::to_vec(&r).expect("json")).expect("write");
        let out = bin().args(["store", "add", &f.url]).arg(&p).output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("already stored") && err.contains(&sha256), "{err}");
        assert_eq!(st.reports().expect("reports").len(), 1);
        assert_eq!(raw_count(&f.url, "SELECT COUNT(*) FROM results"), r.results.len() as i64);
        for sql in [
            "UPDATE results SET fingerprint = 'x'",
            "DELETE FROM results",
            "UPDATE reports SET body = '{}'",
            "DELETE FROM environments",
        ] {
            let e = raw_exec(&f.url, sql).expect_err(sql);
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(raw_count(&f.url, "SELECT COUNT(*) FROM results"), r.results.len() as i64);
    }

    /// Two writers at once lose nothing: the first holds its transaction open halfway
    /// through a report while the second writes five reports and one they share.
    fn two_writers_at_once_lose_nothing(db) {
        let f = fresh(db, "two_writers");
        let reports = series(10);
        let files = write_all(f.dir.path(), &reports);
        let rows = reports[0].results.len() as i64;
        // Created and migrated before either writer starts, as `run --store` would find it.
        drop(Store::open(&f.url).expect("open"));
        let marker = f.path("holding");
        let mut a = bin()
            .args(["store", "add", &f.url])
            .args(&files[0..5])
            .arg(&files[9])
            .env(detbench::store::write::HOLD_ENV, &marker)
            .env(detbench::store::write::HOLD_MS_ENV, "1500")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn writer a");
        wait_for(&marker, &mut a);
        let mut b = bin()
            .args(["store", "add", &f.url])
            .args(&files[5..10])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn writer b");
        let sa = wait_within(&mut a, Duration::from_secs(300)).expect("writer a finishes");
        let sb = wait_within(&mut b, Duration::from_secs(300)).expect("writer b finishes");
        let err = |c: &mut std::process::Child| {
            let mut s = String::new();
            std::io::Read::read_to_string(c.stderr.as_mut().expect("stderr"), &mut s).expect("read");
            s
        };
        let (ea, eb) = (err(&mut a), err(&mut b));
        assert!(sa.success() && sb.success(), "a: {ea}\nb: {eb}");
        assert_eq!(
            (ea + &eb).matches("already stored").count(),
            1,
            "the shared report is stored once, and one writer says so"
        );
        let mut st = Store::open(&f.url).expect("open");
        assert_eq!(st.reports().expect("reports").len(), 10);
        assert_eq!(raw_count(&f.url, "SELECT COUNT(*) FROM results"), 10 * rows);
        assert_eq!(st.rows(&Filter::default()).expect("rows").len() as i64, 10 * rows);
    }

    /// A writer killed (SIGKILL) halfway through a report's rows leaves nothing of it
    /// visible, and the same report can then be stored whole.
    fn a_writer_killed_mid_report_leaves_no_half_report(db) {
        let f = fresh(db, "killed_writer");
        let r = lavapipe();
        let files = write_all(f.dir.path(), std::slice::from_ref(&r));
        drop(Store::open(&f.url).expect("open"));
        let marker = f.path("holding");
        let mut w = bin()
            .args(["store", "add", &f.url])
            .arg(&files[0])
            .env(detbench::store::write::HOLD_ENV, &marker)
            .spawn()
            .expect("spawn writer");
        wait_for(&marker, &mut w);
        w.kill().expect("SIGKILL");
        w.wait().expect("reap");
        for table in ["reports", "results", "environments"] {
            assert_eq!(raw_count(&f.url, &format!("SELECT COUNT(*) FROM {table}")), 0, "{table}");
        }
        let mut st = Store::open(&f.url).expect("open after the kill");
        assert!(st.reports().expect("reports").is_empty());
        assert!(matches!(st.add(&r).expect("add"), Added::New { rows, .. } if rows == r.results.len()));
    }

    /// A store made at schema version 1 (no environment table) is migrated to the current
    /// version on open: its reports' environments are filled from their stored bodies, and
    /// history names the Mesa change between them.
    fn a_store_of_schema_version_1_is_migrated(db) {
        let f = fresh(db, "migrate_v1");
        let mut reports = series(2);
        let (i, key) = deterministic_wgpu_row(&reports[1]);
        with_mesa(&mut reports[1], "Mesa 22.3.6", "Mesa 24.0.1");
        reports[1].results[i].fingerprint = Some("0".repeat(64));
        {
            let mut old = Store::open_at(&f.url, 1).expect("open at version 1");
            assert_eq!(old.version(), 1);
            for r in &reports {
                assert!(matches!(old.add(r).expect("add at v1"), Added::New { .. }));
            }
        }
        assert!(raw_exec(&f.url, "SELECT 1 FROM environments").is_err(), "version 1 has no environments table");
        assert_eq!(raw_count(&f.url, "SELECT MAX(version) FROM schema_version"), 1);
        let mut st = Store::open(&f.url).expect("migrate");
        assert_eq!(st.version(), detbench::store::schema::CURRENT);
        assert_eq!(raw_count(&f.url, "SELECT MAX(version) FROM schema_version"), detbench::store::schema::CURRENT);
        let rows = st.rows(&Filter { device: None, key: Some(key.to_string()) }).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].env.mesa.as_str(), rows[1].env.mesa.as_str()), ("22.3.6", "24.0.1"));
        let (changes, _) = detbench::history::changes_of(&st.rows(&Filter::default()).expect("rows"));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].key, key.to_string());
        assert!(changes[0].environment.iter().any(|e| e.column == "mesa" && e.before == "22.3.6" && e.after == "24.0.1"));
        // Opening again migrates nothing twice.
        drop(st);
        assert_eq!(Store::open(&f.url).expect("reopen").version(), detbench::store::schema::CURRENT);
        assert_eq!(raw_count(&f.url, "SELECT COUNT(*) FROM schema_version"), detbench::store::schema::CURRENT);
    }
}

/// Bad URLs and reports exit 2 with one line, before anything is written.
#[test]
fn bad_store_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no/such/folder/results.db");
    let report = dir.path().join("r.json");
    detbench::report::write_report(&report, &lavapipe()).expect("write");
    let not_json = dir.path().join("bad.json");
    std::fs::write(&not_json, b"{").expect("write");
    let db = dir.path().join("results.db").display().to_string();
    for (args, needle) in [
        (
            vec![
                "store".into(),
                "add".into(),
                missing.display().to_string(),
                report.display().to_string(),
            ],
            "does not exist",
        ),
        (
            vec![
                "store".into(),
                "add".into(),
                db.clone(),
                not_json.display().to_string(),
            ],
            "not valid JSON",
        ),
        (
            vec!["history".into(), "sideways".into(), db.clone()],
            "unknown history kind",
        ),
        (
            vec!["history".into(), "first-change".into(), db.clone()],
            "--key",
        ),
        (
            vec!["export".into(), "csv".into(), report.display().to_string()],
            "unknown export format",
        ),
    ] {
        let out = bin().args(&args).output().expect("run");
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::common::cli::check_bad_input(&a, &out, needle);
    }
    // The report that failed to parse was not half-stored: the store holds nothing.
    if std::path::Path::new(&db).exists() {
        assert!(Store::open(&db)
            .expect("open")
            .reports()
            .expect("reports")
            .is_empty());
    }
}

/// `run --store` adds the finished report, whole, under the SHA-256 of its canonical bytes
/// (the same as `store add` of the written file); a store URL that cannot be opened exits 2
/// before any case runs.
#[test]
fn run_store_adds_the_report_it_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("results.db").display().to_string();
    let json = dir.path().join("r.json");
    let run = |store: &str| {
        bin()
            .args([
                "run",
                "--backend",
                "cpu",
                "--op",
                "sum",
                "--precision",
                "f32",
            ])
            .args([
                "--variant",
                "tree,atomic_cas",
                "--size",
                "1000",
                "--runs",
                "3",
            ])
            .args(["--no-copy-baseline", "--quiet", "--store", store, "--json"])
            .arg(&json)
            .output()
            .expect("run")
    };
    let out = run(&db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = detbench::report::load_report(&json).expect("report");
    let sha = detbench::store::report_sha256(&written).expect("sha");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&sha));
    let mut st = Store::open(&db).expect("open");
    let stored = st.reports().expect("reports");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sha256, sha);
    assert_eq!(stored[0].result_rows as usize, written.results.len());
    assert_eq!(
        st.report(&sha).expect("body").results,
        written.results,
        "the stored report is the written one"
    );
    std::fs::remove_file(&json).expect("rm");
    let bad = dir.path().join("no/such/dir/x.db").display().to_string();
    let out = run(&bad);
    crate::common::cli::check_bad_input(&["run", "--store", &bad], &out, "does not exist");
    assert!(!json.exists(), "nothing ran");
}
