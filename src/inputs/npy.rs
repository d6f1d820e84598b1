//! `.npy` files: the user's own inputs, read with every check a hostile file needs, and the
//! inputs and outputs detbench writes.

use crate::error::DetError;
use crate::numerics::Precision;
use npyz::WriterBuilder;
use std::path::Path;
/// Largest .npy header accepted. numpy's own writer pads headers to a few hundred bytes
/// and its reader refuses more than 10 000 by default; a header declaring more is corrupt
/// or hostile and must not make the reader allocate it.
pub const NPY_HEADER_MAX: usize = 1 << 16;

/// Reads a .npy file (a regular file only) and checks its preamble: the declared header
/// length must fit in the file and under [`NPY_HEADER_MAX`], so a lying header cannot make
/// the parser allocate gigabytes.
fn read_npy_bytes(path: &Path) -> Result<Vec<u8>, DetError> {
    let bytes = crate::safety::read_input(path)?;
    let bad = |why: String| {
        DetError::input(format!(
            "{} is not a valid .npy file: {why}",
            path.display()
        ))
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no .npy magic".into()));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    if len > NPY_HEADER_MAX {
        return Err(bad(format!(
            "the header declares {len} bytes (more than {NPY_HEADER_MAX})"
        )));
    }
    if len > bytes.len() - start {
        return Err(bad(format!(
            "the header declares {len} bytes but the file has only {}",
            bytes.len() - start
        )));
    }
    Ok(bytes)
}

/// The precision a values .npy is stored in (`<f8`, `<f4`, `<f2`), read from its header
/// only. `run --input x.npy` measures in this precision when `--precision` is not given,
/// so a file of f32 values that overflow f16 does not abort the default run.
pub fn npy_precision(path: &Path) -> Result<Precision, DetError> {
    let bytes = read_npy_bytes(path)?;
    let npy = open(&bytes, path)?;
    match plain_1d(&npy, path, "array")?.as_str() {
        "<f8" => Ok(Precision::F64),
        "<f4" => Ok(Precision::F32),
        "<f2" => Ok(Precision::F16),
        other => Err(DetError::input(format!(
            "{}: unsupported dtype '{other}' for values (expected <f8, <f4 or <f2)",
            path.display()
        ))),
    }
}

/// The .npy header of `bytes`, read from `path`.
fn open<'a>(bytes: &'a [u8], path: &Path) -> Result<npyz::NpyFile<&'a [u8]>, DetError> {
    npyz::NpyFile::new(bytes)
        .map_err(|e| DetError::input(format!("{} is not a valid .npy file: {e}", path.display())))
}

/// The bad-input error of a .npy whose data cannot be decoded.
fn decode_error(path: &Path) -> impl Fn(std::io::Error) -> DetError + '_ {
    move |e| DetError::input(format!("{}: cannot decode data: {e}", path.display()))
}

/// The dtype string (e.g. `<f4`) of a .npy that holds one `what` of plain values: a 1-D
/// array (or one whose other extents are 1); a 2-D array or a structured dtype is refused.
fn plain_1d<R: std::io::Read>(
    npy: &npyz::NpyFile<R>,
    path: &Path,
    what: &str,
) -> Result<String, DetError> {
    let shape = npy.shape();
    if shape.len() > 1 && shape.iter().filter(|&&d| d != 1).count() > 1 {
        return Err(DetError::input(format!(
            "{}: expected a 1-D {what}, found shape {shape:?}",
            path.display()
        )));
    }
    match npy.dtype() {
        npyz::DType::Plain(t) => Ok(t.to_string()),
        _ => Err(DetError::input(format!(
            "{}: structured dtypes are not supported",
            path.display()
        ))),
    }
}

