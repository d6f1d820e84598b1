//! Files and streams at the edge of the tool: every input must be a regular file (a FIFO
//! would block, `/dev/zero` would never end), no output may overwrite an input, every
//! output location is checked before any work starts, and a closed stdout ends output
//! quietly instead of failing the command.

use crate::error::DetError;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

mod read;
mod wayland;
pub use read::{clean_line, last_line, open_untrusted, read_untrusted, read_user_file};
pub use wayland::quiet_window_system;

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
    force: bool,
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

    /// `--force`: an output folder may hold files detbench did not write.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// An output folder (`--dump`, `--figures`, `kernels --out`): checked now, created
    /// only when the first file is written into it (see [`OutDir`]).
    pub fn folder(mut self, what: &str, path: Option<&Path>) -> Self {
        if let Some(p) = path {
            self.folders.push((what.into(), p.to_path_buf()));
        }
        self
    }

    /// Every input is a regular file; every output's folder exists and is writable; no
    /// output is an input or another output; output folders are folders (or can be
    /// created), hold only files detbench wrote (unless `--force`) and contain no other
    /// output. Nothing is created. Registers the inputs for [`guard_write`].
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
            // An input inside the folder could be replaced by one of the folder's files
            // (an input named DIR/index.md with --figures DIR): refused before any file is
            // written, not found by the last check after the first ones.
            for (other, q) in &self.inputs {
                if same_folder(q, d) {
                    return Err(DetError::input(format!(
                        "{other} {} is inside {what} {}, whose files detbench writes: move it or name another folder",
                        q.display(),
                        d.display()
                    )));
                }
            }
            // Another output of this command inside the folder could be replaced by, or
            // replace, one of the folder's files.
            for (other, q) in &self.outputs {
                if same_folder(q, d) {
                    return Err(DetError::input(format!(
                        "{other} {} is inside {what} {}, whose files detbench writes: name a path outside it",
                        q.display(),
                        d.display()
                    )));
                }
            }
            check_folder(what, d, self.force)?;
        }
        for (_, p) in &self.inputs {
            protect(p);
        }
        Ok(())
    }
}

