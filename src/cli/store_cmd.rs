//! The results-store commands: `store add|info`, `history`, `export`, and the store hooks of
//! `run --store` and `check --baseline-from` (docs/interface.md, "The results store").

use crate::error::{DetError, Outcome};
use crate::report::{self, Report};
use crate::store::export::{ExportType, Metric};
use crate::store::{Added, Store};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Add run reports to a store (created and migrated as needed). Each report is one
    /// transaction; one already stored is left as it is, and said so.
    Add {
        /// A SQLite file path or postgres://...
        url: String,
        /// Run reports (detbench.report.v1).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Print the store's schema version, its migrations, reports and devices.
    Info {
        /// A SQLite file path or postgres://...
        url: String,
    },
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// nondeterministic, changes, first-change or cost.
    pub kind: String,
    /// A SQLite file path or postgres://...
    pub url: String,
    /// Only this device: its stored identity (as `store info` lists it) or a unique part.
    #[arg(long)]
    pub device: Option<String>,
    /// first-change: the result key (as `history changes` prints it) or a unique part.
    #[arg(long)]
    pub key: Option<String>,
    /// first-change: the smallest relative change of the median time that counts as a
    /// timing change (0.1: 10%).
    #[arg(long, default_value_t = 0.1)]
    pub threshold: f64,
    /// first-change: significance level of the two-sided Mann-Whitney test on timings.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Write the answer's data as JSON (`detbench.history.v1`) to PATH (`-`: stdout,
    /// instead of the text).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// Print the answer in this format (a renderer's name: text, md, html, ...).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// bencher (Bencher Metric Format) or github-action-benchmark (customSmallerIsBetter).
    pub format: String,
    /// A run report (.json), a SQLite store file or postgres://...: from a store, the newest
    /// complete stored report (of --device, when given).
    pub source: String,
    /// From a store: only this device's rows (its stored identity or a unique part).
    #[arg(long)]
    pub device: Option<String>,
    /// Where to write the JSON (`-`: stdout).
    #[arg(long, default_value = "-")]
    pub out: PathBuf,
}

