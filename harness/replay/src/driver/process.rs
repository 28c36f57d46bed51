//! A driver that is a process speaking the protocol on its stdin and stdout
//! (one JSON object per line); its stderr is its log, kept for error messages.
//!
//! The process runs in its own process group, so closing the driver (or
//! dropping it after an error) stops it and anything it started.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover_core::driver::{self, Outcome, Ready, Request, Response, RunInfo};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;

use super::DriverError;

/// Lines of the driver's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 30;
/// How long a driver may take to exit after `bye` (it closes its pools).
const EXIT_GRACE: Duration = Duration::from_secs(10);

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Outcome>>>>;

/// What ended the driver's output, once something has.
#[derive(Debug, Clone)]
enum Broken {
    /// A line that is not a protocol message, or answers nothing asked.
    Protocol(String),
    /// Its stdout closed (it exited or crashed).
    Closed,
}

pub struct ProcessDriver {
    command_line: String,
    child: tokio::sync::Mutex<Child>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    waiting: Waiting,
    broken: Arc<Mutex<Option<Broken>>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    next_id: AtomicU64,
    /// What it said in `ready`.
    pub ready: Ready,
}

impl ProcessDriver {
    /// Starts `command_line` (split as a POSIX shell would, not run by one),
    /// sends `hello` and waits up to `start_timeout` for `ready`.
    pub async fn start(
        command_line: &str,
        run: &RunInfo,
        start_timeout: Duration,
    ) -> Result<ProcessDriver, DriverError> {
        let words = shlex::split(command_line)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| DriverError::Command {
                command: command_line.to_owned(),
                reason: "not a command line (empty, or an unclosed quote)".into(),
            })?;
        let mut child = tokio::process::Command::new(&words[0])
            .args(&words[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DriverError::Command {
                command: command_line.to_owned(),
                reason: source.to_string(),
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let stderr_tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        tokio::spawn(keep_stderr(stderr, stderr_tail.clone()));

        let mut driver = ProcessDriver {
            command_line: command_line.to_owned(),
            child: tokio::sync::Mutex::new(child),
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            waiting: Arc::default(),
            broken: Arc::default(),
            stderr_tail,
            next_id: AtomicU64::new(1),
            ready: Ready::default(),
        };
        let hello = Request::hello(run);
        let mut lines = BufReader::new(stdout).lines();
        let handshake = async {
            driver
                .send(&hello)
                .await
                .map_err(|_| "it closed its stdin".to_owned())?;
            let line = lines
                .next_line()
                .await
                .map_err(|e| format!("reading its stdout: {e}"))?
                .ok_or_else(|| "it closed its stdout before answering".to_owned())?;
            driver::accept_ready(driver::parse_response(1, &line).map_err(|e| e.to_string())?)
        };
        let ready = match tokio::time::timeout(start_timeout, handshake).await {
            Ok(Ok(ready)) => ready,
            Ok(Err(reason)) => return Err(driver.handshake_failed(reason).await),
            Err(_) => {
                return Err(driver
                    .handshake_failed(format!("no `ready` within {start_timeout:?}"))
                    .await);
            }
        };
        driver.ready = ready;
        tokio::spawn(route_results(
            lines,
            driver.waiting.clone(),
            driver.broken.clone(),
        ));
        Ok(driver)
    }

    async fn handshake_failed(&self, reason: String) -> DriverError {
        self.stop().await;
        DriverError::Handshake {
            command: self.command_line.clone(),
            reason,
            stderr: self.stderr_tail(),
        }
    }

    async fn send(&self, request: &Request) -> Result<(), std::io::Error> {
        let mut stdin = self.stdin.lock().await;
        let Some(stdin) = stdin.as_mut() else {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        };
        let mut line = request.to_line();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    }

    /// Sends the request `build(id)` builds and waits up to `timeout` for its
    /// result. `operation` names it in errors.
    pub async fn call(
        &self,
        build: impl FnOnce(u64) -> Request,
        operation: &str,
        timeout: Duration,
    ) -> Result<Outcome, DriverError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.waiting
            .lock()
            .expect("waiting lock")
            .insert(id, sender);
        if let Some(error) = self.broken_error(operation).await {
            return Err(error);
        }
        if self.send(&build(id)).await.is_err() {
            return Err(self.gone(operation).await);
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(outcome)) => Ok(outcome),
            // The router dropped every waiting sender: the output broke.
            Ok(Err(_)) => Err(self.gone(operation).await),
            Err(_) => {
                self.waiting.lock().expect("waiting lock").remove(&id);
                Err(DriverError::Timeout {
                    command: self.command_line.clone(),
                    operation: operation.to_owned(),
                    id,
                    after: timeout,
                    stderr: self.stderr_tail(),
                })
            }
        }
    }

