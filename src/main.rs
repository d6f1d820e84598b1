use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Mesa keeps a shader cache under `$XDG_CACHE_HOME` (else `$HOME/.cache`); when that
/// folder cannot be created or written it disables the cache and says so on stderr
/// ("Failed to create ... for shader cache ...---disabling."), a line that would join
/// detbench's one-line error. Before any thread or driver starts, detbench checks the
/// same folder and, when Mesa could not use it, disables the cache itself, quietly: the
/// outcome Mesa would reach anyway. A cache location the user named for Mesa
/// (`MESA_SHADER_CACHE_DIR`) is left to Mesa, messages included.
fn quiet_shader_cache() {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if [
        "MESA_SHADER_CACHE_DIR",
        "MESA_GLSL_CACHE_DIR",
        "MESA_SHADER_CACHE_DISABLE",
    ]
    .iter()
    .any(|k| set(k))
    {
        return;
    }
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => std::path::PathBuf::from(x),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => std::path::Path::new(&h).join(".cache"),
            None => return,
        },
    };
    if !mesa_can_use(&base) {
        // Still single-threaded here: nothing reads the environment concurrently.
        std::env::set_var("MESA_SHADER_CACHE_DISABLE", "true");
    }
}

/// Whether Mesa could create its cache folder inside `base`: tried, not guessed from
/// permission bits (root, read-only mounts and /proc defeat those), and undone.
fn mesa_can_use(base: &std::path::Path) -> bool {
    if base.is_dir() {
        return tempfile::Builder::new()
            .prefix(".detbench-probe")
            .tempdir_in(base)
            .is_ok();
    }
    // Mesa creates `base` itself when missing (one level, not a chain).
    match std::fs::create_dir(base) {
        Ok(()) => {
            let _ = std::fs::remove_dir(base);
            true
        }
        Err(_) => false,
    }
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

/// A usage error as one line after `detbench`: a missing argument named with its
/// subcommand (`detbench kernels: missing --out <OUT>`), a misspelled subcommand with the
/// nearest one (`rnu`: did you mean `run`?), anything else as clap says it.
fn usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let subcommands = subcommands();
    let sub = args
        .get(1)
        .filter(|a| subcommands.contains(a))
        .map(|a| format!(" {a}"))
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(v)) => v.clone(),
                Some(ContextValue::String(v)) => vec![v.clone()],
                _ => Vec::new(),
            };
            if !missing.is_empty() {
                return format!("{sub}: missing {}", missing.join(", "));
            }
        }
        ErrorKind::InvalidSubcommand => {
            if let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidSubcommand) {
                let near = subcommands
                    .iter()
                    .map(|c| (edit_distance(bad, c), c))
                    .min()
                    .filter(|(d, _)| *d <= 2);
                return match near {
                    Some((_, c)) => {
                        format!(": unknown subcommand '{bad}': did you mean '{c}'?")
                    }
                    None => format!(
                        ": unknown subcommand '{bad}' (the subcommands: {})",
                        subcommands.join(", ")
                    ),
                };
            }
        }
        _ => {}
    }
    format!(": {}", usage_error_line(&e.render().to_string()))
}

/// The subcommands, for suggestions (from the parser itself).
fn subcommands() -> Vec<String> {
    <detbench::cli::Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// Edit distance with adjacent transpositions (`rnu` is one step from `run`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

fn main() -> ExitCode {
    quiet_shader_cache();
    // Signals are handled before any driver or child process starts: none ends detbench
    // without its cleanup (detbench::interrupt).
    detbench::interrupt::install();
    detbench::safety::quiet_window_system();
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
            eprintln!("detbench{}", usage_error(&e));
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
        Err(_) => {
            // A panic is a failure too: what the command created is removed.
            detbench::safety::roll_back(false);
            ExitCode::from(2)
        }
    }
}
