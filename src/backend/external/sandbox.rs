//! The processes of one adapter call, in a box: its own process group, a token in its
//! environment, detbench as child subreaper, and every descendant killed and reaped on
//! every way out of the call (docs/external.md, "Sandbox").

use super::*;

/// The environment variable that marks every process of one adapter call (a `setsid`
/// grandchild leaves the process group but keeps its environment).
pub(super) const TOKEN_ENV: &str = "DETBENCH_ADAPTER_CALL";

/// Calls running now (process group and token), for the exit hook.
pub(super) static LIVE: std::sync::Mutex<Vec<(i32, String)>> = std::sync::Mutex::new(Vec::new());

/// One adapter call's processes: dropping it (on every path out of the call) and the
/// signal exit hook kill them all.
pub(super) struct Boxed {
    pub(super) token: String,
    pgid: std::sync::Mutex<Option<i32>>,
}

impl Boxed {
    pub(super) fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        static INIT: std::sync::Once = std::sync::Once::new();
        INIT.call_once(|| {
            // Orphans of the program (a daemonised grandchild) are re-parented to
            // detbench rather than to init, so they can be found and reaped.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ = nix::sys::prctl::set_child_subreaper(true);
            crate::interrupt::on_exit(kill_live);
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Boxed {
            token: format!(
                "{}-{}-{nanos}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            ),
            pgid: std::sync::Mutex::new(None),
        }
    }

    pub(super) fn started(&self, pid: u32) {
        let pgid = pid as i32;
        *self.pgid.lock().unwrap_or_else(|e| e.into_inner()) = Some(pgid);
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pgid, self.token.clone()));
    }

    pub(super) fn kill_all(&self) {
        let pgid = *self.pgid.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pgid) = pgid {
            kill_tree(pgid, &self.token);
        }
    }
}

impl Drop for Boxed {
    fn drop(&mut self) {
        self.kill_all();
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, t)| *t != self.token);
    }
}

/// The exit hook: kills every running call's processes.
pub(super) fn kill_live() {
    let live = match LIVE.try_lock() {
        Ok(l) => l.clone(),
        Err(_) => return,
    };
    for (pgid, token) in live {
        kill_tree(pgid, &token);
    }
}

/// A process as /proc shows it.
pub(super) struct Proc {
    pid: i32,
    ppid: i32,
    pgid: i32,
    zombie: bool,
}

pub(super) fn procs() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces and parentheses: fields follow the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(Proc {
                pid,
                zombie: f.first()? == &"Z",
                ppid: f.get(1)?.parse().ok()?,
                pgid: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
}

pub(super) fn carries_token(pid: i32, token: &str) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want = format!("{TOKEN_ENV}={token}");
    env.split(|b| *b == 0).any(|v| v == want.as_bytes())
}

/// Kills (SIGKILL, with kill(2)) every process of one call: its process group, every
/// process carrying its token, and every descendant of those; repeats until none is left
/// alive (a forking program cannot outrun it for long), then reaps the ones that became
/// detbench's children (the subreaper's orphans).
pub(super) fn kill_tree(pgid: i32, token: &str) {
    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let mut ours: std::collections::BTreeSet<i32> = Default::default();
    for _ in 0..200 {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        let all = procs();
        let mut hit: std::collections::BTreeSet<i32> = all
            .iter()
            .filter(|p| p.pid != me && (p.pgid == pgid || carries_token(p.pid, token)))
            .map(|p| p.pid)
            .collect();
        // Descendants of those (a child that left the group and cleared its environment).
        loop {
            let more: Vec<i32> = all
                .iter()
                .filter(|p| hit.contains(&p.ppid) && !hit.contains(&p.pid))
                .map(|p| p.pid)
                .collect();
            if more.is_empty() {
                break;
            }
            hit.extend(more);
        }
        let alive: Vec<&Proc> = all
            .iter()
            .filter(|p| hit.contains(&p.pid) && !p.zombie)
            .collect();
        for p in all.iter().filter(|p| hit.contains(&p.pid) && p.ppid == me) {
            ours.insert(p.pid);
        }
        if alive.is_empty() {
            break;
        }
        for p in alive {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Reap detbench's own children among them, except the program itself (its
    // std::process::Child waits for it).
    for pid in ours.into_iter().filter(|p| *p != pgid) {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}
