//! Order statistics every part of detbench shares (runner metrics, reports, check), from
//! statrs.

use statrs::statistics::{Data, Median};

/// Median of a list of counts (0 for none).
pub fn median_u64(v: &[u64]) -> f64 {
    median(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()).unwrap_or(0.0)
}

/// Median of a list of times: the middle value, or the mean of the two middle values.
pub fn median(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| Data::new(v.to_vec()).median())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lists() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_u64(&[]), 0.0);
        assert_eq!(median_u64(&[7, 1, 5, 3]), 4.0);
    }
}
