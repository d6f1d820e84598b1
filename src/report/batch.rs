//! The batch axis in reports (`run --batch-sizes`): whether each kernel kept the bits of the
//! rows every batch shares, and what invariance costs at each batch size (the fastest
//! variant next to the fastest batch-invariant one: the table a serving engineer needs).

use super::inputs::device_label;
use super::view::{Block, Table};
use super::ResultRecord;

/// Headers of [`invariance_rows`].
pub const INVARIANCE_HEADERS: [&str; 8] = [
    "device",
    "op",
    "prec",
    "acc",
    "variant",
    "batch sizes",
    "batch invariant",
    "max ulp across batches",
];

/// Headers of [`cost_rows`].
pub const COST_HEADERS: [&str; 8] = [
    "device",
    "op",
    "prec",
    "batch",
    "fastest",
    "ms",
    "fastest batch invariant",
    "cost",
];

/// The shape without its batch dimension, as text.
fn rest_of_shape(r: &ResultRecord) -> String {
    r.shape
        .as_ref()
        .and_then(|s| s.as_array())
        .map(|a| serde_json::Value::Array(a[1.min(a.len())..].to_vec()).to_string())
        .unwrap_or_default()
}

/// One row per kernel on the batch axis: its batch sizes, whether the shared rows kept
/// their bits at all of them, and the largest ULP distance.
pub fn invariance_rows(results: &[&ResultRecord]) -> Vec<Vec<String>> {
    let mut rows: Vec<(Vec<String>, Vec<u64>, bool, u64)> = Vec::new();
    for &r in results {
        let (Some(b), Some(inv), Some(ulp)) =
            (r.batch_size, r.batch_invariant, r.max_ulp_across_batches)
        else {
            continue;
        };
        let key = vec![
            device_label(r),
            r.op.clone(),
            r.precision.clone(),
            r.accumulator.clone(),
            format!("{} {}", r.variant, rest_of_shape(r)),
            format!("{} {} {}", r.ordering, r.input, r.seed),
        ];
        match rows.iter_mut().find(|(k, ..)| *k == key) {
            Some((_, sizes, _, _)) => sizes.push(b),
            None => rows.push((key, vec![b], inv, ulp)),
        }
    }
    rows.into_iter()
        .map(|(k, mut sizes, inv, ulp)| {
            sizes.sort_unstable();
            let mut v: Vec<String> = k[..5].to_vec();
            v.push(
                sizes
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            v.push(if inv { "yes" } else { "no" }.into());
            v.push(ulp.to_string());
            v
        })
        .collect()
}

/// One row per (device, op, precision, batch size): the fastest variant by median time,
/// and the fastest variant that was batch invariant, with its time relative to the fastest.
pub fn cost_rows(results: &[&ResultRecord]) -> Vec<Vec<String>> {
    let mut keys: Vec<(String, String, String, u64)> = Vec::new();
    for &r in results {
        if let (Some(b), Some(_)) = (r.batch_size, r.median_ms) {
            let k = (device_label(r), r.op.clone(), r.precision.clone(), b);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter()
        .map(|(d, op, p, b)| {
            let cell: Vec<&ResultRecord> = results
                .iter()
                .copied()
                .filter(|r| {
                    device_label(r) == d
                        && r.op == op
                        && r.precision == p
                        && r.batch_size == Some(b)
                })
                .filter(|r| r.median_ms.is_some())
                .collect();
            let fastest = quickest(cell.iter().copied());
            let inv = quickest(
                cell.iter()
                    .copied()
                    .filter(|r| r.batch_invariant == Some(true)),
            );
            let ms = |r: Option<&ResultRecord>| {
                r.and_then(|r| r.median_ms)
                    .map(|t| format!("{t:.3}"))
                    .unwrap_or_else(|| "-".into())
            };
            let cost = match (
                fastest.and_then(|r| r.median_ms),
                inv.and_then(|r| r.median_ms),
            ) {
                (Some(f), Some(i)) if f > 0.0 => format!("{:.2}x", i / f),
                _ => "-".into(),
            };
            vec![
                d,
                op,
                p,
                b.to_string(),
                fastest.map(|r| r.variant.clone()).unwrap_or_default(),
                ms(fastest),
                inv.map(|r| format!("{} ({} ms)", r.variant, ms(Some(r))))
                    .unwrap_or_else(|| "none".into()),
                cost,
            ]
        })
        .collect()
}

/// The record with the smallest median time.
fn quickest<'a>(rs: impl Iterator<Item = &'a ResultRecord>) -> Option<&'a ResultRecord> {
    rs.min_by(|x, y| {
        let t = |r: &ResultRecord| r.median_ms.unwrap_or(f64::INFINITY);
        t(x).total_cmp(&t(y))
    })
}

/// The batch-axis section as view blocks (none without the axis); `level` is the level of
/// its heading.
pub fn blocks(results: &[&ResultRecord], level: u8) -> Vec<Block> {
    let inv = invariance_rows(results);
    if inv.is_empty() {
        return Vec::new();
    }
    let table = |h: &[&str], rows: Vec<Vec<String>>| {
        let mut t = Table::new(h);
        t.rows = rows;
        Block::Table(t)
    };
    vec![
        Block::heading(level, "Batch invariance"),
        Block::para("The same rows computed in batches of different sizes."),
        table(&INVARIANCE_HEADERS, inv),
        Block::lead("Cost of batch invariance", "median times"),
        table(&COST_HEADERS, cost_rows(results)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(variant: &str, b: u64, inv: bool, ms: f64) -> ResultRecord {
        ResultRecord {
            op: "matmul".into(),
            backend: "cpu".into(),
            device: "c".into(),
            precision: "f32".into(),
            accumulator: "f32".into(),
            variant: variant.into(),
            shape: Some(serde_json::json!([b, 64, 1024])),
            batch_size: Some(b),
            batch_invariant: Some(inv),
            max_ulp_across_batches: Some(if inv { 0 } else { 9 }),
            median_ms: Some(ms),
            ..Default::default()
        }
    }

    #[test]
    fn one_row_per_kernel_and_the_cost_of_invariance() {
        let rs = [
            rec("split_k", 1, false, 1.0),
            rec("split_k", 64, false, 2.0),
            rec("batch_invariant", 1, true, 1.5),
            rec("batch_invariant", 64, true, 2.0),
        ];
        let rs: Vec<&ResultRecord> = rs.iter().collect();
        let inv = invariance_rows(&rs);
        assert_eq!(inv.len(), 2);
        assert_eq!(inv[0][5], "1,64");
        assert_eq!(inv[0][4], "split_k [64,1024]");
        assert_eq!((inv[0][6].as_str(), inv[0][7].as_str()), ("no", "9"));
        assert_eq!(inv[1][6], "yes");
        let cost = cost_rows(&rs);
        assert_eq!(cost.len(), 2);
        assert_eq!(cost[0][4], "split_k");
        assert_eq!(cost[0][7], "1.50x");
        assert_eq!(cost[1][7], "1.00x");
        assert_eq!(blocks(&rs, 1).len(), 5);
        assert!(blocks(&rs[..0], 1).is_empty());
    }
}
