//! What `check` says about one result key: findings (regressions) and notes.

use crate::report::key::ResultKey;

/// Numeric or performance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Numeric,
    Performance,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Performance => "performance",
        }
    }
}

/// One regression: what changed, its likely cause and what to do.
#[derive(Clone, Debug)]
pub struct Finding {
    pub kind: Kind,
    /// A defect of the current report on its own terms (a deterministic variant that is not
    /// reproducible, an ok case that no longer runs ok, lost batch invariance), as opposed
    /// to a change to be understood (other bits, a grown error, a smaller matrix, a
    /// slowdown): `check --accept` refuses to make such a report the baseline without
    /// `--force`.
    pub blocks_accept: bool,
    pub what: String,
    pub cause: String,
    pub todo: String,
}

impl Finding {
    /// "what; likely cause: ...; to do: ...".
    pub fn sentence(&self) -> String {
        format!(
            "{}; likely cause: {}; to do: {}",
            self.what, self.cause, self.todo
        )
    }
}

/// What the check found for one result key.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub key: ResultKey,
    pub findings: Vec<Finding>,
    /// Things worth knowing that are not regressions.
    pub notes: Vec<String>,
    /// A slowdown beyond every threshold, with its p-value, before the correction for
    /// the number of such rows.
    pub slowdown: Option<(f64, Finding)>,
}
