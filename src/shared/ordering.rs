//! The atomic memory ordering and scope a result was run with: a field of every report row
//! and a parameter of the CUDA atomic entry points.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Atomic memory ordering and scope of an atomic variant. Non-atomic variants use `None`.
/// In reports (the `ordering` field) it is written as [`Ordering::name`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Ordering {
    /// Not an atomic variant.
    #[default]
    #[serde(rename = "none")]
    None,
    /// Relaxed (WGSL atomics are always relaxed at device scope).
    #[serde(rename = "relaxed")]
    Relaxed,
    #[serde(rename = "relaxed.cta")]
    RelaxedCta,
    #[serde(rename = "relaxed.gpu")]
    RelaxedGpu,
    #[serde(rename = "acq_rel.cta")]
    AcqRelCta,
    #[serde(rename = "acq_rel.gpu")]
    AcqRelGpu,
    #[serde(rename = "seq_cst.cta")]
    SeqCstCta,
    #[serde(rename = "seq_cst.gpu")]
    SeqCstGpu,
}

impl Ordering {
    /// The ordering a prepared job starts with: relaxed for an atomic variant (what the
    /// non-CUDA backends run; the CUDA runner sets each of [`Ordering::CUDA`] in turn), none
    /// for an ordered one.
    pub fn initial(atomic: bool) -> Ordering {
        if atomic {
            Ordering::Relaxed
        } else {
            Ordering::None
        }
    }

    /// The orderings CUDA atomic variants are run with.
    pub const CUDA: [Ordering; 6] = [
        Ordering::RelaxedGpu,
        Ordering::RelaxedCta,
        Ordering::AcqRelGpu,
        Ordering::AcqRelCta,
        Ordering::SeqCstGpu,
        Ordering::SeqCstCta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::Relaxed => "relaxed",
            Ordering::RelaxedCta => "relaxed.cta",
            Ordering::RelaxedGpu => "relaxed.gpu",
            Ordering::AcqRelCta => "acq_rel.cta",
            Ordering::AcqRelGpu => "acq_rel.gpu",
            Ordering::SeqCstCta => "seq_cst.cta",
            Ordering::SeqCstGpu => "seq_cst.gpu",
        }
    }
}

impl fmt::Display for Ordering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Compares with the report name (`r.ordering == "none"`).
impl PartialEq<&str> for Ordering {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl FromStr for Ordering {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let all = [
            Ordering::None,
            Ordering::Relaxed,
            Ordering::RelaxedCta,
            Ordering::RelaxedGpu,
            Ordering::AcqRelCta,
            Ordering::AcqRelGpu,
            Ordering::SeqCstCta,
            Ordering::SeqCstGpu,
        ];
        all.into_iter()
            .find(|o| o.name() == s.trim())
            .ok_or_else(|| format!("unknown ordering '{}' (expected relaxed, relaxed.cta, relaxed.gpu, acq_rel.cta, acq_rel.gpu, seq_cst.cta or seq_cst.gpu)", s.trim()))
    }
}
