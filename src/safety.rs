//! Files and streams at the edge of the tool: every input must be a regular file (a FIFO
//! would block, `/dev/zero` would never end), no output may overwrite an input, every
//! output location is checked before any work starts, and a closed stdout ends output
//! quietly instead of failing the command.

use crate::error::DetError;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How a file is identified for alias checks: an existing file by device and inode (so
/// symlinks, hard links and `./x` vs `x` all compare equal), a file still to be created by
/// its canonical folder and name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

fn identity(p: &Path) -> Option<Identity> {
    if let Ok(m) = std::fs::metadata(p) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return Some(Identity::Inode(m.dev(), m.ino()));
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            return std::fs::canonicalize(p).ok().map(Identity::Path);
        }
    }
    let name = p.file_name()?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(Identity::Path(std::fs::canonicalize(dir).ok()?.join(name)))
}

/// Inputs of the running command; [`guard_write`] refuses to write over any of them.
static PROTECTED: Mutex<Vec<(Identity, PathBuf)>> = Mutex::new(Vec::new());

/// Remembers `path` as an input that no output may replace.
pub fn protect(path: &Path) {
    if let Some(id) = identity(path) {
        PROTECTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, path.to_path_buf()));
    }
}

/// The last check before writing `path`: refuses when it is one of the command's inputs
/// (covers outputs whose names are only known late, such as `--dump` files).
pub fn guard_write(path: &Path) -> Result<(), DetError> {
    let Some(id) = identity(path) else {
        return Ok(());
    };
    let protected = PROTECTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, input)) = protected.iter().find(|(i, _)| *i == id) {
        return Err(DetError::input(format!(
            "refusing to write {}: it is the input {}",
            path.display(),
            input.display()
        )));
    }
    Ok(())
}

/// Checks that `path` names a regular file (after following symlinks): a FIFO, a device
/// such as `/dev/zero`, a socket or a folder is bad input, refused before it is opened.
pub fn check_regular(what: &str, path: &Path) -> Result<(), DetError> {
    let m = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DetError::input(format!("{what}: {} does not exist", path.display()))
        } else {
            DetError::input(format!("{what}: cannot read {}: {e}", path.display()))
        }
    })?;
    if !m.is_file() {
        return Err(DetError::input(format!(
            "{what}: {} is not a regular file ({})",
            path.display(),
            file_kind(&m)
        )));
    }
    Ok(())
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a plain file"
}

