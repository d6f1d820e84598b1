use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Mesa's Vulkan drivers (lavapipe included) probe the Wayland window system when wgpu
/// starts, and libwayland prints "XDG_RUNTIME_DIR is invalid or not set" twice when that
/// variable is unset, as it is in CI containers and under sudo. detbench draws nothing on
/// screen, so, before any thread or driver starts, it gives itself a private runtime
/// folder (0700, removed on exit) when the variable is unset or names no folder: stderr
/// then carries only detbench's own lines.
fn private_runtime_dir() -> Option<tempfile::TempDir> {
    let usable = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .is_some_and(|v| std::path::Path::new(&v).is_dir());
    if usable {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("detbench-runtime-")
        .tempdir()
        .ok()?;
    // Still single-threaded here: nothing else reads the environment concurrently.
    std::env::set_var("XDG_RUNTIME_DIR", dir.path());
    Some(dir)
}

/// clap's usage error as one line: its message and its suggestions ("tip: a similar
/// argument exists: '--backend'"), without the usage block and the pointer to --help.
fn usage_error_line(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("bad usage")
        .trim_start_matches("error: ")
        .to_string();
    let tips: Vec<&str> = lines
        .filter(|l| l.starts_with("tip:"))
        .map(|l| l.trim_start_matches("tip:").trim())
        .collect();
    if tips.is_empty() {
        first
    } else {
        format!("{first} ({})", tips.join("; "))
    }
}

fn main() -> ExitCode {
    let _runtime_dir = private_runtime_dir();
    // One line, never a backtrace: a panic is a bug, but the user still gets a clean exit.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("detbench: internal error: {msg}{at}");
    }));
    let cli = match detbench::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            // Bare `detbench` (or a bare subcommand group): the command list, on stderr,
            // exit 2 as for any usage error.
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = write!(std::io::stderr(), "{}", e.render());
                return ExitCode::from(2);
            }
            // clap prints help/version to stdout (exit 0; a closed pipe is not an error).
            if !e.use_stderr() {
                let _ = write!(std::io::stdout(), "{}", e.render());
                return ExitCode::SUCCESS;
            }
            eprintln!("detbench: {}", usage_error_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match std::panic::catch_unwind(|| detbench::cli::dispatch(cli)) {
        Ok(Ok(detbench::cli::Outcome::Ok)) => ExitCode::SUCCESS,
        Ok(Ok(detbench::cli::Outcome::Regression)) => ExitCode::from(1),
        Ok(Ok(detbench::cli::Outcome::Interrupted)) => ExitCode::from(130),
        Ok(Err(e)) => {
            eprintln!(
                "detbench: {}",
                e.to_string().lines().next().unwrap_or("error")
            );
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}
