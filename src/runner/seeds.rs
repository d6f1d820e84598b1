//! Several seeds per run (`run --seed 1..20`), so that a tolerance band is fitted over the
//! input class rather than one draw: parsing the list, the matrix once per seed, and the
//! list in the report's provenance.

use crate::error::DetError;
use crate::ops::Case;
use crate::report::Env;

/// The most seeds one run may ask for: far more than any band needs, and a typo such as
/// `1..1000000000` is refused instead of expanding to a matrix that never ends.
pub const MAX_SEEDS: u64 = 100_000;

/// Parses `7`, `1,2,3`, `1..20` (inclusive) or a mix such as `1..5,9`; duplicates are
/// dropped, the order kept.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, DetError> {
    let bad = |p: &str| {
        DetError::input(format!(
            "--seed: '{p}' is not a seed (a non-negative integer) or an inclusive range A..B"
        ))
    };
    let mut out: Vec<u64> = Vec::new();
    // Duplicates are found in a set: a scan of `out` per seed made 100,000 seeds quadratic.
    let mut seen = std::collections::HashSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once("..") {
            Some((a, b)) => {
                let b = b.strip_prefix('=').unwrap_or(b);
                let lo: u64 = a.trim().parse().map_err(|_| bad(part))?;
                let hi: u64 = b.trim().parse().map_err(|_| bad(part))?;
                if hi < lo {
                    return Err(DetError::input(format!(
                        "--seed: range '{part}' is empty (its end is below its start)"
                    )));
                }
                (lo, hi)
            }
            None => {
                let v: u64 = part.parse().map_err(|_| bad(part))?;
                (v, v)
            }
        };
        if hi - lo >= MAX_SEEDS || out.len() as u64 + (hi - lo) >= MAX_SEEDS {
            return Err(DetError::input(format!(
                "--seed: more than {MAX_SEEDS} seeds asked for"
            )));
        }
        out.extend((lo..=hi).filter(|v| seen.insert(*v)));
    }
    if out.is_empty() {
        return Err(DetError::input("--seed is empty"));
    }
    Ok(out)
}

/// The matrix once per seed, seed by seed: a seed's cases stay together, so inputs drawn
/// once per (input, size, seed) are reused by every variant (see `inputs::generate`).
pub fn expand_seeds(cases: Vec<Case>, seeds: &[u64]) -> Vec<Case> {
    if seeds.len() <= 1 {
        let mut cases = cases;
        if let Some(&s) = seeds.first() {
            for c in &mut cases {
                c.seed = s;
            }
        }
        return cases;
    }
    seeds
        .iter()
        .flat_map(|&s| {
            cases.iter().map(move |c| Case {
                seed: s,
                ..c.clone()
            })
        })
        .collect()
}

/// Records the seed list in the report's provenance when there is more than one
/// (`env.seed` keeps the first).
pub fn record_seeds(env: &mut Env, seeds: &[u64]) {
    if seeds.len() > 1 {
        env.extra.insert("seeds".into(), serde_json::json!(seeds));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_lists_and_ranges() {
        assert_eq!(parse_seeds("7").unwrap(), vec![7]);
        assert_eq!(parse_seeds("1..4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_seeds("1..=3, 9,2").unwrap(), vec![1, 2, 3, 9]);
        for bad in ["", "x", "3..1", "-1", "1..", "0..200000"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }
}
