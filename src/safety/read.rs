//! Reading what someone else wrote (an adapter's replies and stderr) or a file the user
//! named for an adapter: bounded, never blocking, and never through a link put in the way.

use super::{check_regular, file_kind};
use std::io::Read;
use std::path::Path;

/// Opens a file written by someone else (an adapter) for reading: never through a
/// symlink, never blocking (a FIFO is refused, not waited on), regular files only, and at
/// most `max` bytes. `Ok(None)` when it does not exist.
pub fn open_untrusted(path: &Path, max: u64) -> Result<Option<(std::fs::File, u64)>, String> {
    open_bounded(path, max, false)
}

fn open_bounded(
    path: &Path,
    max: u64,
    follow: bool,
) -> Result<Option<(std::fs::File, u64)>, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        opts.custom_flags(nofollow | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!("{name} is a symbolic link (not followed)"))
        }
        Err(e) => return Err(format!("cannot read {name}: {e}")),
    };
    let m = f
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if !m.is_file() {
        return Err(format!("{name} is {}, not a regular file", file_kind(&m)));
    }
    if m.len() > max {
        return Err(format!(
            "{name} is {} bytes, more than the limit of {max}",
            m.len()
        ));
    }
    Ok(Some((f, m.len())))
}

/// Reads all of `f` (at most `max` bytes; a file still growing past it is refused).
fn read_capped(f: std::fs::File, len: u64, max: u64, path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(len.min(max) as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} grew past {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// Reads a file the user named (an adapter file): links are followed (the user chose
/// the path), but it must be a regular file, is opened without blocking (a FIFO is
/// refused, not waited on), and holds at most `max` bytes.
pub fn read_user_file(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    check_regular("file", path).map_err(|e| e.to_string())?;
    let (f, len) =
        open_bounded(path, max, true)?.ok_or_else(|| format!("{} is missing", path.display()))?;
    read_capped(f, len, max, path)
}

/// Reads a file with [`open_untrusted`]'s rules, whole (at most `max` bytes).
pub fn read_untrusted(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let (f, len) = open_untrusted(path, max)?.ok_or_else(|| {
        format!(
            "{} is missing",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    })?;
    read_capped(f, len, max, path)
}

/// The last non-empty line among the last `max` bytes of `f` (a program's stderr, read
/// through the handle detbench gave it, so a link put in its place changes nothing),
/// with control characters (ANSI escapes included) removed and at most `keep` characters.
pub fn last_line(f: &mut std::fs::File, max: u64, keep: usize) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(clean_line(line, keep))
}

/// One line of someone else's text made safe to print: ANSI escape sequences and other
/// control characters removed, whitespace trimmed, at most `keep` characters (the tail).
pub fn clean_line(line: &str, keep: usize) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte; other escapes: ESC and one character.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    let t = out.trim();
    let n = t.chars().count();
    if n > keep {
        let tail: String = t.chars().skip(n - keep).collect();
        format!("...{tail}")
    } else {
        t.to_string()
    }
}
