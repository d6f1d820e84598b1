//! Ctrl-C: the first one asks the running command to stop at the next safe point (between
//! runs of a case, between reference-preparation chunks, between training steps) and write
//! what it finished, marked partial, then exit 130; a second one exits 130 at once.
//!
//! Everything that loops for long polls [`interrupted`]; that is the only hook, so the
//! loops stay easy to restructure. Host work that cannot poll (an exact reference over
//! 2^28 elements) is covered by a watchdog: if the command has not reached a safe point
//! [`GRACE`] after Ctrl-C, the last [`checkpoint`] (every finished case) is written as
//! the partial report and the process exits 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Set by the Ctrl-C handler (or a test); read with [`interrupted`].
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The message of the error a backend returns when it stopped a case early because of
/// Ctrl-C; the runner drops that case (its runs are incomplete) and marks the report partial.
pub const STOPPED: &str = "interrupted by Ctrl-C";

/// True once Ctrl-C was pressed: stop at the next safe point.
#[inline]
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// How long the command gets, after the first Ctrl-C, to reach a safe point by itself
/// before the watchdog writes the last checkpoint and exits.
pub const GRACE: Duration = Duration::from_millis(700);

type Render = Box<dyn FnOnce() -> Vec<u8> + Send>;
type Sink = Box<dyn Fn(&[u8]) + Send>;

/// The latest partial report (rendered on demand) and where it goes.
static CHECKPOINT: Mutex<Option<Render>> = Mutex::new(None);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);
/// Set when the command reached its end and writes its own report: the watchdog stands down.
static FINISHING: AtomicBool = AtomicBool::new(false);

/// Where the watchdog writes a checkpoint (the command's report path, atomically).
pub fn set_sink(sink: impl Fn(&[u8]) + Send + 'static) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(sink));
}

/// Records what the command has finished so far, as a closure that renders it as a
/// complete report marked partial. Long host work between checkpoints (preparing a
/// reference at 2^28 elements, one slow run) cannot then delay the exit past [`GRACE`].
pub fn checkpoint(render: impl FnOnce() -> Vec<u8> + Send + 'static) {
    *CHECKPOINT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(render));
}

/// Called once the command stops polling and writes its own (partial or full) report.
pub fn finishing() {
    FINISHING.store(true, Ordering::SeqCst);
}

/// What must happen before any exit that skips destructors: adapters' process trees
/// killed (registered by the external backend), temporary files and folders removed.
static EXIT_HOOKS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// Registers `hook` to run before a signal ends the process (once per hook).
pub fn on_exit(hook: fn()) {
    let mut h = EXIT_HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    if !h.iter().any(|f| std::ptr::fn_addr_eq(*f, hook)) {
        h.push(hook);
    }
}

/// Set by commands that stop at safe points and write a partial result (`run`, `train`):
/// see [`cooperate`].
static COOPERATIVE: AtomicBool = AtomicBool::new(false);

/// Runs the exit hooks and the temporary-path cleanup, then exits with `code`. A command
/// that writes no partial result is a failure when stopped: what it created is removed.
pub fn exit(code: i32) -> ! {
    if !COOPERATIVE.load(Ordering::SeqCst) {
        crate::safety::roll_back(true);
    }
    let hooks: Vec<fn()> = match EXIT_HOOKS.try_lock() {
        Ok(h) => h.clone(),
        Err(_) => Vec::new(),
    };
    for h in hooks {
        h();
    }
    crate::safety::cleanup();
    std::process::exit(code);
}

/// After [`GRACE`], unless the command is finishing by itself: writes the last checkpoint
/// and exits 130.
fn watchdog() {
    std::thread::sleep(GRACE);
    if FINISHING.load(Ordering::SeqCst) {
        return;
    }
    let render = CHECKPOINT.lock().unwrap_or_else(|e| e.into_inner()).take();
    let sink = SINK.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let (Some(render), Some(sink)) = (render, sink) {
        if !FINISHING.load(Ordering::SeqCst) {
            sink(&render());
        }
    }
    exit(130);
}

/// Installs the signal handler (once per process; later calls do nothing): `main` calls
/// it first, before any thread or child process starts, so that no signal ever ends
/// detbench without its cleanup. SIGTERM and SIGHUP are handled like SIGINT. In a command
/// that does not [`cooperate`], the signal removes what the command created and exits 130
/// at once. In one that does, the first signal sets the flag (and starts the watchdog when
/// a checkpoint sink is set); a second exits 130 immediately, after the exit hooks:
/// outputs are written as new files renamed into place, so an exit at any point leaves no
/// half-written file, no temporary file and no adapter process.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) || !COOPERATIVE.load(Ordering::SeqCst) {
                exit(130);
            }
            if SINK.lock().map(|s| s.is_some()).unwrap_or(false) {
                std::thread::spawn(watchdog);
            }
        });
    });
}

/// The running command polls [`interrupted`] at safe points and writes what it finished,
/// marked partial: the first signal asks it to stop instead of ending the process.
pub fn cooperate() {
    install();
    COOPERATIVE.store(true, Ordering::SeqCst);
}