/// Reads an input file whole, refusing anything but a regular file (checked before
/// opening, so a FIFO cannot block, and again on the open handle).
pub fn read_input(path: &Path) -> Result<Vec<u8>, DetError> {
    let what = "input";
    check_regular(what, path)?;
    let mut f = std::fs::File::open(path)
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", path.display())))?;
    let m = f
        .metadata()
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", path.display())))?;
    if !m.is_file() {
        return Err(DetError::input(format!(
            "{what}: {} is not a regular file ({})",
            path.display(),
            file_kind(&m)
        )));
    }
    // A regular file can still be far larger than memory (a sparse file, a disk image):
    // refuse it instead of reading until the OOM killer ends the process.
    if let Some(avail) = crate::shared::host::host_memory_available() {
        if m.len() > avail / 2 {
            return Err(DetError::input(format!(
                "{what}: {} is {:.1} GiB, more than half of the {:.1} GiB of free memory",
                path.display(),
                m.len() as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            )));
        }
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| DetError::input(format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
}

/// The files a command reads and writes, checked together before any work starts.
#[derive(Default)]
pub struct Plan {
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<(String, PathBuf)>,
    folders: Vec<(String, PathBuf)>,
}

impl Plan {
    pub fn new() -> Self {
        Self::default()
    }

    /// An input file, named by its flag (or "input") in messages.
    pub fn input(mut self, what: &str, path: &Path) -> Self {
        self.inputs.push((what.into(), path.to_path_buf()));
        self
    }

    /// An output file; `None` and `-` (stdout) are skipped.
    pub fn output(mut self, what: &str, path: Option<&Path>) -> Self {
        if let Some(p) = path.filter(|p| p.as_os_str() != "-") {
            self.outputs.push((what.into(), p.to_path_buf()));
        }
        self
    }

    /// An output folder (created if missing, like `--dump`).
    pub fn folder(mut self, what: &str, path: Option<&Path>) -> Self {
        if let Some(p) = path {
            self.folders.push((what.into(), p.to_path_buf()));
        }
        self
    }

    /// Every input is a regular file; every output's folder exists and is writable; no
    /// output is an input or another output; output folders exist (or are created) and
    /// are writable. Registers the inputs for [`guard_write`].
    pub fn check(self) -> Result<(), DetError> {
        for (what, p) in &self.inputs {
            check_regular(what, p)?;
        }
        let mut seen: Vec<(Identity, &str, &Path)> = Vec::new();
        for (what, p) in &self.inputs {
            if let Some(id) = identity(p) {
                seen.push((id, what, p));
            }
        }
        let inputs = seen.len();
        for (what, p) in &self.outputs {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if !dir.is_dir() {
                return Err(DetError::input(format!(
                    "{what}: folder {} does not exist",
                    dir.display()
                )));
            }
            if let Ok(m) = std::fs::metadata(p) {
                // A character device (/dev/null) is written in place; anything else that
                // is not a plain file would be replaced or would block.
                if is_char_device(&m) {
                    continue;
                }
                if !m.is_file() {
                    return Err(DetError::input(format!(
                        "{what}: {} is {}, not a file to write",
                        p.display(),
                        file_kind(&m)
                    )));
                }
            }
            writable(what, dir)?;
            let Some(id) = identity(p) else { continue };
            if let Some((i, (_, other, q))) =
                seen.iter().enumerate().find(|(_, (s, _, _))| *s == id)
            {
                let role = if i < inputs {
                    "the input"
                } else {
                    "also the output"
                };
                return Err(DetError::input(format!(
                    "{what} {} is {role} {other} {}: refusing to overwrite it",
                    p.display(),
                    q.display()
                )));
            }
            seen.push((id, what, p));
        }
        for (what, d) in &self.folders {
            if let Some((_, other, q)) =
                identity(d).and_then(|id| seen.iter().find(|(s, _, _)| *s == id))
            {
                return Err(DetError::input(format!(
                    "{what} {} is also {other} {}",
                    d.display(),
                    q.display()
                )));
            }
            std::fs::create_dir_all(d).map_err(|e| {
                DetError::input(format!("{what}: cannot create {}: {e}", d.display()))
            })?;
            writable(what, d)?;
        }
        for (_, p) in &self.inputs {
            protect(p);
        }
        Ok(())
    }
}

pub fn is_char_device(m: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_char_device()
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        false
    }
}

/// Creates and removes a probe file in `dir`: the only reliable test that it is writable.
fn writable(what: &str, dir: &Path) -> Result<(), DetError> {
    tempfile::Builder::new()
        .prefix(".detbench-probe")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| DetError::input(format!("{what}: cannot write in {}: {e}", dir.display())))
}

/// Set once stdout turned out to be closed (its reader exited, as `head` does).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout. A closed pipe ends output quietly, as with standard Unix tools:
/// the rest of the command still runs (files are still written) and its exit status is
/// unchanged. Other write errors are reported.
pub fn out(text: &str) -> Result<(), DetError> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(DetError::io("cannot write to stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_found_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        std::fs::write(&a, b"{}").unwrap();
        let sym = dir.path().join("sym.json");
        let hard = dir.path().join("hard.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&a, &sym).unwrap();
        std::fs::hard_link(&a, &hard).unwrap();
        for out in [&a, &sym, &hard, &dir.path().join(".").join("a.json")] {
            let err = Plan::new()
                .input("input", &a)
                .output("--md", Some(out))
                .check()
                .unwrap_err();
            assert!(err.to_string().contains("refusing"), "{err}");
        }
        // Two outputs to one new file.
        let new = dir.path().join("new.md");
        assert!(Plan::new()
            .output("--html", Some(&new))
            .output("--md", Some(&dir.path().join("./new.md")))
            .check()
            .is_err());
        // Distinct files are fine.
        Plan::new()
            .input("input", &a)
            .output("--md", Some(&new))
            .check()
            .unwrap();
    }

    #[test]
    fn special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_input(dir.path()).is_err());
        #[cfg(unix)]
        {
            let z = dir.path().join("zero.npy");
            std::os::unix::fs::symlink("/dev/zero", &z).unwrap();
            let e = read_input(&z).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }
}