/// Reads a 1-D .npy of f64, f32, f16 (or an integer type, for indices via
/// [`read_npy_index`]); values are rounded to `p`. A finite value that rounds past `p`'s
/// range is bad input; non-finite values are kept as they are: whether an op defines
/// them (log_softmax's -inf, a masked logit) is the op's to say, and `run` refuses the
/// file, naming the element and the op, where it does not ([`refuse_undefined`]).
pub fn read_npy(path: &Path, p: Precision) -> Result<Vec<f64>, DetError> {
    let bytes = read_npy_bytes(path)?;
    let npy = open(&bytes, path)?;
    let descr = plain_1d(&npy, path, "array")?;
    let bad = decode_error(path);
    let values: Vec<f64> = match descr.as_str() {
        "<f8" => npy.into_vec::<f64>().map_err(bad)?,
        "<f4" => npy
            .into_vec::<f32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
        "<f2" => npy
            .into_vec::<half::f16>()
            .map_err(bad)?
            .into_iter()
            .map(|h| h.to_f64())
            .collect(),
        other => {
            return Err(DetError::input(format!(
                "{}: unsupported dtype '{other}' for values (expected <f8, <f4 or <f2)",
                path.display()
            )))
        }
    };
    if values.is_empty() {
        return Err(DetError::input(format!(
            "{}: the array is empty",
            path.display()
        )));
    }
    let rounded: Vec<f64> = values.iter().map(|&v| p.round(v)).collect();
    if let Some(i) = (0..values.len()).find(|&i| values[i].is_finite() && !rounded[i].is_finite()) {
        return Err(DetError::input(format!(
            "{}: element {i} ({:e}) overflows {p}: use a wider --precision",
            path.display(),
            values[i]
        )));
    }
    Ok(rounded)
}

/// Refuses the first value of a user's file that `op` does not define (`defined` says
/// which non-finite values it does: none for most ops), as one line naming the file,
/// the element, its value and the op.
pub fn refuse_undefined(
    path: &str,
    values: &[f64],
    op: &str,
    defined: &[f64],
) -> Result<(), DetError> {
    let ok = |v: f64| v.is_finite() || defined.iter().any(|d| d.to_bits() == v.to_bits());
    let Some(i) = values.iter().position(|&v| !ok(v)) else {
        return Ok(());
    };
    let takes = if defined.is_empty() {
        "finite values only".to_string()
    } else {
        let names: Vec<String> = defined.iter().map(|d| d.to_string()).collect();
        format!("finite values and {}", names.join(", "))
    };
    Err(DetError::input(format!(
        "{path}: element {i} is {}: {op} takes {takes}",
        values[i]
    )))
}

/// Reads a 1-D int32 or int64 .npy of indices.
pub fn read_npy_index(path: &Path) -> Result<Vec<i64>, DetError> {
    let bytes = read_npy_bytes(path)?;
    let npy = open(&bytes, path)?;
    // Indices pair with 1-D values: a 2-D array is refused, as it is for values.
    let descr = plain_1d(&npy, path, "index array")?;
    let bad = decode_error(path);
    match descr.as_str() {
        "<i8" => npy.into_vec::<i64>().map_err(bad),
        "<i4" => Ok(npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(i64::from)
            .collect()),
        other => Err(DetError::input(format!(
            "{}: unsupported index dtype '{other}' (expected <i4 or <i8)",
            path.display()
        ))),
    }
}

/// Writes values as a 1-D .npy in the given format (f16 as <f2, bf16 as <f4 since numpy
/// has no bf16).
pub fn write_npy(path: &Path, p: Precision, values: &[f64], shape: &[u64]) -> Result<(), DetError> {
    let buf = npy_bytes(p, values, shape)
        .map_err(|e| DetError::io(format!("cannot write {}", path.display()), e))?;
    crate::safety::guard_write(path)?;
    std::fs::write(path, buf)
        .map_err(|e| DetError::io(format!("cannot write {}", path.display()), e))
}

/// The bytes of a .npy file of `values` with `shape`, in format `p` (as [`write_npy`]
/// writes them).
pub fn npy_bytes(p: Precision, values: &[f64], shape: &[u64]) -> std::io::Result<Vec<u8>> {
    let io = |e: std::io::Error| e;
    let mut buf = Vec::new();
    {
        match p {
            Precision::F64 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(shape)
                    .writer(&mut buf)
                    .begin_nd()
                    .map_err(io)?;
                w.extend(values.iter().copied()).map_err(io)?;
                w.finish().map_err(io)?;
            }
            Precision::F32 | Precision::Bf16 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(shape)
                    .writer(&mut buf)
                    .begin_nd()
                    .map_err(io)?;
                w.extend(values.iter().map(|&v| v as f32)).map_err(io)?;
                w.finish().map_err(io)?;
            }
            Precision::F16 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(shape)
                    .writer(&mut buf)
                    .begin_nd()
                    .map_err(io)?;
                w.extend(values.iter().map(|&v| half::f16::from_f64(v)))
                    .map_err(io)?;
                w.finish().map_err(io)?;
            }
        }
    }
    Ok(buf)
}