/// Whether file `q` lies directly in folder `d` (compared by identity, so `./d` and a link
/// to `d` count, and by name, for a folder still to be created).
fn same_folder(q: &Path, d: &Path) -> bool {
    let parent = match q.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent == d || identity(parent).is_some_and(|pid| identity(d) == Some(pid))
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

/// The hidden file, in each folder detbench writes into, that lists the names it wrote
/// there: a later run may replace those, and only those, without `--force`.
pub const MANIFEST: &str = ".detbench-files";

fn manifest_names(dir: &Path) -> BTreeSet<String> {
    read_untrusted(&dir.join(MANIFEST), 16 << 20)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// An output folder, before any work: an existing one must be a folder holding only
/// files detbench wrote (by its manifest) unless `force`; a missing one needs a writable
/// existing ancestor. Nothing is created here.
pub fn check_folder(what: &str, d: &Path, force: bool) -> Result<(), DetError> {
    match std::fs::metadata(d) {
        Ok(m) if !m.is_dir() => Err(DetError::input(format!(
            "{what} {} is {}, not a folder",
            d.display(),
            file_kind(&m)
        ))),
        Ok(_) => {
            let known = manifest_names(d);
            let entries = std::fs::read_dir(d).map_err(|e| {
                DetError::input(format!("{what}: cannot read {}: {e}", d.display()))
            })?;
            let mut foreign: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != MANIFEST && !known.contains(n))
                .collect();
            foreign.sort();
            if !foreign.is_empty() && !force {
                let shown: Vec<&str> = foreign.iter().take(3).map(String::as_str).collect();
                return Err(DetError::input(format!(
                    "{what} {} holds {} file(s) detbench did not write ({}{}): name a new or empty folder, or add --force",
                    d.display(),
                    foreign.len(),
                    shown.join(", "),
                    if foreign.len() > 3 { ", ..." } else { "" }
                )));
            }
            writable(what, d)
        }
        Err(_) => {
            let mut up = d;
            loop {
                up = match up.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                match std::fs::metadata(up) {
                    Ok(m) if m.is_dir() => return writable(what, up),
                    Ok(m) => {
                        return Err(DetError::input(format!(
                            "{what}: {} is {}, not a folder",
                            up.display(),
                            file_kind(&m)
                        )))
                    }
                    Err(_) if up == Path::new(".") || up == Path::new("/") => {
                        return Err(DetError::input(format!(
                            "{what}: cannot create {}",
                            d.display()
                        )))
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

/// A file name derived from data (a mode, a device, an input path), reduced to
/// `[A-Za-z0-9._+-]`, at most 64 characters, never starting with a dot. When anything
/// had to change, 8 hex digits of the original's SHA-256 are appended, so two names that
/// reduce alike (`sub/x.npy`, `sub_x.npy`) stay distinct.
pub fn file_slug(s: &str) -> String {
    let mut o: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while o.starts_with('.') {
        o.replace_range(0..1, "_");
    }
    if o.is_empty() {
        o.push('_');
    }
    let lossy = o != s || o.len() > 64;
    o.truncate(64);
    if lossy {
        use sha2::{Digest, Sha256};
        let h = hex::encode(Sha256::digest(s.as_bytes()));
        o = format!("{o}-{}", &h[..8]);
    }
    o
}

/// Whether `name` is one plain file name: no separator, not `.`/`..`, not hidden.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

/// A folder detbench writes files into (`--dump`, `--figures`, `kernels --out`), checked
/// with [`check_folder`] before the work and created only by the first write. Each file is
/// written new under a temporary name and renamed into place: a link already there under
/// the name is replaced, never followed, and a reader never sees half a file. A name
/// written twice by one command is an error, never a silent overwrite.
pub struct OutDir {
    what: String,
    path: PathBuf,
    written: BTreeSet<String>,
    known: Option<BTreeSet<String>>,
}

impl OutDir {
    pub fn new(what: &str, path: &Path) -> Self {
        OutDir {
            what: what.into(),
            path: path.to_path_buf(),
            written: BTreeSet::new(),
            known: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `name` was written by this command already.
    pub fn contains(&self, name: &str) -> bool {
        self.written.contains(name)
    }

    /// Writes `bytes` as `name` (a plain file name, e.g. from [`file_slug`]).
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<PathBuf, DetError> {
        if !plain_name(name) {
            return Err(DetError::input(format!(
                "{}: refusing to write '{name}': not a plain file name",
                self.what
            )));
        }
        if self.written.contains(name) {
            return Err(DetError::backend(format!(
                "{}: two outputs of this command are both named {name}",
                self.what
            )));
        }
        let io = |e: std::io::Error| {
            DetError::io(
                format!(
                    "{}: cannot write {}",
                    self.what,
                    self.path.join(name).display()
                ),
                e,
            )
        };
        if self.known.is_none() {
            create_dirs(&self.path).map_err(io)?;
            self.known = Some(manifest_names(&self.path));
        }
        let target = self.path.join(name);
        guard_write(&target)?;
        write_new_then_rename(&target, bytes).map_err(io)?;
        self.written.insert(name.to_string());
        let known = self.known.get_or_insert_with(BTreeSet::new);
        if known.insert(name.to_string()) {
            let mut list = String::new();
            for n in known.iter() {
                list.push_str(n);
                list.push('\n');
            }
            write_new_then_rename(&self.path.join(MANIFEST), list.as_bytes()).map_err(io)?;
        }
        Ok(target)
    }
}

/// Creates a new file beside `target` (exclusively, never through a link), writes and
/// syncs it, then renames it over `target`. The temporary file is registered for removal
/// if the process is stopped by a signal meanwhile.
pub fn write_new_then_rename(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::AtomicU64;
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".detbench-tmp-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    // Registered before it exists: a signal exit between the open and the registration
    // would otherwise leave it behind.
    remove_on_exit(&tmp);
    let result = opts.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        // Renamed under the lock of the created-files list: after a roll back (or a
        // signal exit) took it, no file can appear any more.
        let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
        let new = std::fs::symlink_metadata(target).is_err();
        std::fs::rename(&tmp, target)?;
        if new {
            created.push(target.to_path_buf());
        }
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    keep_on_exit(&tmp);
    result
}

/// Files and folders this command created, in order: removed again by [`roll_back`] when
/// the command fails, so that a failing command leaves nothing new behind.
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Creates `dir` and its missing ancestors, recording each one created for [`roll_back`].
pub fn create_dirs(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut up = dir;
    while !up.as_os_str().is_empty() && std::fs::symlink_metadata(up).is_err() {
        missing.push(up);
        match up.parent() {
            Some(p) => up = p,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
        match std::fs::create_dir(d) {
            Ok(()) => created.push(d.to_path_buf()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The command failed: removes every file it created and every folder it created (once
/// empty), newest first. Files it replaced are not restored: they were detbench's own
/// (listed in a folder's manifest) or named with `--force`. With `last`, the list stays
/// locked afterwards, so no other thread can create a file before the process exits.
pub fn roll_back(last: bool) {
    let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
    for p in std::mem::take(&mut *created).into_iter().rev() {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                // Only if empty: a file someone else put there meanwhile stays.
                let _ = std::fs::remove_dir(&p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
    if last {
        std::mem::forget(created);
    }
}

/// The command fails but what it wrote stays (a run report that explains the failure).
pub fn keep_outputs() {
    CREATED.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Paths removed by [`cleanup`] when a signal ends the process before their owner could.
static LEFTOVERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers a temporary file or folder for removal at a signal exit.
pub fn remove_on_exit(p: &Path) {
    LEFTOVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(p.to_path_buf());
}

/// Unregisters a path (it was removed, or renamed into place, by its owner).
pub fn keep_on_exit(p: &Path) {
    LEFTOVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|q| q != p);
}

/// Removes every registered temporary path: called on every exit that skips destructors
/// (a second Ctrl-C, the watchdog, SIGTERM, SIGHUP), just before the process exits. The
/// list stays locked afterwards: a thread still writing can register no new temporary
/// file (it waits until the exit), and its rename of a removed one fails, so no file is
/// ever left half-written. Others hold the lock only for a push or a retain.
pub fn cleanup() {
    let mut guard = LEFTOVERS.lock().unwrap_or_else(|e| e.into_inner());
    let list = std::mem::take(&mut *guard);
    std::mem::forget(guard);
    for p in list {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(&p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
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