/// True when `source` names a store rather than a report file: a postgres:// URL, or a
/// file that starts with SQLite's header.
pub fn is_store(source: &str) -> bool {
    if source.starts_with("postgres://") || source.starts_with("postgresql://") {
        return true;
    }
    let mut head = [0u8; 16];
    std::fs::File::open(source)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

pub fn store(a: &StoreArgs) -> Result<Outcome> {
    match &a.command {
        StoreCommand::Add { url, reports } => {
            let mut plan = crate::safety::Plan::new();
            for p in reports {
                plan = plan.input("report", p);
            }
            plan.check()?;
            // Every report is read and checked before the first is stored.
            let loaded: Vec<Report> = reports
                .iter()
                .map(|p| report::load_report(p))
                .collect::<Result<_, _>>()?;
            let mut st = Store::open(url)?;
            for (p, r) in reports.iter().zip(&loaded) {
                say_added(&st.add(r)?, &p.display().to_string(), &st.url());
            }
            Ok(Outcome::Ok)
        }
        StoreCommand::Info { url } => {
            let mut st = Store::open(url)?;
            let mut text = format!("store {} at schema version {}\n", st.url(), st.version());
            for (v, what) in crate::store::schema::migrations() {
                text += &format!("  migration {v}: {what}\n");
            }
            let reports = st.reports()?;
            text += &format!("{} report(s)\n", reports.len());
            for r in &reports {
                text += &format!(
                    "  {}  started {}  {} rows{}\n",
                    r.sha256,
                    r.started_at,
                    r.result_rows,
                    if r.partial { "  (partial)" } else { "" }
                );
            }
            let devices = st.devices()?;
            text += &format!("{} device(s)\n", devices.len());
            for d in devices {
                text += &format!("  {d}\n");
            }
            crate::safety::out(&text)?;
            Ok(Outcome::Ok)
        }
    }
}

/// One line on stderr per report added (or found already stored).
pub fn say_added(a: &Added, what: &str, url: &str) {
    match a {
        Added::New { sha256, rows } => {
            eprintln!("detbench: stored {what} as {sha256} ({rows} rows) in {url}")
        }
        Added::AlreadyStored { sha256 } => {
            eprintln!("detbench: {what} is already stored as {sha256} in {url}: nothing added")
        }
    }
}

pub fn history(a: &HistoryArgs) -> Result<Outcome> {
    let kind: crate::history::Kind = a.kind.parse()?;
    let format = a
        .format
        .as_deref()
        .map(str::parse::<crate::report::render::Format>)
        .transpose()?;
    crate::safety::Plan::new()
        .output("--json", a.json.as_deref())
        .check()?;
    let opts = crate::history::Options {
        kind,
        device: a.device.clone(),
        key: a.key.clone(),
        threshold: a.threshold,
        alpha: a.alpha,
    };
    crate::history::validate(&opts)?;
    let mut st = Store::open(&a.url)?;
    let doc = crate::history::build(&mut st, &opts)?;
    crate::history::emit(&doc, a.json.as_deref(), format)?;
    Ok(Outcome::Ok)
}

pub fn export(a: &ExportArgs) -> Result<Outcome> {
    let ty: ExportType = a.format.parse()?;
    crate::safety::Plan::new()
        .output("--out", Some(&a.out))
        .check()?;
    let metrics = if is_store(&a.source) {
        let mut st = Store::open(&a.source)?;
        let (report, _, device) = newest(&mut st, a.device.as_deref())?;
        let mut m = Metric::of_report(&report)?;
        if let Some(d) = device {
            m.retain(|x| x.name.ends_with(&format!(" on {d}")));
        }
        m
    } else {
        if a.device.is_some() {
            return Err(
                DetError::input("--device is for a store source, not a report file").into(),
            );
        }
        crate::safety::Plan::new()
            .input("report", Path::new(&a.source))
            .check()?;
        Metric::of_report(&report::load_report(Path::new(&a.source))?)?
    };
    let text = serde_json::to_string_pretty(&ty.exporter().export(&metrics))? + "\n";
    if a.out.as_os_str() == "-" {
        crate::safety::out(&text)?;
    } else {
        report::write_atomic(&a.out, text.as_bytes())?;
        eprintln!(
            "detbench: wrote {} metrics ({}) to {}",
            metrics.len(),
            ty.name(),
            a.out.display()
        );
    }
    Ok(Outcome::Ok)
}

/// The newest complete stored report (of `device` when given) and the device it resolved to.
fn newest(
    st: &mut Store,
    device: Option<&str>,
) -> Result<(Report, String, Option<String>), DetError> {
    match device {
        Some(d) => {
            let id = st.resolve_device(d)?;
            let Some(h) = st.newest_report_for(&id)? else {
                return Err(DetError::input(format!(
                    "--device {id}: the store has no complete report of it"
                )));
            };
            Ok((st.report(&h.sha256)?, h.sha256, Some(id)))
        }
        None => {
            let Some(h) = st.reports()?.into_iter().rev().find(|r| !r.partial) else {
                return Err(DetError::input(format!(
                    "store {} holds no complete report",
                    st.url()
                )));
            };
            Ok((st.report(&h.sha256)?, h.sha256, None))
        }
    }
}

/// `check --baseline-from URL --device ID`: the newest complete stored report with rows
/// of the device, reduced to that device's rows (and its entry in the device list).
pub fn baseline_from_store(url: &str, device: &str) -> Result<(Report, String), DetError> {
    let mut st = Store::open(url)?;
    let (mut report, sha, id) = newest(&mut st, Some(device))?;
    let id = id.unwrap_or_default();
    let env = report.env.clone();
    report
        .results
        .retain(|r| crate::report::key::DeviceId::of(r, &env).to_string() == id);
    Ok((report, format!("{} report {sha} ({id})", st.url())))
}
