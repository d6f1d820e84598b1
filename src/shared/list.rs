//! Comma lists on the command line, shared by every command that takes one (`run`,
//! `train`): empty entries are errors, `all` expands, repeats run once.

use crate::error::DetError;
use std::str::FromStr;

/// The entries of a comma (or other `sep`) list, trimmed. An empty list or an empty entry
/// (`""`, `"a,,b"`, `";;"`) is an error, never a silent default.
pub fn split_list<'a>(flag: &str, s: &'a str, sep: char) -> Result<Vec<&'a str>, DetError> {
    let parts: Vec<&str> = s.split(sep).map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err(DetError::input(format!("--{flag} is empty")));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(DetError::input(format!("--{flag}: empty entry in '{s}'")));
    }
    Ok(parts)
}

/// Drops repeated entries, keeping the first: `--size 64,64` runs once, not twice under
/// one key.
pub fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Splits a comma list; `all` expands to `all_values`. Repeats are dropped.
pub fn parse_list<T: FromStr<Err = String> + Clone + PartialEq>(
    flag: &str,
    s: &str,
    all_values: &[T],
) -> Result<Vec<T>, DetError> {
    let mut out = Vec::new();
    for part in split_list(flag, s, ',')? {
        if part == "all" {
            out.extend_from_slice(all_values);
        } else {
            out.push(
                part.parse()
                    .map_err(|e: String| DetError::input(format!("--{flag}: {e}")))?,
            );
        }
    }
    Ok(dedup(out))
}

/// A comma list of sizes (`--size`, `--bins`, `--row-len`...): integers with optional `_`
/// separators or powers `2^k`, each at least 1. Repeats are dropped.
pub fn parse_sizes(flag: &str, s: &str) -> Result<Vec<usize>, DetError> {
    split_list(flag, s, ',')?
        .into_iter()
        .map(|p| {
            let v: usize = if let Some(e) = p.strip_prefix("2^") {
                e.parse::<u32>()
                    .ok()
                    .and_then(|e| 1usize.checked_shl(e))
                    .ok_or(())
            } else {
                p.replace('_', "").parse().map_err(|_| ())
            }
            .map_err(|_| DetError::input(format!("--{flag}: '{p}' is not a size")))?;
            if v == 0 {
                return Err(DetError::input(format!(
                    "--{flag}: size must be at least 1"
                )));
            }
            Ok(v)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(dedup)
}

/// A shape flag (`--conv-shape`, `--mm-shape`): several shapes separated by ';', each
/// parsed by `parse`; absent: none (the family's default). Repeats are dropped.
pub fn parse_shapes(
    flag: &str,
    s: Option<&str>,
    parse: fn(&str) -> Result<Vec<usize>, DetError>,
) -> Result<Vec<Vec<usize>>, DetError> {
    match s {
        Some(s) => Ok(dedup(
            split_list(flag, s, ';')?
                .into_iter()
                .map(parse)
                .collect::<Result<_, _>>()?,
        )),
        None => Ok(Vec::new()),
    }
}