    async fn broken_error(&self, operation: &str) -> Option<DriverError> {
        let broken = self.broken.lock().expect("broken lock").clone()?;
        Some(self.error_for(broken, operation).await)
    }

    /// The error for an operation whose answer cannot come.
    async fn gone(&self, operation: &str) -> DriverError {
        // The router may still be on its way to recording why.
        for _ in 0..50 {
            if let Some(error) = self.broken_error(operation).await {
                return error;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.error_for(Broken::Closed, operation).await
    }

    async fn error_for(&self, broken: Broken, operation: &str) -> DriverError {
        match broken {
            Broken::Protocol(reason) => DriverError::Protocol {
                command: self.command_line.clone(),
                operation: operation.to_owned(),
                reason,
            },
            Broken::Closed => {
                let status = {
                    let mut child = self.child.lock().await;
                    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                        Ok(Ok(status)) => status.to_string(),
                        Ok(Err(error)) => format!("unknown ({error})"),
                        Err(_) => "still running, its stdout closed".to_owned(),
                    }
                };
                DriverError::Exited {
                    command: self.command_line.clone(),
                    operation: operation.to_owned(),
                    status,
                    stderr: self.stderr_tail(),
                }
            }
        }
    }

    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().expect("stderr lock");
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Sends `bye`, closes stdin and waits for the exit; a driver that does
    /// not exit within the grace period is killed, with its process group.
    pub async fn close(&self) -> Option<String> {
        let _ = self.send(&Request::Bye).await;
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        let problem = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(Ok(status)) if status.success() => return None,
            Ok(Ok(status)) => format!("the driver exited with {status} after `bye`"),
            Ok(Err(error)) => format!("waiting for the driver: {error}"),
            Err(_) => {
                drop(child);
                self.stop().await;
                format!("the driver did not exit within {EXIT_GRACE:?} of `bye`; killed")
            }
        };
        Some(format!(
            "{problem}; its stderr ended with:\n{}",
            self.stderr_tail()
        ))
    }

    /// Kills the driver's process group and reaps it.
    async fn stop(&self) {
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        if let Some(pid) = child.id() {
            // SAFETY: killpg only sends a signal; the group is the driver's own
            // (process_group(0) made its pid the group id).
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = child.kill().await;
    }
}

impl Drop for ProcessDriver {
    fn drop(&mut self) {
        // The run may end by an error before `close`: take the group down too
        // (kill_on_drop kills only the direct child).
        if let Ok(child) = self.child.try_lock()
            && let Some(pid) = child.id()
        {
            // SAFETY: as in `stop`.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// Hands each result to the operation waiting for it. The first line that is
/// not a result of an operation in flight breaks the driver; so does EOF.
async fn route_results(
    mut lines: tokio::io::Lines<BufReader<ChildStdout>>,
    waiting: Waiting,
    broken: Arc<Mutex<Option<Broken>>>,
) {
    let mut number = 1u64;
    let why = loop {
        number += 1;
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break Broken::Closed,
            Err(error) => break Broken::Protocol(format!("line {number}: unreadable: {error}")),
        };
        if line.trim().is_empty() {
            continue;
        }
        match driver::parse_response(number, &line) {
            Ok(Response::Result { id, outcome }) => {
                let sender = waiting.lock().expect("waiting lock").remove(&id);
                match sender {
                    Some(sender) => {
                        let _ = sender.send(outcome);
                    }
                    None => {
                        break Broken::Protocol(format!(
                            "line {number} answers operation id {id}, which is not waiting for an answer (never sent, answered already, or timed out): {line:.300}"
                        ));
                    }
                }
            }
            Ok(Response::Ready { .. }) => {
                break Broken::Protocol(format!("line {number}: a second `ready`"));
            }
            Err(error) => break Broken::Protocol(error.to_string()),
        }
    };
    *broken.lock().expect("broken lock") = Some(why);
    // Dropping the senders wakes every operation in flight.
    waiting.lock().expect("waiting lock").clear();
}

async fn keep_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "cutover::driver", "{line}");
        let mut tail = tail.lock().expect("stderr lock");
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
