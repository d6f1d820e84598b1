use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
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
            // clap prints help/version to stdout (exit 0) and usage errors as exit 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.use_stderr() {
                let first = e
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("bad usage")
                    .to_string();
                eprintln!("detbench: {}", first.trim_start_matches("error: "));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
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
