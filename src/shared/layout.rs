//! Rust <-> WGSL parameter structs: the layout a uniform `struct Params` of 4-byte scalars
//! has in WGSL, read from the template itself, so a test can hold the Rust struct to it.

/// Field names and byte offsets of `struct <name>` in a WGSL source whose members are all
/// 4-byte scalars (u32, i32, f32), and the struct's size as a uniform (rounded up to 16).
/// `None` when the struct is missing or has a member of another type.
pub fn wgsl_scalar_struct(src: &str, name: &str) -> Option<(Vec<(String, usize)>, usize)> {
    let start = src.find(&format!("struct {name} {{"))?;
    let body = &src[start..];
    let body = &body[body.find('{')? + 1..body.find('}')?];
    let mut fields = Vec::new();
    for line in body.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (field, ty) = line.trim_end_matches(',').split_once(':')?;
        if !matches!(ty.trim(), "u32" | "i32" | "f32") {
            return None;
        }
        fields.push((field.trim().to_string(), 4 * fields.len()));
    }
    let size = (4 * fields.len()).div_ceil(16) * 16;
    Some((fields, size))
}

/// Asserts that a Rust `#[repr(C)]` struct has the WGSL struct's size and, for every
/// named field, its offset. Padding fields in either language may differ in name.
#[macro_export]
macro_rules! assert_wgsl_layout {
    ($rust:ty, $src:expr, $wgsl:literal, [$($field:ident),* $(,)?]) => {{
        let (fields, size) = $crate::shared::layout::wgsl_scalar_struct($src, $wgsl)
            .expect("a WGSL struct of 4-byte scalars");
        assert_eq!(std::mem::size_of::<$rust>(), size, "size of {}", stringify!($rust));
        $(
            let at = fields
                .iter()
                .find(|(n, _)| n == stringify!($field))
                .map(|(_, o)| *o)
                .expect(concat!("WGSL field ", stringify!($field)));
            assert_eq!(std::mem::offset_of!($rust, $field), at, "offset of {}", stringify!($field));
        )*
        let named = [$(stringify!($field)),*];
        for (n, _) in &fields {
            assert!(n.starts_with('_') || named.contains(&n.as_str()), "WGSL field {n} is not checked");
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_and_rounds_the_size() {
        let src = "struct P {\n    a: u32,\n    // note\n    b: f32, // x\n    c: i32,\n}\n";
        let (f, size) = wgsl_scalar_struct(src, "P").unwrap();
        assert_eq!(f, vec![("a".into(), 0), ("b".into(), 4), ("c".into(), 8)]);
        assert_eq!(size, 16);
        assert!(wgsl_scalar_struct("struct P {\n a: vec2<f32>,\n}", "P").is_none());
        assert!(wgsl_scalar_struct(src, "Q").is_none());
    }
}
