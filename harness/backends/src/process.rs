//! Child processes of the harness (the ephemeral PostgreSQL server, DynamoDB Local):
//! spawned so that they die with the harness, and stopped gracefully on drop.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cutover_core::provision::Engine;

use crate::error::BackendError;

/// A loopback port that was free a moment ago. The caller binds it soon after;
/// a lost race shows up as a start failure that the caller retries.
pub(crate) fn free_loopback_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Asks the kernel to send `signal` to the child when the thread that spawned it
/// exits, so a harness killed without running destructors leaves no server behind.
/// Engines are spawned from the long-lived engine runtime, whose threads live as
/// long as the engines do.
pub(crate) fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A child that is stopped with `stop_signal` when dropped, then killed if it
/// has not exited within `grace`.
pub(crate) struct ManagedChild {
    pub(crate) child: Child,
    stop_signal: libc::c_int,
    grace: Duration,
}

impl ManagedChild {
    pub(crate) fn new(child: Child, stop_signal: libc::c_int, grace: Duration) -> Self {
        ManagedChild {
            child,
            stop_signal,
            grace,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // SAFETY: plain syscall on a pid we own and have not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, self.stop_signal);
        }
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A child that fault injection may crash and start again in place.
pub(crate) struct RestartableChild {
    engine: Engine,
    /// What it is, for errors: "the ephemeral PostgreSQL server".
    name: &'static str,
    /// `None` only while a restart is between stopping and starting it.
    child: Mutex<Option<ManagedChild>>,
}

/// How long a crashed child may take to exit before it is killed.
const CRASH_GRACE: Duration = Duration::from_secs(10);

impl RestartableChild {
    pub(crate) fn new(engine: Engine, name: &'static str, child: ManagedChild) -> Self {
        RestartableChild {
            engine,
            name,
            child: Mutex::new(Some(child)),
        }
    }

    /// The child's pid; `None` while a restart has it stopped.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .expect("child lock")
            .as_ref()
            .map(ManagedChild::pid)
    }

    /// Sends `signal` (killing the child if it has not exited after a grace
    /// period), waits `down`, then runs `start` on `engine_runtime` — a new
    /// child must be spawned from that runtime's threads (`die_with_parent`) —
    /// and keeps what it started. Returns the old child's pid.
    pub(crate) async fn crash_and_restart(
        &self,
        signal: libc::c_int,
        down: Duration,
        engine_runtime: &tokio::runtime::Handle,
        start: impl Future<Output = Result<ManagedChild, BackendError>> + Send + 'static,
    ) -> Result<u32, BackendError> {
        let failed = |detail: String| BackendError::Operation {
            engine: self.engine,
            action: format!("restarting {}", self.name),
            detail,
        };
        let old = self.child.lock().expect("child lock").take();
        let Some(mut old) = old else {
            return Err(failed(
                "it is already stopped (an earlier restart failed to start it)".into(),
            ));
        };
        let pid = old.pid();
        // SAFETY: plain syscall on a child we own and have not reaped yet.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
        let deadline = Instant::now() + CRASH_GRACE;
        while old.exited().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(old);
        tokio::time::sleep(down).await;
        let new = engine_runtime
            .spawn(start)
            .await
            .map_err(|err| failed(format!("the start task failed: {err}")))??;
        *self.child.lock().expect("child lock") = Some(new);
        Ok(pid)
    }
}

/// Whether a process with this pid exists.
pub(crate) fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Runs a short command to completion and returns its trimmed stdout, or a
/// description of why it failed (for `doctor` and version probes).
pub(crate) fn run_capture(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("could not run `{program}`: {err}"))?;
    if output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        // java prints its version on stderr.
        Ok(if stdout.is_empty() { stderr } else { stdout })
    } else {
        Err(format!(
            "`{program} {}` exited with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The variables a child server keeps: nothing else of the harness's
/// environment (AWS keys, database URLs, tokens) reaches it.
const SERVER_ENVIRONMENT: [&str; 6] = [
    "PATH",
    "TMPDIR",
    "TZ",
    "LANG",
    "JAVA_HOME",
    "LD_LIBRARY_PATH",
];

/// Clears `command`'s environment down to `SERVER_ENVIRONMENT`, for every
/// server the harness starts.
pub(crate) fn server_environment(command: &mut Command) -> &mut Command {
    command.env_clear();
    for name in SERVER_ENVIRONMENT {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

/// Opens (creating or truncating) a log file in a directory another account
/// may write to, without following a symlink planted there, and gives it to
/// `owner` by descriptor: a path swapped after the open cannot redirect the chown.
pub(crate) fn open_log(
    path: &std::path::Path,
    owner: Option<(u32, u32)>,
) -> Result<std::fs::File, crate::error::BackendError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(crate::error::BackendError::io("creating", path))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(
            crate::error::BackendError::io("changing the owner of", path),
        )?;
    }
    Ok(file)
}

/// The environment variable that asks a cutover process to write its peak
/// RSS (in KiB) to the file it names when it exits (`record_peak_rss`).
pub const PEAK_RSS_FILE_ENV: &str = "CUTOVER_PEAK_RSS_FILE";

/// This process's peak resident set since it exec'd, in KiB: the kernel's
/// `VmHWM`. (Not `ru_maxrss`: that also counts the parent's pages the
/// forked copy held before exec, so a child of a big process looks big.)
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes `peak_rss_kib` to the file `PEAK_RSS_FILE_ENV` names, if it is set.
pub fn record_peak_rss() -> std::io::Result<()> {
    let Some(path) = std::env::var_os(PEAK_RSS_FILE_ENV) else {
        return Ok(());
    };
    let peak =
        peak_rss_kib().ok_or_else(|| std::io::Error::other("no VmHWM in /proc/self/status"))?;
    std::fs::write(path, peak.to_string())
}

/// How a child cutover process ended and the most memory it held.
#[derive(Debug, Clone, Copy)]
pub struct ChildUsage {
    pub status: std::process::ExitStatus,
    /// The child's own peak resident set after exec (its `VmHWM`, written by
    /// the child itself through `record_peak_rss`), in KiB.
    pub peak_rss_kib: u64,
    pub wall: Duration,
}

/// Runs a cutover `command` to its end and reads the peak RSS it reports of
/// itself. Blocks; call it from a blocking thread.
pub fn run_measuring_peak_rss(command: &mut Command) -> std::io::Result<ChildUsage> {
    let report = tempfile::NamedTempFile::new()?;
    let began = Instant::now();
    let status = command.env(PEAK_RSS_FILE_ENV, report.path()).status()?;
    let wall = began.elapsed();
    let text = std::fs::read_to_string(report.path())?;
    let peak_rss_kib = text.trim().parse().map_err(|_| {
        std::io::Error::other(format!(
            "the child (exit {status}) reported no peak RSS: {text:?}"
        ))
    })?;
    Ok(ChildUsage {
        status,
        peak_rss_kib,
        wall,
    })
}

/// Finds `program` on `PATH`.
pub(crate) fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod safety_tests {
    use super::*;

    #[test]
    fn servers_get_only_the_allowed_environment() {
        // cargo gives test processes CARGO_MANIFEST_DIR; a server must not inherit it.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let mut command = Command::new("env");
        let output = server_environment(&mut command).output().unwrap();
        let seen = String::from_utf8_lossy(&output.stdout);
        assert!(!seen.contains("CARGO_MANIFEST_DIR"), "{seen}");
        assert!(
            seen.lines().all(|line| SERVER_ENVIRONMENT
                .iter()
                .any(|name| line.starts_with(&format!("{name}=")))),
            "{seen}"
        );
    }

    #[test]
    fn a_child_that_holds_memory_reports_it() {
        // A stand-in for a cutover child: Python touching 64 MiB, then writing
        // its own VmHWM where PEAK_RSS_FILE_ENV says, as `record_peak_rss` does.
        let script = "import os\nb = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nhwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\nopen(os.environ['CUTOVER_PEAK_RSS_FILE'], 'w').write(hwm)";
        let mut command = Command::new("python3");
        command.args(["-c", script]);
        let usage = run_measuring_peak_rss(&mut command).unwrap();
        assert!(usage.status.success());
        assert!(usage.peak_rss_kib >= 64 << 10, "{usage:?}");
        let mut silent = Command::new("true");
        assert!(run_measuring_peak_rss(&mut silent).is_err());
        assert!(peak_rss_kib().unwrap() > 0);
    }

    #[test]
    fn a_log_path_planted_as_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let log = dir.path().join("postgres.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        assert!(open_log(&log, None).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        let fresh = dir.path().join("fresh.log");
        open_log(&fresh, None).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
