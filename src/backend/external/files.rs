//! The files of one adapter call: its private folder, the request it reads, and the
//! bounded, link-free reads of what it writes back (docs/external.md, "Sandbox").

use super::*;

/// A private temporary folder (mode 0700), removed when dropped, and at a signal exit.
/// Its identity (device and inode) is kept: a program that replaces it with a link to
/// another folder gets its call refused instead of that folder read.
pub(super) struct PrivateDir {
    dir: tempfile::TempDir,
    id: (u64, u64),
}

impl PrivateDir {
    pub(super) fn new() -> Result<Self, String> {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::Builder::new()
            .prefix("detbench-external-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        crate::safety::remove_on_exit(dir.path());
        let m = std::fs::symlink_metadata(dir.path()).map_err(|e| e.to_string())?;
        Ok(PrivateDir {
            id: (m.dev(), m.ino()),
            dir,
        })
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The folder is still the one detbench made (not a link, not another folder).
    pub(super) fn still_ours(&self) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(self.path()) {
            Ok(m) if m.is_dir() && (m.dev(), m.ino()) == self.id => Ok(()),
            _ => Err("the program replaced its temporary folder; nothing in it is read".into()),
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        crate::safety::keep_on_exit(self.dir.path());
        // A link put in the folder's place is removed, never followed.
        if std::fs::symlink_metadata(self.dir.path()).is_ok_and(|m| !m.is_dir()) {
            let _ = std::fs::remove_file(self.dir.path());
        }
    }
}

pub(super) fn write_json(path: &Path, v: &Value) -> Result<(), String> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The program's response.json, if it wrote one: a regular file (not a link, not a
/// FIFO) of at most [`TEXT_MAX`] bytes holding a JSON object.
pub(super) fn read_response(path: &Path) -> Result<Option<Value>, String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let bytes = crate::safety::read_untrusted(path, TEXT_MAX)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("response.json is not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("response.json is not a JSON object".into());
    }
    Ok(Some(v))
}

/// A response's `status`.
pub(super) enum Status {
    Ok,
    Unsupported,
    Error,
}

/// `status` is absent (ok) or one of the strings `ok`, `unsupported`, `error`.
pub(super) fn response_status(r: &Value) -> Result<Status, String> {
    match r.get("status") {
        None => Ok(Status::Ok),
        Some(Value::String(s)) if s == "ok" => Ok(Status::Ok),
        Some(Value::String(s)) if s == "unsupported" => Ok(Status::Unsupported),
        Some(Value::String(s)) if s == "error" => Ok(Status::Error),
        Some(other) => Err(format!(
            "response.json: status must be \"ok\", \"unsupported\" or \"error\", not {}",
            crate::safety::clean_line(&other.to_string(), 40)
        )),
    }
}

pub(super) fn write_index_npy(path: &Path, values: &[i64], shape: &[u64]) -> Result<(), String> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<i64>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(|e| e.to_string())?;
        w.extend(values.iter().copied())
            .map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    std::fs::write(path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The .npy descr an output of `p` must have (bf16 travels as <f4: numpy has no bf16).
pub(super) fn descr_of(p: Precision) -> &'static str {
    match p {
        Precision::F64 => "<f8",
        Precision::F32 | Precision::Bf16 => "<f4",
        Precision::F16 => "<f2",
    }
}

/// Reads one output file, checking dtype, shape and (for bf16) representability.
/// Non-finite values are kept: the metrics judge them like any kernel's.
pub fn read_output(path: &Path, p: Precision, shape: &[u64]) -> Result<Vec<f64>, String> {
    let elem: u64 = match p {
        Precision::F64 => 8,
        Precision::F32 | Precision::Bf16 => 4,
        Precision::F16 => 2,
    };
    let data = shape
        .iter()
        .try_fold(elem, |a, &d| a.checked_mul(d))
        .ok_or("the output's shape overflows")?;
    // The request fixes the size: a header plus exactly the data; nothing larger is read.
    let bytes = crate::safety::read_untrusted(path, data.saturating_add(NPY_HEADER_MAX))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| format!("{} is not a valid .npy file: {e}", file_name(path)))?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        _ => return Err("structured dtype".into()),
    };
    let want = descr_of(p);
    if descr != want {
        return Err(format!("dtype {descr}, expected {want} ({p})"));
    }
    if npy.shape() != shape {
        return Err(format!("shape {:?}, expected {:?}", npy.shape(), shape));
    }
    if npy.header().order() != npyz::Order::C {
        return Err("Fortran order; expected C order".into());
    }
    // Trailing bytes are refused, not ignored.
    let header = npy_header_len(&bytes)
        .ok_or_else(|| format!("{} is not a valid .npy file", file_name(path)))?;
    if bytes.len() as u64 != header + data {
        return Err(format!(
            "{} holds {} bytes of data, expected exactly {data}",
            file_name(path),
            (bytes.len() as u64).saturating_sub(header)
        ));
    }
    let io = |e: std::io::Error| format!("cannot decode: {e}");
    let values: Vec<f64> = match p {
        Precision::F64 => npy.into_vec::<f64>().map_err(io)?,
        Precision::F32 | Precision::Bf16 => npy
            .into_vec::<f32>()
            .map_err(io)?
            .into_iter()
            .map(f64::from)
            .collect(),
        Precision::F16 => npy
            .into_vec::<half::f16>()
            .map_err(io)?
            .into_iter()
            .map(|h| h.to_f64())
            .collect(),
    };
    let want_len: u64 = shape.iter().product();
    if values.len() as u64 != want_len {
        return Err(format!("{} values, expected {want_len}", values.len()));
    }
    if p == Precision::Bf16 {
        if let Some(i) = values
            .iter()
            .position(|v| v.is_finite() && p.round(*v).to_bits() != v.to_bits())
        {
            return Err(format!("element {i} ({}) is not a bf16 value", values[i]));
        }
    }
    Ok(values)
}

/// The length of an .npy file's magic, version and header (versions 1 to 3).
pub(super) fn npy_header_len(b: &[u8]) -> Option<u64> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return None;
    }
    match b[6] {
        1 => Some(10 + u16::from_le_bytes([b[8], b[9]]) as u64),
        2 | 3 if b.len() >= 12 => Some(12 + u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as u64),
        _ => None,
    }
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
